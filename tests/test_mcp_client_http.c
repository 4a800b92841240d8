/* test_mcp_client_http: tool-runner as the client of remote (Streamable
 * HTTP) MCP servers. tests/mcp/mcpc_http_server.mjs, written with the
 * official SDK, serves tools over HTTP (application/json and SSE answers)
 * and the broken servers the issue names; tool-runner, started with an
 * mcp.json naming them, is asked through the bus as a run would
 * (`caisson tool list`, `caisson tool call`, `caisson mcp list`, a
 * tools.call in flight): tools as `<server>.<tool>` with schemas and
 * effects, calls answered, failures in sentences a model can act on, a
 * hanging call that holds up no other, ${VAR} expanded from tool-runner's
 * environment into a header the server checks, a session the server
 * forgot re-initialized, a server that hangs at start holding up neither
 * the others nor tool-runner's exit. Edge cases of the expansion and of
 * SSE: test_mcp_client_parse.c. No sandboxes: runs as any user. */
#include "support.h"
#include "mcpc_support.h"
#include "bus_client.h"
#include "mpjson.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "mcpc-http-secret"

static int s_port;
static int s_flaky_port;        /* a second server, stopped and started again */
static pid_t s_node;
static pid_t s_flaky;
static pid_t s_tr;

/* GET (or POST {}) path on the main test server, decoded as JSON. */
static json_t *
server_ask (const char *path, bool post)
{
    return mcpc_support_ask (s_port, path, post);
}

static json_int_t
stat_of (const char *key)
{
    json_t *stats = server_ask ("/stats", false);
    assert_non_null (stats);
    json_int_t v = json_integer_value (json_object_get (stats, key));
    json_decref (stats);
    return v;
}

/* The error message of a failed call of name with args (asserted to fail
 * with code), static storage. */
static const char *
call_error (const char *name, const char *args, const char *code)
{
    static char message[2048];
    json_t *r;
    assert_int_equal (mcpc_support_tool_call (name, args, &r), 1);
    if (strcmp (support_json_error_code (r), code))
        fail_msg ("%s: code %s, not %s", name, support_json_error_code (r), code);
    snprintf (message, sizeof message, "%s",
              support_json_str (json_object_get (r, "error"), "message"));
    json_decref (r);
    print_message ("%s: %s\n", name, message);
    return message;
}

