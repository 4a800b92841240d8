/* test_mcp_client_life: tool-runner's MCP servers after their first
 * start, through the bus and the CLI as a run would see them: a remote
 * server down at start comes up when it comes back; names the model's wire
 * cannot carry, or Caisson's own tools' names, are left out and shown in
 * `caisson mcp list`; a server's notifications/tools/list_changed (on a
 * call's SSE stream) re-lists its tools; a cancelled call is answered at
 * once and the server told. The remote server is the SDK's, in
 * tests/mcp/mcpc_life_server.mjs; as root a stdio one written in sh
 * (tests/mcp/mcpc_life_stdio.sh) runs in a sandbox too (its tests skip
 * otherwise). */
#include "support.h"
#include "bus_client.h"
#include "bus_pub.h"
#include "mcpc_support.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SERVER "mcpc_life_server.mjs"

static bool s_stdio;            /* root: sandboxes, so the stdio server `shy` too */

static int s_port;              /* the server, up from the start */
static int s_late_port;         /* a second one, started by a test */
static pid_t s_node;
static pid_t s_late;
static pid_t s_tr;

static int
setup (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("mcpc-life");
    s_stdio = geteuid () == 0;
    char shy[900] = "";
    if (s_stdio) {
        /* tests/mcp/mcpc_life_stdio.sh, unpacked into its sandbox */
        support_sh ("tar czf %s/shy.tgz -C %s/tests/mcp mcpc_life_stdio.sh", dir,
                    CAISSON_SOURCE_DIR);
        snprintf (shy, sizeof shy, ", \"shy\": {\"command\": \"sh\", \"args\": "
                  "[\"/workspace/mcpc_life_stdio.sh\"], \"files\": \"%s/shy.tgz\", "
                  "\"timeoutMs\": 600000}", dir);
        setenv ("CAISSON_SANDBOX_POOL", "0", 1);
    }
    s_port = support_free_port ();
    s_late_port = support_free_port ();
    s_node = mcpc_support_node_up (SERVER, s_port, NULL);
    char path[600];
    snprintf (path, sizeof path, "%s/mcp.json", dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs ("{\"mcpServers\": {"
           " \"late\": {\"url\": \"http://127.0.0.1:${LIFE_LATE}/json/mcp\"},"
           " \"names\": {\"url\": \"http://127.0.0.1:${LIFE_PORT}/names/mcp\"},"
           " \"git\": {\"url\": \"http://127.0.0.1:${LIFE_PORT}/names/mcp\"},"
           " \"repo\": {\"url\": \"http://127.0.0.1:${LIFE_PORT}/names/mcp\"},"
           " \"bad_\": {\"url\": \"http://127.0.0.1:${LIFE_PORT}/json/mcp\"},"
           " \"grow\": {\"url\": \"http://127.0.0.1:${LIFE_PORT}/sse/mcp\"},"
           " \"life\": {\"url\": \"http://127.0.0.1:${LIFE_PORT}/sse/mcp\","
           "   \"timeoutMs\": 600000}", f);
    fprintf (f, "%s}}", shy);
    fclose (f);
    char env_path[700], env_port[64], env_late[64];
    snprintf (env_path, sizeof env_path, "CAISSON_MCP_SERVERS=%s", path);
    snprintf (env_port, sizeof env_port, "LIFE_PORT=%d", s_port);
    snprintf (env_late, sizeof env_late, "LIFE_LATE=%d", s_late_port);
    const char *const env[] = { env_path, env_port, env_late, NULL };
    support_spawn ("caisson-bus", NULL);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    if (s_stdio) {
        support_spawn ("caisson-sandbox-manager", NULL);
        support_await_service (c, "sandbox-manager");
    }
    s_tr = support_spawn ("caisson-tool-runner", env);
    support_await_service (c, "tool-runner");
    bus_client_destroy (&c);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    support_expect_clean_exit (s_tr);
    support_stop (s_node, SIGTERM, 5000);
    if (s_late)
        support_stop (s_late, SIGTERM, 5000);
    return 0;
}

/* Whether the tools of entry s (of `caisson mcp list`) hold name. */
static bool
has_tool (const json_t *s, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (s, "tools"), i, t)
        if (!strcmp (support_json_str (t, "name"), name))
            return true;
    return false;
}

/* The text of a successful call of name with args (static storage). */
static const char *
call_text (const char *name, const char *args)
{
    static char text[4096];
    json_t *r;
    int rc = mcpc_support_tool_call (name, args, &r);
    if (rc)
        fail_msg ("%s: exit %d: %s", name, rc,
                  support_json_str (json_object_get (r, "error"), "message"));
    snprintf (text, sizeof text, "%s", support_json_str (r, "text"));
    json_decref (r);
    return text;
}

/* A remote server unreachable at start has no tools, so no call would
 * try it again: tool-runner does, after its back-off, and once it is up
 * its tools join the catalogue. Failed before: `late` stayed failed. */
