/* test_mcp_gate: a gated tools/call over /mcp waits for approval (issue
 * 17). ui-bridge in front of the real orchestrator and event-log, with
 * run_stack's stand-in tool-runner (git.openPR gated, a canned pull
 * request), so no sandbox is needed; a second ui-bridge on the same bus
 * waits 2 s at most (CAISSON_MCP_APPROVAL_TIMEOUT_S=2).
 *
 * The official SDK client in both eras (tests/mcp/mcp_gate.mjs): approved
 * or declined in its elicitation handler, or approved in Caisson while a
 * client that cannot be asked waits, or cancelled. Raw requests: bob
 * cannot answer alice's elicitation (nor can alice from another session,
 * nor an id never asked: all 202 and ignored); a 2026 requestState is
 * refused when forged, tampered with or another user's; past the timeout
 * a waiting call answers "approval timed out" and its run is cancelled,
 * in the 2026 era even when the client never comes back. */
#include "support.h"
#include "ui_support.h"
#include "mcp_gate_stack.h"
#include "run_stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_alice, *s_bob;
static char s_main[96], s_short[96];       /* the two bridges' bases */

#define PR_ARGS "\"name\":\"git.openPR\",\"arguments\":{\"title\":\"gated\"}"
#define INIT_ELICIT "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":" \
    "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{\"elicitation\":{}}," \
    "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"
#define INIT_PLAIN "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":" \
    "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}," \
    "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"
#define CALL_2025 "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{" \
    PR_ARGS ",\"_meta\":{\"progressToken\":\"p\"}}}"

static int
setup (void **state)
{
    (void) state;
    if (!mcp_gate_stack_up ("mcpgate", s_main, s_short))
        return 0;
    s_alice = ui_token (0, "alice", 0);
    s_bob = ui_token (1, "bob", 0);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    mcp_gate_stack_down ();
    return 0;
}

/* POSTs a client's JSON-RPC response as token in session sid (NULL:
 * none): always 202. */
static void
answer (const char *token, const char *sid, const char *id, const char *result)
{
    char body[1024], hdr[128];
    snprintf (body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}", id, result);
    snprintf (hdr, sizeof hdr, "Mcp-Session-Id: %s", sid ? sid : "none");
    ui_res_t res = ui_request ("POST", "/mcp", token, body,
                               sid ? (const char *[]) { hdr, NULL } : NULL);
    assert_int_equal (res.status, 202);
    ui_res_free (&res);
}

/* The official SDK client: both eras, approve, decline, wait, cancel. */
static void
test_sdk (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    const char *args[] = { "node", "../mcp/mcp_gate.mjs", s_main, s_alice, NULL };
    assert_int_equal (support_run_node (args), 0);
}

/* An elicitation is answered only by its user, in its session, once. */
static void
test_cross_user (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    char sid[64], other[64], bob_sid[64];
    mcp_gate_initialize (s_alice, INIT_ELICIT, sid);
    mcp_gate_initialize (s_alice, INIT_PLAIN, other);
    mcp_gate_initialize (s_bob, INIT_ELICIT, bob_sid);
    int fd = ui_connect_from ("127.0.0.1");
    assert_true (fd >= 0);
    char head[1024];
    int n = snprintf (head, sizeof head, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                      "Accept: application/json, text/event-stream\r\n"
                      "Mcp-Session-Id: %s\r\nMCP-Protocol-Version: 2025-11-25\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", s_alice, sid,
                      strlen (CALL_2025), CALL_2025);
    assert_int_equal (write (fd, head, (size_t) n), n);
    static char buf[65536];
    size_t len = 0;
    buf[0] = '\0';
    mcp_gate_read_until (fd, buf, sizeof buf, &len, "elicitation/create");
    mcp_gate_read_until (fd, buf, sizeof buf, &len, "\"requestedSchema\"");
    char eid[80], run[130], quoted[100];
    mcp_gate_after (buf, "\"id\":\"caisson-approval-", "\"", eid, sizeof eid);
    mcp_gate_after (buf, "caisson approve ", " ", run, sizeof run);
    snprintf (quoted, sizeof quoted, "\"caisson-approval-%s\"", eid);
    const char *yes = "{\"action\":\"accept\",\"content\":{\"decision\":\"approve\"}}";
    answer (s_bob, bob_sid, quoted, yes);           /* bob, his own session */
    answer (s_bob, sid, quoted, yes);               /* bob, alice's session */
    answer (s_alice, other, quoted, yes);           /* alice, another session */
    answer (s_alice, NULL, quoted, yes);            /* alice, no session */
    answer (s_alice, sid, "\"caisson-approval-00\"", yes);     /* never asked */
    answer (s_alice, sid, "424242", yes);
    answer (s_alice, sid, quoted, "[1,2]");         /* not an ElicitResult */
    char status[64];
    mcp_gate_run_status (s_alice, run, status, sizeof status);
    assert_string_equal (status, "awaiting_approval");
    answer (s_alice, sid, quoted, "{\"action\":\"accept\",\"content\":{\"decision\":"
            "\"decline\",\"reason\":\"only I decide\"}}");
    answer (s_alice, sid, quoted, yes);             /* answered once: ignored */
    mcp_gate_read_until (fd, buf, sizeof buf, &len, "\"isError\"");
    mcp_gate_read_until (fd, buf, sizeof buf, &len, "\n\n");
    assert_non_null (strstr (buf, "declined by alice: only I decide"));
    assert_non_null (strstr (buf, "\"isError\":true"));
    close (fd);
    mcp_gate_await_status (s_alice, run, "failed");
}

