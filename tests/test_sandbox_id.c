/* test_sandbox_id: making and reading sandbox ids (libcommon/sandbox_id),
 * and the address runroute derives from one. Every reader of an id goes
 * through this module, so hostile ids are tried here once: what is not
 * `<instance>-<token>` must name no instance at all. */
#include "support.h"
#include "runroute.h"
#include "sandbox_id.h"

#include <string.h>

static void
test_new_reads_back (void **state)
{
    (void) state;
    char id[SANDBOX_ID_SIZE], again[SANDBOX_ID_SIZE], inst[SANDBOX_ID_SIZE];
    assert_int_equal (sandbox_id_new ("h-1", id), 0);
    assert_int_equal (strlen (id), strlen ("h-1-") + SANDBOX_ID_TOKEN_LEN);
    assert_true (sandbox_id_valid (id));
    assert_int_equal (sandbox_id_instance (id, inst, sizeof inst), 0);
    assert_string_equal (inst, "h-1");
    assert_true (sandbox_id_of (id, "h-1"));
    assert_false (sandbox_id_of (id, "h"));
    assert_false (sandbox_id_of (id, "h-1-"));
    for (const char *c = id + 4; *c; c++)
        assert_true ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9'));
    assert_int_equal (sandbox_id_new ("h-1", again), 0);
    assert_string_not_equal (id, again);
    /* the longest instance still makes an id that reads back */
    char longest[SANDBOX_ID_INSTANCE_MAX + 2];
    memset (longest, 'x', SANDBOX_ID_INSTANCE_MAX);
    longest[SANDBOX_ID_INSTANCE_MAX] = 0;
    assert_int_equal (sandbox_id_new (longest, id), 0);
    assert_true (sandbox_id_of (id, longest));
    /* an instance no id could carry makes none */
    strcat (longest, "x");
    const char *bad[] = { "", "a.b", "a/b", "a b", "..", longest, "caf\xc3\xa9" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (sandbox_id_new (bad[i], id), -1);
        assert_string_equal (id, "");
    }
    assert_int_equal (sandbox_id_new (NULL, id), -1);
}

static void
test_hostile_ids (void **state)
{
    (void) state;
    char too_long[SANDBOX_ID_SIZE + 8], long_token[SANDBOX_ID_TOKEN_MAX + 8];
    memset (too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = 0;
    too_long[10] = '-';
    snprintf (long_token, sizeof long_token, "h-");
    memset (long_token + 2, 'a', SANDBOX_ID_TOKEN_MAX + 1);
    long_token[SANDBOX_ID_TOKEN_MAX + 3] = 0;
    const char junk[] = { 'h', '\x01', '\xff', '\x7f', '-', 'a', '\xc3', 0 };
    const char *bad[] = {
        "", "-", "h-", "-tok3n", "notoken", "..", "../..-x", "h-..", "a.b-tok3n",
        "sandbox-manager.x-tok", "h-1-TOK3N", "h-to.k", "h-to/k", "h/1-tok", "h 1-tok",
        "h-tok\n", "\n-tok", too_long, long_token, junk, NULL,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char inst[SANDBOX_ID_SIZE] = "unset", service[160];
        assert_false (sandbox_id_valid (bad[i]));
        assert_int_equal (sandbox_id_instance (bad[i], inst, sizeof inst), -1);
        assert_string_equal (inst, "");
        assert_false (sandbox_id_of (bad[i], "h"));
        /* the address falls back to the plain service, never to a made-up
         * instance (a '.' would address another service's) */
        assert_int_equal (runroute_sandbox (bad[i], service, sizeof service), -1);
        assert_string_equal (service, "sandbox-manager");
    }
}

static void
test_reading (void **state)
{
    (void) state;
    char inst[8], service[160];
    /* the last '-' splits: instances may hold '-', tokens may not */
    assert_int_equal (sandbox_id_instance ("h-1-tok3n", inst, sizeof inst), 0);
    assert_string_equal (inst, "h-1");
    assert_int_equal (runroute_sandbox ("h-1-tok3n", service, sizeof service), 0);
    assert_string_equal (service, "sandbox-manager.h-1");
    assert_true (sandbox_id_valid ("Ab_9-0z"));
    /* out too small: refused, not cut */
    assert_int_equal (sandbox_id_instance ("instance-tok", inst, 4), -1);
    assert_string_equal (inst, "");
    assert_int_equal (sandbox_id_instance ("instance-tok", inst, 0), -1);
    assert_false (sandbox_id_of ("h-1-tok3n", NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_new_reads_back),
        cmocka_unit_test (test_hostile_ids),
        cmocka_unit_test (test_reading),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
