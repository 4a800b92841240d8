/* caisson-gateway's refusals and failures over real HTTP (gw_client's
 * stack): no key or a non-virtual one (401 without asking gateway-keys),
 * each refusal of gateway-keys with its status, code, reason and
 * headers in each protocol's shape, a provider's error passed through
 * with the real key masked, an unreachable (502) or silent (504)
 * provider, bodies refused before any bus call (413, too deep, not JSON,
 * the other protocol's model), and gateway-keys gone (503). */
#include "gw_client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No key, or no virtual key's shape: 401 in each protocol's shape, and
 * gateway-keys never asked. */
static void
test_no_key (void **state)
{
    (void) state;
    int before = gw_fake_log_count (gwc_log, "reserve");
    const char *body = "{\"model\":\"replay/demo\",\"messages\":[]}";
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", body, NULL, 0);
    assert_int_equal (r.status, 401);
    json_t *doc = json_loads (r.body, 0, NULL);
    assert_string_equal (support_json_str (json_object_get (doc, "error"), "code"),
                         "invalid_api_key");
    json_decref (doc);
    gwc_free (&r);
    const char *const sk[] = { "x-api-key: " GWC_REAL_KEY, NULL };
    r = gwc_http (gwc_url, "/v1/messages", body, sk, 0);
    assert_int_equal (r.status, 401);
    doc = json_loads (r.body, 0, NULL);
    assert_string_equal (support_json_str (doc, "type"), "error");
    assert_string_equal (support_json_str (json_object_get (doc, "error"), "type"),
                         "authentication_error");
    json_decref (doc);
    gwc_free (&r);
    assert_int_equal (gw_fake_log_count (gwc_log, "reserve"), before);
}

/* Every refusal of gateway-keys: its status, code and reason in the
 * protocol's shape, with the headers the status calls for. */
static void
test_refusals (void **state)
{
    (void) state;
    const char *body = "{\"model\":\"openai/plain\",\"max_tokens\":5,\"messages\":[]}";
    const char *const hb[] = { "Authorization: Bearer " GW_KEY_BUDGET, NULL };
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", body, hb, 0);
    assert_int_equal (r.status, 402);
    assert_string_equal (gwc_hval (&r, "x-caisson-budget"), "key.cost.day");
    assert_string_equal (gwc_hval (&r, "x-caisson-budget-reset"), "2025-12-08T00:00:00Z");
    json_t *e = gwc_error_of (&r, false);
    assert_string_equal (support_json_str (e, "code"), "budget_exceeded");
    assert_non_null (strstr (support_json_str (e, "message"), "resets 2025-12-08"));
    json_decref (e);
    gwc_free (&r);
    const char *const hr[] = { "x-api-key: " GW_KEY_RATE, NULL };
    r = gwc_http (gwc_url, "/v1/messages", "{\"model\":\"anthropic/plain\",\"max_tokens\":5,"
              "\"messages\":[]}", hr, 0);
    assert_int_equal (r.status, 429);
    assert_string_equal (gwc_hval (&r, "Retry-After"), "7");
    assert_string_equal (gwc_hval (&r, "retry-after-ms"), "7000");
    e = gwc_error_of (&r, true);
    assert_string_equal (support_json_str (e, "type"), "rate_limit_error");
    json_decref (e);
    gwc_free (&r);
    struct { const char *key; long status; const char *code; } rest[] = {
        { GW_KEY_REVOKED, 401, "key_revoked" }, { GW_KEY_MODEL, 403, "model_not_allowed" },
        { GW_KEY_UNKNOWN, 401, "invalid_api_key" },
    };
    for (size_t i = 0; i < 3; i++) {
        char h[200];
        snprintf (h, sizeof h, "Authorization: Bearer %s", rest[i].key);
        const char *const hh[] = { h, NULL };
        r = gwc_http (gwc_url, "/v1/chat/completions", body, hh, 0);
        assert_int_equal (r.status, rest[i].status);
        e = gwc_error_of (&r, false);
        assert_string_equal (support_json_str (e, "code"), rest[i].code);
        json_decref (e);
        gwc_free (&r);
    }
}

/* A provider's error passes with its status and body, the real key in it
 * masked; the call settles as provider_error. */
