/* Units of libcommon's vkey (virtual key shape, hash and id) and mprice
 * (CAISSON_GATEWAY_PRICES parsing and nano-USD costs), issue 16. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "mprice.h"
#include "vkey.h"

static void
test_vkey_make (void **state)
{
    (void) state;
    char a[VKEY_SIZE], b[VKEY_SIZE], user[129];
    assert_int_equal (vkey_make ("alice", a, sizeof a), 0);
    assert_int_equal (vkey_make ("alice", b, sizeof b), 0);
    assert_int_equal (strlen (a), 3 + 5 + 1 + VKEY_HEX);
    assert_memory_equal (a, "vk_alice_", 9);
    assert_string_not_equal (a, b);
    assert_true (vkey_looks (a));
    assert_true (vkey_user (a, user, sizeof user));
    assert_string_equal (user, "alice");
    assert_false (vkey_user (a, user, 5));          /* no room for "alice" + NUL */
    assert_int_equal (vkey_make ("a.b@c-d", a, sizeof a), 0);
    assert_true (vkey_user (a, user, sizeof user));
    assert_string_equal (user, "a.b@c-d");
    /* Not user names: '_' would make the key ambiguous. */
    assert_int_equal (vkey_make ("", a, sizeof a), -1);
    assert_int_equal (vkey_make ("a_b", a, sizeof a), -1);
    assert_int_equal (vkey_make ("a b", a, sizeof a), -1);
    assert_int_equal (vkey_make (NULL, a, sizeof a), -1);
    assert_int_equal (vkey_make ("alice", a, VKEY_SIZE - 1), -1);
    char longest[130];
    memset (longest, 'u', 128);
    longest[128] = '\0';
    assert_int_equal (vkey_make (longest, a, sizeof a), 0);
    assert_true (vkey_looks (a));
    longest[128] = 'u';
    longest[129] = '\0';
    assert_int_equal (vkey_make (longest, a, sizeof a), -1);
}

static void
test_vkey_looks (void **state)
{
    (void) state;
    const char *hex = "0123456789abcdef0123456789abcdef01234567";
    char k[256];
    snprintf (k, sizeof k, "vk_bob_%s", hex);
    assert_true (vkey_looks (k));
    snprintf (k, sizeof k, "vk_bob_%sa", hex);          /* 41 hex */
    assert_false (vkey_looks (k));
    snprintf (k, sizeof k, "vk_bob_%.39s", hex);        /* 39 hex */
    assert_false (vkey_looks (k));
    snprintf (k, sizeof k, "vk_bob_0123456789ABCDEF0123456789abcdef01234567");
    assert_false (vkey_looks (k));
    snprintf (k, sizeof k, "vk__%s", hex);
    assert_false (vkey_looks (k));
    snprintf (k, sizeof k, "sk_bob_%s", hex);
    assert_false (vkey_looks (k));
    snprintf (k, sizeof k, "vk_b_b_%s", hex);
    assert_false (vkey_looks (k));
    assert_false (vkey_looks (""));
    assert_false (vkey_looks (NULL));
    char user[64];
    assert_false (vkey_user ("vk_bob", user, sizeof user));
}

static void
test_vkey_hash_id (void **state)
{
    (void) state;
    uint8_t h[32];
    char id[VKEY_ID_SIZE];
    vkey_hash ("abc", h);       /* FIPS 180-2's first example */
    static const uint8_t want[8] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea };
    assert_memory_equal (h, want, sizeof want);
    assert_int_equal (h[31], 0xad);
    vkey_id (h, id);
    assert_string_equal (id, "ba7816bf8f01");
}

static void
test_mprice_parse (void **state)
{
    (void) state;
    char why[512];
    mprices_t *p = mprices_load ("openai/gpt-4o=2.5,10,1.25,16384; replay/*=0,1,0,4096 ;"
                                 " anthropic/claude = 3 , 15 ;", why, sizeof why);
    assert_non_null (p);
    const mprice_t *g = mprice_of (p, "openai/gpt-4o");
    assert_non_null (g);
    assert_int_equal (g->in_pm, 2500000000ull);
    assert_int_equal (g->out_pm, 10000000000ull);
    assert_int_equal (g->cached_pm, 1250000000ull);
    assert_int_equal (g->max_out, 16384);
    const mprice_t *c = mprice_of (p, "anthropic/claude");
    assert_non_null (c);
    assert_int_equal (c->cached_pm, c->in_pm);  /* no cached price: the input price */
    assert_int_equal (c->max_out, 0);
    /* The provider's wildcard covers its other models, and only them. */
    const mprice_t *r = mprice_of (p, "replay/anything");
    assert_non_null (r);
    assert_int_equal (r->max_out, 4096);
    assert_null (mprice_of (p, "openai/gpt-5"));
    assert_null (mprice_of (p, "replayx/y"));
    assert_null (mprice_of (p, "replay"));
    assert_null (mprice_of (p, NULL));
    mprices_destroy (&p);
    assert_null (p);
    p = mprices_load ("", why, sizeof why);
    assert_non_null (p);
    assert_null (mprice_of (p, "openai/gpt-4o"));
    mprices_destroy (&p);
    p = mprices_load (NULL, why, sizeof why);
    assert_non_null (p);
    mprices_destroy (&p);
    /* An exact entry wins over the wildcard, whatever the order. */
    p = mprices_load ("a/*=1,1;a/b=2,2", why, sizeof why);
    assert_int_equal (mprice_of (p, "a/b")->in_pm, 2000000000ull);
    assert_int_equal (mprice_of (p, "a/c")->in_pm, 1000000000ull);
    mprices_destroy (&p);
}

