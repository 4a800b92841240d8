/* test_mcp_agent: the agent uses an MCP server's tools in a run (issue 17),
 * the whole stack as a user runs it (`caisson up`, real sandboxes: root
 * only, skipped otherwise). tool-runner runs the reference
 * @modelcontextprotocol/server-everything over stdio in a sandbox of its
 * own (CAISSON_MCP_SERVERS, its node_modules tarred from tests/agui); the
 * scripted model (tests/cassettes/mcp_agent/, a directory of their own:
 * other suites' unknown-task answers list every task they find) calls its
 * read-only `echo` and its gated `gzip-file-as-resource` (not annotated
 * read-only: effect `external`), by their wire names over both model
 * protocols.
 *
 * The server waits for a file the test makes in its sandbox before it
 * starts, so the first test begins a run while the server is `starting`:
 * the run's first turn cannot list its tools, and its next turn, once the
 * server is ready, must (the cassette's `offered`). Then, with the server
 * ready: echo's result and the approved (or declined) gzip reach the run's
 * transcript (`caisson show RUN --json`) and the model's next turn (the
 * cassette's `expect`). A second server, remote: the Streamable HTTP one
 * the test starts with the official SDK (tests/mcp/mcpc_http_server.mjs,
 * its bearer token in the entry's headers); the scripted model calls its
 * read-only `add` between echo and gzip, and its structured result reaches
 * the transcript too. */
#include "support.h"
#include "mcp_stack.h"
#include "mcpc_support.h"
#include "bus_client.h"
#include "mpjson.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK "mcp: echo a greeting with the everything server, then gzip a note with it"
#define TASK_STARTING \
    "mcp: open a pull request while the everything server starts, then echo with it"
#define GZIP "everything.gzip-file-as-resource"
/* A server named so that its tools' wire names are awkward: `<it>.echo`
 * goes out as `<it>__echo` among the name's own `_`s;
 * `<it>.get-structured-content` is 64 bytes, 65 on the wire (a dot is
 * two): more than any provider takes. (A name ending in `_`, whose `_.`
 * would read back as `._`, is refused by tool-runner: test_mcp_client_life.) */
#define AWKWARD "awkward_server_name_at_the_wire_limit_xyz"
#define TASK_NAMES "mcp: echo through the server whose name is full of underscores"

#define REMOTE_TOKEN "agent-remote-token"

static char s_out[1 << 18];
static pid_t s_remote;          /* the Streamable HTTP server */

/* Writes the stack's mcp.json into dir: server-everything, started only
 * once /workspace/go exists in its sandbox (release_everything), the
 * same server as AWKWARD (tool-runner starts it after the first), and the
 * remote one on port. */