static void
test_provider_error_masked (void **state)
{
    (void) state;
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/echo-key\","
                    "\"max_tokens\":5,\"messages\":[]}", gwc_ok, 0);
    assert_int_equal (r.status, 400);
    assert_null (strstr (r.body, GWC_REAL_KEY));
    assert_non_null (strstr (r.body, "Bearer ***"));
    json_t *s = gwc_settle_of (&r);
    gwc_expect_settle (s, "provider_error", 0, 0, false);
    assert_int_equal (json_integer_value (json_object_get (s, "status")), 400);
    json_decref (s);
    gwc_free (&r);
}

/* A provider that cannot be reached: 502; one that does not answer in
 * CAISSON_GATEWAY_UPSTREAM_TIMEOUT_S: 504; both settle upstream_failed
 * at no usage. */
static void
test_upstream_failures (void **state)
{
    (void) state;
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"groq/any\","
                    "\"max_tokens\":5,\"messages\":[]}", gwc_ok, 0);
    assert_int_equal (r.status, 502);
    json_t *e = gwc_error_of (&r, false);
    assert_string_equal (support_json_str (e, "code"), "upstream_unreachable");
    json_decref (e);
    json_t *s = gwc_settle_of (&r);
    gwc_expect_settle (s, "upstream_failed", 0, 0, false);
    json_decref (s);
    gwc_free (&r);
    r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/stall\","
              "\"max_tokens\":5,\"messages\":[]}", gwc_ok, 0);
    assert_int_equal (r.status, 504);
    s = gwc_settle_of (&r);
    gwc_expect_settle (s, "upstream_failed", 0, 0, false);
    assert_int_equal (json_integer_value (json_object_get (s, "status")), 504);
    json_decref (s);
    gwc_free (&r);
}

/* Refused before any bus call: too big (413), too deep (400), malformed,
 * the model of the other protocol (400 naming the route to use). */
static void
test_bad_requests (void **state)
{
    (void) state;
    int before = gw_fake_log_count (gwc_log, "reserve");
    size_t n = 1100000;
    char *big = malloc (n + 64);
    snprintf (big, 64, "{\"model\":\"openai/plain\",\"messages\":[],\"x\":\"");
    size_t at = strlen (big);
    memset (big + at, 'a', n);
    strcpy (big + at + n, "\"}");
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", big, gwc_ok, 0);
    assert_int_equal (r.status, 413);
    gwc_free (&r);
    free (big);
    char deep[400] = "{\"model\":\"openai/plain\",\"messages\":";
    for (int i = 0; i < 100; i++)
        strcat (deep, "[");
    for (int i = 0; i < 100; i++)
        strcat (deep, "]");
    strcat (deep, "}");
    r = gwc_http (gwc_url, "/v1/chat/completions", deep, gwc_ok, 0);
    assert_int_equal (r.status, 400);
    json_t *e = gwc_error_of (&r, false);
    assert_string_equal (support_json_str (e, "code"), "too_deep");
    json_decref (e);
    gwc_free (&r);
    r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":", gwc_ok, 0);
    assert_int_equal (r.status, 400);
    gwc_free (&r);
    r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"anthropic/claude-x\","
              "\"messages\":[]}", gwc_ok, 0);
    assert_int_equal (r.status, 400);
    assert_non_null (strstr (r.body, "POST /v1/messages"));
    gwc_free (&r);
    assert_int_equal (gw_fake_log_count (gwc_log, "reserve"), before);
}

/* gateway-keys gone: the gateway fails closed, 503, never forwarding. */
static void
test_keys_down (void **state)
{
    (void) state;
    support_stop (gwc_keys, SIGTERM, 5000);
    gwc_keys = 0;
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/echo-body\","
                    "\"max_tokens\":5,\"messages\":[]}", gwc_ok, 0);
    assert_int_equal (r.status, 503);
    json_t *e = gwc_error_of (&r, false);
    assert_string_equal (support_json_str (e, "code"), "keys_unavailable");
    json_decref (e);
    gwc_free (&r);
}

static void
test_clean_exit (void **state)
{
    (void) state;
    gwc_clean_exit ();
}

int
main (int argc, char **argv)
{
    int rc = gwc_child (argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_no_key),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_provider_error_masked),
        cmocka_unit_test (test_upstream_failures),
        cmocka_unit_test (test_bad_requests),
        cmocka_unit_test (test_keys_down),
        cmocka_unit_test (test_clean_exit),
    };
    return support_run_group_tests (tests, gwc_setup, gwc_teardown);
}
