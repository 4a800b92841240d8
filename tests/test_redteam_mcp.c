/* test_redteam_mcp: issue 17's /mcp server attacked as a hostile tenant and
 * a careless client, through the real broker, sandbox-manager (root;
 * skipped otherwise), tool-runner and ui-bridge. An attack that holds is a
 * passing test; one that lands is a skip() naming the defect, so removing
 * the skip() shows it red until the defect is fixed. The bridge runs with
 * 2 s session idle expiry so expiry can be watched. */
#include "mcp_bridge_stack.h"
#include "sbx_client.h"
#include "ui_support.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static mcp_bridge_stack_t s_stack;
static const char *s_alice, *s_bob;

#define INIT "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":" \
    "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\"," \
    "\"version\":\"1\"}}}"
#define PING "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"
#define META "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
    "\"io.modelcontextprotocol/clientCapabilities\":{}}"
#define CALL(name, args) "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":" \
    "{\"name\":\"" name "\",\"arguments\":" args "}}"

static int
setup (void **state)
{
    if (geteuid () != 0)
        skip ();
    int rc = sbx_setup (state);
    /* gated calls wait for approval in a tool run: no model is called */
    mcp_bridge_stack_tool_run (&s_stack, (const char *[]) {
        "CAISSON_MCP_SESSION_IDLE_S=2", "CAISSON_HTTP_AUTH_FAILS=1000", NULL });
    s_alice = s_stack.alice;
    s_bob = s_stack.bob;
    return rc;
}

static int
teardown (void **state)
{
    mcp_bridge_stack_down (&s_stack);
    return sbx_teardown (state);
}

static int
rpc_code (const ui_res_t *res)
{
    json_t *doc = json_loads (res->body ? res->body : "", 0, NULL);
    int code = (int) json_integer_value (json_object_get (json_object_get (doc, "error"),
                                                          "code"));
    json_decref (doc);
    return code;
}

/* A POST to /mcp as token. A 2025-era request (not initialize, not
 * 2026-07-28) without Mcp-Session-Id among extra goes in a session opened
 * for it: the server requires one (test_session_required sends without). */
static ui_res_t
post_mcp (const char *token, const char *body, const char *const extra[])
{
    bool has = false, modern = strstr (body, "2026-07-28") != NULL;
    size_t n = 0;
    for (; extra && extra[n]; n++) {
        has |= !strncasecmp (extra[n], "Mcp-Session-Id:", 15);
        modern |= strstr (extra[n], "2026-07-28") != NULL;
    }
    if (!token || has || modern || strstr (body, "\"initialize\"") || n > 6)
        return ui_request ("POST", "/mcp", token, body, extra);
    ui_res_t init = ui_request ("POST", "/mcp", token, INIT, NULL);
    char sid[64], hdr[128];
    ui_header (&init, "Mcp-Session-Id", sid, sizeof sid);
    ui_res_free (&init);
    snprintf (hdr, sizeof hdr, "Mcp-Session-Id: %s", sid);
    const char *all[8] = { hdr };
    for (size_t i = 0; extra && i < n; i++)
        all[i + 1] = extra[i];
    return ui_request ("POST", "/mcp", token, body, all);
}

/* Asserts a POST to path answers status and JSON-RPC error code. */
static void
expect_at (const char *path, const char *token, const char *body, const char *const extra[],
           long status, int code)
{
    ui_res_t res = strcmp (path, "/mcp") ? ui_request ("POST", path, token, body, extra)
                                         : post_mcp (token, body, extra);
    if (res.status != status || rpc_code (&res) != code)
        fail_msg ("%.200s: got %ld %.300s, want %ld %d", body, res.status, res.body, status,
                  code);
    ui_res_free (&res);
}

static void
expect (const char *token, const char *body, const char *const extra[], long status, int code)
{
    expect_at ("/mcp", token, body, extra, status, code);
}

/* The result of a 2025-era call as token (no session), asserted 200. */
static json_t *
rpc_call (const char *token, const char *body)
{
    ui_res_t res = post_mcp (token, body, NULL);
    if (res.status != 200)
        fail_msg ("%.200s: got %ld %.300s", body, res.status, res.body);
    json_t *doc = json_loads (res.body, 0, NULL);
    ui_res_free (&res);
    json_t *result = json_incref (json_object_get (doc, "result"));
    json_decref (doc);
    assert_non_null (result);
    return result;
}

