/* test_mcp_server: Caisson as an MCP server at ui-bridge /mcp (issue 17),
 * through the real broker, sandbox-manager (root; skipped otherwise),
 * tool-runner and ui-bridge.
 *
 * Raw requests check the transport's rules in both eras (Origin 403,
 * 401 with WWW-Authenticate, version echo and negotiation, header
 * checks, error codes and HTTP statuses, batches, parse errors, oversized
 * and deeply nested bodies, sessions bound to their user); then the
 * official TypeScript SDK client (tests/mcp/mcp_server.mjs) lists and
 * calls tools in both eras as alice and bob, gated ones waiting for
 * approval in a tool run (the real orchestrator and event-log). */
#include "mcp_bridge_stack.h"
#include "sbx_client.h"
#include "ui_support.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mcp_bridge_stack_t s_stack;
static const char *s_alice, *s_bob, *s_root;

#define INIT(v) "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":" \
    "{\"protocolVersion\":\"" v "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\"," \
    "\"version\":\"1\"}}}"
#define META(v) "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"" v "\"," \
    "\"io.modelcontextprotocol/clientCapabilities\":{}}"
#define MODERN_LIST "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{" \
    META ("2026-07-28") "}}"
#define MODERN_HDRS(method) "MCP-Protocol-Version: 2026-07-28", "Mcp-Method: " method

static int
setup (void **state)
{
    if (geteuid () != 0)
        skip ();
    int rc = sbx_setup (state);
    /* a gated call waits for approval in a tool run: no model is called;
     * the SDK steps make well over 50 requests a second for alice on a
     * quiet machine: the per-user rate limit is not what is tested here */
    mcp_bridge_stack_tool_run (&s_stack, (const char *[]) {
        "CAISSON_HTTP_RATE=10000", "CAISSON_HTTP_BURST=10000", NULL });
    s_alice = s_stack.alice;
    s_bob = s_stack.bob;
    s_root = ui_token (2, "root", 1);
    return rc;
}

static int
teardown (void **state)
{
    mcp_bridge_stack_down (&s_stack);
    return sbx_teardown (state);
}

/* POSTs body to /mcp; the response (status, body, headers). */
static ui_res_t
post (const char *token, const char *body, const char *const extra[])
{
    return ui_request ("POST", "/mcp", token, body, extra);
}

/* The JSON-RPC error code of res's body (0 when none). */
static int
rpc_code (const ui_res_t *res)
{
    json_t *doc = json_loads (res->body ? res->body : "", 0, NULL);
    int code = (int) json_integer_value (json_object_get (json_object_get (doc, "error"),
                                                          "code"));
    json_decref (doc);
    return code;
}

/* Asserts a POST answers status and JSON-RPC error code. */
static void
expect (const char *token, const char *body, const char *const extra[], long status, int code)
{
    ui_res_t res = post (token, body, extra);
    if (res.status != status || rpc_code (&res) != code)
        fail_msg ("%s: got %ld %s, want %ld %d", body, res.status, res.body, status, code);
    ui_res_free (&res);
}

/* initialize as token at version; the session id into sid, the agreed
 * version into agreed. */
static void
initialize (const char *token, const char *body, char *sid, char *agreed, size_t len)
{
    ui_res_t res = post (token, body, NULL);
    assert_int_equal (res.status, 200);
    ui_header (&res, "Mcp-Session-Id", sid, 64);
    assert_int_equal (strlen (sid), 32);
    json_t *doc = json_loads (res.body, 0, NULL);
    json_t *result = json_object_get (doc, "result");
    snprintf (agreed, len, "%s", json_string_value (json_object_get (result,
                                                                     "protocolVersion")));
    assert_non_null (json_object_get (json_object_get (result, "capabilities"), "tools"));
    assert_string_equal (json_string_value (json_object_get (json_object_get (result,
                                                                              "serverInfo"),
                                                             "name")), "caisson");
    json_decref (doc);
    ui_res_free (&res);
}

/* Origin and token come first: a browser page elsewhere gets 403 even
 * with a token, a client without a token 401 with WWW-Authenticate. */
