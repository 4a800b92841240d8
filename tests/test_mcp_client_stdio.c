/* test_mcp_client_stdio: stdio MCP servers run in sandboxes of their own
 * (real broker, sandbox-manager and sandboxes: root only). The reference
 * @modelcontextprotocol/server-everything, its node_modules tarred from
 * tests/agui and given as the server's `files`, started with the host's
 * node, initialized, its tools listed as catalogue entries and `echo` and
 * `get-sum` called; and the broken servers the issue names: one that
 * exits at start, one that never answers, one that sends invalid frames,
 * each a clear error within its timeout; and tool-runner started with such
 * an mcp.json: the servers' states in `caisson mcp list`, their tools in
 * `caisson tool list` and called with `caisson tool call` (the bus path). */
#include "support.h"
#include "bus_client.h"
#include "mcpc_config.h"
#include "mcpc_support.h"
#include "mcpc_stdio.h"
#include "mcpc_tools.h"
#include "mpjson.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_tgz[600];
static char s_path[600];
static char s_json[2048];
static mcpc_config_t *s_cfg;

static int
setup (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    const char *dir = support_sandbox_env ("mcpc-stdio");
    snprintf (s_tgz, sizeof s_tgz, "%s/everything.tgz", dir);
    support_sh ("cd %s/tests/agui && tar czf %s --exclude='*.d.ts' --exclude='*.map' "
                "--exclude='*.d.mts' --exclude='*.d.cts' --exclude='*.md' node_modules",
                CAISSON_SOURCE_DIR, s_tgz);
    snprintf (s_json, sizeof s_json,
              "{\"mcpServers\": {"
              " \"everything\": {\"command\": \"node\", \"args\": [\"/workspace/node_modules/"
              "@modelcontextprotocol/server-everything/dist/index.js\", \"stdio\"],"
              "   \"files\": \"%s\", \"timeoutMs\": 20000},"
              " \"dies\": {\"command\": \"sh\", \"args\": [\"-c\", \"echo boom >&2; exit 3\"]},"
              " \"mute\": {\"command\": \"sleep\", \"args\": [\"600\"], \"timeoutMs\": 1500},"
              " \"garbled\": {\"command\": \"sh\", \"args\": [\"-c\","
              "   \"read line; echo '{oops'; sleep 60\"]}}}", s_tgz);
    snprintf (s_path, sizeof s_path, "%s/mcp.json", dir);
    FILE *f = fopen (s_path, "w");
    assert_non_null (f);
    fputs (s_json, f);
    fclose (f);
    char err[256];
    s_cfg = mcpc_config_parse (s_json, strlen (s_json), err, sizeof err);
    assert_non_null (s_cfg);
    assert_int_equal (mcpc_config_size (s_cfg), 4);
    /* No pre-made sandboxes: `caisson down` at exit ends only those it knows. */
    setenv ("CAISSON_SANDBOX_POOL", "0", 1);
    support_spawn ("caisson-bus", NULL);
    support_spawn ("caisson-sandbox-manager", NULL);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (c, "sandbox-manager");
    bus_client_destroy (&c);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    mcpc_config_destroy (&s_cfg);
    return 0;
}

/* Calls tool with args (JSON text) and returns its mapped result's text. */
static char *
call_text (mcpc_stdio_t *srv, const mcpc_server_t *s, const char *tool, const char *args)
{
    json_t *params = json_pack ("{s:s, s:o}", "name", tool, "arguments",
                                json_loads (args, 0, NULL));
    json_t *result;
    char why[512];
    if (mcpc_stdio_request (srv, "tools/call", params, &result, why, sizeof why))
        fail_msg ("%s: %s", tool, why);
    json_decref (params);
    bool ok;
    json_t *mapped = mcpc_call_result (s, result, &ok);
    json_decref (result);
    assert_true (ok);
    char *text = strdup (support_json_str (mapped, "text"));
    json_decref (mapped);
    return text;
}

static void
test_everything (void **state)
{
    (void) state;
    const mcpc_server_t *s = mcpc_config_find (s_cfg, "everything");
    char why[512];
    int64_t t0 = zclock_mono ();
    mcpc_stdio_t *srv = mcpc_stdio_start (s, "mcp", NULL, why, sizeof why);
    if (!srv)
        fail_msg ("%s", why);
    print_message ("server-everything started in a sandbox in %lld ms\n",
                   (long long) (zclock_mono () - t0));
    assert_string_equal (mcpc_stdio_version (srv), "2025-11-25");
    json_t *skipped = json_array ();
    json_t *tools = mcpc_stdio_tools (srv, skipped, why, sizeof why);
    if (!tools)
        fail_msg ("%s", why);
    assert_non_null (mcpc_support_named (tools, "everything.echo"));
    json_t *sum = mcpc_support_named (tools, "everything.get-sum");
    assert_string_equal (support_json_str (sum, "effect"), "none");
    json_decref (tools);
    json_decref (skipped);
    char *text = call_text (srv, s, "echo", "{\"message\":\"hi from caisson\"}");
    assert_string_equal (text, "Echo: hi from caisson");
    free (text);
    text = call_text (srv, s, "get-sum", "{\"a\":2,\"b\":3}");
    assert_string_equal (text, "The sum of 2 and 3 is 5.");
    free (text);
    assert_false (mcpc_stdio_exited (srv));
    mcpc_stdio_destroy (&srv);
}

