/* A second attack on caisson-gateway (issue 16), over real HTTP with
 * gw_client's stack: tools the provider runs and bills itself (web search,
 * web fetch, code execution, MCP servers) are refused, as their cost and
 * the input their results add are outside what a call reserves; a
 * provider's usage is charged once (cache writes not twice) and never
 * wraps round to nothing when it reports enormous counts; a beta that
 * widens a model's context window widens the input bound with it. */
#include "gw_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sends body to path with the good key; its status, and whether a
 * reserve went out for it. */
static long
post (const char *path, const char *body, const char *const hdrs[], bool *reserved)
{
    int before = gw_fake_log_count (gwc_log, "reserve");
    rsp_t r = gwc_http (gwc_url, path, body, hdrs ? hdrs : gwc_ok, 0);
    long st = r.status;
    if (reserved)
        *reserved = gw_fake_log_count (gwc_log, "reserve") > before;
    gwc_free (&r);
    return st;
}

/* Server tools are run and billed by the provider: searches and fetches
 * cost per use (not in tokens) and their results are input tokens no
 * byte of the request bounds, so one call could overshoot any budget
 * (and reach any URL from a sandbox in network mode none). Refused before
 * anything is reserved; tools the client runs pass. */
static void
test_server_tools_refused (void **state)
{
    (void) state;
    const char *bad[] = {
        "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\",\"max_uses\":50}]",
        "\"tools\":[{\"type\":\"web_fetch_20250910\",\"name\":\"web_fetch\"}]",
        "\"tools\":[{\"type\":\"code_execution_20250825\",\"name\":\"code_execution\"}]",
        "\"mcp_servers\":[{\"type\":\"url\",\"url\":\"https://example.com/sse\",\"name\":\"x\"}]",
        NULL };
    for (size_t i = 0; bad[i]; i++) {
        char body[600];
        snprintf (body, sizeof body, "{\"model\":\"anthropic/echo\",\"max_tokens\":5,%s,"
                  "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", bad[i]);
        bool reserved = true;
        long st = post ("/v1/messages", body, NULL, &reserved);
        if (st != 400 || reserved)
            fprintf (stderr, "%s: %ld reserved %d\n", bad[i], st, reserved);
        assert_int_equal (st, 400);
        assert_false (reserved);
    }
    bool reserved = true;
    long st = post ("/v1/chat/completions", "{\"model\":\"openai/echo\",\"max_tokens\":5,"
                    "\"web_search_options\":{},\"messages\":[{\"role\":\"user\",\"content\":"
                    "\"hi\"}]}", NULL, &reserved);
    assert_int_equal (st, 400);
    assert_false (reserved);
    /* client tools: the provider bills them as tokens only */
    assert_int_equal (post ("/v1/messages", "{\"model\":\"anthropic/echo\",\"max_tokens\":5,"
                            "\"tools\":[{\"name\":\"get\",\"input_schema\":{\"type\":\"object\"}},"
                            "{\"type\":\"custom\",\"name\":\"c\",\"input_schema\":{}},"
                            "{\"type\":\"bash_20250124\",\"name\":\"bash\"}],\"messages\":"
                            "[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, NULL), 200);
    assert_int_equal (post ("/v1/chat/completions", "{\"model\":\"openai/echo\","
                            "\"max_tokens\":5,\"tools\":[{\"type\":\"function\",\"function\":"
                            "{\"name\":\"f\",\"parameters\":{}}}],\"messages\":[{\"role\":"
                            "\"user\",\"content\":\"hi\"}]}", NULL, NULL), 200);
}

/* The settle of a /v1/messages call to usage-echo reporting usage (JSON). */
static json_t *
settle_for_usage (const char *usage)
{
    char body[600];
    snprintf (body, sizeof body, "{\"model\":\"anthropic/usage-echo\",\"max_tokens\":5,"
              "\"metadata\":%s,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", usage);
    rsp_t r = gwc_http (gwc_url, "/v1/messages", body, gwc_ok, 0);
    assert_int_equal (r.status, 200);
    json_t *s = gwc_settle_of (&r);
    gwc_free (&r);
    assert_non_null (s);
    return s;
}

/* gateway-keys charges input + cache_write as input (gk_settle): tokens
 * written to the cache must be in one of them only. Anthropic reports
 * 30 uncached, 50 read from and 20 written to the cache: 100 in all. */
static void
test_cache_write_charged_once (void **state)
{
    (void) state;
    json_t *s = settle_for_usage ("{\"input_tokens\":30,\"cache_read_input_tokens\":50,"
                                  "\"cache_creation_input_tokens\":20,\"output_tokens\":9}");
    json_int_t in = json_integer_value (json_object_get (s, "input"));
    json_int_t cw = json_integer_value (json_object_get (s, "cache_write"));
    if (in + cw != 100)
        fprintf (stderr, "input %lld + cache_write %lld charged for 100\n", (long long) in,
                 (long long) cw);
    assert_int_equal (in + cw, 100);
    assert_int_equal (json_integer_value (json_object_get (s, "cached")), 50);
    assert_int_equal (json_integer_value (json_object_get (s, "output")), 9);
    json_decref (s);
}

/* A provider reporting enormous counts is charged enormous counts: the
 * sum of Anthropic's three input counts must not wrap round to ~0. */
static void
test_enormous_usage_not_wrapped (void **state)
{
    (void) state;
    json_t *s = settle_for_usage ("{\"input_tokens\":9223372036854775807,"
                                  "\"cache_read_input_tokens\":9223372036854775807,"
                                  "\"cache_creation_input_tokens\":2,\"output_tokens\":1}");
    json_int_t in = json_integer_value (json_object_get (s, "input"));
    if (in < ((json_int_t) 1 << 62))
        fprintf (stderr, "enormous usage charged as input %lld\n", (long long) in);
    assert_true (in >= ((json_int_t) 1 << 62));
    json_decref (s);
    /* negative counts are none */
    s = settle_for_usage ("{\"input_tokens\":-5000,\"output_tokens\":-7}");
    assert_int_equal (json_integer_value (json_object_get (s, "input")), 0);
    assert_int_equal (json_integer_value (json_object_get (s, "output")), 0);
    json_decref (s);
}

/* `anthropic-beta: context-1m-...` lets a Claude model read 1M tokens
 * where the table says 200000: the input bound clamped to 200000 would let
 * one call overshoot a budget by 800000 tokens. Text (a token per byte at
 * worst) is bounded by its bytes then. */
static void
test_wide_context_beta_bound (void **state)
{
    (void) state;
    size_t n = 300000;
    char *body = malloc (n + 200), *p = body;
    p += sprintf (p, "{\"model\":\"anthropic/claude-sonnet-4-5\",\"max_tokens\":5,"
                  "\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (size_t i = 0; i < n; i++)
        *p++ = (char) ('0' + i % 10);
    strcpy (p, "\"}]}");
    const char *hdrs[] = { gwc_ok[0], "anthropic-beta: context-1m-2025-08-07", NULL };
    rsp_t r = gwc_http (gwc_url, "/v1/messages", body, hdrs, 0);
    free (body);
    assert_int_equal (r.status, 200);
    json_t *res = gw_fake_log_find (gwc_log, "reserve", gwc_hval (&r, "x-caisson-call"), 0);
    assert_non_null (res);
    json_int_t bound = json_integer_value (json_object_get (res, "input_bound"));
    json_decref (res);
    gwc_free (&r);
    if (bound < (json_int_t) n)
        fprintf (stderr, "input bound %lld for %zu digits\n", (long long) bound, n);
    assert_true (bound >= (json_int_t) n);
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
    gw_fake_upstream_key (GWC_REAL_KEY);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_server_tools_refused),
        cmocka_unit_test (test_cache_write_charged_once),
        cmocka_unit_test (test_enormous_usage_not_wrapped),
        cmocka_unit_test (test_wide_context_beta_bound),
        cmocka_unit_test (test_clean_exit),
    };
    return support_run_group_tests (tests, gwc_setup, gwc_teardown);
}
