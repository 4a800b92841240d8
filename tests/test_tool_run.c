/* test_tool_run: tool runs (run.start.tool_call) through the bus: the
 * real broker and orchestrator, with orch_fixture standing in for
 * tool-runner and event-log. A tool run calls no model: its one call is
 * gated by the policy like any run's, and the run ends with its result.
 * Runs as `test_tool_run fixture` too, which is the fixture process. */
#include "support.h"
#include "bus_client.h"
#include "mpjson.h"
#include "orch_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_self[1024];
static const char *s_dir;
static pid_t s_bus, s_fixture, s_orch;
static bus_client_t *s_client;

typedef struct {
    char status[32];
    char reason[512];
    char answer[2048];
    char task[256];
    char pending_call[128];
} info_t;

static pid_t
spawn_orchestrator (void)
{
    /* the model is never called: nothing answers at its URL */
    static const char *const env[] = { "MODEL=replay/demo",
                                       "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:9/v1", NULL };
    return support_spawn ("caisson-orchestrator", env);
}

static proto_msg_t *
request_of (const char *service, proto_msg_t *req)
{
    proto_msg_t *rep = bus_client_request (s_client, service, req);
    proto_msg_destroy (&req);
    return rep;
}

static proto_msg_t *
request (proto_msg_t *req)
{
    return request_of ("orchestrator", req);
}

static void
await_service (const char *service)
{
    for (int i = 0; i < 200; i++) {
        proto_msg_t *rep = request_of (service, proto_msg_new (PROTO_health_req, NULL));
        bool up = rep && rep->type == PROTO_health_rep;
        proto_msg_destroy (&rep);
        if (up)
            return;
        usleep (50000);
    }
    fail_msg ("%s never answered", service);
}

static int
setup (void **state)
{
    (void) state;
    assert_non_null (s_dir = support_sandbox_env ("toolrun"));
    s_bus = support_spawn ("caisson-bus", NULL);
    /* the fixture's createSandbox fails at once: a tool's own error */
    setenv ("CAISSON_SANDBOX_MAX_PER_USER", "0", 1);
    s_fixture = support_spawn_self ((const char *[]) { s_self, "fixture", NULL });
    unsetenv ("CAISSON_SANDBOX_MAX_PER_USER");
    s_orch = spawn_orchestrator ();
    s_client = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (s_client, 1000, 2);
    await_service ("tool-runner");
    await_service ("orchestrator");
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    proto_set_identity (NULL, false);
    bus_client_destroy (&s_client);
    support_expect_clean_exit (s_orch);
    support_stop (s_fixture, SIGTERM, 5000);
    support_stop (s_bus, SIGTERM, 5000);
    /* every event appended (run_started's toolCall too) was as declared */
    char path[1024], why[600] = "";
    snprintf (path, sizeof path, "%s/drift.log", s_dir);
    FILE *f = fopen (path, "r");
    if (f && fgets (why, sizeof why, f))
        fail_msg ("an event the orchestrator appended is not as declared: %s", why);
    if (f)
        fclose (f);
    return 0;
}

/* Sends run.start with tool_call (JSON text; task may be NULL): the run's
 * id into run_id, or the error's code and message into why (returned 0
 * then -1). */
static int
start_tool (const char *task, const char *tool_call, char run_id[128], char *why, size_t len)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->body.run_start.task, task);
    json_t *tc = json_loads (tool_call, 0, NULL);
    assert_non_null (tc);
    mpjson_set (&req->body.run_start.tool_call, tc, 32);
    json_decref (tc);
    proto_msg_t *rep = request (req);
    assert_non_null (rep);
    int rc = rep->type == PROTO_run_started ? 0 : -1;
    if (rc == 0)
        snprintf (run_id, 128, "%s", rep->body.run_started.run_id);
    else
        snprintf (why, len, "%s: %s", rep->body.error.code, rep->body.error.message);
    proto_msg_destroy (&rep);
    return rc;
}

static void
get_info (const char *run_id, info_t *info)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_get, NULL);
    proto_set_str (&req->body.run_get.run_id, run_id);
    proto_msg_t *rep = request (req);
    memset (info, 0, sizeof *info);
    if (!rep || rep->type != PROTO_run_info) {
        proto_msg_destroy (&rep);
        return;
    }
    const proto_run_info_t *b = &rep->body.run_info;
    snprintf (info->status, sizeof info->status, "%s", b->status);
    snprintf (info->reason, sizeof info->reason, "%s", b->reason ?: "");
    snprintf (info->answer, sizeof info->answer, "%s", b->answer ?: "");
    snprintf (info->task, sizeof info->task, "%s", b->task ?: "");
    char why[64];
    json_t *pending = b->pending.size ? mpjson_decode (b->pending.data, b->pending.size, 16, why,
                                                       sizeof why) : NULL;
    snprintf (info->pending_call, sizeof info->pending_call, "%s",
              json_string_value (json_object_get (pending, "toolCallId")) ?: "");
    json_decref (pending);
    proto_msg_destroy (&rep);
}

static void
await_status (const char *run_id, const char *want, info_t *info)
{
    for (int i = 0; i < 200; i++) {
        get_info (run_id, info);
        if (strcmp (info->status, want) == 0)
            return;
        usleep (50000);
    }
    fail_msg ("run %s: status %s (%s), wanted %s", run_id, info->status, info->reason, want);
}

/* run.approve or run.decline as the current identity: the reply's type,
 * and its error code into code. */