static void
test_failed_start_retried (void **state)
{
    (void) state;
    json_t *s = mcpc_support_settled ("late");
    assert_string_equal (support_json_str (s, "state"), "failed");
    assert_non_null (strstr (support_json_str (s, "reason"), "unreachable"));
    json_decref (s);
    s_late = mcpc_support_node_up (SERVER, s_late_port, NULL);
    s = mcpc_support_await_state ("late", "ready");
    assert_true (has_tool (s, "late.echo"));
    json_decref (s);
    assert_string_equal (call_text ("late.echo", "{\"word\":\"back\"}"), "back");
}

/* Names the model's wire (each `.` as `__`) cannot carry are refused
 * where `caisson mcp list` shows them: a server name ending in `_`, a
 * tool name starting with `_` (`names.__under` would read back as
 * `names_._under`), a name of 60 bytes with 5 dots (65 on the wire).
 * Failed before: bad_ was ready, names._under and the dotted tool listed. */
static void
test_wire_names_refused (void **state)
{
    (void) state;
    json_t *s = mcpc_support_listed ("bad_");
    assert_string_equal (support_json_str (s, "state"), "invalid");
    assert_non_null (strstr (support_json_str (s, "reason"), "not ending in `_`"));
    json_decref (s);
    s = mcpc_support_await_state ("names", "ready");
    print_message ("names: %s\n", support_json_str (s, "reason"));
    assert_true (has_tool (s, "names.fine"));
    assert_false (has_tool (s, "names._under"));
    assert_int_equal (json_array_size (json_object_get (s, "tools")), 3);  /* fine, openPR, readFiles */
    const char *reason = support_json_str (s, "reason");
    assert_non_null (strstr (reason, "_under"));
    assert_non_null (strstr (reason, "d.o.t.s.xxxx"));
    assert_non_null (strstr (reason, "a `.` counting 2"));
    json_decref (s);
    assert_int_equal (mcpc_support_tools_named ("names._under", false), 0);
    assert_int_equal (mcpc_support_tools_named ("names.fine", false), 1);
}

/* Servers named git and repo offering openPR and readFiles: Caisson's own
 * git.openPR and repo.readFiles stay the only ones of those names, the
 * servers' are left out and shown. Failed before: two of each name. */
static void
test_builtin_names_left_out (void **state)
{
    (void) state;
    json_t *s = mcpc_support_await_state ("git", "ready");
    assert_true (has_tool (s, "git.fine"));
    assert_false (has_tool (s, "git.openPR"));
    assert_non_null (strstr (support_json_str (s, "reason"),
                             "git.openPR (Caisson has a tool of that name)"));
    json_decref (s);
    json_decref (mcpc_support_await_state ("repo", "ready"));
    assert_int_equal (mcpc_support_tools_named ("git.openPR", false), 1);
    assert_int_equal (mcpc_support_tools_named ("repo.readFiles", false), 1);
}

/* A call during which the server sends notifications/tools/list_changed
 * on the call's SSE stream (its `grow` adds a tool): by the time the call
 * is answered the catalogue has the new tool, and it can be called.
 * Failed before: grow.grown1 was never listed. */
static void
test_list_changed (void **state)
{
    (void) state;
    json_decref (mcpc_support_await_state ("grow", "ready"));
    const char *name = call_text ("grow.grow", "{}");
    char full[64];
    snprintf (full, sizeof full, "grow.%s", name);
    json_t *s = mcpc_support_listed ("grow");
    assert_true (has_tool (s, full));
    assert_true (has_tool (s, "grow.echo"));
    json_decref (s);
    assert_int_equal (mcpc_support_tools_named (full, false), 1);
    assert_string_equal (call_text (full, "{}"), name);
}

/* A server that forgot its sessions (a restart) gets a new one on the
 * next call, and its tools are listed again: the server counts the
 * tools/list requests. Failed before: no list after the first. */
static void
test_relist_on_new_session (void **state)
{
    (void) state;
    json_decref (mcpc_support_await_state ("grow", "ready"));
    json_t *stats = mcpc_support_ask (s_port, "/stats", false);
    json_int_t lists = json_integer_value (json_object_get (stats, "lists"));
    json_decref (stats);
    json_decref (mcpc_support_ask (s_port, "/forget", true));
    assert_string_equal (call_text ("grow.echo", "{\"word\":\"again\"}"), "again");
    stats = mcpc_support_ask (s_port, "/stats", false);
    assert_true (json_integer_value (json_object_get (stats, "lists")) > lists);
    json_decref (stats);
}

/* A call of an MCP tool cancelled (tools.cancel, as the orchestrator
 * publishes when a run is cancelled) while the server works on it: the
 * call is answered `cancelled` though the server never answers it, the
 * server gets notifications/cancelled with the request's id and the
 * reason, and the server still serves the next call. Failed before: no
 * answer until the call's timeout (600 s), the server told nothing. */
