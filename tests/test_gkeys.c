/* gateway-keys through its public interface (issue 16): keys as two
 * users, operators and services make and see them, budget windows, the
 * chain of budgets, capped grants, settles, repeats, 100 concurrent
 * reserves against a budget of 10, rate limits and hostile numbers. The
 * stack and helpers are in gkeys_util.h. */
#include "gkeys_util.h"
#include "gk_win.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- units ---------------------------------------------------------------- */

static void
test_windows (void **state)
{
    (void) state;
    uint64_t wed = 1796830200000ull;            /* 2026-12-09T15:30:00Z, a Wednesday */
    assert_int_equal (gk_win_start (GK_WIN_DAY, wed), 1796774400000ull);
    assert_int_equal (gk_win_reset (GK_WIN_DAY, 1796774400000ull), 1796860800000ull);
    assert_int_equal (gk_win_start (GK_WIN_WEEK, wed), 1796601600000ull);     /* Mon 7th */
    assert_int_equal (gk_win_reset (GK_WIN_WEEK, 1796601600000ull), 1797206400000ull);
    assert_int_equal (gk_win_start (GK_WIN_MONTH, wed), 1796083200000ull);    /* Dec 1st */
    assert_int_equal (gk_win_reset (GK_WIN_MONTH, 1796083200000ull), 1798761600000ull);
    assert_int_equal (gk_win_start (GK_WIN_TOTAL, wed), 0);
    assert_int_equal (gk_win_reset (GK_WIN_TOTAL, 0), 0);
    /* Edges: a window's first and last milliseconds. */
    assert_int_equal (gk_win_start (GK_WIN_DAY, 1796774400000ull), 1796774400000ull);
    assert_int_equal (gk_win_start (GK_WIN_WEEK, 1797206400000ull - 1), 1796601600000ull);
    assert_int_equal (gk_win_start (GK_WIN_WEEK, 1797206400000ull), 1797206400000ull);
    assert_int_equal (gk_win_start (GK_WIN_MONTH, 1798761600000ull - 1), 1796083200000ull);
    /* February of a leap year: 2028-02-15 resets on March 1st. */
    uint64_t feb = gk_win_start (GK_WIN_MONTH, 1834228800000ull);
    assert_int_equal (feb, 1832976000000ull);
    assert_int_equal (gk_win_reset (GK_WIN_MONTH, feb), 1835481600000ull);
    char iso[32];
    gk_win_iso (1798761600000ull, iso, sizeof iso);
    assert_string_equal (iso, "2027-01-01T00:00:00Z");
    gk_win_t w;
    assert_true (gk_win_parse ("week", &w));
    assert_int_equal (w, GK_WIN_WEEK);
    assert_false (gk_win_parse ("year", &w));
    assert_false (gk_win_parse (NULL, &w));
}

/* ---- keys ----------------------------------------------------------------- */

