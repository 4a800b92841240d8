/* test_mcp_run: caisson_run over /mcp (issue 17). ui-bridge in front of the
 * real orchestrator, driven by the scripted model (caisson-llm-replay) with
 * the real event-log, and a stand-in tool-runner (this program re-run as a
 * bus worker) answering tools with canned results, so no sandbox is
 * needed. The official MCP TypeScript SDK client (tests/mcp/mcp_run.mjs),
 * in both eras: the seed task's run streams progress and returns its
 * answer, status and artifacts; a run awaiting approval says so in its
 * progress and goes on once alice approves it over Caisson's API; a
 * client's cancellation cancels the run; bob cannot continue alice's
 * thread. Skipped when this build's catalogue has no `run.start`. */
#include "support.h"
#include "ui_support.h"
#include "run_stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The scripted model's tasks (services/llm-replay/cassettes): one that
 * completes with no approval, one that asks for git.openPR's. */
#define SEED_TASK "write a python reverse_string function with unit tests and run them"
#define APPROVAL_TASK "add a CONTRIBUTING.md to the demo repository and open a pull request"

static const char *s_alice, *s_bob;

static int
setup (void **state)
{
    (void) state;
    if (run_stack_up ("mcprun")) {
        s_alice = ui_token (0, "alice", 0);
        s_bob = ui_token (1, "bob", 0);
    }
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    run_stack_down ();
    return 0;
}

static void
test_caisson_run (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    const char *args[] = { "node", "../mcp/mcp_run.mjs", ui_base, s_alice, s_bob, SEED_TASK,
                           APPROVAL_TASK, NULL };
    assert_int_equal (support_run_node (args), 0);
}

int
main (int argc, char **argv)
{
    int rc = run_stack_child (argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_caisson_run),
    };
    return support_run_group_tests (tests, setup, teardown);
}