static void
test_admission (void **state)
{
    (void) state;
    ui_res_t res = post (NULL, INIT ("2025-11-25"), NULL);
    char value[256];
    assert_int_equal (res.status, 401);
    ui_header (&res, "WWW-Authenticate", value, sizeof value);
    assert_non_null (strstr (value, "Bearer"));
    ui_res_free (&res);
    expect (s_alice, INIT ("2025-11-25"), (const char *[]) { "Origin: http://evil.example",
                                                            NULL }, 403, -32000);
    char own[160];
    snprintf (own, sizeof own, "Origin: %s", ui_base);
    res = post (s_alice, INIT ("2025-11-25"), (const char *[]) { own, NULL });
    assert_int_equal (res.status, 200);
    ui_res_free (&res);
    res = ui_request ("GET", "/mcp", s_alice, NULL, NULL);
    assert_int_equal (res.status, 405);
    ui_header (&res, "Allow", value, sizeof value);
    assert_string_equal (value, "POST");
    ui_res_free (&res);
}

/* The 2025 era: versions echoed or countered, sessions bound to their
 * user, header and method errors. */
static void
test_legacy (void **state)
{
    (void) state;
    char sid[64], agreed[32], bob_sid[64], hdr[128];
    initialize (s_alice, INIT ("2025-06-18"), sid, agreed, sizeof agreed);
    assert_string_equal (agreed, "2025-06-18");
    initialize (s_alice, INIT ("1999-01-01"), sid, agreed, sizeof agreed);
    assert_string_equal (agreed, "2025-11-25");
    initialize (s_bob, INIT ("2025-11-25"), bob_sid, agreed, sizeof agreed);
    snprintf (hdr, sizeof hdr, "Mcp-Session-Id: %s", sid);
    const char *mine[] = { hdr, "MCP-Protocol-Version: 2025-11-25", NULL };
    const char *notice = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    ui_res_t res = post (s_alice, notice, mine);
    assert_int_equal (res.status, 202);
    ui_res_free (&res);
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}";
    expect (s_alice, ping, mine, 200, 0);
    /* bob presenting alice's session: as unknown as a made-up one */
    expect (s_bob, ping, mine, 404, -32001);
    expect (s_alice, ping, (const char *[]) { "Mcp-Session-Id: 0123456789abcdef", NULL }, 404,
            -32001);
    expect (s_alice, ping, (const char *[]) { "MCP-Protocol-Version: 2099-01-01", NULL }, 400,
            -32022);
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"nope/nope\"}", mine, 200,
            -32601);
    /* cursors are the server's own: one it did not give is -32602 */
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\",\"params\":"
            "{\"cursor\":\"o999999\"}}", mine, 200, -32602);
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\",\"params\":"
            "{\"cursor\":\"o1x\"}}", mine, 200, -32602);
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\",\"params\":"
            "{\"cursor\":\"o1\"}}", mine, 200, 0);
    /* a user holds CAISSON_MCP_SESSIONS_MAX (16) sessions: the 17th drops
     * the least recently used, bob's first */
    char newer[64], bob_hdr[128];
    for (int i = 0; i < 16; i++)
        initialize (s_bob, INIT ("2025-11-25"), newer, agreed, sizeof agreed);
    snprintf (bob_hdr, sizeof bob_hdr, "Mcp-Session-Id: %s", bob_sid);
    expect (s_bob, ping, (const char *[]) { bob_hdr, NULL }, 404, -32001);
    snprintf (bob_hdr, sizeof bob_hdr, "Mcp-Session-Id: %s", newer);
    expect (s_bob, ping, (const char *[]) { bob_hdr, NULL }, 200, 0);
    expect (s_alice, ping, mine, 200, 0);      /* alice's are hers alone */
    res = ui_request ("DELETE", "/mcp", s_bob, NULL, mine);
    assert_int_equal (res.status, 404);
    ui_res_free (&res);
    res = ui_request ("DELETE", "/mcp", s_alice, NULL, mine);
    assert_int_equal (res.status, 204);
    ui_res_free (&res);
    expect (s_alice, ping, mine, 404, -32001);
}

/* The 2026-07-28 era: discover, header checks, version, _meta, unknown
 * methods; results carry resultType, ttlMs, cacheScope and serverInfo. */