/* A 2026 call as token, params' rest in more: the body of its answer. */
static char *
call_2026 (const char *token, const char *more)
{
    char body[8192];
    snprintf (body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\","
              "\"params\":{" PR_ARGS ",%s" MCP_GATE_META_2026 "}}", more);
    ui_res_t res = ui_request ("POST", "/mcp", token, body,
                               (const char *[]) { MCP_GATE_HDRS_2026, NULL });
    char *out = strdup (res.body ? res.body : "");
    ui_res_free (&res);
    return out;
}

/* The requestState of a first leg's input_required answer (new). */
static char *
first_leg (void)
{
    char *body = call_2026 (s_alice, "");
    assert_non_null (strstr (body, "\"resultType\":\"input_required\""));
    assert_non_null (strstr (body, "elicitation/create"));
    char state[2100];
    mcp_gate_after (body, "\"requestState\":\"", "\"", state, sizeof state);
    free (body);
    return strdup (state);
}

/* Whether a retry carrying state (and an approval) as token is refused
 * as a bad requestState. */
static bool
refused (const char *token, const char *state)
{
    char more[4096];
    snprintf (more, sizeof more, "\"requestState\":\"%s\",\"inputResponses\":{\"approval\":"
              "{\"action\":\"accept\",\"content\":{\"decision\":\"approve\"}}},", state);
    char *body = call_2026 (token, more);
    bool no = strstr (body, "-32602") && strstr (body, "requestState") && !strstr (body, "pr-1");
    free (body);
    return no;
}

/* The 2026 requestState is sealed and bound to its user. */
static void
test_forged_state (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    char *sealed = first_leg ();
    assert_true (refused (s_bob, sealed));                  /* another user's */
    char *tampered = strdup (sealed);
    tampered[strlen (tampered) - 1] ^= tampered[strlen (tampered) - 1] == '0' ? 1 : 3;
    assert_true (refused (s_alice, tampered));              /* its seal broken */
    tampered[0] = tampered[0] == '7' ? '8' : '7';
    tampered[strlen (tampered) - 1] = sealed[strlen (sealed) - 1];
    assert_true (refused (s_alice, tampered));              /* its payload changed */
    assert_true (refused (s_alice, "garbage"));
    assert_true (refused (s_alice, "7b7d.00"));
    free (tampered);
    char more[4096];
    snprintf (more, sizeof more, "\"requestState\":\"%s\",\"inputResponses\":{\"approval\":"
              "{\"action\":\"accept\",\"content\":{\"decision\":\"approve\"}}},", sealed);
    char *body = call_2026 (s_alice, more);
    assert_non_null (strstr (body, "pr-1"));
    assert_null (strstr (body, "\"isError\":true"));
    free (body);
    free (sealed);
}

/* Past CAISSON_MCP_APPROVAL_TIMEOUT_S (2 s on the second bridge). */
static void
test_timeout (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    snprintf (ui_base, sizeof ui_base, "%s", s_short);
    /* 2025, a client that cannot be asked: the call answers at the deadline */
    char sid[64], hdr[128];
    mcp_gate_initialize (s_alice, INIT_PLAIN, sid);
    snprintf (hdr, sizeof hdr, "Mcp-Session-Id: %s", sid);
    ui_res_t res = ui_request ("POST", "/mcp", s_alice, CALL_2025, (const char *[]) { hdr,
                                                                                    NULL });
    assert_int_equal (res.status, 200);
    assert_non_null (strstr (res.body, "approval timed out"));
    assert_non_null (strstr (res.body, "\"isError\":true"));
    char run[130];
    mcp_gate_after (res.body, "caisson approve ", " ", run, sizeof run);
    ui_res_free (&res);
    mcp_gate_await_status (s_alice, run, "cancelled");
    /* 2026: the client never comes back; the run is cancelled all the same,
     * and a late retry answers that the approval timed out */
    char *sealed = first_leg ();
    char *payload = strndup (sealed, strcspn (sealed, "."));
    char *doc = calloc (1, strlen (payload) / 2 + 1);
    for (size_t i = 0; payload[2 * i]; i++)
        sscanf (payload + 2 * i, "%2hhx", (unsigned char *) &doc[i]);
    mcp_gate_after (doc, "\"r\":\"", "\"", run, sizeof run);
    free (doc);
    free (payload);
    mcp_gate_await_status (s_alice, run, "cancelled");
    char more[4096];
    snprintf (more, sizeof more, "\"requestState\":\"%s\",\"inputResponses\":{\"approval\":"
              "{\"action\":\"accept\",\"content\":{\"decision\":\"approve\"}}},", sealed);
    char *body = call_2026 (s_alice, more);
    if (!strstr (body, "approval timed out") || strstr (body, "pr-1"))
        fail_msg ("a late retry: %s", body);
    free (body);
    free (sealed);
    snprintf (ui_base, sizeof ui_base, "%s", s_main);
}

int
main (int argc, char **argv)
{
    int rc = run_stack_child (argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sdk),
        cmocka_unit_test (test_cross_user),
        cmocka_unit_test (test_forged_state),
        cmocka_unit_test (test_timeout),
    };
    return support_run_group_tests (tests, setup, teardown);
}