static int
setup (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("mcpc-http");
    s_port = support_free_port ();
    s_flaky_port = support_free_port ();
    s_node = mcpc_support_node_up ("mcpc_http_server.mjs", s_port, TOKEN);
    s_flaky = mcpc_support_node_up ("mcpc_http_server.mjs", s_flaky_port, TOKEN);

    /* The port and token reach the entries through ${VAR}: only
     * tool-runner's environment has them. */
    char path[600];
    snprintf (path, sizeof path, "%s/mcp.json", dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs ("{\"mcpServers\": {"
           " \"stuck\": {\"url\": \"http://127.0.0.1:${MCPC_PORT}/hang/mcp\","
           "   \"timeoutMs\": 600000},"
           " \"calc\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:${MCPC_PORT}/json/mcp\","
           "   \"headers\": {\"Authorization\": \"Bearer ${MCPC_TOKEN}\"}, \"timeoutMs\": 20000},"
           " \"stream\": {\"url\": \"http://127.0.0.1:${MCPC_PORT}/sse/mcp\","
           "   \"headers\": {\"X-Caller\": \"${MCPC_NOBODY:-anonymous}\"}},"
           " \"flaky\": {\"url\": \"http://127.0.0.1:${MCPC_FLAKY}/json/mcp\","
           "   \"headers\": {\"Authorization\": \"Bearer ${MCPC_TOKEN}\"}},"
           " \"slow\": {\"url\": \"http://127.0.0.1:${MCPC_PORT}/json/mcp\","
           "   \"headers\": {\"Authorization\": \"Bearer ${MCPC_TOKEN}\"}, \"timeoutMs\": 1500},"
           " \"broken\": {\"url\": \"http://127.0.0.1:${MCPC_PORT}/fail/mcp\"},"
           " \"mute\": {\"url\": \"http://127.0.0.1:${MCPC_PORT}/hang/mcp\", \"timeoutMs\": 1500},"
           " \"garbled\": {\"url\": \"http://127.0.0.1:${MCPC_PORT}/garbage/mcp\"},"
           " \"bounced\": {\"url\": \"http://127.0.0.1:${MCPC_PORT}/redirect/mcp\"},"
           " \"nokey\": {\"url\": \"http://127.0.0.1:${MCPC_PORT}/json/mcp\"},"
           " \"gone\": {\"url\": \"http://127.0.0.1:${MCPC_CLOSED}/mcp\"},"
           " \"unset\": {\"url\": \"http://${MCPC_NO_SUCH_VAR}/mcp\"}}}", f);
    fclose (f);
    char env_path[700], env_port[64], env_closed[64], env_flaky[64];
    snprintf (env_flaky, sizeof env_flaky, "MCPC_FLAKY=%d", s_flaky_port);
    snprintf (env_path, sizeof env_path, "CAISSON_MCP_SERVERS=%s", path);
    snprintf (env_port, sizeof env_port, "MCPC_PORT=%d", s_port);
    snprintf (env_closed, sizeof env_closed, "MCPC_CLOSED=%d", support_free_port ());
    const char *const env[] = { env_path, env_port, env_closed, env_flaky, "MCPC_TOKEN=" TOKEN,
                                NULL };
    support_spawn ("caisson-bus", NULL);
    s_tr = support_spawn ("caisson-tool-runner", env);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (c, "tool-runner");
    bus_client_destroy (&c);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    json_decref (server_ask ("/release", true));
    support_expect_clean_exit (s_tr);
    support_stop (s_node, SIGTERM, 5000);
    support_stop (s_flaky, SIGTERM, 5000);
    return 0;
}

/* Servers that work are ready with every page of their tools; the
 * catalogue has them as <server>.<tool> with schemas and effects. */
static void
test_tools_listed (void **state)
{
    (void) state;
    json_t *s = mcpc_support_settled ("calc");
    if (strcmp (support_json_str (s, "state"), "ready"))
        fail_msg ("calc is %s: %s", support_json_str (s, "state"), support_json_str (s, "reason"));
    assert_string_equal (support_json_str (s, "transport"), "http");
    assert_int_equal (json_array_size (json_object_get (s, "tools")), 6);    /* 3 pages */
    json_decref (s);
    s = mcpc_support_settled ("stream");
    assert_string_equal (support_json_str (s, "state"), "ready");
    json_decref (s);
    /* The first server hangs for 10 minutes: the others did not wait. */
    s = mcpc_support_listed ("stuck");
    assert_string_equal (support_json_str (s, "state"), "starting");
    json_decref (s);

    static char out[262144];
    const char *list[] = { "caisson", "tool", "list", "--json", NULL };
    assert_int_equal (support_run (list, out, sizeof out), 0);
    json_t *tools = json_loads (out, 0, NULL);
    assert_non_null (tools);
    json_t *add = mcpc_support_named (tools, "calc.add");
    assert_non_null (add);
    assert_string_equal (support_json_str (add, "effect"), "none");     /* readOnlyHint */
    assert_non_null (json_object_get (json_object_get (json_object_get (add, "inputSchema"),
                                                       "properties"), "a"));
    assert_non_null (json_object_get (json_object_get (json_object_get (add, "outputSchema"),
                                                       "properties"), "sum"));
    assert_string_equal (support_json_str (mcpc_support_named (tools, "calc.shout"), "effect"),
                         "external");
    assert_non_null (mcpc_support_named (tools, "calc.huge"));
    assert_non_null (mcpc_support_named (tools, "stream.add"));
    assert_non_null (mcpc_support_named (tools, "writeFile"));     /* Caisson's own stay */
    json_decref (tools);

    const char *table[] = { "caisson", "mcp", "list", NULL };
    assert_int_equal (support_run (table, out, sizeof out), 0);
    assert_non_null (strstr (out, "calc.add"));
    assert_non_null (strstr (out, "http"));
}

/* Each broken server is failed with one sentence naming it and what went
 * wrong; an entry using an unset variable is invalid, naming it. */
static void
test_broken_servers (void **state)
{
    (void) state;
    static const struct { const char *name, *state, *want; } cases[] = {
        { "broken", "failed", "MCP server broken answered HTTP 500" },
        { "mute", "failed", "MCP server mute did not answer initialize within 2 s" },
        { "garbled", "failed", "MCP server garbled sent an invalid JSON-RPC frame: not JSON" },
        { "bounced", "failed", "MCP server bounced answered HTTP 307" },
        { "nokey", "failed", "MCP server nokey answered HTTP 401" },
        { "gone", "failed", "MCP server gone is unreachable: " },
        { "unset", "invalid", "MCPC_NO_SUCH_VAR" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *s = mcpc_support_settled (cases[i].name);
        const char *reason = support_json_str (s, "reason");
        print_message ("%s: %s: %s\n", cases[i].name, support_json_str (s, "state"), reason);
        assert_string_equal (support_json_str (s, "state"), cases[i].state);
        if (!strstr (reason, cases[i].want))
            fail_msg ("%s: \"%s\" lacks \"%s\"", cases[i].name, reason, cases[i].want);
        json_decref (s);
    }
    assert_true (stat_of ("authFailures") >= 1);       /* nokey's, not calc's */
}

/* Calls answered as JSON and as SSE (a notification before the answer, a
 * ping from the server answered; that server speaks 2025-06-18 only and
 * refuses another MCP-Protocol-Version), a tool's error, an answer over
 * 8 MiB cut off with a clear error. */
static void
test_calls (void **state)
{
    (void) state;
    json_t *r;
    assert_int_equal (mcpc_support_tool_call ("calc.add", "{\"a\":2,\"b\":3}", &r), 0);
    assert_string_equal (support_json_str (r, "text"), "5");
    assert_int_equal (json_integer_value (json_object_get (json_object_get (
                                              r, "structuredContent"), "sum")), 5);
    json_decref (r);
    assert_int_equal (mcpc_support_tool_call ("stream.add", "{\"a\":40,\"b\":2}", &r), 0);
    assert_string_equal (support_json_str (r, "text"), "42");
    json_decref (r);
    assert_int_equal (mcpc_support_tool_call ("stream.shout", "{\"word\":\"hey\"}", &r), 0);
    assert_string_equal (support_json_str (r, "text"), "HEY");
    json_decref (r);
    /* The server's ping on the call's stream is answered (a POST of its own). */
    assert_int_equal (mcpc_support_tool_call ("stream.pingback", "{}", &r), 0);
    assert_string_equal (support_json_str (r, "text"), "pong");
    json_decref (r);

    assert_non_null (strstr (call_error ("calc.fail", "{}", "mcp_tool_error"),
                             "the widget is broken"));
    const char *why = call_error ("calc.huge", "{}", "mcp_error");
    assert_non_null (strstr (why, "MCP server calc sent an answer larger than 8 MiB"));
    /* The server is still usable after the cut. */
    assert_int_equal (mcpc_support_tool_call ("calc.add", "{\"a\":1,\"b\":1}", &r), 0);
    json_decref (r);
}

/* A call the server never answers fails at its timeout; one held by the
 * server holds up no other call, of this server or another. */
static void
test_hanging_call (void **state)
{
    (void) state;
    assert_non_null (strstr (call_error ("slow.wait", "{}", "mcp_error"),
                             "MCP server slow did not answer tools/call within 2 s"));
    json_decref (server_ask ("/release", true));
    assert_int_equal (stat_of ("pending"), 0);

    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_send (c, "tool-runner", support_tools_call_new ("calc.wait", NULL, false, "{}", NULL));
    for (int i = 0; i < 400 && stat_of ("pending") < 1; i++)
        usleep (50000);
    assert_int_equal (stat_of ("pending"), 1);
    json_t *r;
    assert_int_equal (mcpc_support_tool_call ("calc.add", "{\"a\":3,\"b\":4}", &r), 0);
    assert_string_equal (support_json_str (r, "text"), "7");
    json_decref (r);
    assert_int_equal (mcpc_support_tool_call ("stream.add", "{\"a\":3,\"b\":4}", &r), 0);
    json_decref (r);
    assert_int_equal (stat_of ("pending"), 1);          /* still held meanwhile */
    json_decref (server_ask ("/release", true));
    proto_msg_t *rep = bus_client_recv (c, 30000, NULL);
    bool ok;
    r = support_tools_result (rep, "calc.wait", &ok);
    assert_true (ok);
    assert_string_equal (support_json_str (r, "text"), "released");
    json_decref (r);
    bus_client_destroy (&c);
}

/* The server forgets its sessions (a restart): the next call gets 404,
 * and tool-runner initializes a new session and is answered; the
 * reconnect has the server's tools listed again, in the deployment's own
 * session (a second initialize: each user's calls have a session of
 * their own). */
static void
test_session_lost (void **state)
{
    (void) state;
    json_int_t before = stat_of ("initializes");
    json_decref (server_ask ("/forget", true));
    json_t *r;
    assert_int_equal (mcpc_support_tool_call ("calc.add", "{\"a\":5,\"b\":6}", &r), 0);
    assert_string_equal (support_json_str (r, "text"), "11");
    json_decref (r);
    assert_int_equal (stat_of ("initializes"), before + 2);
    json_t *s = mcpc_support_listed ("calc");
    assert_string_equal (support_json_str (s, "state"), "ready");
    json_decref (s);
}

/* A ready server that goes away: the call says it is unreachable and the
 * server is failed; once it is back (a restart, its sessions gone), a
 * call after the back-off is answered on a new session and it is ready. */
static void
test_unreachable (void **state)
{
    (void) state;
    json_t *s = mcpc_support_settled ("flaky");
    assert_string_equal (support_json_str (s, "state"), "ready");
    json_decref (s);
    support_stop (s_flaky, SIGTERM, 5000);
    assert_non_null (strstr (call_error ("flaky.add", "{\"a\":1,\"b\":2}", "mcp_error"),
                             "MCP server flaky is unreachable: "));
    s = mcpc_support_listed ("flaky");
    assert_string_equal (support_json_str (s, "state"), "failed");
    assert_non_null (strstr (support_json_str (s, "reason"), "is unreachable"));
    json_decref (s);
    s_flaky = mcpc_support_node_up ("mcpc_http_server.mjs", s_flaky_port, TOKEN);
    json_t *r = NULL;
    for (int i = 0; i < 300; i++) {
        if (mcpc_support_tool_call ("flaky.add", "{\"a\":1,\"b\":2}", &r) == 0)
            break;
        print_message ("flaky.add: %s\n", support_json_str (json_object_get (r, "error"),
                                                              "message"));
        json_decref (r);
        r = NULL;
        usleep (200000);
    }
    assert_non_null (r);
    assert_string_equal (support_json_str (r, "text"), "3");
    json_decref (r);
    s = mcpc_support_listed ("flaky");
    assert_string_equal (support_json_str (s, "state"), "ready");
    json_decref (s);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_tools_listed),
        cmocka_unit_test (test_broken_servers),
        cmocka_unit_test (test_calls),
        cmocka_unit_test (test_hanging_call),
        cmocka_unit_test (test_session_lost),
        cmocka_unit_test (test_unreachable),
    };
    return support_run_group_tests (tests, setup, teardown);
}