static void
write_mcp_json (const char *dir, int port)
{
    char tgz[700], path[700];
    snprintf (tgz, sizeof tgz, "%s/everything.tgz", dir);
    support_sh ("cd %s/tests/agui && tar czf %s --exclude='*.d.ts' --exclude='*.map' "
                "--exclude='*.d.mts' --exclude='*.d.cts' --exclude='*.md' node_modules",
                CAISSON_SOURCE_DIR, tgz);
    snprintf (path, sizeof path, "%s/mcp.json", dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fprintf (f, "{\"mcpServers\": {"
                " \"everything\": {\"command\": \"sh\", \"args\": [\"-c\","
                "   \"while [ ! -e /workspace/go ]; do sleep 0.1; done; exec node "
                "/workspace/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
                " stdio\"], \"files\": \"%s\", \"timeoutMs\": 300000},"
                " \"" AWKWARD "\": {\"command\": \"node\", \"args\": [\"/workspace/"
                "node_modules/@modelcontextprotocol/server-everything/dist/index.js\", \"stdio\"],"
                "   \"files\": \"%s\", \"timeoutMs\": 120000},"
                " \"remote\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:%d/json/mcp\","
                "   \"headers\": {\"Authorization\": \"Bearer " REMOTE_TOKEN "\"}}}}", tgz, tgz, port);
    fclose (f);
    setenv ("CAISSON_MCP_SERVERS", path, 1);
}

static int
stack_up (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    const char *dir = support_sandbox_env ("mcp-agent");
    assert_non_null (dir);
    int port = support_free_port ();
    s_remote = mcpc_support_node_up ("mcpc_http_server.mjs", port, REMOTE_TOKEN);
    write_mcp_json (dir, port);
    mcp_stack_up ("mcp_agent");
    return 0;
}

static int
stack_down (void **state)
{
    (void) state;
    support_stack_down ();
    if (s_remote > 0)
        support_stop (s_remote, SIGTERM, 2000);
    return 0;
}

/* The state of server name in `caisson mcp list --json`. */
static char *
server_state (const char *name)
{
    const char *argv[] = { "caisson", "mcp", "list", "--json", NULL };
    assert_int_equal (support_run (argv, s_out, sizeof s_out), 0);
    json_t *list = json_loads (s_out, 0, NULL);
    assert_non_null (list);
    char *state = NULL;
    size_t i;
    json_t *s;
    json_array_foreach (list, i, s)
        if (!strcmp (support_json_str (s, "name"), name))
            state = strdup (support_json_str (s, "state"));
    json_decref (list);
    assert_non_null (state);
    return state;
}

/* Waits (up to 3 minutes: a sandbox, then node) for name's state. */
static void
await_state (const char *name, const char *want)
{
    for (int i = 0; i < 1800; i++) {
        char *state = server_state (name);
        bool there = !strcmp (state, want);
        if (!there && !strcmp (want, "ready") && !strcmp (state, "failed"))
            fail_msg ("MCP server %s failed", name);
        free (state);
        if (there)
            return;
        usleep (100000);
    }
    fail_msg ("MCP server %s never became %s", name, want);
}

/* Lets server-everything start: /workspace/go made in its sandbox, as
 * an operator acting for tool-runner's service user `mcp`. */
static void
release_everything (void)
{
    char *id = mcpc_support_sandbox_of ("everything");
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    free (id);
    json_t *argv = json_pack ("[s,s]", "touch", "/workspace/go");
    mpjson_set (&req->body.sandbox_exec.command, argv, 4);
    json_decref (argv);
    mcpc_support_sandbox_ask (&req);
}

/* The run's stored events (`caisson show RUN --json`), new. */
static json_t *
transcript (const char *run)
{
    const char *argv[] = { "caisson", "show", run, "--json", NULL };
    assert_int_equal (support_run (argv, s_out, sizeof s_out), 0);
    json_t *events = json_array ();
    for (char *line = strtok (s_out, "\n"); line; line = strtok (NULL, "\n")) {
        json_t *ev = json_loads (line, 0, NULL);
        if (ev && json_is_string (json_object_get (ev, "kind")))
            json_array_append_new (events, ev);
        else
            json_decref (ev);   /* the artifacts, budgets and checks after the events */
    }
    return events;
}

/* The data of the stored event of kind naming tool (borrowed from events),
 * asserted to be there. */
static json_t *
event_of (json_t *events, const char *kind, const char *tool)
{
    size_t i;
    json_t *ev;
    json_array_foreach (events, i, ev) {
        json_t *data = json_object_get (ev, "data");
        if (!strcmp (support_json_str (ev, "kind"), kind)
            && !strcmp (support_json_str (data, "name"), tool))
            return data;
    }
    fail_msg ("no %s event of %s in the transcript", kind, tool);
    return NULL;
}

/* A run begun while the server starts: its first turn (git.openPR, held
 * for approval) cannot list the server's tools; the test lets the server
 * start, waits for it to be ready and declines the call; the next turn
 * must offer everything.echo (the cassette checks) and its call works.
 * Failed before: the orchestrator kept the catalogue of its first fetch. */
static void
test_server_starting_when_run_begins (void **state)
{
    (void) state;
    await_state ("everything", "starting");
    char path[1024], run[128], call[128];
    snprintf (path, sizeof path, "%s/starting.jsonl", getenv ("CAISSON_DATA"));
    pid_t pid = mcp_stack_run (TASK_STARTING, NULL, NULL, path);
    support_await_approval (path, run, call, sizeof run);
    char *now = server_state ("everything");
    assert_string_equal (now, "starting");     /* still held: the turn had no echo */
    free (now);
    release_everything ();
    await_state ("everything", "ready");
    const char *decline[] = { "caisson", "decline", run, call, NULL };
    assert_int_equal (support_run (decline, s_out, sizeof s_out), 0);
    mcp_stack_expect_completed (pid, path);
    json_t *events = transcript (run);
    json_t *result = event_of (events, "tool_result", "everything.echo");
    assert_true (json_is_true (json_object_get (result, "ok")));
    assert_string_equal (support_json_str (json_object_get (result, "result"), "text"),
                         "Echo: ready now");
    json_decref (events);
}

/* The whole script on model protocol model (NULL: the default, OpenAI's
 * shape; `replay-anthropic/...`: Anthropic's), the gated call approved
 * or declined. */
static void
run_script (const char *model, bool approve)
{
    char path[1024], run[128], call[128];
    snprintf (path, sizeof path, "%s/%s-%s.jsonl", getenv ("CAISSON_DATA"),
              model ? "anthropic" : "openai", approve ? "approved" : "declined");
    pid_t pid = mcp_stack_run (TASK, NULL, model, path);
    support_await_approval (path, run, call, sizeof run);

    /* echo (readOnlyHint) ran ungated; gzip waits for a human */
    json_t *events = transcript (run);
    json_t *echo = event_of (events, "tool_result", "everything.echo");
    assert_true (json_is_true (json_object_get (echo, "ok")));
    assert_string_equal (support_json_str (json_object_get (echo, "result"), "text"),
                         "Echo: hello from the agent");
    /* the remote server's read-only add, over Streamable HTTP */
    json_t *added = event_of (events, "tool_result", "remote.add");
    assert_true (json_is_true (json_object_get (added, "ok")));
    json_t *sum = json_object_get (json_object_get (json_object_get (added, "result"),
                                                    "structuredContent"), "sum");
    assert_int_equal (json_integer_value (sum), 42);
    json_t *asked = event_of (events, "ask_approval", GZIP);
    assert_string_equal (support_json_str (asked, "toolCallId"), call);
    assert_string_equal (support_json_str (json_object_get (asked, "args"), "name"),
                         "note.txt.gz");
    json_decref (events);

    const char *decide[] = { "caisson", approve ? "approve" : "decline", run, call, NULL };
    assert_int_equal (support_run (decide, s_out, sizeof s_out), 0);
    mcp_stack_expect_completed (pid, path);

    events = transcript (run);
    json_t *echoed = event_of (events, "tool_call", "everything.echo");
    assert_string_equal (support_json_str (json_object_get (echoed, "args"), "message"),
                         "hello from the agent");
    json_t *gz = event_of (events, "tool_result", GZIP);
    json_t *result = json_object_get (gz, "result");
    json_t *complete = NULL;
    size_t i;
    json_t *ev;
    json_array_foreach (events, i, ev)
        if (!strcmp (support_json_str (ev, "kind"), "complete"))
            complete = json_object_get (ev, "data");
    assert_non_null (complete);
    if (approve) {
        /* a declined call never goes out: only an approved one has its tool_call */
        json_t *called = event_of (events, "tool_call", GZIP);
        assert_string_equal (support_json_str (called, "toolCallId"), call);
        assert_true (json_is_true (json_object_get (gz, "ok")));
        char *text = json_dumps (result, JSON_COMPACT);
        assert_non_null (strstr (text, "note.txt.gz"));
        free (text);
        assert_string_equal (support_json_str (complete, "answer"),
                             "Echoed, and the note is compressed as note.txt.gz.");
    }
    else {
        assert_false (json_is_true (json_object_get (gz, "ok")));
        assert_true (json_is_true (json_object_get (result, "declined")));
        assert_string_equal (support_json_str (complete, "answer"),
                             "The compression was declined, so only the echo was done.");
    }
    json_decref (events);
}

/* A call of a tool whose wire name holds `_`s besides the dot's `__`
 * reaches that tool, and a tool whose wire name no provider takes is kept
 * from the model (the scripted model refuses such a request, as providers
 * do; tool-runner leaves it out and says so in `caisson mcp list`), on
 * both protocols. Failed before: the request offered the 65-byte name
 * (HTTP 400). */
static void
test_wire_names (void **state)
{
    (void) state;
    await_state (AWKWARD, "ready");
    const char *list[] = { "caisson", "mcp", "list", NULL };
    assert_int_equal (support_run (list, s_out, sizeof s_out), 0);
    assert_non_null (strstr (s_out, AWKWARD ".echo"));
    assert_null (strstr (s_out, "  " AWKWARD ".get-structured-content"));
    const char *models[] = { NULL, "replay-anthropic/names" };
    for (int m = 0; m < 2; m++) {
        char path[1024];
        snprintf (path, sizeof path, "%s/names-%d.jsonl", getenv ("CAISSON_DATA"), m);
        pid_t pid = mcp_stack_run (TASK_NAMES, NULL, models[m], path);
        mcp_stack_expect_completed (pid, path);
        json_t *ev = support_await_event (path, "tool_result", AWKWARD ".echo");
        char run[64];
        snprintf (run, sizeof run, "%s", support_json_str (ev, "run"));
        json_decref (ev);
        json_t *events = transcript (run);
        event_of (events, "tool_call", AWKWARD ".echo");
        json_t *result = event_of (events, "tool_result", AWKWARD ".echo");
        assert_true (json_is_true (json_object_get (result, "ok")));
        assert_string_equal (support_json_str (json_object_get (result, "result"), "text"),
                             "Echo: through an awkward name");
        json_decref (events);
    }
}

static void
test_approved_openai (void **state)
{
    (void) state;
    run_script (NULL, true);
}

static void
test_declined_openai (void **state)
{
    (void) state;
    run_script (NULL, false);
}

static void
test_approved_anthropic (void **state)
{
    (void) state;
    run_script ("replay-anthropic/mcp", true);
}

static void
test_declined_anthropic (void **state)
{
    (void) state;
    run_script ("replay-anthropic/mcp", false);
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_server_starting_when_run_begins),
        cmocka_unit_test (test_approved_openai),
        cmocka_unit_test (test_declined_openai),
        cmocka_unit_test (test_approved_anthropic),
        cmocka_unit_test (test_declined_anthropic),
        cmocka_unit_test (test_wire_names),
    };
    return support_run_group_tests (tests, stack_up, stack_down);
}