/* The text of a CallToolResult's first block. */
static const char *
text_of (const json_t *result)
{
    return json_string_value (json_object_get (json_array_get (json_object_get (result,
                                                                                "content"),
                                                               0), "text")) ?: "";
}

/* Tokens: only `Authorization: Bearer` admits; a token in the query, another
 * scheme or a made-up token is 401. */
static void
test_tokens (void **state)
{
    (void) state;
    char path[256], hdr[256];
    expect (NULL, PING, (const char *[]) { "Authorization: Basic YWxpY2U6eA==", NULL }, 401, 0);
    snprintf (hdr, sizeof hdr, "Authorization: Token %s", s_alice);
    expect (NULL, PING, (const char *[]) { hdr, NULL }, 401, 0);
    snprintf (path, sizeof path, "/mcp?access_token=%s", s_alice);
    expect_at (path, NULL, PING, NULL, 401, 0);
    expect (NULL, PING, (const char *[]) { "Authorization: Bearer cai_not_a_token", NULL }, 401,
            0);
    /* the scheme's name is case-insensitive (RFC 9110) */
    snprintf (hdr, sizeof hdr, "Authorization: bearer %s", s_alice);
    expect (NULL, INIT, (const char *[]) { hdr, NULL }, 200, 0);
}

/* Origin: null, look-alike hosts and ports refused; case of scheme and host
 * does not matter; no Origin (not a browser) admitted. */
static void
test_origin (void **state)
{
    (void) state;
    const char *port = strrchr (ui_base, ':') + 1;
    char o[256];
    expect (s_alice, PING, (const char *[]) { "Origin: null", NULL }, 403, -32000);
    const char *pre[] = { "http://localhost:", "http://localhost.evil.example:",
                          "http://evil@localhost:", "https://localhost:", "http://localhost:1",
                          NULL };
    const char *post[] = { ".evil.example", "", "", "", "", NULL };
    for (int i = 0; pre[i]; i++) {
        snprintf (o, sizeof o, "Origin: %s%s%s", pre[i], port, post[i]);
        expect (s_alice, PING, (const char *[]) { o, NULL }, 403, -32000);
    }
    snprintf (o, sizeof o, "Origin: HTTP://LOCALHOST:%s", port);
    expect (s_alice, PING, (const char *[]) { o, NULL }, 200, 0);
    expect (s_alice, PING, NULL, 200, 0);
}

/* Sessions: the server picks the id (a client's choice is not adopted),
 * another user's is 404, an idle one expires. */
static void
test_sessions (void **state)
{
    (void) state;
    const char *fix = "Mcp-Session-Id: 00000000000000000000000000000000";
    ui_res_t res = ui_request ("POST", "/mcp", s_alice, INIT, (const char *[]) { fix, NULL });
    char sid[64], hdr[128];
    ui_header (&res, "Mcp-Session-Id", sid, sizeof sid);
    ui_res_free (&res);
    assert_int_equal (strlen (sid), 32);
    assert_string_not_equal (sid, "00000000000000000000000000000000");
    expect (s_alice, PING, (const char *[]) { fix, NULL }, 404, -32001);
    snprintf (hdr, sizeof hdr, "Mcp-Session-Id: %s", sid);
    expect (s_alice, PING, (const char *[]) { hdr, NULL }, 200, 0);
    expect (s_bob, PING, (const char *[]) { hdr, NULL }, 404, -32001);
    res = ui_request ("DELETE", "/mcp", s_bob, NULL, (const char *[]) { hdr, NULL });
    assert_int_equal (res.status, 404);
    ui_res_free (&res);
    /* upper case is another id, not the same one */
    char upper[128];
    snprintf (upper, sizeof upper, "Mcp-Session-Id: ");
    for (int i = 0; sid[i]; i++)
        upper[16 + i] = (char) (sid[i] >= 'a' && sid[i] <= 'f' ? sid[i] - 32 : sid[i]);
    upper[16 + strlen (sid)] = '\0';
    if (strcmp (upper + 16, sid))
        expect (s_alice, PING, (const char *[]) { upper, NULL }, 404, -32001);
    sleep (3);
    expect (s_alice, PING, (const char *[]) { hdr, NULL }, 404, -32001);
}