static void
test_cancelled_call (void **state)
{
    (void) state;
    json_decref (mcpc_support_await_state ("life", "ready"));
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_send (c, "tool-runner", support_tools_call_new ("life.slow", "cancel-me-1", false,
                                                            "{}", NULL));
    /* cancelled only once the server works on it */
    json_int_t slow = 0;
    for (int i = 0; i < 300 && !slow; i++) {
        json_t *stats = mcpc_support_ask (s_port, "/stats", false);
        slow = json_integer_value (json_object_get (stats, "slow"));
        json_decref (stats);
        if (!slow)
            usleep (100000);
    }
    assert_int_equal (slow, 1);
    bus_pub_t *pub = bus_pub_new (getenv ("CAISSON_BUS_PUB"));
    assert_non_null (pub);
    proto_msg_t *m = proto_msg_new (PROTO_tools_cancel, NULL);
    proto_set_str (&m->body.tools_cancel.call_id, "cancel-me-1");
    proto_set_str (&m->body.tools_cancel.reason, "the run was cancelled by alice");
    /* published again until answered: the new publisher's first messages
     * may go before its connection is up */
    proto_msg_t *rep = NULL;
    for (int i = 0; i < 30 && !rep; i++) {
        assert_int_equal (bus_pub_send (pub, "tools.cancel.cancel-me-1", m), 0);
        rep = bus_client_recv (c, 1000, NULL);
    }
    proto_msg_destroy (&m);
    bool ok = true;
    json_t *r = support_tools_result (rep, "life.slow", &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "cancelled");
    json_decref (r);
    json_t *stats = mcpc_support_ask (s_port, "/stats", false);
    json_t *told = json_array_get (json_object_get (stats, "cancelled"), 0);
    assert_non_null (told);
    assert_true (json_is_integer (json_object_get (told, "requestId")));
    assert_string_equal (support_json_str (told, "reason"), "the run was cancelled by alice");
    json_decref (stats);
    assert_string_equal (call_text ("life.echo", "{\"word\":\"after\"}"), "after");
    bus_pub_destroy (&pub);
    bus_client_destroy (&c);
}

/* The same on a stdio server (root: in its sandbox): its list_changed,
 * read while tool-runner waits for its answer, re-lists its tools. Failed
 * before: shy.grown never listed. */
static void
test_stdio_list_changed (void **state)
{
    (void) state;
    if (!s_stdio)
        skip ();
    json_t *s = mcpc_support_await_state ("shy", "ready");
    assert_false (has_tool (s, "shy.grown"));
    json_decref (s);
    assert_string_equal (call_text ("shy.grow", "{}"), "grown");
    s = mcpc_support_listed ("shy");
    assert_true (has_tool (s, "shy.grown"));
    json_decref (s);
    assert_string_equal (call_text ("shy.grown", "{}"), "grown here");
}

/* A cancelled call of a stdio server's tool is answered `cancelled`; the
 * server gets notifications/cancelled {requestId, reason} on its stdin,
 * and its late answer to the cancelled request is dropped (the next call
 * gets its own). The call is known to run before the cancel: tool-runner
 * reads its requests in order, so a tools.list sent after the call is
 * answered after the call started. Failed before: no answer (600 s). */
static void
test_stdio_cancelled (void **state)
{
    (void) state;
    if (!s_stdio)
        skip ();
    json_decref (mcpc_support_await_state ("shy", "ready"));
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_send (c, "tool-runner", support_tools_call_new ("shy.slow", "cancel-me-2", false,
                                                            "{}", NULL));
    support_send (c, "tool-runner", proto_msg_new (PROTO_tools_list, NULL));
    proto_msg_t *listed = bus_client_recv (c, 30000, NULL);
    assert_non_null (listed);
    assert_int_equal (listed->type, PROTO_tools_catalogue);
    proto_msg_destroy (&listed);
    bus_pub_t *pub = bus_pub_new (getenv ("CAISSON_BUS_PUB"));
    assert_non_null (pub);
    proto_msg_t *m = proto_msg_new (PROTO_tools_cancel, NULL);
    proto_set_str (&m->body.tools_cancel.call_id, "cancel-me-2");
    proto_set_str (&m->body.tools_cancel.reason, "stopped by bob");
    proto_msg_t *rep = NULL;
    for (int i = 0; i < 30 && !rep; i++) {
        assert_int_equal (bus_pub_send (pub, "tools.cancel.cancel-me-2", m), 0);
        rep = bus_client_recv (c, 1000, NULL);
    }
    proto_msg_destroy (&m);
    bool ok = true;
    json_t *r = support_tools_result (rep, "shy.slow", &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "cancelled");
    json_decref (r);
    const char *told = call_text ("shy.told", "{}");
    print_message ("shy was told: %s\n", told);
    assert_non_null (strstr (told, "'method':'notifications/cancelled'"));
    assert_non_null (strstr (told, "'reason':'stopped by bob'"));
    assert_non_null (strstr (told, "'requestId':"));
    bus_pub_destroy (&pub);
    bus_client_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_failed_start_retried),
        cmocka_unit_test (test_wire_names_refused),
        cmocka_unit_test (test_builtin_names_left_out),
        cmocka_unit_test (test_list_changed),
        cmocka_unit_test (test_relist_on_new_session),
        cmocka_unit_test (test_cancelled_call),
        cmocka_unit_test (test_stdio_list_changed),
        cmocka_unit_test (test_stdio_cancelled),
    };
    return support_run_group_tests (tests, setup, teardown);
}