static void
test_modern (void **state)
{
    (void) state;
    const char *discover = "{\"jsonrpc\":\"2.0\",\"id\":\"d\",\"method\":\"server/discover\","
                           "\"params\":{" META ("2026-07-28") "}}";
    ui_res_t res = post (s_alice, discover, (const char *[]) { MODERN_HDRS ("server/discover"),
                                                              NULL });
    assert_int_equal (res.status, 200);
    json_t *doc = json_loads (res.body, 0, NULL);
    json_t *result = json_object_get (doc, "result");
    assert_string_equal (json_string_value (json_array_get (json_object_get (
        result, "supportedVersions"), 0)), "2026-07-28");
    assert_string_equal (json_string_value (json_object_get (result, "resultType")), "complete");
    json_decref (doc);
    ui_res_free (&res);

    res = post (s_alice, MODERN_LIST, (const char *[]) { MODERN_HDRS ("tools/list"), NULL });
    assert_int_equal (res.status, 200);
    doc = json_loads (res.body, 0, NULL);
    result = json_object_get (doc, "result");
    assert_true (json_array_size (json_object_get (result, "tools")) > 10);
    assert_string_equal (json_string_value (json_object_get (result, "cacheScope")), "private");
    assert_non_null (json_object_get (result, "ttlMs"));
    assert_non_null (json_object_get (json_object_get (result, "_meta"),
                                      "io.modelcontextprotocol/serverInfo"));
    json_decref (doc);
    ui_res_free (&res);

    expect (s_alice, MODERN_LIST, (const char *[]) { MODERN_HDRS ("tools/call"), NULL }, 400,
            -32020);
    expect (s_alice, MODERN_LIST, (const char *[]) { "Mcp-Method: tools/list", NULL }, 400,
            -32020);
    const char *future = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{"
                         META ("2099-01-01") "}}";
    expect (s_alice, future, (const char *[]) { "MCP-Protocol-Version: 2099-01-01",
                                                "Mcp-Method: tools/list", NULL }, 400, -32022);
    const char *nocaps = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":"
                         "{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":"
                         "\"2026-07-28\"}}}";
    expect (s_alice, nocaps, (const char *[]) { MODERN_HDRS ("tools/list"), NULL }, 400,
            -32602);
    const char *call = "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"readFile\",\"arguments\":{}," META ("2026-07-28") "}}";
    expect (s_alice, call, (const char *[]) { MODERN_HDRS ("tools/call"), "Mcp-Name: other",
                                              NULL }, 400, -32020);
    /* Mcp-Name in its base64 form decodes to the tool's name: the call
     * goes through (an error result: the arguments are missing) */
    expect (s_alice, call, (const char *[]) { MODERN_HDRS ("tools/call"),
                                              "Mcp-Name: =?base64?cmVhZEZpbGU=?=", NULL },
            200, 0);
    const char *odd = "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"foo/bar\",\"params\":{"
                      META ("2026-07-28") "}}";
    expect (s_alice, odd, (const char *[]) { MODERN_HDRS ("foo/bar"), NULL }, 404, -32601);
}

/* What a hostile client sends: not JSON, batches, deep nesting, too big. */
static void
test_hostile (void **state)
{
    (void) state;
    expect (s_alice, "{\"jsonrpc\":", NULL, 400, -32700);
    expect (s_alice, "[" INIT ("2025-11-25") "]", NULL, 400, -32600);
    expect (s_alice, "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", NULL, 400, -32600);
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", NULL, 400,
            -32600);
    size_t depth = 200;
    char *deep = calloc (1, 128 + 2 * depth);
    strcpy (deep, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":");
    for (size_t i = 0; i < depth; i++)
        strcat (deep, "[");
    for (size_t i = 0; i < depth; i++)
        strcat (deep, "]");
    strcat (deep, "}}");
    ui_res_t res = post (s_alice, deep, NULL);
    assert_int_equal (res.status, 400);
    assert_int_equal (rpc_code (&res), -32600);
    assert_non_null (strstr (res.body, "deeper"));
    ui_res_free (&res);
    free (deep);
    size_t big = 2 << 20;
    char *huge = malloc (big + 64);
    snprintf (huge, 64, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"x\":\"");
    memset (huge + strlen (huge), 'a', big);
    strcpy (huge + big + 40, "\"}");
    res = post (s_alice, huge, NULL);
    assert_int_equal (res.status, 413);
    ui_res_free (&res);
    free (huge);
}

/* The official SDK client, both eras, alice, bob and an operator. */
static void
test_sdk (void **state)
{
    (void) state;
    const char *args[] = { "node", "../mcp/mcp_server.mjs", ui_base, s_alice, s_bob, s_root,
                           NULL };
    assert_int_equal (support_run_node (args), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_admission),
        cmocka_unit_test (test_legacy),
        cmocka_unit_test (test_modern),
        cmocka_unit_test (test_hostile),
        cmocka_unit_test (test_sdk),
    };
    return support_run_group_tests (tests, setup, teardown);
}
