/* run_stack: the run tests' HTTP stack. See run_stack.h. */
#include "run_stack.h"
#include "support.h"
#include "ui_support.h"
#include "tools_standin.h"

#include "bus_worker.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *s_self;
static pid_t s_pids[6];

static proto_msg_t *
tools_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    static const char *const names[] = { "createSandbox", "repo.clone", "writeFiles",
                                         "runCommand", "git.openPR" };
    if (req->type == PROTO_tools_list)
        return standin_catalogue (req, names, 5, "", 4);
    if (req->type != PROTO_tools_call)
        return proto_error_new (req, PROTO_ERR_unknown_type, "stand-in serves tools only");
    const char *name = req->body.tools_call.name;
    json_t *result = !strcmp (name, "createSandbox")
                   ? json_pack ("{s:s}", "sandboxId", "sb-e2e-1")
                   : !strcmp (name, "git.openPR")
                   ? json_pack ("{s:b,s:s,s:s}", "success", 1, "id", "pr-1", "url", "local:pr-1")
                   : !strcmp (name, "runCommand")
                   ? json_pack ("{s:b,s:i,s:s}", "success", 1, "exitCode", 0, "stdout",
                                "....\nRan 4 tests in 0.001s\n\nOK\n")
                   : !strcmp (name, "writeFiles")
                   ? json_pack ("{s:b,s:[s]}", "success", 1, "filesWritten", "/w/CONTRIBUTING.md")
                   : json_pack ("{s:b}", "success", 1);
    return standin_result (req, result, 1500);
}

int
run_stack_child (int argc, char **argv)
{
    s_self = argv[0];
    if (argc > 1 && !strcmp (argv[1], "tools"))
        return support_serve ("tool-runner", "standin", tools_handler, NULL);
    return -1;
}

/* Whether /healthz says orchestrator, event-log and tool-runner answer. */
static bool
healthy (void)
{
    long st;
    json_t *doc = ui_json ("GET", "/healthz", NULL, NULL, &st);
    json_t *svcs = json_object_get (doc, "services");
    bool up = (st == 200 || st == 503)
              && json_is_true (json_object_get (json_object_get (svcs, "orchestrator"), "ok"))
              && json_is_true (json_object_get (json_object_get (svcs, "event-log"), "ok"))
              && json_is_true (json_object_get (json_object_get (svcs, "tool-runner"), "ok"));
    json_decref (doc);
    return up;
}

bool
run_stack_up (const char *name)
{
    static char url_env[128], port_env[64], dir_env[1024];
    if (proto_type_lookup ("run.start", 9) == PROTO_TYPE_COUNT)
        return false;
    assert_non_null (support_sandbox_env (name));
    ui_pick_port ();
    int port = 20000 + (int) (getpid () % 20000) + (int) (time (NULL) % 7) * 3;
    snprintf (port_env, sizeof port_env, "CAISSON_LLM_REPLAY_PORT=%d", port);
    snprintf (url_env, sizeof url_env, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1", port);
    snprintf (dir_env, sizeof dir_env, "CAISSON_LLM_REPLAY_DIR=%s/services/llm-replay/cassettes",
              CAISSON_SOURCE_DIR);
    const char *replay_env[] = { port_env, dir_env, NULL };
    const char *orch_env[] = { "MODEL=replay/demo", url_env, NULL };
    s_pids[0] = support_spawn ("caisson-bus", NULL);
    s_pids[1] = support_spawn ("caisson-event-log",
                               (const char *[]) { "CAISSON_EVENTLOG_BATCH_MS=150", NULL });
    s_pids[2] = support_spawn ("caisson-llm-replay", replay_env);
    s_pids[3] = support_spawn_self ((const char *[]) { s_self, "tools", NULL });
    s_pids[4] = support_spawn ("caisson-orchestrator", orch_env);
    s_pids[5] = support_spawn ("caisson-ui-bridge", NULL);
    assert_int_equal (ui_wait_ready (), 0);
    for (int i = 0; i < 100; i++) {
        if (healthy ())
            return true;
        usleep (100000);
    }
    fail_msg ("the stack never became healthy");
    return false;
}

void
run_stack_down (void)
{
    if (!s_pids[5])
        return;
    support_expect_clean_exit (s_pids[5]);
    for (int i = 4; i >= 0; i--)
        support_stop (s_pids[i], SIGTERM, 5000);
    memset (s_pids, 0, sizeof s_pids);
}

bool
run_stack_is_up (void)
{
    return s_pids[5] != 0;
}
