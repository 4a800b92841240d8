/* The model gateway's HTTP front (caisson-gateway) over real HTTP, with a
 * stand-in gateway-keys on the bus (gw_fakes.c: the real gkey.grant
 * shape, every refusal, settles recorded), the real llm-replay as the
 * `replay/` and `replay-anthropic/` providers, and a fake provider as
 * `openai/` and `anthropic/` (whole answers, odd stream pieces, error
 * bodies quoting the key, stalls). Bytes through the gateway equal the
 * provider's, but for the usage chunk the gateway asked for itself.
 * Refusals and failures: test_gateway_refuse. */
#define _GNU_SOURCE /* strndup */
#include "gw_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
test_release_at_start (void **state)
{
    (void) state;
    json_t *r = gw_fake_log_find (gwc_log, "release", NULL, 5000);
    assert_non_null (r);
    assert_true (strlen (support_json_str (r, "gateway")) > 0);
    json_decref (r);
}

/* fmt with its one "%s" replaced by model (new). */
static char *
body_for (const char *fmt, const char *model)
{
    const char *at = strstr (fmt, "%s");
    assert_non_null (at);
    char *b = malloc (strlen (fmt) + strlen (model) + 1);
    sprintf (b, "%.*s%s%s", (int) (at - fmt), fmt, model, at + 2);
    return b;
}

/* text without its first copy of event (new). */
static char *
without (const char *text, const char *event)
{
    const char *at = strstr (text, event);
    assert_non_null (at);
    char *out = strdup (text);
    memmove (out + (at - text), at + strlen (event), strlen (at + strlen (event)) + 1);
    return out;
}

/* The event of text holding "\"choices\":[]," (the usage chunk), new. */
static char *
usage_event (const char *text)
{
    const char *at = strstr (text, "\"choices\":[],");
    assert_non_null (at);
    while (at > text && !(at[-1] == '\n' && at[-2] == '\n'))
        at--;
    const char *end = strstr (at, "\n\n");
    return strndup (at, (size_t) (end + 2 - at));
}

static void
test_stream_bytes_openai (void **state)
{
    (void) state;
    const char *fmt = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hello "
                      "gateway\"}],\"max_tokens\":64,\"stream\":true,"
                      "\"stream_options\":{\"include_usage\":true}}";
    char *direct_b = body_for (fmt, "demo"), *gw_b = body_for (fmt, "replay/demo");
    rsp_t d = gwc_http (gwc_replay_url, "/chat/completions", direct_b, NULL, 0);
    rsp_t g = gwc_http (gwc_url, "/v1/chat/completions", gw_b, gwc_ok, 0);
    assert_int_equal (g.status, 200);
    assert_string_equal (g.body, d.body);   /* asked for usage: every byte */
    json_t *s = gwc_settle_of (&g);
    char *ue = usage_event (d.body);
    json_t *ud = json_loads (ue + 6, 0, NULL), *u = json_object_get (ud, "usage");
    gwc_expect_settle (s, "ok", json_integer_value (json_object_get (u, "prompt_tokens")),
                   json_integer_value (json_object_get (u, "completion_tokens")), false);
    json_decref (s);
    gwc_free (&g);
    /* not asked: the gateway asks upstream and withholds just that chunk */
    const char *fmt2 = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hello "
                       "gateway\"}],\"max_tokens\":64,\"stream\":true}";
    free (gw_b);
    gw_b = body_for (fmt2, "replay/demo");
    g = gwc_http (gwc_url, "/v1/chat/completions", gw_b, gwc_ok, 0);
    char *want = without (d.body, ue);
    assert_string_equal (g.body, want);
    assert_null (strstr (g.body, "\"usage\""));
    assert_string_equal (gwc_hval (&g, "Content-Type"), "text/event-stream");
    s = gwc_settle_of (&g);
    gwc_expect_settle (s, "ok", -1, json_integer_value (json_object_get (u, "completion_tokens")),
                   false);
    json_decref (s);
    json_decref (ud);
    free (want);
    free (ue);
    free (direct_b);
    free (gw_b);
    gwc_free (&d);
    gwc_free (&g);
}

static void
test_stream_bytes_anthropic (void **state)
{
    (void) state;
    const char *fmt = "{\"model\":\"%s\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\","
                      "\"content\":\"hello gateway\"}],\"stream\":true}";
    char *direct_b = body_for (fmt, "demo"), *gw_b = body_for (fmt, "replay-anthropic/demo");
    rsp_t d = gwc_http (gwc_replay_url, "/messages", direct_b, NULL, 0);
    const char *const hk[] = { "x-api-key: " GW_KEY_OK, "anthropic-version: 2023-06-01", NULL };
    rsp_t g = gwc_http (gwc_url, "/v1/messages", gw_b, hk, 0);
    assert_int_equal (g.status, 200);
    assert_string_equal (g.body, d.body);
    /* usage: message_start's input, the last message_delta's output */
    const char *ms = strstr (d.body, "\"input_tokens\":");
    assert_non_null (ms);
    json_int_t in = strtoll (ms + 15, NULL, 10), out = 0;
    for (const char *p = d.body; (p = strstr (p, "\"type\":\"message_delta\"")); p++) {
        const char *o = strstr (p, "\"output_tokens\":");
        out = strtoll (o + 16, NULL, 10);
    }
    assert_true (out > 1);
    json_t *s = gwc_settle_of (&g);
    gwc_expect_settle (s, "ok", in, out, false);
    json_decref (s);
    free (direct_b);
    free (gw_b);
    gwc_free (&d);
    gwc_free (&g);
}

