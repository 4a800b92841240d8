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

#include "bus_worker.h"
#include "mpjson.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The scripted model's tasks (services/llm-replay/cassettes): one that
 * completes with no approval, one that asks for git.openPR's. */
#define SEED_TASK "write a python reverse_string function with unit tests and run them"
#define APPROVAL_TASK "add a CONTRIBUTING.md to the demo repository and open a pull request"

static const char *s_self;
static pid_t s_pids[6];
static const char *s_alice, *s_bob;

/* ---- the stand-in tool-runner ------------------------------------------- */

static proto_msg_t *
tools_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    if (req->type == PROTO_tools_list) {
        json_t *tools = json_array ();
        static const char *const names[] = { "createSandbox", "repo.clone", "writeFiles",
                                             "runCommand", "git.openPR" };
        for (int i = 0; i < 5; i++)
            json_array_append_new (tools, json_pack ("{s:s,s:s,s:{s:s},s:b}", "name", names[i],
                                   "description", names[i], "inputSchema", "type", "object",
                                   "mutates", i == 4));
        proto_msg_t *rep = proto_msg_new (PROTO_tools_catalogue, req);
        mpjson_set (&rep->body.tools_catalogue.tools, tools, 16);
        json_decref (tools);
        return rep;
    }
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
    proto_msg_t *rep = proto_msg_new (PROTO_tools_result, req);
    proto_tools_result_t *r = &rep->body.tools_result;
    proto_set_str (&r->call_id, req->body.tools_call.call_id);
    proto_set_str (&r->name, name);
    r->ok = true;
    r->duration_us = 1500;
    mpjson_set (&r->result, result, 16);
    json_decref (result);
    return rep;
}

static int
tools_main (void)
{
    return support_serve ("tool-runner", "standin", tools_handler, NULL);
}

/* ---- fixture ------------------------------------------------------------ */

static char s_url_env[128], s_port_env[64], s_dir_env[1024];

static int
setup (void **state)
{
    (void) state;
    if (proto_type_lookup ("run.start", 9) == PROTO_TYPE_COUNT)
        return 0;
    assert_non_null (support_sandbox_env ("mcprun"));
    ui_pick_port ();
    int port = 20000 + (int) (getpid () % 20000) + (int) (time (NULL) % 7) * 3;
    snprintf (s_port_env, sizeof s_port_env, "CAISSON_LLM_REPLAY_PORT=%d", port);
    snprintf (s_url_env, sizeof s_url_env, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1", port);
    snprintf (s_dir_env, sizeof s_dir_env,
              "CAISSON_LLM_REPLAY_DIR=%s/services/llm-replay/cassettes", CAISSON_SOURCE_DIR);
    const char *replay_env[] = { s_port_env, s_dir_env, NULL };
    const char *orch_env[] = { "MODEL=replay/demo", s_url_env, NULL };
    s_pids[0] = support_spawn ("caisson-bus", NULL);
    s_pids[1] = support_spawn ("caisson-event-log",
                               (const char *[]) { "CAISSON_EVENTLOG_BATCH_MS=150", NULL });
    s_pids[2] = support_spawn ("caisson-llm-replay", replay_env);
    s_pids[3] = support_spawn_self ((const char *[]) { s_self, "tools", NULL });
    s_pids[4] = support_spawn ("caisson-orchestrator", orch_env);
    s_pids[5] = support_spawn ("caisson-ui-bridge", NULL);
    assert_int_equal (ui_wait_ready (), 0);
    s_alice = ui_token (0, "alice", 0);
    s_bob = ui_token (1, "bob", 0);
    /* Wait until every service answers health through the bridge. */
    for (int i = 0; i < 100; i++) {
        ui_res_t r = ui_request ("GET", "/healthz", NULL, NULL, NULL);
        long status = r.status;
        ui_res_free (&r);
        if (status == 503 || status == 200) {
            json_t *doc = NULL;
            long st;
            doc = ui_json ("GET", "/healthz", NULL, NULL, &st);
            json_t *svcs = json_object_get (doc, "services");
            bool up = json_is_true (json_object_get (json_object_get (svcs, "orchestrator"), "ok"))
                   && json_is_true (json_object_get (json_object_get (svcs, "event-log"), "ok"))
                   && json_is_true (json_object_get (json_object_get (svcs, "tool-runner"), "ok"));
            json_decref (doc);
            if (up)
                return 0;
        }
        usleep (100000);
    }
    fail_msg ("the stack never became healthy");
    return -1;
}

static int
teardown (void **state)
{
    (void) state;
    if (!s_pids[5])
        return 0;
    support_expect_clean_exit (s_pids[5]);
    for (int i = 4; i >= 0; i--)
        support_stop (s_pids[i], SIGTERM, 5000);
    return 0;
}

static void
test_caisson_run (void **state)
{
    (void) state;
    if (!s_pids[5])
        skip ();
    const char *args[] = { "node", "../mcp/mcp_run.mjs", ui_base, s_alice, s_bob, SEED_TASK,
                           APPROVAL_TASK, NULL };
    assert_int_equal (support_run_node (args), 0);
}

int
main (int argc, char **argv)
{
    s_self = argv[0];
    if (argc > 1 && !strcmp (argv[1], "tools"))
        return tools_main ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_caisson_run),
    };
    return support_run_group_tests (tests, setup, teardown);
}
