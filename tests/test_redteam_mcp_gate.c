/* test_redteam_mcp_gate: attacks on /mcp's gated calls (mcp_gate.c) by a
 * careless client and a hostile tenant, over run_stack's orchestrator,
 * event-log and stand-in tool-runner (git.openPR gated, canned "pr-1"),
 * as test_mcp_gate; a second bridge waits 2 s at most for approval
 * (CAISSON_MCP_APPROVAL_TIMEOUT_S=2), so an answer the bridge drops shows
 * as "approval timed out" instead of the decline. An attack that holds is
 * a passing test; one that lands is a skip() naming the defect until it
 * is fixed (none left: those that landed say so, and were red before
 * their fix). */
#include "support.h"
#include "ui_support.h"
#include "mcp_gate_stack.h"
#include "run_stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_alice;
static char s_main[96], s_short[96];       /* the two bridges' bases */

#define INIT(caps) "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":" \
    "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{" caps "}," \
    "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"
#define PR_CALL(id, title) "{\"jsonrpc\":\"2.0\",\"id\":" id ",\"method\":\"tools/call\"," \
    "\"params\":{\"name\":\"git.openPR\",\"arguments\":{\"title\":\"" title "\"}," \
    "\"_meta\":{\"progressToken\":\"p\"}}}"

static int
setup (void **state)
{
    (void) state;
    if (!mcp_gate_stack_up ("mcpredgate", s_main, s_short))
        return 0;
    s_alice = ui_token (0, "alice", 0);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    mcp_gate_stack_down ();
    return 0;
}

/* POSTs body (a client's message) in alice's session sid: its status. */
static long
post (const char *sid, const char *body)
{
    char hdr[128];
    snprintf (hdr, sizeof hdr, "Mcp-Session-Id: %s", sid);
    ui_res_t res = ui_request ("POST", "/mcp", s_alice, body, (const char *[]) { hdr, NULL });
    long status = res.status;
    ui_res_free (&res);
    return status;
}

/* Opens a 2025 tools/call (body) in session sid on a raw connection. */
static int
open_call (const char *sid, const char *body)
{
    int fd = ui_connect_from ("127.0.0.1");
    assert_true (fd >= 0);
    char head[4096];
    int n = snprintf (head, sizeof head, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                      "Accept: application/json, text/event-stream\r\n"
                      "Mcp-Session-Id: %s\r\nMCP-Protocol-Version: 2025-11-25\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", s_alice, sid,
                      strlen (body), body);
    assert_int_equal (write (fd, head, (size_t) n), n);
    return fd;
}

/* On the 2 s bridge: a 2025 gated call whose elicitation alice answers
 * with reply (a JSON-RPC response's members after its id): the call's
 * stream up to its result (new). */
static char *
answered_with (const char *reply)
{
    snprintf (ui_base, sizeof ui_base, "%s", s_short);
    char sid[64];
    mcp_gate_initialize (s_alice, INIT ("\"elicitation\":{}"), sid);
    int fd = open_call (sid, PR_CALL ("5", "gated"));
    static char buf[65536];
    size_t len = 0;
    buf[0] = '\0';
    mcp_gate_read_until (fd, buf, sizeof buf, &len, "\"requestedSchema\"");
    char eid[80];
    mcp_gate_after (buf, "\"id\":\"caisson-approval-", "\"", eid, sizeof eid);
    size_t cap = strlen (reply) + 200;
    char *body = malloc (cap);
    snprintf (body, cap, "{\"jsonrpc\":\"2.0\",\"id\":\"caisson-approval-%s\",%s}", eid, reply);
    assert_int_equal (post (sid, body), 202);
    free (body);
    mcp_gate_read_until (fd, buf, sizeof buf, &len, "\"isError\"");
    close (fd);
    snprintf (ui_base, sizeof ui_base, "%s", s_main);
    return strdup (buf);
}

/* A decline whose reason is longer than run.decline carries (4096), or
 * holds control characters, still declines. It landed (low): the
 * decline failed run.decline's codec and was dropped, so the call waited
 * for the timeout. */
