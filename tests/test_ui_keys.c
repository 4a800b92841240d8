/* test_ui_keys: /api/keys, /api/usage, /api/users/{u}/budget and
 * /api/spend through the real broker, gateway-keys, event-log and
 * ui-bridge, as two users and an operator: the secret is in the POST's
 * answer only, bob neither sees nor revokes nor reads the usage of
 * alice's key, only an operator sets a budget, each user reads their own
 * spend, and spend records reach /metrics: the series naming users and
 * keys only for a scrape with the metrics token or an operator's. */
#include "support.h"
#include "ui_support.h"

#include "bus_client.h"
#include "mpjson.h"

#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pid_t s_bus, s_elog, s_keys, s_bridge;
static const char *s_alice, *s_bob, *s_root;
static bus_client_t *s_client;

static const char *const s_keys_env[] = { "CAISSON_GATEWAY_MODELS=replay/*", NULL };
#define SCRAPE "scrape-7f3a9c2e41d8b605"
static const char *const s_bridge_env[] = { "CAISSON_METRICS_TOKEN=" SCRAPE, NULL };

static int
setup (void **state)
{
    (void) state;
    assert_non_null (support_sandbox_env ("uikeys"));
    ui_pick_port ();
    s_bus = support_spawn ("caisson-bus", NULL);
    s_elog = support_spawn ("caisson-event-log", NULL);
    s_keys = support_spawn ("caisson-gateway-keys", s_keys_env);
    s_bridge = support_spawn ("caisson-ui-bridge", s_bridge_env);
    assert_int_equal (ui_wait_ready (), 0);
    s_alice = ui_token (0, "alice", 0);
    s_bob = ui_token (1, "bob", 0);
    s_root = ui_token (2, "root", 1);
    s_client = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (s_client, "gateway-keys");
    support_await_service (s_client, "event-log");
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    bus_client_destroy (&s_client);
    support_expect_clean_exit (s_bridge);
    support_stop (s_keys, SIGTERM, 3000);
    support_stop (s_elog, SIGTERM, 3000);
    support_stop (s_bus, SIGTERM, 2000);
    return 0;
}

static void
test_keys_per_user (void **state)
{
    (void) state;
    long st;
    json_t *made = ui_json ("POST", "/api/keys", s_alice,
                            "{\"name\":\"app\",\"models\":[\"replay/*\"],\"rpm\":5,"
                            "\"budgetUsd\":0.25,\"window\":\"day\"}", &st);
    assert_int_equal (st, 201);
    const char *secret = json_string_value (json_object_get (made, "key"));
    assert_non_null (secret);
    assert_int_equal (strncmp (secret, "vk_alice_", 9), 0);
    json_t *info = json_object_get (made, "info");
    char id[16], sec[128];
    snprintf (id, sizeof id, "%s", json_string_value (json_object_get (info, "id")));
    snprintf (sec, sizeof sec, "%s", secret);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (info, "budget"),
                                                           "nusd")), 250000000);
    json_decref (made);

    /* alice lists it, without the secret; bob sees none of hers */
    ui_res_t r = ui_request ("GET", "/api/keys", s_alice, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, id));
    assert_null (strstr (r.body, sec));
    assert_null (strstr (r.body, "vk_"));
    ui_res_free (&r);
    r = ui_request ("GET", "/api/keys", s_bob, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_null (strstr (r.body, id));
    ui_res_free (&r);
    r = ui_request ("GET", "/api/keys?user=alice", s_bob, NULL, NULL);
    assert_null (strstr (r.body, id));
    ui_res_free (&r);
    r = ui_request ("GET", "/api/keys?user=alice", s_root, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, id));
    assert_null (strstr (r.body, sec));
    ui_res_free (&r);

    /* bob can neither read its usage nor revoke it */
    char path[128];
    snprintf (path, sizeof path, "/api/keys/%s/usage", id);
    r = ui_request ("GET", path, s_bob, NULL, NULL);
    assert_int_equal (r.status, 404);
    ui_res_free (&r);
    r = ui_request ("GET", path, s_alice, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "spentNusd"));
    ui_res_free (&r);
    snprintf (path, sizeof path, "/api/keys/%s", id);
    r = ui_request ("DELETE", path, s_bob, NULL, NULL);
    assert_int_equal (r.status, 404);
    ui_res_free (&r);
    r = ui_request ("GET", "/api/keys", s_alice, NULL, NULL);
    assert_non_null (strstr (r.body, id));
    ui_res_free (&r);

    /* budgets: operators only */
    r = ui_request ("PUT", "/api/users/alice/budget", s_alice, "{\"budgetUsd\":100}", NULL);
    assert_int_equal (r.status, 403);
    ui_res_free (&r);
    r = ui_request ("PUT", "/api/users/alice/budget", s_root,
                    "{\"budgetUsd\":2,\"budgetTokens\":5000,\"window\":\"month\"}", NULL);
    assert_int_equal (r.status, 200);
    ui_res_free (&r);
    r = ui_request ("GET", "/api/usage", s_alice, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "user.alice"));
    assert_non_null (strstr (r.body, "2000000000"));
    ui_res_free (&r);

    /* alice revokes her own */
    r = ui_request ("DELETE", path, s_alice, NULL, NULL);
    assert_int_equal (r.status, 200);
    ui_res_free (&r);
    r = ui_request ("GET", "/api/keys", s_alice, NULL, NULL);
    assert_null (strstr (r.body, id));
    ui_res_free (&r);
}