static void
test_keys_two_users (void **state)
{
    (void) state;
    char ida[VKEY_ID_SIZE], idb[VKEY_ID_SIZE];
    const char *ka = mk_key ("alice", false, &(kopt_t) { .models = "[\"replay/*\"]" }, ida);
    mk_key ("bob", false, NULL, idb);
    char user[64];
    assert_true (vkey_user (ka, user, sizeof user));
    assert_string_equal (user, "alice");
    /* bob lists his own key only; the page holds no hash and no secret. */
    proto_msg_t *rep = ask (msg_as (PROTO_gkey_list, "bob", false));
    assert_int_equal (rep->type, PROTO_gkey_page);
    json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 6);
    assert_int_equal (json_array_size (keys), 1);
    assert_string_equal (support_json_str (json_array_get (keys, 0), "id"), idb);
    char *text = json_dumps (keys, 0);
    assert_null (strstr (text, "vk_"));
    assert_null (strstr (text, "hash"));
    free (text);
    json_decref (keys);
    proto_msg_destroy (&rep);
    /* bob cannot list, see, revoke or make alice's keys. */
    proto_msg_t *m = msg_as (PROTO_gkey_list, "bob", false);
    proto_set_str (&m->body.gkey_list.user, "alice");
    expect_error (ask (m), "forbidden");
    m = msg_as (PROTO_gkey_usage_get, "bob", false);
    proto_set_str (&m->body.gkey_usage_get.key_id, ida);
    expect_error (ask (m), "not_found");
    m = msg_as (PROTO_gkey_revoke, "bob", false);
    proto_set_str (&m->body.gkey_revoke.key_id, ida);
    expect_error (ask (m), "not_found");
    expect_error (create ("bob", false, "alice", NULL), "forbidden");
    /* A user makes no sandbox or run keys; an operator (a service) does. */
    expect_error (create ("bob", false, NULL, &(kopt_t) { .kind = "sandbox", .sandbox = "s1" }),
                  "forbidden");
    char ids[VKEY_ID_SIZE];
    mk_key ("bob", true, &(kopt_t) { .kind = "sandbox", .sandbox = "s1" }, ids);
    /* alice's key works for alice's models only. */
    rep = reserve (ka, NULL, 10, 10, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    assert_string_equal (rep->body.gkey_grant.user, "alice");
    assert_string_equal (rep->body.gkey_grant.key_id, ida);
    proto_msg_destroy (&rep);
    m = reserve_msg (ka, "0000000000000000000000000a", 1, 1, false, NULL);
    proto_set_str (&m->body.gkey_reserve.model, "openai/gpt-4o");
    rep = ask (m);
    assert_false (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.status, 403);
    assert_string_equal (rep->body.gkey_grant.code, "model_not_allowed");
    proto_msg_destroy (&rep);
    /* An unknown key: 401 (a hash lookup; no secret is compared). */
    char fake[VKEY_SIZE];
    assert_int_equal (vkey_make ("alice", fake, sizeof fake), 0);
    rep = reserve (fake, NULL, 1, 1, false, NULL);
    assert_false (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.status, 401);
    assert_string_equal (rep->body.gkey_grant.code, "invalid_api_key");
    proto_msg_destroy (&rep);
    /* alice revokes her key: 401 key_revoked from then on. */
    m = msg_as (PROTO_gkey_revoke, "alice", false);
    proto_set_str (&m->body.gkey_revoke.key_id, ida);
    rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_ack);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
    rep = reserve (ka, NULL, 1, 1, false, NULL);
    assert_int_equal (rep->body.gkey_grant.status, 401);
    assert_string_equal (rep->body.gkey_grant.code, "key_revoked");
    proto_msg_destroy (&rep);
    /* The sandbox's keys go with the sandbox. */
    m = msg_as (PROTO_gkey_revoke, "root", true);
    proto_set_str (&m->body.gkey_revoke.sandbox_id, "s1");
    rep = ask (m);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
}

/* A sandbox's key follows its sandbox to another run and expiry
 * (services only); an expired key is refused from its expiry on. */
static void
test_context_expiry (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    uint64_t soon = (uint64_t) zclock_time () + 1500;
    const char *k = mk_key ("otto", true, &(kopt_t) { .kind = "sandbox", .sandbox = "s9",
                                                       .expires = soon + 60000 }, id);
    proto_msg_t *m = msg_as (PROTO_gkey_context, "otto", false);
    proto_set_str (&m->body.gkey_context.sandbox_id, "s9");
    expect_error (ask (m), "forbidden");
    m = msg_as (PROTO_gkey_context, "sandbox-manager", true);
    proto_set_str (&m->body.gkey_context.sandbox_id, "s9");
    proto_set_str (&m->body.gkey_context.run, "01JRUN0000000000000000000A");
    m->body.gkey_context.expires_at = soon;
    proto_msg_t *rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_ack);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
    rep = reserve (k, NULL, 1, 1, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    assert_string_equal (rep->body.gkey_grant.run, "01JRUN0000000000000000000A");
    assert_string_equal (rep->body.gkey_grant.sandbox_id, "s9");
    assert_string_equal (rep->body.gkey_grant.kind, "sandbox");
    proto_msg_destroy (&rep);
    /* A sandbox key's chain holds the sandbox's cap
     * (CAISSON_GATEWAY_SANDBOX_BUDGET_USD=0.0002: a decimal setting). */
    json_t *cap = scope_in ("otto", id, "sandbox.s9");
    assert_int_equal (json_integer_value (json_object_get (cap, "limitNusd")), 200000);
    assert_int_equal (json_integer_value (json_object_get (cap, "spentNusd")), 0);
    assert_int_equal (json_integer_value (json_object_get (cap, "reservedNusd")), 1000);
    assert_string_equal (support_json_str (cap, "window"), "total");
    json_decref (cap);
    /* The key works for the run now: revoking the run's keys takes it. */
    m = msg_as (PROTO_gkey_revoke, "root", true);
    proto_set_str (&m->body.gkey_revoke.run, "01JRUN0000000000000000000A");
    rep = ask (m);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
    while ((uint64_t) zclock_time () <= soon)
        usleep (50 * 1000);
    rep = reserve (k, NULL, 1, 1, false, NULL);
    assert_int_equal (rep->body.gkey_grant.status, 401);
    assert_string_equal (rep->body.gkey_grant.code, "key_expired");
    proto_msg_destroy (&rep);
    /* Listed no more, unless asked for revoked and expired keys too. */
    m = msg_as (PROTO_gkey_list, "otto", false);
    rep = ask (m);
    json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 6);
    assert_int_equal (json_array_size (keys), 0);
    json_decref (keys);
    proto_msg_destroy (&rep);
    m = msg_as (PROTO_gkey_list, "otto", false);
    m->body.gkey_list.revoked = true;
    rep = ask (m);
    keys = mpjson_get (&rep->body.gkey_page.keys, 6);
    assert_int_equal (json_array_size (keys), 1);
    json_decref (keys);
    proto_msg_destroy (&rep);
}

