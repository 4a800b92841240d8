/* test_redteam_mcpc: tool-runner's MCP client (issue 17) attacked by a
 * hostile remote server's operator and by a careless deployer: the
 * attacks that hold. tests/mcp/mcpc_hostile_server.mjs breaks the
 * Streamable HTTP rules on purpose (endless streams, lying lengths, a gzip
 * bomb, odd ids and results, requests to the client, hostile tool names
 * and schemas); the mcp.json (tests/rtmcpc.c) adds ${VAR} tricks, stdio
 * servers and 64 servers, most of them hanging. tool-runner is driven
 * through the bus as a run would (`caisson tool call`, `caisson mcp list`,
 * tools.call as two users at once). The attacks that land are in
 * test_redteam_mcpc_defects.c. Runs as any user, except for the stdio
 * servers (sandboxes: root). */
#include "support.h"
#include "bus_client.h"
#include "mpjson.h"
#include "rtmcpc.h"
#include "mcpc_support.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Each server that breaks the handshake is failed with a sentence; bad
 * entries are invalid, naming why; 47 hanging servers hold up neither the
 * others nor the catalogue, and a 65th is refused. */
static void
test_handshakes (void **state)
{
    (void) state;
    static const struct { const char *name, *state, *want; } cases[] = {
        { "badversion", "failed", "protocol version 1999-01-01, which Caisson does not speak" },
        { "longsid", "failed", "unusable Mcp-Session-Id" },
        { "spacesid", "failed", "unusable Mcp-Session-Id" },
        { "redirfile", "failed", "a redirect to file:///etc/passwd (not followed" },
        { "redirmeta", "failed", "http://169.254.169.254/latest/meta-data/ (not followed" },
        { "bighdr0", "failed", "MCP server bighdr0 broke off its answer to initialize" },
        { "initreq", "ready", "" },
        { "vlong", "invalid", "header `X-L` is longer than 4096 bytes once expanded" },
        { "vnest", "invalid", "`url` has a malformed ${...}" },
        { "${RT_PORT}", "invalid", "a server name is 1-48 letters" },
        { "vcrlf", "invalid", "`headers` must map header names to single-line strings" },
        { "hangextra", "invalid", "more than 64 servers" },
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
    json_t *s = mcpc_support_listed ("hang46");
    assert_string_equal (support_json_str (s, "state"), "starting");
    json_decref (s);
    assert_int_equal (mcpc_support_tools_named ("writeFile", false), 1);
}

/* stdio servers in sandboxes (root only): one that floods stderr, one
 * that writes blank lines without end, one that forks children: each is
 * failed at its timeout with a sentence of bounded length, and the
 * children end with its sandbox. */
static void
test_stdio_hostile (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    static const char *const names[] = { "stderrflood", "blanks", "forker" };
    for (size_t i = 0; i < 3; i++) {
        json_t *s = mcpc_support_settled (names[i]);
        const char *reason = support_json_str (s, "reason");
        print_message ("%s: %s: %s\n", names[i], support_json_str (s, "state"), reason);
        assert_string_equal (support_json_str (s, "state"), "failed");
        assert_non_null (strstr (reason, names[i]));
        assert_true (strlen (reason) < 1024);
        json_decref (s);
    }
    int left = 1;
    for (int i = 0; i < 300 && left; i++) {
        left = system ("pgrep -x -f 'sleep 7777' >/dev/null") == 0;
        if (left)
            usleep (100000);
    }
    assert_false (left);
}

/* A header naming another variable is sent as written (no second pass). */
static void
test_expansion_once (void **state)
{
    (void) state;
    assert_non_null (strstr (rtmcpc_call_text ("vrec.headers", "{}"), "\"x-a\":\"${RT_B}\""));
}

/* Hostile tool names and schemas are left out one by one; a duplicate
 * across pages is kept once; 10 000 tools and an endless nextCursor end
 * at the caps with the server ready; a recursive $ref is not followed. */
static void
test_tool_names (void **state)
{
    (void) state;
    json_t *s = mcpc_support_settled ("names");
    print_message ("names: %s\n", support_json_str (s, "reason"));
    assert_string_equal (support_json_str (s, "state"), "ready");
    json_decref (s);
    assert_int_equal (mcpc_support_tools_named ("names.ok", false), 1);
    assert_int_equal (mcpc_support_tools_named ("names.dup", false), 1);
    assert_int_equal (mcpc_support_tools_named ("names.dotted.name", false), 1);
    assert_int_equal (mcpc_support_tools_named ("names.t0", false), 1);
    static const char *const out[] = { "names.a__b", "names.sp ace", "names.", "names.huge",
                                       "names.deepschema", "names.notobj", "names.noschema" };
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        assert_int_equal (mcpc_support_tools_named (out[i], false), 0);
    assert_int_equal (mcpc_support_tools_named ("names.\xc3\xbc", true), 0);
    assert_int_equal (mcpc_support_tools_named ("names.xxxxxxxx", true), 0);
    assert_true (mcpc_support_tools_named ("names.", true) <= 256);
    /* schema.c does not follow $ref: the call reaches the server. */
    json_t *r;
    assert_int_equal (mcpc_support_tool_call ("names.recursive", "{\"a\":{\"a\":{}}}", &r), 1);
    assert_string_equal (support_json_error_code (r), "mcp_error");
    json_decref (r);
}

/* Answers that are not the answer: another id, a string id, nesting past
 * any limit, bytes that are not UTF-8, a structuredContent that is not an
 * object, lying lengths, a 1 MiB header, a gzip bomb (curl does not
 * inflate it): each a clear error, and the server still usable. */
static void
test_odd_answers (void **state)
{
    (void) state;
    rtmcpc_expect_error ("h.wrongid", "mcp_error", "it is not the response to the request");
    rtmcpc_expect_error ("h.strid", "mcp_error", "it is not the response to the request");
    rtmcpc_expect_error ("h.deep", "mcp_error", "sent an invalid JSON-RPC frame: not JSON");
    rtmcpc_expect_error ("h.nonutf8", "mcp_error", "sent an invalid JSON-RPC frame: not JSON");
    rtmcpc_expect_error ("h.structarr", "mcp_bad_result", "not a tool result");
    rtmcpc_expect_error ("h.gzip", "mcp_error", "sent an invalid JSON-RPC frame: not JSON");
    rtmcpc_expect_error ("h.clshort", "mcp_error", "MCP server h broke off its answer to tools/call");
    rtmcpc_expect_error ("h.cllong", "mcp_error", "sent an invalid JSON-RPC frame: not JSON");
    rtmcpc_expect_error ("h.bighdr", "mcp_error", "MCP server h broke off its answer to tools/call");
    /* 2 MiB of image and a resource link: capped, and never fetched. */
    json_t *r;
    assert_int_equal (mcpc_support_tool_call ("h.image", "{}", &r), 0);
    char *text = json_dumps (r, JSON_COMPACT);
    assert_true (strlen (text) < 128 * 1024);
    free (text);
    json_decref (r);
    assert_int_equal (mcpc_support_tool_call ("h.link", "{}", &r), 0);
    text = json_dumps (r, JSON_COMPACT);
    assert_null (strstr (text, "root:"));
    free (text);
    json_decref (r);
    assert_string_equal (rtmcpc_call_text ("h.recall", "{}"), "recalled:");
}

/* Streams that never answer (comments, a line without end, notifications,
 * the answer as an event of another type) end at the timeout. */
static void
test_endless_streams (void **state)
{
    (void) state;
    rtmcpc_expect_error ("hq.comments", "mcp_error", "MCP server hq did not answer tools/call within 2 s");
    rtmcpc_expect_error ("hq.nonl", "mcp_error", "MCP server hq sent an answer larger than 8 MiB");
    rtmcpc_expect_error ("hq.notify", "mcp_error", "MCP server hq did not answer tools/call within 2 s");
    rtmcpc_expect_error ("hq.events", "mcp_error", "MCP server hq did not answer tools/call within 2 s");
    assert_string_equal (rtmcpc_call_text ("h.recall", "{}"), "recalled:");
}

/* The server asks the client for sampling, elicitation and roots: each is
 * refused with -32601 (Caisson offers none) and the call goes on; one
 * under the call's own id is answered as a request. */
static void
test_server_requests (void **state)
{
    (void) state;
    assert_string_equal (rtmcpc_call_text ("h.asks", "{}"), "sampling/createMessage:-32601 "
                         "elicitation/create:-32601 roots/list:-32601");
    /* A request under the call's own id is a request, not the answer; a
     * response to an id never used is dropped. */
    assert_string_equal (rtmcpc_call_text ("h.collide", "{}"), "collide:-32601");
}

/* Eight calls at once, four as alice and four as bob, answered in the
 * reverse order: each gets its own answer (ids are never confused). */
static void
test_concurrent_calls (void **state)
{
    (void) state;
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    char ids[8][64];
    for (int i = 0; i < 8; i++) {
        char args[64];
        snprintf (ids[i], sizeof ids[i], "rt-mcpc-echo-%d", i);
        snprintf (args, sizeof args, "{\"x\":\"%s-%d\"}", i % 2 ? "bob" : "alice", i);
        proto_msg_t *req = support_tools_call_new ("h.echo", ids[i], false, args, NULL);
        proto_set_str (&req->env.user, i % 2 ? "bob" : "alice");
        support_send (c, "tool-runner", req);
    }
    for (int n = 0; n < 8; n++) {
        proto_msg_t *rep = bus_client_recv (c, 60000, NULL);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_tools_result);
        int i = atoi (strrchr (rep->body.tools_result.call_id, '-') + 1);
        bool ok;
        json_t *r = support_tools_result (rep, "h.echo", &ok);
        assert_true (ok);
        char want[64];
        snprintf (want, sizeof want, "echo:%s-%d", i % 2 ? "bob" : "alice", i);
        assert_string_equal (support_json_str (r, "text"), want);
        json_decref (r);
    }
    bus_client_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_handshakes),
        cmocka_unit_test (test_stdio_hostile),
        cmocka_unit_test (test_expansion_once),
        cmocka_unit_test (test_tool_names),
        cmocka_unit_test (test_odd_answers),
        cmocka_unit_test (test_endless_streams),
        cmocka_unit_test (test_server_requests),
        cmocka_unit_test (test_concurrent_calls),
    };
    return support_run_group_tests (tests, rtmcpc_setup, rtmcpc_teardown);
}