/* Fixed (was a defect): after initialize, a 2025-era request without
 * Mcp-Session-Id was served (spec 2025-06-18 transports: a server that
 * issues sessions SHOULD answer 400), so sessions bound nothing. */
static void
test_session_required (void **state)
{
    (void) state;
    ui_res_t res = ui_request ("POST", "/mcp", s_alice, PING,
                               (const char *[]) { "MCP-Protocol-Version: 2025-11-25", NULL });
    assert_int_equal (res.status, 400);
    assert_int_equal (rpc_code (&res), -32600);
    assert_non_null (strstr (res.body, "Mcp-Session-Id"));
    ui_res_free (&res);
}

/* Headers: a conflicting duplicate MCP-Protocol-Version, and Mcp-Name in
 * base64 hiding bytes after a NUL or a padding '='. */
static void
test_headers_held (void **state)
{
    (void) state;
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"readFile\",\"arguments\":{}," META "}}";
    expect (s_alice, body, (const char *[]) { "MCP-Protocol-Version: 2026-07-28",
                                              "Mcp-Method: tools/call",
                                              "Mcp-Name: =?base64?!!!!!!!!?=", NULL }, 400,
            -32020);
    expect (s_alice, body, (const char *[]) { "MCP-Protocol-Version: 2026-07-28",
                                              "Mcp-Method: tools/call",
                                              "Mcp-Name: readfile", NULL }, 400, -32020);
}

/* Fixed (was a defect): Mcp-Name's base64 decoder stopped at the first
 * '=' and at a decoded NUL, so "readFile\0evil" and "readFile=<more>"
 * passed as "readFile": a gateway routing on the decoded header and the
 * server could disagree on the tool. Now -32020. */
static void
test_mcp_name_smuggle (void **state)
{
    (void) state;
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"readFile\",\"arguments\":{}," META "}}";
    expect (s_alice, body, (const char *[]) { "MCP-Protocol-Version: 2026-07-28",
                                              "Mcp-Method: tools/call",
                                              "Mcp-Name: =?base64?cmVhZEZpbGUAZXZpbA==?=",
                                              NULL }, 400, -32020);
    expect (s_alice, body, (const char *[]) { "MCP-Protocol-Version: 2026-07-28",
                                              "Mcp-Method: tools/call",
                                              "Mcp-Name: =?base64?cmVhZEZpbGU=ZXZpbA==?=",
                                              NULL }, 400, -32020);
}

/* Fixed (was a defect): two MCP-Protocol-Version headers that disagree:
 * the first was believed; an intermediary reading the last sees another
 * version. Now 400. */
static void
test_duplicate_version (void **state)
{
    (void) state;
    expect (s_alice, PING, (const char *[]) { "MCP-Protocol-Version: 2025-11-25",
                                              "MCP-Protocol-Version: 2099-01-01", NULL }, 400,
            -32022);
}

/* Bodies: ids of every JSON type, huge ids, params not an object, a
 * response sent as a request, a notification with an id, jsonrpc absent. */
static void
test_bodies (void **state)
{
    (void) state;
    const char *bad_ids[] = { "1.5", "true", "false", "{}", "[]", "1e3", NULL };
    char body[256];
    for (int i = 0; bad_ids[i]; i++) {
        snprintf (body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ping\"}",
                  bad_ids[i]);
        expect (s_alice, body, NULL, 400, -32600);
    }
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999,\"method\":\"ping\"}",
            NULL, 400, -32700);
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775808,\"method\":\"ping\"}",
            NULL, 200, 0);
    expect (s_alice, "{\"id\":1,\"method\":\"ping\"}", NULL, 400, -32600);
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[]}", NULL,
            400, -32602);
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":\"x\"}",
            NULL, 400, -32602);
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", NULL, 400, -32600);
    ui_res_t res = ui_request ("POST", "/mcp", s_alice, "{\"jsonrpc\":\"2.0\",\"id\":1,"
                               "\"result\":{}}", NULL);
    assert_int_equal (res.status, 202);
    ui_res_free (&res);
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"notifications/initialized\"}",
            NULL, 200, -32601);
    /* a 64 KB string id is echoed whole */
    size_t big = 1 << 16;
    char *huge = malloc (big + 128);
    strcpy (huge, "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":\"");
    memset (huge + strlen (huge), 'i', big);
    strcpy (huge + 39 + big, "\"}");
    res = post_mcp (s_alice, huge, NULL);
    assert_int_equal (res.status, 200);
    json_t *doc = json_loads (res.body, 0, NULL);
    assert_int_equal (strlen (json_string_value (json_object_get (doc, "id")) ?: ""), big);
    json_decref (doc);
    ui_res_free (&res);
    /* huge arguments (1.5 MB): refused at the body cap (413) or an error
     * result; the bridge lives */
    size_t arg = 3 << 19;
    char *fat = malloc (arg + 256);
    int n = sprintf (fat, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":"
                     "{\"name\":\"checkFileExists\",\"arguments\":{\"path\":\"");
    memset (fat + n, 'p', arg);
    strcpy (fat + n + arg, "\"}}}");
    res = ui_request ("POST", "/mcp", s_alice, fat, NULL);
    assert_true (res.status == 200 || res.status == 413);
    ui_res_free (&res);
    free (fat);
    free (huge);
    expect (s_alice, PING, NULL, 200, 0);
}