/* Embeddings: llm-replay's answer unchanged, its usage settled. */
static void
test_embeddings (void **state)
{
    (void) state;
    const char *fmt = "{\"model\":\"%s\",\"input\":[\"one text\",\"another one\"]}";
    char *direct_b = body_for (fmt, "embed"), *gw_b = body_for (fmt, "replay/embed");
    rsp_t d = gwc_http (gwc_replay_url, "/embeddings", direct_b, NULL, 0);
    rsp_t g = gwc_http (gwc_url, "/v1/embeddings", gw_b, gwc_ok, 0);
    assert_int_equal (g.status, 200);
    assert_int_equal (d.status, 200);
    assert_string_equal (g.body, d.body);
    json_t *doc = json_loads (d.body, 0, NULL);
    json_int_t in = json_integer_value (json_object_get (json_object_get (doc, "usage"),
                                                         "prompt_tokens"));
    assert_true (in > 0);
    json_t *s = gwc_settle_of (&g);
    gwc_expect_settle (s, "ok", in, 0, false);
    json_t *res = gw_fake_log_find (gwc_log, "reserve", gwc_hval (&g, "x-caisson-call"), 0);
    assert_string_equal (support_json_str (res, "route"), "embeddings");
    assert_int_equal (json_integer_value (json_object_get (res, "output_max")), 0);
    json_decref (res);
    json_decref (s);
    json_decref (doc);
    free (direct_b);
    free (gw_b);
    gwc_free (&d);
    gwc_free (&g);
}

/* Whole answers (the fake provider's: llm-replay streams every answer
 * today) come through unchanged, with their usage settled, the provider's
 * request id kept and its x-ratelimit-* replaced by the key's. */
static void
test_whole_answers (void **state)
{
    (void) state;
    rsp_t g = gwc_http (gwc_url, "/v1/chat/completions",
                    "{\"model\":\"openai/plain\",\"messages\":[{\"role\":\"user\",\"content\":"
                    "\"hi\"}],\"max_tokens\":20}", gwc_ok, 0);
    assert_int_equal (g.status, 200);
    assert_non_null (strstr (g.body, "\"content\":\"plain answer\""));
    assert_string_equal (gwc_hval (&g, "x-request-id"), "req-fake-1");
    assert_string_equal (gwc_hval (&g, "x-ratelimit-limit-requests"), "60");
    assert_string_equal (gwc_hval (&g, "x-ratelimit-remaining-requests"), "59");
    json_t *s = gwc_settle_of (&g);
    gwc_expect_settle (s, "ok", 12, 3, false);
    json_decref (s);
    gwc_free (&g);
    const char *const hk[] = { "x-api-key: " GW_KEY_OK, NULL };
    g = gwc_http (gwc_url, "/v1/messages", "{\"model\":\"anthropic/plain\",\"max_tokens\":20,"
              "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", hk, 0);
    assert_int_equal (g.status, 200);
    assert_non_null (strstr (g.body, "\"msg_fake\""));
    s = gwc_settle_of (&g);
    gwc_expect_settle (s, "ok", 7, 4, false);
    json_decref (s);
    gwc_free (&g);
}

/* A stream in 7-byte pieces with CRLF, `event:`/`id:` and comment lines:
 * the same bytes but the usage chunk the gateway added. */
static void
test_odd_stream (void **state)
{
    (void) state;
    rsp_t g = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/odd\",\"messages\":"
                    "[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,\"max_tokens\":9}",
                    gwc_ok, 0);
    assert_int_equal (g.status, 200);
    char *want = without (gw_fake_odd_stream, gw_fake_odd_usage);
    assert_string_equal (g.body, want);
    free (want);
    json_t *s = gwc_settle_of (&g);
    gwc_expect_settle (s, "ok", 21, 5, false);
    assert_int_equal (json_integer_value (json_object_get (s, "cached")), 8);
    json_decref (s);
    gwc_free (&g);
}

/* What the provider got: its own model name, the real key and not the
 * virtual one, no client account header, anthropic-beta kept, usage
 * asked for, and the granted max for a call that named none. */
