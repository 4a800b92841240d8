/* test_mcp_e2e: issue 17's "done when", server side: an MCP client given
 * only Caisson's URL and a token runs a coding task end to end on the
 * whole stack (`caisson up --detach`: the real services, real sandboxes,
 * the scripted model): tests/mcp/mcp_e2e.mjs drives the official SDK
 * client; then the seed run's transcript, read with `caisson show`, holds
 * the unit tests' real output from the sandbox. Needs root (sandboxes). */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEED "write a python reverse_string function with unit tests and run them"
#define PR_TASK "add a CONTRIBUTING.md to the demo repository and open a pull request"

static char s_out[1 << 18];
static bool s_up;

static int
stack_up (void **state)
{
    (void) state;
    if (geteuid () != 0)
        return 0;
    if (!support_sandbox_env ("mcpe2e"))
        return -1;
    support_stack_up (support_free_port (), support_free_port ());
    s_up = true;
    return 0;
}

static int
stack_down (void **state)
{
    (void) state;
    if (s_up)
        support_stack_down ();
    return 0;
}

/* A new token for user, from `caisson token create` (its first line). */
static char *
token (const char *user)
{
    const char *argv[] = { "caisson", "token", "create", "--user", user, NULL };
    assert_int_equal (support_run (argv, s_out, sizeof s_out), 0);
    s_out[strcspn (s_out, "\n")] = '\0';
    return strdup (s_out);
}

static void
test_task_over_mcp (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    char *alice = token ("alice"), *bob = token ("bob"), base[128], runfile[1100];
    snprintf (base, sizeof base, "http://%s", getenv ("CAISSON_HTTP"));
    snprintf (runfile, sizeof runfile, "%s/seed-run", getenv ("CAISSON_DATA"));
    const char *args[] = { "node", "../mcp/mcp_e2e.mjs", base, alice, bob, SEED, PR_TASK,
                           runfile, NULL };
    assert_int_equal (support_run_node (args), 0);
    FILE *f = fopen (runfile, "r");
    assert_non_null (f);
    char run[64] = "";
    assert_int_equal (fscanf (f, "%63s", run), 1);
    fclose (f);
    /* The agent really ran the tests in a sandbox: unittest's own words. */
    const char *show[] = { "caisson", "show", run, "--json", NULL };
    assert_int_equal (support_run (show, s_out, sizeof s_out), 0);
    if (!strstr (s_out, "Ran 4 tests") || !strstr (s_out, "\"user\":\"alice\""))
        fail_msg ("run %s's transcript lacks the tests' output or alice:\n%.2000s", run, s_out);
    free (alice);
    free (bob);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_task_over_mcp),
    };
    return support_run_group_tests (tests, stack_up, stack_down);
}