/* Each broken server: no session, one sentence naming it and what went
 * wrong, within its timeout. */
static void
test_broken (void **state)
{
    (void) state;
    static const struct { const char *name, *want, *also; } cases[] = {
        { "dies", "MCP server dies exited (code 3) before answering initialize", "boom" },
        { "mute", "MCP server mute did not answer initialize within 2 s", NULL },
        { "garbled", "MCP server garbled sent an invalid JSON-RPC frame: not JSON", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[512] = "";
        int64_t t0 = zclock_mono ();
        mcpc_stdio_t *srv = mcpc_stdio_start (mcpc_config_find (s_cfg, cases[i].name), "mcp",
                                              NULL, why, sizeof why);
        int64_t ms = zclock_mono () - t0;
        print_message ("%s: %s (%lld ms)\n", cases[i].name, why, (long long) ms);
        assert_null (srv);
        if (!strstr (why, cases[i].want) || (cases[i].also && !strstr (why, cases[i].also)))
            fail_msg ("%s: \"%s\"", cases[i].name, why);
        assert_true (ms < 60000);
    }
}

static void
test_through_tool_runner (void **state)
{
    (void) state;
    char env[700];
    snprintf (env, sizeof env, "CAISSON_MCP_SERVERS=%s", s_path);
    const char *const extra[] = { env, NULL };
    pid_t tr = support_spawn ("caisson-tool-runner", extra);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (c, "tool-runner");
    bus_client_destroy (&c);

    json_t *s = mcpc_support_settled ("everything");
    assert_string_equal (support_json_str (s, "state"), "ready");
    assert_true (json_array_size (json_object_get (s, "tools")) >= 10);
    json_decref (s);
    s = mcpc_support_settled ("dies");
    assert_string_equal (support_json_str (s, "state"), "failed");
    assert_non_null (strstr (support_json_str (s, "reason"), "MCP server dies exited (code 3)"));
    json_decref (s);

    static char out[262144];
    const char *list[] = { "caisson", "tool", "list", "--json", NULL };
    assert_int_equal (support_run (list, out, sizeof out), 0);
    json_t *tools = json_loads (out, 0, NULL);
    assert_non_null (mcpc_support_named (tools, "everything.echo"));
    assert_non_null (mcpc_support_named (tools, "writeFile"));     /* Caisson's own stay */
    json_t *gzip = mcpc_support_named (tools, "everything.gzip-file-as-resource");
    assert_string_equal (support_json_str (gzip, "effect"), "external");
    json_decref (tools);

    const char *sum[] = { "caisson", "tool", "call", "everything.get-sum", "{\"a\":2,\"b\":3}",
                          "--json", NULL };
    assert_int_equal (support_run (sum, out, sizeof out), 0);
    json_t *r = json_loads (out, 0, NULL);
    assert_string_equal (support_json_str (r, "text"), "The sum of 2 and 3 is 5.");
    json_decref (r);
    /* Arguments are checked against the server's schema before it is asked. */
    const char *bad[] = { "caisson", "tool", "call", "everything.echo", "{}", "--json", NULL };
    assert_int_equal (support_run (bad, out, sizeof out), 1);
    r = json_loads (out, 0, NULL);
    assert_string_equal (support_json_error_code (r), "missing_field");
    json_decref (r);

    /* Its sandbox ended under it (a TTL, an operator): the next call starts
     * it again and is answered. */
    char *id = mcpc_support_sandbox_of ("everything");
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_destroy, NULL);
    proto_set_str (&req->body.sandbox_destroy.sandbox_id, id);
    free (id);
    mcpc_support_sandbox_ask (&req);
    assert_int_equal (support_run (sum, out, sizeof out), 0);
    r = json_loads (out, 0, NULL);
    assert_string_equal (support_json_str (r, "text"), "The sum of 2 and 3 is 5.");
    json_decref (r);
    s = mcpc_support_listed ("everything");
    assert_string_equal (support_json_str (s, "state"), "ready");
    json_decref (s);

    const char *none[] = { "caisson", "tool", "call", "dies.anything", "{}", "--json", NULL };
    assert_int_equal (support_run (none, out, sizeof out), 1);
    support_expect_clean_exit (tr);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_everything),
        cmocka_unit_test (test_broken),
        cmocka_unit_test (test_through_tool_runner),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