static void
test_mprice_hostile (void **state)
{
    (void) state;
    static const char *const bad[] = {
        "gpt=1,2", "a/b=-1,2", "a/b=1", "a/b=1,2,3,4,5", "a/b=1000001,1", "a/b=1e3,1",
        "a/b=1.0000000001,1", "a/b=,1", "a/b=1,2,3,x", "/b=1,2", "a/=1,2", "a b/c=1,2",
        "a/b c=1,2", "a/b=1,,2", "a/b=1.2.3,1", "a/b=1,2,3,-4", "a/b=1,2,3,99999999999999999",
        "a/b=1,2;x", "a/b", "=1,2", "a/b=1000000.5,1", "a/b=18446744073709551616,1",
    };
    char why[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        mprices_t *p = mprices_load (bad[i], why, sizeof why);
        if (p)
            fail_msg ("'%s' parsed", bad[i]);
        assert_non_null (strstr (why, "price entry"));
    }
    char big[1200];
    memset (big, 'm', sizeof big);
    memcpy (big, "p/", 2);
    snprintf (big + 1000, 200, "=1,1");
    assert_null (mprices_load (big, why, sizeof why));      /* a name of 1000 bytes */
    mprices_t *p = mprices_load ("a/b=1000000,1000000", why, sizeof why);
    assert_non_null (p);                                    /* the ceiling itself */
    mprices_destroy (&p);
}

static void
test_mprice_cost (void **state)
{
    (void) state;
    mprice_t p = { 2500000000ull, 10000000000ull, 1250000000ull, 0 };
    /* 1000 input at $2.50/M, 100 output at $10/M: 2.5e-3 + 1e-3 USD. */
    assert_int_equal (mprice_cost (&p, 1000, 0, 100), 3500000);
    /* 400 of the 1000 read from the cache at $1.25/M. */
    assert_int_equal (mprice_cost (&p, 1000, 400, 100), 1500000 + 500000 + 1000000);
    /* cached beyond in counts as in, all cached. */
    assert_int_equal (mprice_cost (&p, 10, 50, 0), 12500);
    /* Rounded up: one token at $0.000001/M is 1e-12 USD, charged 1 nUSD. */
    mprice_t tiny = { 1000, 1000, 1000, 0 };
    assert_int_equal (mprice_cost (&tiny, 1, 0, 0), 1);
    assert_int_equal (mprice_cost (&tiny, 1000, 0, 0), 1);
    assert_int_equal (mprice_cost (&tiny, 1001, 0, 0), 2);
    assert_int_equal (mprice_cost (&tiny, 0, 0, 0), 0);
    mprice_t one = { 0, 1000000000ull, 0, 0 };                  /* output $1/M */
    assert_int_equal (mprice_cost (&one, 12345, 0, 50), 50000);
    /* Overflow saturates, never wraps. */
    mprice_t max = { 1000000000000000ull, 1000000000000000ull, 0, 0 };
    assert_true (mprice_cost (&max, UINT64_MAX, 0, UINT64_MAX) == UINT64_MAX);
    assert_true (mprice_cost (&max, 0, 0, UINT64_MAX / 1000) == UINT64_MAX);
    assert_true (mprice_cost (&one, UINT64_MAX, UINT64_MAX, UINT64_MAX) == UINT64_MAX);
    assert_true (mprice_cost (&one, UINT64_MAX, 0, UINT64_MAX / 1000) == UINT64_MAX / 1000 * 1000);
    assert_int_equal (mprice_cost (NULL, 100, 0, 100), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_vkey_make),
        cmocka_unit_test (test_vkey_looks),
        cmocka_unit_test (test_vkey_hash_id),
        cmocka_unit_test (test_mprice_parse),
        cmocka_unit_test (test_mprice_hostile),
        cmocka_unit_test (test_mprice_cost),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