/* The sweep marks an expired key revoked (CAISSON_GATEWAY_GC_S=1). */
static void
test_gc_expired (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    mk_key ("pia", true, &(kopt_t) { .expires = (uint64_t) zclock_time () + 300 }, id);
    const char *by = "";
    for (int i = 0; i < 60 && !*by; i++) {
        usleep (100 * 1000);
        proto_msg_t *m = msg_as (PROTO_gkey_list, "pia", false);
        m->body.gkey_list.revoked = true;
        proto_msg_t *rep = ask (m);
        json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 6);
        by = !strcmp (support_json_str (json_array_get (keys, 0), "revokedBy"), "expired")
             ? "expired" : "";
        json_decref (keys);
        proto_msg_destroy (&rep);
    }
    assert_string_equal (by, "expired");
}

static void
test_self_service_limits (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    expect_error (create ("erin", false, NULL, &(kopt_t) { .rpm = 101 }), "over_limit");
    expect_error (create ("erin", false, NULL, &(kopt_t) { .models = "[\"anthropic/*\"]" }),
                  "bad_value");
    expect_error (create ("erin", false, NULL, &(kopt_t) { .models = "[\"nomodel\"]" }),
                  "bad_value");
    expect_error (create ("erin", false, NULL, &(kopt_t) { .window = "year" }), "bad_value");
    expect_error (create ("erin", false, NULL, &(kopt_t) { .expires = 1000 }), "bad_value");
    /* Three live keys at most (CAISSON_GATEWAY_USER_KEYS_MAX=3). */
    for (int i = 0; i < 3; i++)
        mk_key ("erin", false, NULL, id);
    expect_error (create ("erin", false, NULL, NULL), "limit");
    /* A key's budget stays within its owner's. */
    proto_msg_t *m = msg_as (PROTO_gkey_user_set, "root", true);
    proto_set_str (&m->body.gkey_user_set.user, "fay");
    m->body.gkey_user_set.budget_nusd = 5000;
    proto_msg_t *rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_ack);
    proto_msg_destroy (&rep);
    expect_error (create ("fay", false, NULL, &(kopt_t) { .bnusd = 5001 }), "over_limit");
    mk_key ("fay", false, &(kopt_t) { .bnusd = 5000 }, id);
    m = msg_as (PROTO_gkey_user_set, "fay", false);
    proto_set_str (&m->body.gkey_user_set.user, "fay");
    expect_error (ask (m), "forbidden");
}

/* ---- budgets ---------------------------------------------------------------- */