/* Stores a spend record of user's as gateway-keys does. */
static void
spend_of (const char *call, const char *user, const char *key)
{
    json_t *rec = json_pack ("{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s}",
                             "call", call, "ts", (json_int_t) zclock_time (), "user", user,
                             "key", key, "keyKind", "user", "model", "replay/demo", "in",
                             (json_int_t) 3, "out", (json_int_t) 40, "cached", (json_int_t) 0,
                             "nusd", (json_int_t) 40000, "status", (json_int_t) 200,
                             "outcome", "ok");
    proto_msg_t *m = proto_msg_new (PROTO_spend_append, NULL);
    m->env.op = true;
    mpjson_set (&m->body.spend_append.record, rec, 8);
    json_decref (rec);
    proto_msg_t *rep = bus_client_request (s_client, "event-log", m);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_spend_ack);
    proto_msg_destroy (&rep);
    proto_msg_destroy (&m);
}

static void
test_spend_and_metrics (void **state)
{
    (void) state;
    /* the watcher subscribes at start: store until one is counted */
    bool counted = false;
    for (int i = 0; i < 100 && !counted; i++) {
        char call[32];
        snprintf (call, sizeof call, "warm-%d", i);
        spend_of (call, "alice", "aaaaaaaaaaaa");
        ui_res_t r = ui_request ("GET", "/metrics", SCRAPE, NULL, NULL);
        counted = strstr (r.body, "caisson_gateway_calls_total{user=\"alice\","
                          "key=\"aaaaaaaaaaaa\",model=\"replay/demo\",status=\"200\"}") != NULL;
        ui_res_free (&r);
        if (!counted)
            usleep (100000);
    }
    assert_true (counted);
    spend_of ("b-1", "bob", "bbbbbbbbbbbb");
    ui_res_t r = ui_request ("GET", "/api/spend", s_alice, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "aaaaaaaaaaaa"));
    assert_null (strstr (r.body, "bbbbbbbbbbbb"));
    ui_res_free (&r);
    r = ui_request ("GET", "/api/spend?user=alice", s_bob, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_null (strstr (r.body, "aaaaaaaaaaaa"));
    assert_non_null (strstr (r.body, "bbbbbbbbbbbb"));
    ui_res_free (&r);
    r = ui_request ("GET", "/api/spend?limit=1", s_root, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "\"next\""));
    ui_res_free (&r);
    r = ui_request ("GET", "/api/spend?limit=x", s_root, NULL, NULL);
    assert_int_equal (r.status, 400);
    ui_res_free (&r);
    r = ui_request ("GET", "/metrics", SCRAPE, NULL, NULL);
    assert_non_null (strstr (r.body, "caisson_gateway_tokens_total{user=\"alice\","
                             "key=\"aaaaaaaaaaaa\",model=\"replay/demo\",kind=\"output\"}"));
    assert_non_null (strstr (r.body, "caisson_gateway_cost_usd_total{user=\"alice\""));
    assert_non_null (strstr (r.body, "caisson_gateway_overhead_seconds_count"));
    ui_res_free (&r);
    /* the series are bounded all the same: past 100 keys a key is `other`, not a new series */
    for (int i = 0; i < 110; i++) {
        char call[32], key[16];
        snprintf (call, sizeof call, "many-%d", i);
        snprintf (key, sizeof key, "k%011d", i);
        spend_of (call, "bob", key);
    }
    bool other = false;
    for (int i = 0; i < 50 && !other; i++) {
        r = ui_request ("GET", "/metrics", SCRAPE, NULL, NULL);
        other = strstr (r.body, "caisson_gateway_calls_total{user=\"bob\",key=\"other\"") != NULL;
        if (other) {
            assert_null (strstr (r.body, "key=\"k00000000109\""));
            assert_non_null (strstr (r.body, "key=\"aaaaaaaaaaaa\""));
        }
        ui_res_free (&r);
        if (!other)
            usleep (100000);
    }
    assert_true (other);
}

