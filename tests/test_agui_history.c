/* test_agui_history: what an AG-UI client sends besides its task, through
 * POST /agui over HTTP with the real @ag-ui/client (tests/agui/
 * agui_history.mjs), in front of the real event-log, orchestrator and
 * ui-bridge with the scripted model (tests/cassettes/agui_*.json, whose
 * `expect.fenced` and `earlier` fail the run unless the model was sent
 * what they name) and a stand-in tool-runner (this program re-run as a
 * bus worker): context and state fenced, a resent history not
 * duplicated, client-only messages fenced as client history, an edited
 * stored answer ignored (stored wins, the run's client_input event says
 * so), a client system message kept as data, limits refused with named
 * RUN_ERROR codes, and another user's thread refused. */
#include "support.h"
#include "ui_support.h"

#include "bus_worker.h"
#include "mpjson.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_self;
static pid_t s_pids[6];
static const char *s_alice, *s_bob;
static char s_url_env[128], s_port_env[64], s_dir_env[2048];

/* The stand-in tool-runner's catalogue and its one sandbox. */
static ui_standin_t s_tools = {
    "["
    "{\"name\":\"git.openPR\",\"description\":\"opens a PR\","
    "\"inputSchema\":{\"type\":\"object\"},\"mutates\":true}"
    "]",
    NULL,
};

static int
setup (void **state)
{
    (void) state;
    assert_non_null (support_sandbox_env ("aguihist"));
    ui_pick_port ();
    int port = support_free_port ();
    snprintf (s_port_env, sizeof s_port_env, "CAISSON_LLM_REPLAY_PORT=%d", port);
    snprintf (s_url_env, sizeof s_url_env, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1", port);
    snprintf (s_dir_env, sizeof s_dir_env, "CAISSON_LLM_REPLAY_DIR=%s/tests/cassettes",
              CAISSON_SOURCE_DIR);
    s_pids[0] = support_spawn ("caisson-bus", NULL);
    s_pids[1] = support_spawn ("caisson-event-log", NULL);
    s_pids[2] = support_spawn ("caisson-llm-replay",
                               (const char *[]) { s_port_env, s_dir_env, NULL });
    s_pids[3] = support_spawn_self ((const char *[]) { s_self, "tools", NULL });
    s_pids[4] = support_spawn ("caisson-orchestrator", (const char *[]) {
                                   "MODEL=replay/demo",
                                   "CAISSON_THREAD_TITLES=0", s_url_env, NULL });
    s_pids[5] = support_spawn ("caisson-ui-bridge", NULL);
    assert_int_equal (ui_wait_ready (), 0);
    s_alice = ui_token (0, "alice", 0);
    s_bob = ui_token (1, "bob", 0);
    ui_await_healthy ();
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    for (int i = 5; i >= 0; i--)
        if (s_pids[i])
            support_stop (s_pids[i], SIGTERM, 5000);
    return 0;
}

static void
test_history_context_state (void **state)
{
    (void) state;
    const char *args[] = { "node", "agui_history.mjs", ui_base, s_alice, s_bob, NULL };
    assert_int_equal (support_run_node (args), 0);
}

/* ui-bridge and the orchestrator, which hold the code under test, exit
 * cleanly: in the sanitizer build, no ASan, UBSan or leak report. A test
 * of its own, as a failure in a group teardown does not fail the program. */
static void
test_clean_exit (void **state)
{
    (void) state;
    pid_t ui = s_pids[5], orch = s_pids[4];
    s_pids[5] = s_pids[4] = 0;
    support_expect_clean_exit (ui);
    support_expect_clean_exit (orch);
}

int
main (int argc, char **argv)
{
    s_self = argv[0];
    if (argc > 1 && !strcmp (argv[1], "tools"))
        return support_serve ("tool-runner", "standin", ui_standin_tools, &s_tools);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_history_context_state),
        cmocka_unit_test (test_clean_exit),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