static void
test_chain_user_budget (void **state)
{
    (void) state;
    proto_msg_t *m = msg_as (PROTO_gkey_user_set, "root", true);
    proto_set_str (&m->body.gkey_user_set.user, "carol");
    m->body.gkey_user_set.budget_nusd = 100 * NUSD_PER_TOKEN;
    proto_set_str (&m->body.gkey_user_set.window, "day");
    proto_msg_destroy (&(proto_msg_t *) { ask (m) });
    char id1[VKEY_ID_SIZE], id2[VKEY_ID_SIZE], call1[CID_SIZE];
    const char *k1 = mk_key ("carol", false, NULL, id1);
    const char *k2 = mk_key ("carol", false, NULL, id2);
    proto_msg_t *rep = reserve (k1, call1, 500, 60, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    /* The second key's own budget is unlimited, its owner's is not. */
    rep = reserve (k2, NULL, 500, 60, false, NULL);
    proto_gkey_grant_t *g = &rep->body.gkey_grant;
    assert_false (g->ok);
    assert_int_equal (g->status, 402);
    assert_string_equal (g->code, "budget_exceeded");
    assert_string_equal (g->budget, "user.cost.day");
    uint64_t now = (uint64_t) zclock_time ();
    uint64_t reset = gk_win_reset (GK_WIN_DAY, gk_win_start (GK_WIN_DAY, now));
    assert_int_equal (g->reset_at, reset);
    char want[256], iso[32];
    gk_win_iso (reset, iso, sizeof iso);
    snprintf (want, sizeof want, "budget of user carol exhausted: $0.00 of $0.0001 per day "
              "spent, $0.00006 reserved by calls in flight, this call may cost up to $0.00006; "
              "resets %s", iso);
    assert_string_equal (g->reason, want);
    proto_msg_destroy (&rep);
    /* The refusal changed nothing but `refused`. */
    assert_int_equal (count_of ("carol", label_of ("user", "carol"), "reservedNusd"), 60000);
    assert_int_equal (count_of ("carol", label_of ("user", "carol"), "refused"), 1);
    assert_int_equal (count_of ("carol", label_of ("user", "carol"), "calls"), 1);
    /* Settled at 10 tokens, the rest is free again for the other key. */
    assert_int_equal (settle (call1, 500, 10), 10 * NUSD_PER_TOKEN);
    rep = reserve (k2, NULL, 500, 60, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    json_t *u = scope ("carol", label_of ("user", "carol"));
    assert_int_equal (json_integer_value (json_object_get (u, "spentNusd")), 10000);
    assert_int_equal (json_integer_value (json_object_get (u, "reservedNusd")), 60000);
    assert_int_equal (json_integer_value (json_object_get (u, "limitNusd")), 100000);
    assert_int_equal (json_integer_value (json_object_get (u, "reset")), reset);
    json_decref (u);
    /* Tokens count input and output. */
    assert_int_equal (count_of ("carol", label_of ("key", id1), "spentTokens"), 510);
}

static void
test_capped_grant (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *k = mk_key ("dan", true, &(kopt_t) { .bnusd = 100 * NUSD_PER_TOKEN,
                                                      .window = "week" }, id);
    /* No client maximum: granted what the budget affords. */
    proto_msg_t *rep = reserve (k, NULL, 1000, 4096, true, NULL);
    assert_true (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.output_max, 100);
    proto_msg_destroy (&rep);
    /* Uncapped, 4096 would not fit even in an empty budget. */
    rep = reserve (k, NULL, 1, 5, false, NULL);
    assert_false (rep->body.gkey_grant.ok);
    assert_string_equal (rep->body.gkey_grant.budget, "key.cost.week");
    proto_msg_destroy (&rep);
    /* Nothing left: capped or not, refused (less than MIN_OUTPUT=10). */
    rep = reserve (k, NULL, 1, 4096, true, NULL);
    assert_false (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.status, 402);
    proto_msg_destroy (&rep);
    /* A token budget caps too: 50 tokens, 30 of input. */
    const char *kt = mk_key ("dan", true, &(kopt_t) { .btok = 50 }, id);
    rep = reserve (kt, NULL, 30, 4096, true, NULL);
    assert_true (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.output_max, 20);
    proto_msg_destroy (&rep);
}

static void
test_settle_refund_extra (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE], call[CID_SIZE], call2[CID_SIZE];
    const char *k = mk_key ("gus", true, &(kopt_t) { .bnusd = 1000 * NUSD_PER_TOKEN }, id);
    proto_msg_t *rep = reserve (k, call, 100, 100, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    const char *l = label_of ("key", id);
    assert_int_equal (count_of ("gus", l, "reservedNusd"), 100 * NUSD_PER_TOKEN);
    assert_int_equal (settle (call, 80, 40), 40 * NUSD_PER_TOKEN);      /* a refund */
    assert_int_equal (count_of ("gus", l, "reservedNusd"), 0);
    assert_int_equal (count_of ("gus", l, "spentNusd"), 40 * NUSD_PER_TOKEN);
    rep = reserve (k, call2, 10, 10, false, NULL);
    proto_msg_destroy (&rep);
    assert_int_equal (settle (call2, 10, 30), 30 * NUSD_PER_TOKEN);     /* more than reserved */
    assert_int_equal (count_of ("gus", l, "spentNusd"), 70 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("gus", l, "spentTokens"), 80 + 40 + 10 + 30);
    assert_int_equal (count_of ("gus", l, "reservedTokens"), 0);
}

static void
test_idempotent (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE], call[CID_SIZE];
    const char *k = mk_key ("hal", true, NULL, id);
    proto_msg_t *a = reserve (k, call, 5, 50, false, NULL);
    /* The same call again (a gateway resending): answered as the first. */
    proto_msg_t *b = ask (reserve_msg (k, call, 5, 50, false, NULL));
    assert_true (a->body.gkey_grant.ok && b->body.gkey_grant.ok);
    assert_int_equal (b->body.gkey_grant.output_max, 50);
    proto_msg_destroy (&a);
    proto_msg_destroy (&b);
    const char *l = label_of ("key", id);
    assert_int_equal (count_of ("hal", l, "calls"), 1);
    assert_int_equal (count_of ("hal", l, "reservedTokens"), 55);
    assert_int_equal (settle (call, 5, 20), 20 * NUSD_PER_TOKEN);
    assert_int_equal (settle (call, 5, 20), 20 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("hal", l, "spentNusd"), 20 * NUSD_PER_TOKEN);
    /* After its settle too, and not for another key. */
    b = ask (reserve_msg (k, call, 5, 50, false, NULL));
    assert_true (b->body.gkey_grant.ok);
    proto_msg_destroy (&b);
    assert_int_equal (count_of ("hal", l, "calls"), 1);
    const char *other = mk_key ("hal", true, NULL, id);
    expect_error (ask (reserve_msg (other, call, 5, 50, false, NULL)), "bad_value");
}

/* 100 calls at once (10 clients, 10 pipelined each) against a budget of
 * exactly 10 of them: exactly 10 granted, 90 refused naming the budget. */
static void
test_race_100 (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *k = mk_key ("ivy", true, &(kopt_t) { .bnusd = 10 * 50 * NUSD_PER_TOKEN }, id);
    bus_client_t *cs[10];
    for (int i = 0; i < 10; i++) {
        cs[i] = bus_client_new (getenv ("CAISSON_BUS"));
        bus_client_set_timeout (cs[i], 5000, 0);
    }
    for (int r = 0; r < 10; r++)
        for (int i = 0; i < 10; i++) {
            char call[CID_SIZE];
            cid_new (call);
            support_send (cs[i], "gateway-keys", reserve_msg (k, call, 0, 50, false, NULL));
        }
    int ok = 0, refused = 0;
    for (int i = 0; i < 10; i++)
        for (int r = 0; r < 10; r++) {
            proto_msg_t *rep = bus_client_recv (cs[i], 10000, NULL);
            assert_non_null (rep);
            assert_int_equal (rep->type, PROTO_gkey_grant);
            if (rep->body.gkey_grant.ok)
                ok++;
            else {
                refused++;
                assert_int_equal (rep->body.gkey_grant.status, 402);
                assert_string_equal (rep->body.gkey_grant.budget, "key.cost.month");
                assert_non_null (strstr (rep->body.gkey_grant.reason, "resets "));
            }
            proto_msg_destroy (&rep);
        }
    for (int i = 0; i < 10; i++)
        bus_client_destroy (&cs[i]);
    assert_int_equal (ok, 10);
    assert_int_equal (refused, 90);
    const char *l = label_of ("key", id);
    assert_int_equal (count_of ("ivy", l, "reservedNusd"), 500 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("ivy", l, "calls"), 10);
    assert_int_equal (count_of ("ivy", l, "refused"), 90);
    assert_int_equal (count_of ("ivy", l, "spentNusd"), 0);
}

static void
test_rate_limit (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *k = mk_key ("jay", true, &(kopt_t) { .rpm = 2, .tpm = 1000 }, id);
    for (int i = 0; i < 2; i++) {
        proto_msg_t *rep = reserve (k, NULL, 1, 1, false, NULL);
        assert_true (rep->body.gkey_grant.ok);
        assert_int_equal (rep->body.gkey_grant.rl_limit_req, 2);
        assert_int_equal (rep->body.gkey_grant.rl_left_req, 1 - i);
        proto_msg_destroy (&rep);
    }
    proto_msg_t *rep = reserve (k, NULL, 1, 1, false, NULL);
    proto_gkey_grant_t *g = &rep->body.gkey_grant;
    assert_false (g->ok);
    assert_int_equal (g->status, 429);
    assert_string_equal (g->code, "rate_limit_requests");
    assert_true (g->retry_after_s >= 1 && g->retry_after_s <= 60);
    proto_msg_destroy (&rep);
    /* Tokens per minute: input bound and output maximum count. */
    const char *kt = mk_key ("jay", true, &(kopt_t) { .tpm = 100 }, id);
    rep = reserve (kt, NULL, 10, 60, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.rl_left_tok, 30);
    proto_msg_destroy (&rep);
    rep = reserve (kt, NULL, 10, 60, false, NULL);
    assert_int_equal (rep->body.gkey_grant.status, 429);
    assert_string_equal (rep->body.gkey_grant.code, "rate_limit_tokens");
    assert_true (rep->body.gkey_grant.retry_after_s >= 1);
    proto_msg_destroy (&rep);
    assert_int_equal (count_of ("jay", label_of ("key", id), "refused"), 1);
    assert_int_equal (count_of ("jay", label_of ("key", id), "reservedTokens"), 70);
}

static void
test_hostile (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *k = mk_key ("kim", true, &(kopt_t) { .bnusd = 1000000, .btok = 100000 }, id);
    /* Numbers near UINT64_MAX saturate and are refused, never wrap. */
    proto_msg_t *rep = reserve (k, NULL, UINT64_MAX - 1, UINT64_MAX - 1, false, NULL);
    assert_false (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.status, 402);
    proto_msg_destroy (&rep);
    rep = reserve (k, NULL, 0, UINT64_MAX, true, NULL);
    assert_true (rep->body.gkey_grant.ok);      /* capped to what the budget affords */
    assert_int_equal (rep->body.gkey_grant.output_max, 1000);
    proto_msg_destroy (&rep);
    const char *l = label_of ("key", id);
    assert_int_equal (count_of ("kim", l, "reservedNusd"), 1000000);
    assert_int_equal (count_of ("kim", l, "refused"), 1);
    /* A hash of the wrong size is a bad request. */
    proto_msg_t *m = reserve_msg (k, "0000000000000000000000000b", 1, 1, false, NULL);
    m->body.gkey_reserve.key_hash.size = 31;
    expect_error (ask (m), "bad_value");
    /* Over the declared lengths: refused by the codec. */
    m = reserve_msg (k, "0000000000000000000000000c", 1, 1, false, NULL);
    char huge[400];
    memset (huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    proto_set_str (&m->body.gkey_reserve.model, huge);
    expect_error (ask (m), "too_long");
}

static void
test_single_instance (void **state)
{
    (void) state;
    pid_t second = support_spawn ("caisson-gateway-keys", s_env);
    int st = 0;
    for (int i = 0; i < 100 && waitpid (second, &st, WNOHANG) == 0; i++)
        usleep (50 * 1000);
    assert_true (WIFEXITED (st));
    assert_int_equal (WEXITSTATUS (st), 2);
    assert_true (support_alive (s_keys));
}

/* kill -9 in the middle of settles, then a restart: what was acked is
 * counted, and every call resent is charged once. */
int
main (int argc, char **argv)
{
    int child = gku_child (argc, argv);
    if (child >= 0)
        return child;
    s_name = "gkeys";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_windows),
        cmocka_unit_test (test_keys_two_users),
        cmocka_unit_test (test_single_instance),
        cmocka_unit_test (test_context_expiry),
        cmocka_unit_test (test_gc_expired),
        cmocka_unit_test (test_self_service_limits),
        cmocka_unit_test (test_chain_user_budget),
        cmocka_unit_test (test_capped_grant),
        cmocka_unit_test (test_settle_refund_extra),
        cmocka_unit_test (test_idempotent),
        cmocka_unit_test (test_race_100),
        cmocka_unit_test (test_rate_limit),
        cmocka_unit_test (test_hostile),
    };
    return support_run_group_tests (tests, gku_setup, gku_teardown);
}