/* Methods: tool names with dots, slashes, unicode, whitespace are
 * unknown, never resolved to another tool. */
static void
test_tool_names (void **state)
{
    (void) state;
    const char *names[] = { "../runCommand", "git/openPR", "git.openPR/", "runCommand ",
                            "RunCommand", "runCommand\\u0000", "\\u30c4\\u30fc\\u30eb",
                            "git..openPR", "*", "", NULL };
    char body[512];
    for (int i = 0; names[i]; i++) {
        snprintf (body, sizeof body, CALL ("%s", "{}"), names[i]);
        ui_res_t res = post_mcp (s_alice, body, NULL);
        int code = rpc_code (&res);
        /* \u0000 is refused by the parser (-32700), the others unknown */
        if (res.status >= 500 || (code != -32602 && code != -32700))
            fail_msg ("%s: got %ld %.300s", names[i], res.status, res.body);
        ui_res_free (&res);
    }
}

/* Was a defect (medium): a tool name (or method) of 128+ bytes whose 128th
 * byte splits a UTF-8 character: "Unknown tool: %.128s" cut it, jansson
 * refused the invalid string, and the answer was HTTP 500 "out of memory"
 * rather than -32602 (any unknown method likewise, -32601). */
static void
test_unicode_truncation (void **state)
{
    (void) state;
    char name[256], body[512];
    memset (name, 'a', 127);
    strcpy (name + 127, "\xc3\xa9");
    snprintf (body, sizeof body, CALL ("%s", "{}"), name);
    expect (s_alice, body, NULL, 200, -32602);
    snprintf (body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%sxxxx\"}", name);
    expect (s_alice, body, NULL, 200, -32601);
}

/* Whether a 2026-era call of name with args, from a client that can be
 * asked, is held for approval (answered input_required), not run. */
static bool
held (const char *name, const char *args)
{
    char body[1024], hdr[160];
    snprintf (body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\","
              "\"params\":{\"name\":\"%s\",\"arguments\":%s,\"_meta\":{"
              "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
              "\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{}}}}}",
              name, args);
    snprintf (hdr, sizeof hdr, "Mcp-Name: %s", name);
    ui_res_t res = ui_request ("POST", "/mcp", s_alice, body, (const char *[]) {
        "MCP-Protocol-Version: 2026-07-28", "Mcp-Method: tools/call", hdr, NULL });
    bool asked = res.status == 200 && strstr (res.body, "\"resultType\":\"input_required\"");
    if (!asked)
        print_message ("%s %s: %ld %.300s\n", name, args, res.status, res.body);
    ui_res_free (&res);
    return asked;
}

/* Gated tools: git.openPR, and repo.applyDiff unless dryRun is JSON true
 * (a string "true" does not pass the gate): held for approval, never run
 * at once. */
static void
test_gate (void **state)
{
    (void) state;
    assert_true (held ("git.openPR", "{\"title\":\"x\"}"));
    const char *forced[] = { "{\"dryRun\":\"true\",\"sandboxId\":\"x\",\"patch\":\"p\"}",
                             "{\"dryRun\":1,\"sandboxId\":\"x\",\"patch\":\"p\"}",
                             "{\"sandboxId\":\"x\",\"patch\":\"p\"}", NULL };
    for (int i = 0; forced[i]; i++)
        if (!held ("repo.applyDiff", forced[i]))
            fail_msg ("%s passed the gate", forced[i]);
}