/* Anyone who reaches the port may scrape /metrics: without the metrics
 * token or an operator's, it must not name who spends what. */
static void
test_metrics_tenants (void **state)
{
    (void) state;
    ui_res_t r = ui_request ("GET", "/metrics", NULL, NULL, NULL);
    assert_int_equal (r.status, 200);
    if (strstr (r.body, "alice") || strstr (r.body, "aaaaaaaaaaaa"))
        fail_msg ("an anonymous /metrics names alice or her key:\n%.800s", r.body);
    assert_null (strstr (r.body, "caisson_gateway_calls_total"));
    assert_non_null (strstr (r.body, "caisson_gateway_overhead_seconds_count"));
    ui_res_free (&r);
    r = ui_request ("GET", "/metrics", s_bob, NULL, NULL);
    assert_int_equal (r.status, 403);
    assert_null (strstr (r.body, "aaaaaaaaaaaa"));
    ui_res_free (&r);
    r = ui_request ("GET", "/metrics", "scrape-7f3a9c2e41d8b604", NULL, NULL);
    assert_int_equal (r.status, 401);
    assert_null (strstr (r.body, "aaaaaaaaaaaa"));
    ui_res_free (&r);
    r = ui_request ("GET", "/metrics", s_root, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "caisson_gateway_calls_total{user=\"alice\""));
    ui_res_free (&r);
}

/* The web UI's Usage view in headless Chromium (tests/agui/usage_browser.mjs),
 * after test_spend_and_metrics stored alice's spend. */
static void
test_web_usage (void **state)
{
    (void) state;
    if (access (getenv ("CHROMIUM") ? getenv ("CHROMIUM") : "/usr/bin/chromium", X_OK))
        skip ();
    const char *args[] = { "node", "usage_browser.mjs", ui_base, s_alice, "alice",
                           CAISSON_BIN_DIR "/../ui-screenshots/usage", NULL };
    assert_int_equal (support_run_node (args), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_keys_per_user),
        cmocka_unit_test (test_spend_and_metrics),
        cmocka_unit_test (test_metrics_tenants),
        cmocka_unit_test (test_web_usage),
    };
    return support_run_group_tests (tests, setup, teardown);
}
