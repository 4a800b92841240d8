/* A second attack on caisson-gateway (issue 16), over real HTTP with
 * gw_client's stack: tools the provider runs and bills itself (web search,
 * web fetch, code execution, MCP servers) are refused, as their cost and
 * the input their results add are outside what a call reserves; a
 * provider's usage is charged once (cache writes not twice) and never
 * wraps round to nothing when it reports enormous counts; a beta that
 * widens a model's context window widens the input bound with it; a
 * priority service tier is refused. On a whole stack (root): one user's
 * sandboxes flooding their gateway port lock no other user out. With
 * ui-bridge: a budget rounding to no budget is refused, as by the CLI. */
#include "gw_client.h"
#include "gw_stack.h"
#include "ui_support.h"
#include "bus_client.h"

#include <signal.h>
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

/* `service_tier: "priority"` is billed about twice the standard price
 * the gateway's prices and budgets count in: refused before any reserve;
 * the tiers billed at or under the standard price pass. */
static void
test_priority_tier_refused (void **state)
{
    (void) state;
    bool reserved = true;
    assert_int_equal (post ("/v1/chat/completions", "{\"model\":\"openai/echo\","
                            "\"max_tokens\":5,\"service_tier\":\"priority\",\"messages\":"
                            "[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, &reserved),
                      400);
    assert_false (reserved);
    assert_int_equal (post ("/v1/chat/completions", "{\"model\":\"openai/echo\","
                            "\"max_tokens\":5,\"service_tier\":{\"x\":1},\"messages\":"
                            "[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, NULL), 400);
    assert_int_equal (post ("/v1/chat/completions", "{\"model\":\"openai/echo\","
                            "\"max_tokens\":5,\"service_tier\":\"flex\",\"messages\":"
                            "[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, NULL), 200);
    assert_int_equal (post ("/v1/messages", "{\"model\":\"anthropic/echo\","
                            "\"max_tokens\":5,\"service_tier\":\"auto\",\"messages\":"
                            "[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, NULL), 200);
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

/* Holds 400 connections to the sandbox's gateway port open for 90 s,
 * in the background; prints how many it got once made. */
static const char s_hold[] =
    "cat > /tmp/hold.py <<'EOF'\n"
    "import os, socket, time\n"
    "port = int(os.environ['OPENAI_BASE_URL'].split(':')[2].split('/')[0])\n"
    "held = []\n"
    "fails = 0\n"
    "while len(held) < 400 and fails < 3:\n"
    "    try:\n"
    "        held.append(socket.create_connection(('127.0.0.1', port), timeout=0.3))\n"
    "    except OSError:\n"
    "        fails += 1\n"
    "open('/tmp/held', 'w').write(str(len(held)))\n"
    "time.sleep(int(os.environ.get('HOLD', '90')))\n"
    "EOF\n"
    "(python3 /tmp/hold.py >/tmp/hold.log 2>&1 &)\n"
    "i=0; while [ $i -lt 300 ] && ! [ -s /tmp/held ]; do sleep 0.1; i=$((i+1)); done\n"
    "cat /tmp/held";

static const char s_call[] =
    "python3 - <<'EOF'\n"
    "import json, os, urllib.request\n"
    "body = json.dumps({'model': 'openai/gpt-test', 'messages': [{'role': 'user',\n"
    "                   'content': 'hello gateway'}]}).encode()\n"
    "req = urllib.request.Request(os.environ['OPENAI_BASE_URL'] + '/chat/completions',\n"
    "    data=body, headers={'Authorization': 'Bearer ' + os.environ['OPENAI_API_KEY'],\n"
    "                        'Content-Type': 'application/json'})\n"
    "try:\n"
    "    print('STATUS', urllib.request.urlopen(req, timeout=30).status)\n"
    "except urllib.error.HTTPError as e:\n"
    "    print('STATUS', e.code)\n"
    "except Exception as e:\n"
    "    print('FAILED', e)\n"
    "EOF";

/* A user's sandboxes holding idle connections to their gateway port
 * must not lock every other sandbox (another user's) out of the gateway:
 * egress-proxy's gateway relay had one pool of 256 connections for all
 * sandboxes, so mallory's five (190 connections each) took them all and
 * bob's call failed; five also show the share is the owner's, not each
 * sandbox's. */
static void
test_sandbox_flood_starves_no_other (void **state)
{
    (void) state;
    if (!*gws_dir ())
        skip ();
    char mid[5][128], bid[128];
    proto_msg_t *b = gws_sandbox ("bob", "none");
    snprintf (bid, sizeof bid, "%s", b->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&b);
    proto_msg_t *r = gws_sh ("bob", bid, s_call);
    assert_string_equal (r->body.sandbox_exec_result.stdout, "STATUS 200\n");
    proto_msg_destroy (&r);
    for (int i = 0; i < 5; i++) {
        proto_msg_t *m = gws_sandbox ("mallory", "none");
        snprintf (mid[i], sizeof mid[i], "%s", m->body.sandbox_info.sandbox_id);
        proto_msg_destroy (&m);
        r = gws_sh ("mallory", mid[i], s_hold);
        fprintf (stderr, "mallory's sandbox %d holds %s connections\n", i,
                 r->body.sandbox_exec_result.stdout ?: "");
        proto_msg_destroy (&r);
    }
    r = gws_sh ("bob", bid, s_call);
    const char *got = r->body.sandbox_exec_result.stdout ?: "";
    if (strcmp (got, "STATUS 200\n"))
        fprintf (stderr, "bob's call while mallory floods: %s\n", got);
    assert_string_equal (got, "STATUS 200\n");
    proto_msg_destroy (&r);
    for (int i = 0; i < 5; i++)
        gws_destroy ("mallory", mid[i]);
    gws_destroy ("bob", bid);
}

static int
stack_setup (void **state)
{
    (void) state;
    gws_up ("rtgw2", NULL);
    return 0;
}

static int
stack_teardown (void **state)
{
    (void) state;
    gws_down ();
    return 0;
}

/* The input bound was clamped to the provider table's window
 * (services/orchestrator/llm_provider.c), whose provider defaults are
 * guesses, not maxima: groq/ says 131072 while Groq serves
 * moonshotai/kimi-k2-instruct-0905 with 262144. 200000 digits reserved
 * 131072 tokens; the provider bills up to 200000. Only a model family's
 * row or CAISSON_MODEL_CONTEXT clamps now. */
static void
test_table_window_not_a_bound (void **state)
{
    (void) state;
    size_t n = 200000;
    char *body = malloc (n + 200), *p = body;
    p += sprintf (p, "{\"model\":\"groq/moonshotai/kimi-k2-instruct-0905\",\"max_tokens\":5,"
                  "\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (size_t i = 0; i < n; i++)
        *p++ = (char) ('0' + i % 10);
    strcpy (p, "\"}]}");
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", body, gwc_ok, 0);
    free (body);
    json_t *res = gw_fake_log_find (gwc_log, "reserve", gwc_hval (&r, "x-caisson-call"), 0);
    assert_non_null (res);
    json_int_t bound = json_integer_value (json_object_get (res, "input_bound"));
    json_decref (res);
    gwc_free (&r);
    assert_true (bound >= (json_int_t) n);
}

/* An OpenAI `prediction` (predicted output) is billed past max_tokens:
 * its rejected tokens count as output. The reservation must cover them,
 * a token a byte at most, or a call overshoots by its prediction. */
static void
test_prediction_reserved_as_output (void **state)
{
    (void) state;
    size_t n = 20000;
    char *body = malloc (n + 300), *p = body;
    p += sprintf (p, "{\"model\":\"openai/plain\",\"max_tokens\":10,\"messages\":[{\"role\":"
                  "\"user\",\"content\":\"edit\"}],\"prediction\":{\"type\":\"content\","
                  "\"content\":\"");
    memset (p, 'x', n);
    strcpy (p + n, "\"}}");
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", body, gwc_ok, 0);
    free (body);
    assert_int_equal (r.status, 200);
    json_t *res = gw_fake_log_find (gwc_log, "reserve", gwc_hval (&r, "x-caisson-call"), 0);
    assert_non_null (res);
    json_int_t out = json_integer_value (json_object_get (res, "output_max"));
    json_decref (res);
    gwc_free (&r);
    if (out < (json_int_t) (n + 10))
        fail_msg ("a %zu-byte prediction with max_tokens 10 reserved %lld output tokens", n,
                  (long long) out);
}

/* A model name with quotes or line breaks goes nowhere: it would be
 * written into the gateway's JSON log lines and headers as it is. */
static void
test_model_name_refused (void **state)
{
    (void) state;
    /* as written in the JSON body: a quote, a line break, a space */
    const char *bad[] = { "openai/x\\\"}", "openai/a\\nb", "openai/a b", NULL };
    for (size_t i = 0; bad[i]; i++) {
        char body[256];
        snprintf (body, sizeof body, "{\"model\":\"%s\",\"max_tokens\":5,\"messages\":"
                  "[{\"role\":\"user\",\"content\":\"hi\"}]}", bad[i]);
        rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", body, gwc_ok, 0);
        if (r.status != 400 || !strstr (r.body, "model_not_found"))
            fail_msg ("model %s: %ld %s", bad[i], r.status, r.body);
        gwc_free (&r);
    }
}

/* A careless `caisson key create --budget-usd X`: a budget that is no
 * amount of dollars (nan, hex) or rounds to 0 nano-USD (which means no
 * budget at all) is refused as a bad argument (exit 2), not sent as an
 * unlimited key. */
static void
test_cli_silly_budget_refused (void **state)
{
    (void) state;
    const char *bad[] = { "nan", "0x10", "1e-12", "0.0000000001", "-0", " 5", NULL };
    for (size_t i = 0; bad[i]; i++) {
        const char *argv[] = { "caisson", "key", "create", "--user", "alice", "--budget-usd",
                               bad[i], NULL };
        char out[4096];
        int rc = support_run (argv, out, sizeof out);
        if (rc != 2)
            fprintf (stderr, "--budget-usd '%s': exit %d\n", bad[i], rc);
        assert_int_equal (rc, 2);
    }
}

/* The same over HTTP: POST /api/keys {"budgetUsd": 1e-12} rounded to 0
 * nano-USD, no budget, and made an unlimited key (201). */
static void
test_api_silly_budget_refused (void **state)
{
    (void) state;
    const char *alice = ui_token (0, "alice", 0);
    const char *bad[] = { "1e-12", "0.0000000001", NULL };
    for (size_t i = 0; bad[i]; i++) {
        char body[100];
        snprintf (body, sizeof body, "{\"name\":\"tiny\",\"budgetUsd\":%s}", bad[i]);
        long st = 0;
        json_t *made = ui_json ("POST", "/api/keys", alice, body, &st);
        json_decref (made);
        if (st != 400)
            fprintf (stderr, "budgetUsd %s: %ld\n", bad[i], st);
        assert_int_equal (st, 400);
    }
}

static pid_t s_ubus, s_ukeys, s_bridge;

static int
api_setup (void **state)
{
    (void) state;
    assert_non_null (support_sandbox_env ("rtgw2api"));
    ui_pick_port ();
    s_ubus = support_spawn ("caisson-bus", NULL);
    s_ukeys = support_spawn ("caisson-gateway-keys", NULL);
    s_bridge = support_spawn ("caisson-ui-bridge", NULL);
    assert_int_equal (ui_wait_ready (), 0);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (c, "gateway-keys");
    bus_client_destroy (&c);
    return 0;
}

static int
api_teardown (void **state)
{
    (void) state;
    support_expect_clean_exit (s_bridge);
    support_stop (s_ukeys, SIGTERM, 3000);
    support_stop (s_ubus, SIGTERM, 2000);
    return 0;
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
        cmocka_unit_test (test_priority_tier_refused),
        cmocka_unit_test (test_cache_write_charged_once),
        cmocka_unit_test (test_enormous_usage_not_wrapped),
        cmocka_unit_test (test_wide_context_beta_bound),
        cmocka_unit_test (test_table_window_not_a_bound),
        cmocka_unit_test (test_prediction_reserved_as_output),
        cmocka_unit_test (test_model_name_refused),
        cmocka_unit_test (test_cli_silly_budget_refused),
        cmocka_unit_test (test_clean_exit),
    };
    int failed = support_run_group_tests (tests, gwc_setup, gwc_teardown);
    const struct CMUnitTest sandboxes[] = {
        cmocka_unit_test (test_sandbox_flood_starves_no_other),
    };
    failed |= support_run_group_tests (sandboxes, stack_setup, stack_teardown);
    const struct CMUnitTest api[] = {
        cmocka_unit_test (test_api_silly_budget_refused),
    };
    return failed | support_run_group_tests (api, api_setup, api_teardown);
}