/* The sandbox a user made is theirs: bob can neither run nor write in
 * it; alice can. */
static void
test_tenant (void **state)
{
    (void) state;
    json_t *r = rpc_call (s_alice, CALL ("createSandbox", "{\"language\":\"python\"}"));
    const char *sid = json_string_value (json_object_get (json_object_get (r,
                                                                           "structuredContent"),
                                                          "sandboxId"));
    assert_non_null (sid);
    char id[128], body[512];
    snprintf (id, sizeof id, "%s", sid);
    json_decref (r);
    snprintf (body, sizeof body, CALL ("runCommand", "{\"sandboxId\":\"%s\",\"command\":"
                                       "\"echo stolen\"}"), id);
    r = rpc_call (s_bob, body);
    assert_true (json_is_true (json_object_get (r, "isError")));
    assert_null (strstr (text_of (r), "stolen\\n"));
    json_decref (r);
    snprintf (body, sizeof body, CALL ("writeFile", "{\"sandboxId\":\"%s\",\"path\":\"x\","
                                       "\"content\":\"x\"}"), id);
    r = rpc_call (s_bob, body);
    assert_true (json_is_true (json_object_get (r, "isError")));
    json_decref (r);
    r = rpc_call (s_alice, body);
    assert_false (json_is_true (json_object_get (r, "isError")));
    json_decref (r);
}

/* The bridge's thread count (the hang-up watchers of 2026-era calls must
 * not outlive them). */
static int
threads (void)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/task", (int) s_stack.bridge);
    DIR *d = opendir (path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir (d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir (d);
    return n;
}

/* Resource use: 40 2026-era calls leave no watcher thread behind. */
static void
test_watchers (void **state)
{
    (void) state;
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"checkFileExists\",\"arguments\":{\"sandboxId\":\"nope\","
                       "\"path\":\"x\"}," META "}}";
    const char *hdrs[] = { "MCP-Protocol-Version: 2026-07-28", "Mcp-Method: tools/call",
                           "Mcp-Name: checkFileExists", NULL };
    expect (s_alice, body, hdrs, 200, 0);
    sleep (1);
    int before = threads ();
    for (int i = 0; i < 40; i++)
        expect (s_alice, body, hdrs, 200, 0);
    sleep (1);
    int after = threads ();
    if (after > before + 2)
        fail_msg ("threads %d before, %d after 40 calls", before, after);
}

/* A careless client: no Accept, text/plain, GET for SSE, tools/list with
 * no notifications/initialized: all answered sensibly. */
static void
test_careless (void **state)
{
    (void) state;
    expect (s_alice, PING, (const char *[]) { "Accept:", NULL }, 200, 0);
    expect (s_alice, PING, (const char *[]) { "Content-Type: text/plain", NULL }, 200, 0);
    ui_res_t res = ui_request ("GET", "/mcp", s_alice, NULL,
                               (const char *[]) { "Accept: text/event-stream", NULL });
    assert_int_equal (res.status, 405);
    assert_int_equal (rpc_code (&res), -32000);
    ui_res_free (&res);
    res = ui_request ("POST", "/mcp", s_alice, INIT, NULL);
    char sid[64], hdr[128];
    ui_header (&res, "Mcp-Session-Id", sid, sizeof sid);
    ui_res_free (&res);
    snprintf (hdr, sizeof hdr, "Mcp-Session-Id: %s", sid);
    expect (s_alice, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"}",
            (const char *[]) { hdr, NULL }, 200, 0);
    res = ui_request ("DELETE", "/mcp", s_alice, NULL, NULL);
    assert_int_equal (res.status, 405);
    ui_res_free (&res);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_tokens),
        cmocka_unit_test (test_origin),
        cmocka_unit_test (test_sessions),
        cmocka_unit_test (test_session_required),
        cmocka_unit_test (test_headers_held),
        cmocka_unit_test (test_mcp_name_smuggle),
        cmocka_unit_test (test_duplicate_version),
        cmocka_unit_test (test_bodies),
        cmocka_unit_test (test_tool_names),
        cmocka_unit_test (test_unicode_truncation),
        cmocka_unit_test (test_gate),
        cmocka_unit_test (test_tenant),
        cmocka_unit_test (test_watchers),
        cmocka_unit_test (test_careless),
    };
    return support_run_group_tests (tests, setup, teardown);
}