static void
test_upstream_request (void **state)
{
    (void) state;
    const char *const h[] = { "Authorization: Bearer " GW_KEY_OK, "OpenAI-Organization: org-x",
                              NULL };
    rsp_t g = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/echo-body\","
                    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", h, 0);
    assert_int_equal (g.status, 200);
    json_t *doc = json_loads (g.body, 0, NULL), *rcv = json_object_get (doc, "received");
    assert_string_equal (support_json_str (rcv, "model"), "echo-body");
    assert_int_equal (json_integer_value (json_object_get (rcv, "max_completion_tokens")),
                      GW_CAPPED_MAX);
    char auth[600];
    assert_string_equal (gw_fake_upstream_auth (auth, sizeof auth), "Bearer " GWC_REAL_KEY);
    /* the provider's echo of it is masked (a 200 too) */
    assert_string_equal (support_json_str (doc, "auth"), "Bearer ***");
    assert_string_equal (support_json_str (doc, "org"), "");
    assert_string_equal (gwc_hval (&g, "x-caisson-max-tokens"), "300");
    json_t *res = gw_fake_log_find (gwc_log, "reserve", gwc_hval (&g, "x-caisson-call"), 0);
    assert_non_null (res);
    assert_true (json_is_true (json_object_get (res, "capped")));
    assert_int_equal (json_integer_value (json_object_get (res, "output_max")), 8192);
    assert_true (json_integer_value (json_object_get (res, "input_bound")) >= 2 + 8);
    json_decref (res);
    json_decref (doc);
    gwc_free (&g);
    const char *const ha[] = { "x-api-key: " GW_KEY_OK, "anthropic-beta: tools-1", NULL };
    g = gwc_http (gwc_url, "/v1/messages", "{\"model\":\"claude-x\",\"max_tokens\":5,\"messages\":"
              "[{\"role\":\"user\",\"content\":\"hi\"}]}", ha, 0);
    assert_int_equal (g.status, 200);
    doc = json_loads (g.body, 0, NULL);
    assert_string_equal (gw_fake_upstream_auth (auth, sizeof auth), GWC_REAL_KEY);
    assert_string_equal (support_json_str (doc, "xapikey"), "***");
    assert_string_equal (support_json_str (doc, "beta"), "tools-1");
    assert_string_equal (support_json_str (json_object_get (doc, "received"), "model"),
                         "claude-x");
    assert_string_equal (gwc_hval (&g, "x-caisson-max-tokens"), "");
    json_decref (doc);
    gwc_free (&g);
    /* n choices may each use the max: reserved n times */
    g = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/echo-body\",\"n\":3,"
              "\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
              gwc_ok, 0);
    assert_int_equal (g.status, 200);
    res = gw_fake_log_find (gwc_log, "reserve", gwc_hval (&g, "x-caisson-call"), 0);
    assert_int_equal (json_integer_value (json_object_get (res, "output_max")), 300);
    json_decref (res);
    gwc_free (&g);
}

/* A client gone mid-stream: the provider's call is cut, the call settles
 * client_gone with estimated usage. */
static void
test_client_gone (void **state)
{
    (void) state;
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/slow\","
                    "\"max_tokens\":50,\"messages\":[],\"stream\":true}", gwc_ok, 10);
    assert_int_equal (r.status, 200);
    json_t *s = gwc_settle_of (&r);
    gwc_expect_settle (s, "client_gone", -1, -1, true);
    assert_true (json_integer_value (json_object_get (s, "output")) <= 50);
    json_decref (s);
    for (int i = 0; i < 300 && !gw_fake_upstream_cancelled (); i++)
        usleep (20000);
    assert_true (gw_fake_upstream_cancelled ());
    gwc_free (&r);
}

static void
test_models (void **state)
{
    (void) state;
    rsp_t r = gwc_http (gwc_url, "/v1/models", NULL, gwc_ok, 0);
    assert_int_equal (r.status, 200);
    json_t *doc = json_loads (r.body, 0, NULL);
    assert_string_equal (support_json_str (doc, "object"), "list");
    assert_true (json_array_size (json_object_get (doc, "data")) >= 2);  /* openai, anthropic */
    json_decref (doc);
    gwc_free (&r);
    /* Anthropic's client gets Anthropic's list shape */
    const char *const ha[] = { "x-api-key: " GW_KEY_OK, "anthropic-version: 2023-06-01", NULL };
    r = gwc_http (gwc_url, "/v1/models", NULL, ha, 0);
    assert_int_equal (r.status, 200);
    doc = json_loads (r.body, 0, NULL);
    json_t *first = json_array_get (json_object_get (doc, "data"), 0);
    assert_string_equal (support_json_str (first, "type"), "model");
    assert_string_equal (support_json_str (doc, "first_id"), support_json_str (first, "id"));
    assert_true (json_is_false (json_object_get (doc, "has_more")));
    json_decref (doc);
    gwc_free (&r);
    r = gwc_http (gwc_url, "/v1/models", NULL, NULL, 0);
    assert_int_equal (r.status, 401);
    gwc_free (&r);
}

/* The gateway exits cleanly: in the sanitizer build, no leak report. */
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
        cmocka_unit_test (test_release_at_start),
        cmocka_unit_test (test_stream_bytes_openai),
        cmocka_unit_test (test_stream_bytes_anthropic),
        cmocka_unit_test (test_embeddings),
        cmocka_unit_test (test_whole_answers),
        cmocka_unit_test (test_odd_stream),
        cmocka_unit_test (test_upstream_request),
        cmocka_unit_test (test_client_gone),
        cmocka_unit_test (test_models),
        cmocka_unit_test (test_clean_exit),
    };
    return support_run_group_tests (tests, gwc_setup, gwc_teardown);
}