static void
test_decline_reason (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    size_t n = 6000;
    char *reply = malloc (n + 200);
    int at = snprintf (reply, n + 200, "\"result\":{\"action\":\"decline\",\"content\":{"
                       "\"reason\":\"bell\\u0007 esc\\u001b[2J \\u00e9");
    memset (reply + at, 'x', n - (size_t) at);
    snprintf (reply + n, 200, "\"}}");
    char *got = answered_with (reply);
    free (reply);
    if (!strstr (got, "declined by alice: bell  esc [2J \xc3\xa9xxx"))   /* kept: UTF-8 */
        fail_msg ("control characters kept: %.600s", got);
    if (!strstr (got, "declined by alice: bell") || strstr (got, "approval timed out"))
        fail_msg ("a long decline reason: %.600s", got);
    free (got);
}

/* A JSON-RPC error answering the question (the client's user dismissed
 * it, or its client cannot show forms) declines at once. It landed
 * (low): the error was ignored and the call waited for the timeout. */
static void
test_error_answer (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    char *got = answered_with ("\"error\":{\"code\":-32601,\"message\":\"no forms here\"}");
    if (!strstr (got, "declined by alice: the MCP client answered error -32601: "
                 "no forms here"))
        fail_msg ("an error answer: %.600s", got);
    free (got);
}

/* Held: an answer whose action is accept but whose content is not a
 * plain approve (another spelling, another type, extra decisions)
 * declines; it never approves. */
static void
test_lying_accept (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    const char *lies[] = { "{\"decision\":\"APPROVE\"}", "{\"decision\":[\"approve\"]}",
                           "\"approve\"", "{\"approve\":true}", NULL };
    for (int i = 0; lies[i]; i++) {
        char reply[256];
        snprintf (reply, sizeof reply, "\"result\":{\"action\":\"accept\",\"content\":%s}",
                  lies[i]);
        char *got = answered_with (reply);
        if (!strstr (got, "declined by alice") || strstr (got, "pr-1"))
            fail_msg ("accept with content %s: %.600s", lies[i], got);
        free (got);
    }
}

/* Held: notifications/cancelled whose requestId is an object, an array,
 * null, a float or a huge string cancels nothing (202), and a waiting
 * call's run stays awaiting approval. */
static void
test_odd_cancel (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    char sid[64], run[130];
    mcp_gate_initialize (s_alice, INIT (""), sid);
    int fd = open_call (sid, PR_CALL ("5", "odd"));
    static char buf[16384];
    size_t len = 0;
    buf[0] = '\0';
    mcp_gate_read_until (fd, buf, sizeof buf, &len, "awaiting approval");
    mcp_gate_read_until (fd, buf, sizeof buf, &len, "\n\n");
    mcp_gate_after (buf, "caisson approve ", " ", run, sizeof run);
    static char big[70000];
    memset (big, 'z', sizeof big - 1);
    const char *ids[] = { "{\"id\":5}", "[5]", "null", "5.0", "\"5\"", big, NULL };
    for (int i = 0; ids[i]; i++) {
        size_t cap = strlen (ids[i]) + 128;
        char *body = malloc (cap);
        snprintf (body, cap, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                  "\"params\":{\"requestId\":%s%s%s}}", ids[i] == big ? "\"" : "", ids[i],
                  ids[i] == big ? "\"" : "");
        assert_int_equal (post (sid, body), 202);
        free (body);
    }
    mcp_gate_await_status (s_alice, run, "awaiting_approval");
    assert_int_equal (post (sid, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                            "\"params\":{\"requestId\":5}}"), 202);
    mcp_gate_await_status (s_alice, run, "cancelled");
    close (fd);
}

/* A 2026 call as alice, params' rest in more, arguments args: the body
 * of its answer (new). */
static char *
call_2026 (const char *args, const char *more)
{
    char body[8192];
    snprintf (body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\","
              "\"params\":{\"name\":\"git.openPR\",\"arguments\":%s,%s"
              MCP_GATE_META_2026 "}}", args, more);
    ui_res_t res = ui_request ("POST", "/mcp", s_alice, body,
                               (const char *[]) { MCP_GATE_HDRS_2026, NULL });
    char *out = strdup (res.body ? res.body : "");
    ui_res_free (&res);
    return out;
}

/* A retry whose arguments differ from the first leg's is refused: the
 * approval given is of the first leg's call. It landed (medium): the
 * retry's arguments were ignored and it answered with the result of the
 * first leg's call, so a client that changed them believed they ran. */
