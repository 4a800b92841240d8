/* test_mcp_user_run: a run of alice's calls her own MCP server's tool (issue
 * 17: "within its limits, a user lists MCP servers"), on the whole stack
 * (`caisson up`, real sandboxes: root only, skipped otherwise) with the
 * scripted model (tests/cassettes/mcp_user/). alice stores an mcp.json
 * with `caisson mcp set` naming a small stdio server (the host's node
 * inside a sandbox of hers); once `caisson mcp list` shows it ready, her
 * run's model calls `mine.hello` and its result reaches the run's events
 * (the cassette checks the model's next turn sees it). The orchestrator
 * asks tool-runner for the run's user's catalogue: before, it asked for
 * the deployment's alone, and the call was of an unknown tool. */
#define _GNU_SOURCE /* asprintf */
#include "support.h"
#include "mcp_stack.h"
#include "mcpc_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK "mcp: greet through my own server"

static char s_out[1 << 18];


static int
stack_up (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    assert_non_null (support_sandbox_env ("mcp-user-run"));
    mcp_stack_up ("mcp_user");
    return 0;
}

static int
stack_down (void **state)
{
    (void) state;
    support_stack_down ();
    return 0;
}

/* The state of alice's server name in `caisson mcp list --user alice`,
 * or "" when not listed. */
static const char *
state_of (const char *name)
{
    static char state[32];
    const char *argv[] = { "caisson", "mcp", "list", "--json", "--user", "alice", NULL };
    assert_int_equal (support_run (argv, s_out, sizeof s_out), 0);
    json_t *list = json_loads (s_out, 0, NULL);
    assert_non_null (list);
    state[0] = '\0';
    size_t i;
    json_t *s;
    json_array_foreach (list, i, s)
        if (!strcmp (support_json_str (s, "name"), name)
            && !strcmp (support_json_str (s, "scope"), "user"))
            snprintf (state, sizeof state, "%s", support_json_str (s, "state"));
    json_decref (list);
    return state;
}

static void
test_run_calls_own_server (void **state)
{
    (void) state;
    char path[1024];
    snprintf (path, sizeof path, "%s/alice-mcp.json", getenv ("CAISSON_DATA"));
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fprintf (f, "{\"mcpServers\": {\"mine\": {\"command\": \"node\", \"args\": [\"-e\", "
             "\"%s\"], \"timeoutMs\": 20000}}}", MCPC_SUPPORT_HELLO_SERVER);
    fclose (f);
    const char *set[] = { "caisson", "mcp", "set", path, "--user", "alice", NULL };
    assert_int_equal (support_run (set, s_out, sizeof s_out), 0);
    int i = 0;
    while (strcmp (state_of ("mine"), "ready") && i++ < 1200) {
        if (!strcmp (state_of ("mine"), "failed"))
            fail_msg ("alice's server failed: %s", s_out);
        usleep (100000);
    }
    assert_string_equal (state_of ("mine"), "ready");

    char out[1024];
    snprintf (out, sizeof out, "%s/alice-run.jsonl", getenv ("CAISSON_DATA"));
    pid_t pid = mcp_stack_run (TASK, "alice", NULL, out);
    mcp_stack_expect_completed (pid, out);
    json_t *ev = support_await_event (out, "tool_result", "mine.hello");
    json_t *data = json_object_get (ev, "data");
    print_message ("mine.hello in alice's run: %s\n",
                   support_json_str (json_object_get (data, "result"), "text"));
    assert_true (json_is_true (json_object_get (data, "ok")));
    assert_non_null (strstr (support_json_str (json_object_get (data, "result"), "text"),
                             "hello alice from sandbox"));
    json_decref (ev);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_run_calls_own_server),
    };
    return cmocka_run_group_tests (tests, stack_up, stack_down);
}