static proto_type_t
decide (const char *run_id, const char *call, bool approve, const char *reason, char code[64])
{
    proto_msg_t *req = proto_msg_new (approve ? PROTO_run_approve : PROTO_run_decline, NULL);
    proto_set_str (&req->body.run_approve.run_id, run_id);
    proto_set_str (&req->body.run_approve.tool_call_id, call);
    proto_set_str (&req->body.run_approve.reason, reason);
    proto_msg_t *rep = request (req);
    assert_non_null (rep);
    proto_type_t t = rep->type;
    snprintf (code, 64, "%s", t == PROTO_error ? rep->body.error.code : "");
    proto_msg_destroy (&rep);
    return t;
}

#define PR_CALL "{\"name\":\"git.openPR\",\"args\":{\"title\":\"t\"}}"

static void
test_ungated_completes_with_result (void **state)
{
    (void) state;
    char id[128], why[512];
    info_t info;
    proto_set_identity ("alice", false);
    assert_int_equal (start_tool (NULL, "{\"name\":\"runCommand\",\"args\":{\"command\":"
                                  "\"echo hi\"}}", id, why, sizeof why), 0);
    await_status (id, "completed", &info);
    json_t *answer = json_loads (info.answer, 0, NULL);
    assert_non_null (answer);
    assert_string_equal (json_string_value (json_object_get (answer, "stdout")), "hi\n");
    assert_string_equal (json_string_value (json_object_get (answer, "command")), "echo hi");
    json_decref (answer);
    assert_string_equal (info.task, "tool call runCommand");
    /* a tool's own error fails the run with it */
    assert_int_equal (start_tool ("make a box", "{\"name\":\"createSandbox\"}", id, why,
                                  sizeof why), 0);
    await_status (id, "failed", &info);
    assert_non_null (strstr (info.reason, "too_many_sandboxes"));
    assert_string_equal (info.task, "make a box");
}

static void
test_gated_approve_and_decline (void **state)
{
    (void) state;
    char a[128], d[128], why[512], code[64];
    info_t info;
    proto_set_identity ("alice", false);
    assert_int_equal (start_tool (NULL, PR_CALL, a, why, sizeof why), 0);
    assert_int_equal (start_tool (NULL, PR_CALL, d, why, sizeof why), 0);
    await_status (a, "awaiting_approval", &info);
    assert_string_equal (info.pending_call, "call_tool");
    await_status (d, "awaiting_approval", &info);
    /* bob cannot decide alice's */
    proto_set_identity ("bob", false);
    assert_int_equal (decide (a, "call_tool", true, NULL, code), PROTO_error);
    assert_string_equal (code, "not_found");
    proto_set_identity ("alice", false);
    get_info (a, &info);
    assert_string_equal (info.status, "awaiting_approval");

    assert_int_equal (decide (a, "call_tool", true, NULL, code), PROTO_run_info);
    await_status (a, "completed", &info);
    assert_non_null (strstr (info.answer, "\"url\":\"local:pr-1\""));
    assert_int_equal (decide (d, "call_tool", false, "not today", code), PROTO_run_info);
    await_status (d, "failed", &info);
    assert_string_equal (info.reason, "declined by alice: not today");
}

static void
test_restart_keeps_it_waiting (void **state)
{
    (void) state;
    char id[128], why[512], code[64];
    info_t info;
    proto_set_identity ("alice", false);
    assert_int_equal (start_tool (NULL, PR_CALL, id, why, sizeof why), 0);
    await_status (id, "awaiting_approval", &info);
    usleep (200000);            /* snapshots are written within 20 ms (runstore.c) */
    support_stop (s_orch, SIGKILL, 5000);
    s_orch = spawn_orchestrator ();
    await_service ("orchestrator");
    await_status (id, "awaiting_approval", &info);
    assert_string_equal (info.pending_call, "call_tool");
    assert_int_equal (decide (id, "call_tool", true, NULL, code), PROTO_run_info);
    await_status (id, "completed", &info);
    assert_non_null (strstr (info.answer, "local:pr-1"));
}

static void
test_refused_at_start (void **state)
{
    (void) state;
    char id[128], why[512];
    proto_set_identity ("alice", false);
    assert_int_equal (start_tool (NULL, "{\"name\":\"noSuchTool\",\"args\":{}}", id, why,
                                  sizeof why), -1);
    assert_non_null (strstr (why, "bad_value: tool_call.name: no tool 'noSuchTool'"));
    assert_int_equal (start_tool (NULL, "{\"name\":\"runCommand\",\"args\":[1]}", id, why,
                                  sizeof why), -1);
    assert_non_null (strstr (why, "tool_call.args: expected a JSON map"));
    assert_int_equal (start_tool (NULL, "{\"args\":{}}", id, why, sizeof why), -1);
    assert_non_null (strstr (why, "tool_call: expected {name, args}"));
    /* without a tool call, the task is still required */
    proto_msg_t *rep = request (proto_msg_new (PROTO_run_start, NULL));
    assert_int_equal (rep->type, PROTO_error);
    assert_non_null (strstr (rep->body.error.message, "task: required"));
    proto_msg_destroy (&rep);
}

int
main (int argc, char **argv)
{
    if (argc == 2 && strcmp (argv[1], "fixture") == 0)
        return orch_fixture_main ();
    ssize_t n = readlink ("/proc/self/exe", s_self, sizeof s_self - 1);
    assert_true (n > 0);
    s_self[n] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_ungated_completes_with_result),
        cmocka_unit_test (test_gated_approve_and_decline),
        cmocka_unit_test (test_restart_keeps_it_waiting),
        cmocka_unit_test (test_refused_at_start),
    };
    return support_run_group_tests (tests, setup, teardown);
}