static void
test_retry_swapped (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    char *body = call_2026 ("{\"title\":\"one\"}", "");
    assert_non_null (strstr (body, "\"resultType\":\"input_required\""));
    char sealed[2100], more[4096];
    mcp_gate_after (body, "\"requestState\":\"", "\"", sealed, sizeof sealed);
    free (body);
    snprintf (more, sizeof more, "\"requestState\":\"%s\",\"inputResponses\":{\"approval\":"
              "{\"action\":\"accept\",\"content\":{\"decision\":\"approve\"}}},", sealed);
    body = call_2026 ("{\"title\":\"another\"}", more);
    if (!strstr (body, "-32602") || strstr (body, "pr-1"))
        fail_msg ("a retry with other arguments: %s", body);
    free (body);
    body = call_2026 ("{\"title\":\"one\"}", more);      /* the call asked about */
    assert_non_null (strstr (body, "pr-1"));
    free (body);
}

/* notifications/cancelled cancels the call it names, not another whose
 * id shares its first 127 characters. It landed (low, one user's own
 * calls): call keys kept 128 bytes of the id. */
static void
test_cancel_long_id (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    char sid[64], stem[128], id[2][140], call[2][512], run[2][130], body[512];
    mcp_gate_initialize (s_alice, INIT (""), sid);
    memset (stem, 'k', 127);
    stem[127] = '\0';
    int fd[2];
    for (int i = 0; i < 2; i++) {
        snprintf (id[i], sizeof id[i], "\"%s%c\"", stem, 'A' + i);
        snprintf (call[i], sizeof call[i], "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":"
                  "\"tools/call\",\"params\":{\"name\":\"git.openPR\",\"arguments\":{},"
                  "\"_meta\":{\"progressToken\":\"p\"}}}", id[i]);
        fd[i] = open_call (sid, call[i]);
        static char buf[2][16384];
        size_t len = 0;
        buf[i][0] = '\0';
        mcp_gate_read_until (fd[i], buf[i], sizeof buf[i], &len, "awaiting approval");
        mcp_gate_read_until (fd[i], buf[i], sizeof buf[i], &len, "\n\n");
        mcp_gate_after (buf[i], "caisson approve ", " ", run[i], sizeof run[i]);
    }
    snprintf (body, sizeof body, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
              "\"params\":{\"requestId\":%s}}", id[1]);
    assert_int_equal (post (sid, body), 202);
    mcp_gate_await_status (s_alice, run[1], "cancelled");
    mcp_gate_await_status (s_alice, run[0], "awaiting_approval");
    snprintf (body, sizeof body, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
              "\"params\":{\"requestId\":%s}}", id[0]);
    assert_int_equal (post (sid, body), 202);
    mcp_gate_await_status (s_alice, run[0], "cancelled");
    close (fd[0]);
    close (fd[1]);
}

/* A client whose Accept does not take text/event-stream is told so (406)
 * before a gated call or caisson_run starts a run it could not follow.
 * It landed (low): the run started and the answer was an SSE stream the
 * client said it cannot read. An Accept of * / * or none takes anything. */
static void
test_accept (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    char sid[64], hdr[128];
    mcp_gate_initialize (s_alice, INIT (""), sid);
    snprintf (hdr, sizeof hdr, "Mcp-Session-Id: %s", sid);
    const char *calls[] = { PR_CALL ("3", "json only"),
                            "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":"
                            "{\"name\":\"caisson_run\",\"arguments\":{\"task\":\"hi\"}}}" };
    for (int i = 0; i < 2; i++) {
        ui_res_t res = ui_request ("POST", "/mcp", s_alice, calls[i], (const char *[]) {
                                       hdr, "Accept: application/json", NULL });
        if (res.status != 406 || !strstr (res.body, "text/event-stream"))
            fail_msg ("Accept: application/json, call %d: %ld %.300s", i, res.status,
                      res.body);
        ui_res_free (&res);
    }
    /* a plain call answers JSON: Accept application/json is enough */
    ui_res_t res = ui_request ("POST", "/mcp", s_alice, "{\"jsonrpc\":\"2.0\",\"id\":6,"
                               "\"method\":\"tools/list\"}", (const char *[]) {
                                   hdr, "Accept: application/json", NULL });
    assert_int_equal (res.status, 200);
    ui_res_free (&res);
}

int
main (int argc, char **argv)
{
    int rc = run_stack_child (argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_decline_reason),
        cmocka_unit_test (test_error_answer),
        cmocka_unit_test (test_lying_accept),
        cmocka_unit_test (test_odd_cancel),
        cmocka_unit_test (test_retry_swapped),
        cmocka_unit_test (test_cancel_long_id),
        cmocka_unit_test (test_accept),
    };
    return support_run_group_tests (tests, setup, teardown);
}
