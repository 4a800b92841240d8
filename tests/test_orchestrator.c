/* test_orchestrator: the agent loop through its public interface: the
 * real broker, orchestrator and scripted model (caisson-llm-replay, over
 * real HTTP in both wire protocols), with orch_fixture standing in for
 * tool-runner and event-log. Runs as `test_orchestrator fixture` too,
 * which is the fixture process. */
#include "support.h"
#include "bus_client.h"
#include "bus_tap.h"
#include "mpjson.h"
#include "orch_fixture.h"
#include "runstore.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEED "write a python reverse_string function with unit tests and run them"
#define PR_TASK "add a CONTRIBUTING.md to the demo repository and open a pull request"
#define CHOICE_TASK "ask me which colour the new button should be, then tell me the CSS for it"
#define CHOICE_TOOLS "[{\"name\":\"confirmChoice\",\"description\":\"Ask the person to pick\"," \
                     "\"parameters\":{\"type\":\"object\",\"properties\":{\"question\":" \
                     "{\"type\":\"string\"}}}}]"

static char s_self[1024];
static char s_port_env[64], s_url_env[128];
static const char *s_dir;
static pid_t s_bus, s_fixture, s_replay, s_orch;
static bus_client_t *s_client;

typedef struct {
    char status[32];
    char reason[512];
    char answer[2048];
    char pending_call[128];
    uint64_t steps, tool_calls;
    int64_t seconds;            /* usage.seconds: -1 when run.info leaves it out */
} info_t;

static pid_t
spawn_fixture (void)
{
    return support_spawn_self ((const char *[]) { s_self, "fixture", NULL });
}

static pid_t
spawn_orchestrator (void)
{
    /* RUN_ALLOW_AUTO: an operator's run may add autoApprove patterns;
     * TEST_COMMAND: verify.json's runCommand is the configured test command */
    static const char *const env[] = { "CAISSON_LLM_TIMEOUT_MS=10000", "MODEL=replay/demo",
                                       "CAISSON_RUN_ALLOW_AUTO=1",
                                       "CAISSON_TOOLS_TEST_COMMAND=python3 -m unittest",
                                       "CAISSON_RUN_SANDBOX_IDLE_S=2", NULL };
    const char *e[] = { env[0], env[1], env[2], env[3], env[4], s_url_env, NULL };
    return support_spawn ("caisson-orchestrator", e);
}

static proto_msg_t *
request (const char *service, proto_msg_t *req)
{
    proto_msg_t *rep = bus_client_request (s_client, service, req);
    proto_msg_destroy (&req);
    return rep;
}

static void
await_service (const char *service)
{
    for (int i = 0; i < 200; i++) {
        proto_msg_t *rep = request (service, proto_msg_new (PROTO_health_req, NULL));
        bool up = rep && rep->type == PROTO_health_rep;
        proto_msg_destroy (&rep);
        if (up)
            return;
        usleep (50000);
    }
    fail_msg ("%s never answered", service);
}

static void
stack_up (void)
{
    assert_non_null (s_dir = support_sandbox_env ("orch"));
    /* below the kernel's ephemeral range (32768 up), where no client
     * connection can be holding it */
    int port = 10000 + (int) (getpid () % 20000) + (int) (time (NULL) % 7) * 3;
    snprintf (s_port_env, sizeof s_port_env, "CAISSON_LLM_REPLAY_PORT=%d", port);
    snprintf (s_url_env, sizeof s_url_env, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1", port);
    static char dir_env[1024];
    snprintf (dir_env, sizeof dir_env, "CAISSON_LLM_REPLAY_DIR=%s/tests/cassettes:%s/services/"
              "llm-replay/cassettes", CAISSON_SOURCE_DIR, CAISSON_SOURCE_DIR);
    const char *renv[] = { s_port_env, dir_env, NULL };
    s_bus = support_spawn ("caisson-bus", NULL);
    s_replay = support_spawn ("caisson-llm-replay", renv);
    s_fixture = spawn_fixture ();
    s_orch = spawn_orchestrator ();
    s_client = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (s_client, 1000, 2);
    await_service ("tool-runner");
    await_service ("orchestrator");
}

static void
stack_down (void)
{
    bus_client_destroy (&s_client);
    support_expect_clean_exit (s_orch);
    support_stop (s_replay, SIGTERM, 5000);
    support_stop (s_fixture, SIGTERM, 5000);
    support_stop (s_bus, SIGTERM, 5000);
    /* every event the runs appended was as proto/events.def declares */
    char path[1024], why[600] = "";
    snprintf (path, sizeof path, "%s/drift.log", s_dir);
    FILE *f = fopen (path, "r");
    if (f && fgets (why, sizeof why, f))
        fail_msg ("an event the orchestrator appended is not as declared: %s", why);
    if (f)
        fclose (f);
}

/* Starts a run; budgets and policy are JSON text or NULL. */
static void
start_run (const char *task, const char *model, const char *budgets, const char *policy,
           const char *thread, char run_id[128])
{
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->body.run_start.task, task);
    proto_set_str (&req->body.run_start.model, model);
    proto_set_str (&req->body.run_start.thread_id, thread);
    json_t *b = budgets ? json_loads (budgets, 0, NULL) : NULL;
    json_t *p = policy ? json_loads (policy, 0, NULL) : NULL;
    if (b)
        mpjson_set (&req->body.run_start.budgets, b, 8);
    if (p)
        mpjson_set (&req->body.run_start.policy, p, 8);
    json_decref (b);
    json_decref (p);
    proto_msg_t *rep = request ("orchestrator", req);
    assert_non_null (rep);
    if (rep->type != PROTO_run_started)
        fail_msg ("run.start answered %s: %s", proto_type_name (rep->type),
                  rep->type == PROTO_error ? rep->body.error.message : "");
    snprintf (run_id, 128, "%s", rep->body.run_started.run_id);
    proto_msg_destroy (&rep);
}

/* Sends run.start for task with policy (JSON text), expecting an error:
 * returns its code, its message into why. */
static const char *
start_error (const char *task, const char *policy, char *why, size_t whylen)
{
    static char code[64];
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->body.run_start.task, task);
    json_t *p = json_loads (policy, 0, NULL);
    mpjson_set (&req->body.run_start.policy, p, 8);
    json_decref (p);
    proto_msg_t *rep = request ("orchestrator", req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_error);
    snprintf (code, sizeof code, "%s", rep->body.error.code);
    snprintf (why, whylen, "%s", rep->body.error.message);
    proto_msg_destroy (&rep);
    return code;
}

/* Sends run.start with client tools (JSON text); returns the reply. */
static proto_msg_t *
start_with_tools (const char *task, const char *model, const char *budgets, const char *tools)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->body.run_start.task, task);
    proto_set_str (&req->body.run_start.model, model);
    json_t *t = json_loads (tools, 0, NULL), *b = budgets ? json_loads (budgets, 0, NULL) : NULL;
    assert_non_null (t);
    mpjson_set (&req->body.run_start.client_tools, t, 16);
    if (b)
        mpjson_set (&req->body.run_start.budgets, b, 8);
    json_decref (t);
    json_decref (b);
    proto_msg_t *rep = request ("orchestrator", req);
    assert_non_null (rep);
    return rep;
}

/* Sends run.tool_result; returns the reply. */
static proto_msg_t *
tool_result (const char *run_id, const char *call, const char *content, bool failed)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_tool_result, NULL);
    proto_set_str (&req->body.run_tool_result.run_id, run_id);
    proto_set_str (&req->body.run_tool_result.tool_call_id, call);
    proto_set_str (&req->body.run_tool_result.content, content);
    req->body.run_tool_result.failed = failed;
    proto_msg_t *rep = request ("orchestrator", req);
    assert_non_null (rep);
    return rep;
}

static int
get_info (const char *run_id, info_t *info)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_get, NULL);
    proto_set_str (&req->body.run_get.run_id, run_id);
    proto_msg_t *rep = request ("orchestrator", req);
    memset (info, 0, sizeof *info);
    if (!rep || rep->type != PROTO_run_info) {
        proto_msg_destroy (&rep);
        return -1;
    }
    const proto_run_info_t *b = &rep->body.run_info;
    snprintf (info->status, sizeof info->status, "%s", b->status);
    snprintf (info->reason, sizeof info->reason, "%s", b->reason ? b->reason : "");
    snprintf (info->answer, sizeof info->answer, "%s", b->answer ? b->answer : "");
    char why[64];
    json_t *pending = b->pending.size ? mpjson_decode (b->pending.data, b->pending.size, 16, why,
                                                       sizeof why) : NULL;
    snprintf (info->pending_call, sizeof info->pending_call, "%s",
              json_string_value (json_object_get (pending, "toolCallId")) ?: "");
    json_decref (pending);
    json_t *usage = mpjson_decode (b->usage.data, b->usage.size, 16, why, sizeof why);
    info->steps = (uint64_t) json_integer_value (json_object_get (usage, "steps"));
    info->tool_calls = (uint64_t) json_integer_value (json_object_get (usage, "toolCalls"));
    json_t *seconds = json_object_get (usage, "seconds");
    info->seconds = json_is_integer (seconds) ? json_integer_value (seconds) : -1;
    json_decref (usage);
    proto_msg_destroy (&rep);
    return 0;
}

/* run.info's budgets and checks for run_id (new values; NULL when absent). */
static void
get_state (const char *run_id, json_t **budgets, json_t **checks)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_get, NULL);
    proto_set_str (&req->body.run_get.run_id, run_id);
    proto_msg_t *rep = request ("orchestrator", req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_run_info);
    char why[64];
    const proto_run_info_t *b = &rep->body.run_info;
    *budgets = b->budgets.size ? mpjson_decode (b->budgets.data, b->budgets.size, 16, why,
                                                sizeof why) : NULL;
    *checks = b->checks.size ? mpjson_decode (b->checks.data, b->checks.size, 16, why,
                                              sizeof why) : NULL;
    proto_msg_destroy (&rep);
}

static json_int_t
int_at (const json_t *v, const char *a, const char *b)
{
    return json_integer_value (json_object_get (json_object_get (v, a), b));
}

static bool
finished (const char *status)
{
    return strcmp (status, "running") != 0 && strcmp (status, "awaiting_approval") != 0
        && strcmp (status, "awaiting_tool_result") != 0;
}

/* Waits until the run's status is want ("" for any finished status). */
static void
await_status (const char *run_id, const char *want, info_t *info)
{
    for (int i = 0; i < 600; i++) {
        if (get_info (run_id, info) == 0
            && (*want ? strcmp (info->status, want) == 0 : finished (info->status)))
            return;
        if (get_info (run_id, info) == 0 && *want && finished (info->status))
            break;
        usleep (50000);
    }
    fail_msg ("run %s: status %s (%s), wanted %s", run_id, info->status, info->reason,
              *want ? want : "finished");
}

static int
count_lines (const char *file, const char *needle)
{
    char path[1024], line[1024];
    snprintf (path, sizeof path, "%s/%s", s_dir, file);
    FILE *f = fopen (path, "r");
    int n = 0;
    while (f && fgets (line, sizeof line, f))
        n += strstr (line, needle) != NULL;
    if (f)
        fclose (f);
    return n;
}

/* How many events of kind the run has sent, waiting a little for the
 * wanted count: events are appended asynchronously to the run. */
static int
events_of (const char *run_id, const char *kind, int want)
{
    char file[256], needle[64];
    snprintf (file, sizeof file, "events-%s.log", run_id);
    snprintf (needle, sizeof needle, "%s\n", kind);
    int n = 0;
    for (int i = 0; i < 100 && (n = count_lines (file, needle)) != want; i++)
        usleep (50000);
    return n;
}

/* ---- tests ---------------------------------------------------------------- */

static void
seed_with (const char *model)
{
    stack_up ();
    char id[128];
    info_t info;
    start_run (SEED, model, NULL, NULL, NULL, id);
    await_status (id, "", &info);
    assert_string_equal (info.status, "completed");
    assert_non_null (strstr (info.answer, "ran 4 tests: OK"));
    assert_int_equal (info.steps, 4);
    assert_int_equal (info.tool_calls, 3);
    assert_int_equal (count_lines ("tools.log", "writeFiles"), 1);
    assert_int_equal (count_lines ("tools.log", "runCommand"), 1);
    assert_int_equal (events_of (id, "run_started", 1), 1);
    assert_int_equal (events_of (id, "tool_call", 3), 3);
    assert_int_equal (events_of (id, "tool_result", 3), 3);
    assert_int_equal (events_of (id, "plan", 1), 1);
    assert_int_equal (events_of (id, "complete", 1), 1);
    stack_down ();
}

static void
test_seed_openai (void **state)
{
    (void) state;
    seed_with ("replay/demo");
}

static void
test_seed_anthropic (void **state)
{
    (void) state;
    seed_with ("replay-anthropic/demo");
}

static void
decide (const char *run_id, const char *call, bool approve, const char *reason)
{
    proto_msg_t *req = proto_msg_new (approve ? PROTO_run_approve : PROTO_run_decline, NULL);
    proto_set_str (&req->body.run_approve.run_id, run_id);
    proto_set_str (&req->body.run_approve.tool_call_id, call);
    proto_set_str (&req->body.run_approve.reason, reason);
    proto_msg_t *rep = request ("orchestrator", req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_run_info);
    proto_msg_destroy (&rep);
}

static void
test_approve_and_decline (void **state)
{
    (void) state;
    stack_up ();
    char a[128], d[128];
    info_t info;
    start_run (PR_TASK, NULL, NULL, NULL, NULL, a);
    start_run (PR_TASK, NULL, NULL, NULL, NULL, d);
    await_status (a, "awaiting_approval", &info);
    assert_string_equal (info.pending_call, "call_4_1");
    await_status (d, "awaiting_approval", &info);
    assert_int_equal (count_lines ("tools.log", "git.openPR"), 0);
    /* the approver is shown the change: a dry run as the run's user, per call */
    char preview[300];
    snprintf (preview, sizeof preview, "git.openPR %s/call_4_1/preview", a);
    assert_int_equal (count_lines ("previews.log", preview), 1);
    assert_int_equal (count_lines ("drift.log", "ask_approval"), 0);

    /* a wrong call id is refused and changes nothing */
    proto_msg_t *req = proto_msg_new (PROTO_run_approve, NULL);
    proto_set_str (&req->body.run_approve.run_id, a);
    proto_set_str (&req->body.run_approve.tool_call_id, "call_9_9");
    proto_msg_t *rep = request ("orchestrator", req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "conflict");
    proto_msg_destroy (&rep);

    decide (d, "call_4_1", false, "not today");
    await_status (d, "", &info);
    assert_string_equal (info.status, "completed");
    assert_non_null (strstr (info.answer, "not opened (not today)"));
    assert_int_equal (count_lines ("tools.log", "git.openPR"), 0);
    assert_int_equal (events_of (d, "approval_decision", 1), 1);

    decide (a, "call_4_1", true, NULL);
    await_status (a, "", &info);
    assert_string_equal (info.status, "completed");
    assert_non_null (strstr (info.answer, "local:pr-1"));
    assert_int_equal (count_lines ("tools.log", "git.openPR"), 1);

    /* policy: auto-approve by pattern (loosening: an operator's choice
     * only), and never */
    char refused[128];
    assert_string_equal (start_error (PR_TASK, "{\"autoApprove\":[\"git.*\"]}", refused,
                                      sizeof refused), "bad_value");
    assert_non_null (strstr (refused, "policy.autoApprove"));
    proto_set_identity ("ops", true);
    start_run (PR_TASK, NULL, NULL, "{\"autoApprove\":[\"git.*\"]}", NULL, a);
    await_status (a, "", &info);
    proto_set_identity (NULL, false);
    assert_string_equal (info.status, "completed");
    assert_int_equal (count_lines ("tools.log", "git.openPR"), 2);
    start_run (PR_TASK, NULL, NULL, "{\"approval\":\"never\"}", NULL, d);
    await_status (d, "", &info);
    assert_string_equal (info.status, "completed");
    assert_int_equal (count_lines ("tools.log", "git.openPR"), 2);
    stack_down ();
}

static void
expect_exhausted (const char *task, const char *budgets, const char *name)
{
    char id[128];
    info_t info;
    start_run (task, NULL, budgets, NULL, NULL, id);
    await_status (id, "", &info);
    assert_string_equal (info.status, "budget_exhausted");
    assert_non_null (strstr (info.reason, name));
    assert_int_equal (events_of (id, "failed", 1), 1);
    /* run.info's usage counts the run's seconds (runs.def promises them) */
    assert_true (info.seconds >= (strcmp (name, "wallSeconds") == 0 ? 1 : 0));
}

static void
test_budgets (void **state)
{
    (void) state;
    stack_up ();
    expect_exhausted ("test: many tool calls", "{\"steps\":2}", "steps");
    expect_exhausted ("test: many tool calls", "{\"toolCalls\":2}", "toolCalls");
    expect_exhausted ("test: many tool calls", "{\"tokens\":50}", "tokens");
    /* no usage from the provider: estimated, so the budget still fires */
    expect_exhausted ("test: no usage", "{\"tokens\":50}", "tokens");
    expect_exhausted ("test: slow three steps", "{\"wallSeconds\":1}", "wallSeconds");
    char id[128];
    info_t info;
    start_run ("test: many tool calls", NULL, "{\"steps\":5,\"toolCalls\":5}", NULL, NULL, id);
    await_status (id, "", &info);
    assert_string_equal (info.status, "completed");
    stack_down ();
}

static void
test_cancel (void **state)
{
    (void) state;
    stack_up ();
    char id[128];
    info_t info;
    /* the tool call in flight is cancelled on the bus, for whichever
     * tool-runner runs it, and recorded cancelled */
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), "tools.cancel.");
    assert_non_null (tap);
    start_run ("test: long command", NULL, NULL, NULL, NULL, id);
    for (int i = 0; i < 200 && count_lines ("tools.log", "runCommand") == 0; i++)
        usleep (50000);
    char topic[256], want[256];
    snprintf (want, sizeof want, "run.%s.tool_result", id);
    assert_int_equal (bus_tap_subscribe (tap, want), 0);
    usleep (300000);
    proto_msg_t *req = proto_msg_new (PROTO_run_cancel, NULL);
    proto_set_str (&req->body.run_cancel.run_id, id);
    proto_msg_t *rep = request ("orchestrator", req);
    assert_int_equal (rep->type, PROTO_run_info);
    assert_string_equal (rep->body.run_info.status, "cancelled");
    proto_msg_destroy (&rep);
    json_t *result = NULL;
    proto_msg_t *cancel = NULL, *ev;
    while ((!result || !cancel) && (ev = bus_tap_recv (tap, topic, sizeof topic, 5000, NULL))) {
        char why[64];
        if (ev->type == PROTO_tools_cancel && !cancel) {
            snprintf (want, sizeof want, "tools.cancel.%s", ev->body.tools_cancel.call_id);
            assert_string_equal (topic, want);
            cancel = ev;
            continue;
        }
        if (ev->type == PROTO_event && !result)
            result = mpjson_decode (ev->body.event.data.data, ev->body.event.data.size, 16, why,
                                    sizeof why);
        proto_msg_destroy (&ev);
    }
    bus_tap_destroy (&tap);
    assert_non_null (result);
    assert_string_equal (json_string_value (json_object_get (json_object_get (json_object_get (
        result, "result"), "error"), "code")), "cancelled");
    assert_non_null (cancel);
    snprintf (want, sizeof want, "%s/%s", id,
              json_string_value (json_object_get (result, "toolCallId")));
    assert_string_equal (cancel->body.tools_cancel.call_id, want);
    json_decref (result);
    proto_msg_destroy (&cancel);
    /* cancelling during a model stream too */
    start_run ("test: slow three steps", NULL, NULL, NULL, NULL, id);
    req = proto_msg_new (PROTO_run_cancel, NULL);
    proto_set_str (&req->body.run_cancel.run_id, id);
    proto_msg_destroy (&rep);
    rep = request ("orchestrator", req);
    assert_string_equal (rep->body.run_info.status, "cancelled");
    proto_msg_destroy (&rep);
    get_info (id, &info);
    assert_string_equal (info.status, "cancelled");
    stack_down ();
}

static void
test_faults (void **state)
{
    (void) state;
    stack_up ();
    char id[128];
    info_t info;
    int64_t t0 = zclock_mono ();
    start_run ("test: flaky model", NULL, NULL, NULL, NULL, id);
    await_status (id, "", &info);
    assert_string_equal (info.status, "completed");
    /* the 429 said Retry-After: 1, so the run cannot be faster than 1 s */
    assert_true (zclock_mono () - t0 >= 1000);
    start_run ("test: stalled stream", "replay-anthropic/x", NULL, NULL, NULL, id);
    await_status (id, "", &info);
    assert_string_equal (info.status, "completed");
    assert_string_equal (info.answer, "Stall task done after a retry.");
    stack_down ();
}

static void
test_unknown_task_and_model (void **state)
{
    (void) state;
    stack_up ();
    char id[128];
    info_t info;
    start_run ("make me a sandwich", NULL, NULL, NULL, NULL, id);
    await_status (id, "", &info);
    assert_string_equal (info.status, "completed");
    assert_non_null (strstr (info.answer, "only knows its demo tasks"));
    assert_non_null (strstr (info.answer, SEED));
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->body.run_start.task, "x");
    proto_set_str (&req->body.run_start.model, "nobody/model");
    proto_msg_t *rep = request ("orchestrator", req);
    assert_int_equal (rep->type, PROTO_error);
    assert_non_null (strstr (rep->body.error.message, "unknown provider"));
    proto_msg_destroy (&rep);
    stack_down ();
}

static void
test_verify_and_threads (void **state)
{
    (void) state;
    stack_up ();
    char id[128], id2[128];
    info_t info;
    start_run ("test: verify feedback", NULL, NULL, "{\"verify\":[\"tests_passed\"]}", "th-1", id);
    await_status (id, "", &info);
    assert_string_equal (info.status, "completed");
    assert_string_equal (info.answer, "Tests pass now.");
    assert_int_equal (events_of (id, "check", 2), 2);
    /* run.info tells its budgets (limits, used) and checks (configured,
     * the last round's outcome: the second round passed) */
    json_t *budgets, *checks;
    get_state (id, &budgets, &checks);
    assert_true (int_at (budgets, "limits", "steps") > 0);
    assert_true (int_at (budgets, "limits", "tokens") > 0);
    assert_true (int_at (budgets, "used", "steps") >= 2);
    assert_int_equal (int_at (budgets, "used", "steps"), (json_int_t) info.steps);
    assert_int_equal (int_at (budgets, "used", "toolCalls"), (json_int_t) info.tool_calls);
    json_t *configured = json_object_get (checks, "configured");
    assert_int_equal (json_array_size (configured), 1);
    assert_string_equal (json_string_value (json_array_get (configured, 0)), "tests_passed");
    assert_true (json_is_array (json_object_get (checks, "onChange")));
    json_t *latest = json_object_get (checks, "latest");
    assert_int_equal (json_array_size (latest), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (latest, 0), "name")),
                         "tests_passed");
    assert_true (json_is_true (json_object_get (json_array_get (latest, 0), "ok")));
    json_decref (budgets);
    json_decref (checks);
    /* the same thread's next run sees the first one's conversation: the
     * scripted model would answer turn 5 if it counted the old turns */
    start_run (SEED, NULL, NULL, NULL, "th-1", id2);
    await_status (id2, "", &info);
    assert_string_equal (info.status, "completed");
    stack_down ();
}

/* A restarted orchestrator resumes only the runs it owns (its id is kept
 * across restarts): one whose snapshot names another instance is that
 * instance's to take up, not this one's (it was resumed by any instance
 * started without CAISSON_INSTANCE). */
static void
test_resume_own_runs (void **state)
{
    (void) state;
    stack_up ();
    char mine[128], theirs[128];
    info_t info;
    start_run (PR_TASK, NULL, NULL, NULL, NULL, mine);
    start_run (PR_TASK, NULL, NULL, NULL, NULL, theirs);
    await_status (mine, "awaiting_approval", &info);
    await_status (theirs, "awaiting_approval", &info);
    usleep (200000);            /* snapshots are written within 20 ms (runstore.c) */
    support_stop (s_orch, SIGKILL, 5000);
    char dir[1024];
    snprintf (dir, sizeof dir, "%s/orchestrator", s_dir);
    runstore_t *store = runstore_new (dir);
    assert_non_null (store);
    json_t *snap = runstore_load (store, theirs);
    assert_non_null (snap);
    json_object_set_new (snap, "owner", json_string ("orchestrator-elsewhere"));
    assert_int_equal (runstore_put (store, theirs, snap, true), 0);
    assert_int_equal (runstore_flush (store), 0);
    json_decref (snap);
    runstore_destroy (&store);
    s_orch = spawn_orchestrator ();
    await_service ("orchestrator");
    assert_int_equal (events_of (mine, "resumed", 1), 1);
    assert_int_equal (events_of (theirs, "resumed", 0), 0);
    usleep (500000);            /* time for a wrong resume to show */
    assert_int_equal (events_of (theirs, "resumed", 0), 0);
    stack_down ();
}

static void
test_restart (void **state)
{
    (void) state;
    stack_up ();
    char slow[128], pr[128];
    info_t info;
    start_run ("test: slow three steps", NULL, NULL, NULL, NULL, slow);
    start_run (PR_TASK, NULL, NULL, NULL, NULL, pr);
    await_status (pr, "awaiting_approval", &info);
    for (int i = 0; i < 200; i++) {
        get_info (slow, &info);
        if (info.steps >= 2)
            break;
        usleep (50000);
    }
    support_stop (s_orch, SIGKILL, 5000);
    s_orch = spawn_orchestrator ();
    await_service ("orchestrator");
    await_status (slow, "", &info);
    assert_string_equal (info.status, "completed");
    assert_string_equal (info.answer, "Slow task done.");
    assert_int_equal (count_lines ("tools.log", "createSandbox"), 2);
    await_status (pr, "awaiting_approval", &info);
    assert_string_equal (info.pending_call, "call_4_1");
    decide (pr, "call_4_1", true, NULL);
    await_status (pr, "", &info);
    assert_string_equal (info.status, "completed");
    assert_int_equal (count_lines ("tools.log", "git.openPR"), 1);
    stack_down ();
}

/* How the model's turn ended decides the run's: a reply cut at the output
 * limit is continued, or ends truncated; a filtered one ends refused; in
 * both protocols (OpenAI finish_reason, Anthropic stop_reason). */
static void
test_endings (void **state)
{
    (void) state;
    stack_up ();
    const char *models[] = { "replay/demo", "replay-anthropic/demo" };
    char id[128];
    info_t info;
    for (int i = 0; i < 2; i++) {
        start_run ("test: cut at the limit", models[i], NULL, NULL, NULL, id);
        await_status (id, "", &info);
        assert_string_equal (info.status, "completed");
        assert_string_equal (info.answer, "and its second half.");
        assert_int_equal (info.steps, 2);
        start_run ("test: always cut", models[i], NULL, NULL, NULL, id);
        await_status (id, "", &info);
        assert_string_equal (info.status, "truncated");
        assert_non_null (strstr (info.reason, "output limit"));
        assert_int_equal (info.steps, 3);
        start_run ("test: filtered", models[i], NULL, NULL, NULL, id);
        await_status (id, "", &info);
        assert_string_equal (info.status, "refused");
        assert_int_equal (events_of (id, "failed", 1), 1);
    }
    stack_down ();
}

/* A misspelt check is refused when the run starts, naming it, instead of
 * passing as "unknown check, skipped". */
static void
test_unknown_check_refused (void **state)
{
    (void) state;
    stack_up ();
    char why[256];
    assert_string_equal (start_error (SEED, "{\"verify\":[\"test_passed\"]}", why,
                                      sizeof why), "bad_value");
    assert_non_null (strstr (why, "policy.verify[0]: unknown check 'test_passed'"));
    /* a deployment default that names an unknown check: no start at all */
    const char *env[] = { "CAISSON_RUN_VERIFY_DEFAULT=tests_pased", s_url_env, NULL };
    pid_t bad = support_spawn ("caisson-orchestrator", env);
    int status = 0;
    for (int i = 0; i < 100 && waitpid (bad, &status, WNOHANG) == 0; i++)
        usleep (50000);
    assert_false (support_alive (bad));
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) != 0);
    stack_down ();
}

/* Runs destroy the sandboxes they create: 40 runs of one user in a row
 * never reach the per-user limit (16). */
static void
test_forty_runs_one_user (void **state)
{
    (void) state;
    stack_up ();
    char id[128];
    info_t info;
    for (int i = 0; i < 40; i++) {
        start_run (SEED, NULL, NULL, NULL, NULL, id);
        await_status (id, "", &info);
        assert_string_equal (info.status, "completed");
        assert_non_null (strstr (info.answer, "ran 4 tests: OK"));
    }
    for (int i = 0; i < 100 && count_lines ("sandboxes.log", "destroyed") < 40; i++)
        usleep (50000);
    assert_int_equal (count_lines ("sandboxes.log", "too_many_sandboxes"), 0);
    assert_int_equal (count_lines ("sandboxes.log", "destroyed"), 40);
    /* on a named thread the sandbox stays for the thread's next run, until
     * no run used it for CAISSON_RUN_SANDBOX_IDLE_S (2 s here) */
    start_run (SEED, NULL, NULL, NULL, "th-sbx", id);
    await_status (id, "completed", &info);
    sleep (1);
    assert_int_equal (count_lines ("sandboxes.log", "destroyed"), 40);
    for (int i = 0; i < 100 && count_lines ("sandboxes.log", "destroyed") < 41; i++)
        usleep (50000);
    assert_int_equal (count_lines ("sandboxes.log", "destroyed fx-41"), 1);
    stack_down ();
}

static void
test_hundred_runs (void **state)
{
    (void) state;
    stack_up ();
    static char ids[100][128];
    info_t info;
    for (int i = 0; i < 100; i++)
        start_run (SEED, i % 2 ? "replay-anthropic/demo" : NULL, NULL, NULL, NULL, ids[i]);
    for (int i = 0; i < 100; i++) {
        await_status (ids[i], "", &info);
        assert_string_equal (info.status, "completed");
    }
    assert_int_equal (count_lines ("tools.log", "runCommand"), 100);
    stack_down ();
}

static void
test_cli (void **state)
{
    (void) state;
    stack_up ();
    static char out[65536];
    const char *seed[] = { "caisson", "run", SEED, NULL };
    assert_int_equal (support_run (seed, out, sizeof out), 0);
    assert_non_null (strstr (out, "-> writeFiles"));
    assert_non_null (strstr (out, "Ran 4 tests"));
    assert_non_null (strstr (out, "ran 4 tests: OK"));
    const char *json[] = { "caisson", "run", "--json", "--model", "replay-anthropic/x", SEED, NULL };
    assert_int_equal (support_run (json, out, sizeof out), 0);
    assert_non_null (strstr (out, "\"kind\":\"complete\""));
    const char *bad[] = { "caisson", "run", "--model", "nobody/x", "task", NULL };
    assert_int_equal (support_run (bad, out, sizeof out), 1);
    const char *budget[] = { "caisson", "run", "test: many tool calls", "--thread", "t-cli", NULL };
    assert_int_equal (support_run (budget, out, sizeof out), 0);

    char id[128];
    info_t info;
    start_run (PR_TASK, NULL, NULL, NULL, NULL, id);
    await_status (id, "awaiting_approval", &info);
    const char *wrong[] = { "caisson", "approve", id, "call_0_0", NULL };
    assert_int_equal (support_run (wrong, out, sizeof out), 1);
    const char *no[] = { "caisson", "decline", id, "call_4_1", "--reason", "no thanks", NULL };
    assert_int_equal (support_run (no, out, sizeof out), 0);
    await_status (id, "", &info);
    assert_non_null (strstr (info.answer, "no thanks"));
    assert_int_equal (count_lines ("tools.log", "git.openPR"), 0);

    /* the approval prompt shows the change and says the patch was cut */
    char path[1024];
    snprintf (path, sizeof path, "%s/pr-cli.txt", getenv ("CAISSON_DATA"));
    pid_t cli = fork ();
    if (cli == 0) {
        if (!freopen (path, "w", stdout))
            _exit (127);
        execl (CAISSON_BIN_DIR "/caisson", "caisson", "run", PR_TASK, (char *) NULL);
        _exit (127);
    }
    char text[8192] = "", run[128] = "", call[128] = "";
    for (int i = 0; i < 300 && !*call; i++) {
        usleep (50000);
        FILE *f = fopen (path, "r");
        size_t n = f ? fread (text, 1, sizeof text - 1, f) : 0;
        text[n] = '\0';
        if (f)
            fclose (f);
        const char *at = strstr (text, "answer with: caisson approve ");
        if (at && strchr (at, '\n'))
            sscanf (at + strlen ("answer with: caisson approve "), "%127s %127s", run, call);
    }
    const char *no2[] = { "caisson", "decline", run, call, NULL };
    int declined = *call ? support_run (no2, out, sizeof out) : -1, status;
    if (declined)
        kill (cli, SIGKILL);
    assert_int_equal (waitpid (cli, &status, 0), cli);
    assert_int_equal (declined, 0);
    assert_non_null (strstr (text, "\n  1 file(s) changed:\n    app.py +1 -0\n"));
    assert_non_null (strstr (text, "\n+x\n"));
    assert_non_null (strstr (text, "[patch cut: the first 43 of 700000 bytes shown]"));
    stack_down ();
}

/* Starts CHOICE_TASK with its client tool and waits until the run awaits
 * the client's answer to the model's call. */
static void
start_choice (const char *model, const char *budgets, char id[128])
{
    proto_msg_t *rep = start_with_tools (CHOICE_TASK, model, budgets, CHOICE_TOOLS);
    if (rep->type != PROTO_run_started)
        fail_msg ("run.start answered %s: %s", proto_type_name (rep->type),
                  rep->type == PROTO_error ? rep->body.error.message : "");
    snprintf (id, 128, "%s", rep->body.run_started.run_id);
    proto_msg_destroy (&rep);
    info_t info;
    /* the cassette's first turn expects confirmChoice among the offered
     * tools: a request without it fails the run */
    await_status (id, "awaiting_tool_result", &info);
    assert_string_equal (info.pending_call, "call_1_1");
    assert_int_equal (info.tool_calls, 1);
}

/* A bad client tool list is refused at run.start, naming the field. */
static void
expect_refused (const char *tools, const char *field)
{
    proto_msg_t *rep = start_with_tools (CHOICE_TASK, NULL, NULL, tools);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "bad_value");
    if (!strstr (rep->body.error.message, field))
        fail_msg ("error '%s' does not name %s", rep->body.error.message, field);
    proto_msg_destroy (&rep);
}

static void
test_client_tools (void **state)
{
    (void) state;
    stack_up ();
    char id[128], other[128];
    info_t info;
    start_choice (NULL, NULL, id);
    assert_int_equal (events_of (id, "tool_call", 1), 1);
    assert_int_equal (events_of (id, "tool_result", 0), 0);

    /* answers for a call or a run the orchestrator does not await */
    proto_msg_t *rep = tool_result (id, "call_9_9", "{}", false);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "conflict");
    assert_non_null (strstr (rep->body.error.message, "call_1_1"));
    proto_msg_destroy (&rep);
    rep = tool_result ("no-such-run", "call_1_1", "{}", false);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);
    start_run (PR_TASK, NULL, NULL, NULL, NULL, other);
    await_status (other, "awaiting_approval", &info);
    rep = tool_result (other, "call_4_1", "{}", false);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "conflict");
    proto_msg_destroy (&rep);

    /* the answer goes to the model, and the run completes */
    rep = tool_result (id, "call_1_1", "{\"choice\":\"blue\"}", false);
    assert_int_equal (rep->type, PROTO_run_info);
    proto_msg_destroy (&rep);
    await_status (id, "", &info);
    assert_string_equal (info.status, "completed");
    assert_non_null (strstr (info.answer, "You chose blue."));
    assert_int_equal (events_of (id, "tool_result", 1), 1);
    assert_int_equal (count_lines ("tools.log", "confirmChoice"), 0);
    rep = tool_result (id, "call_1_1", "{}", false);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "conflict");
    proto_msg_destroy (&rep);

    /* the Anthropic protocol, and a restart while the run waits */
    start_choice ("replay-anthropic/x", NULL, id);
    usleep (200000);            /* snapshots are written within 20 ms (runstore.c) */
    support_stop (s_orch, SIGKILL, 5000);
    s_orch = spawn_orchestrator ();
    await_service ("orchestrator");
    await_status (id, "awaiting_tool_result", &info);
    assert_string_equal (info.pending_call, "call_1_1");
    rep = tool_result (id, "call_1_1", "{\"choice\":\"green\"}", false);
    assert_int_equal (rep->type, PROTO_run_info);
    proto_msg_destroy (&rep);
    await_status (id, "", &info);
    assert_string_equal (info.status, "completed");
    assert_non_null (strstr (info.answer, "You chose green."));

    /* cancel and the wall-clock budget still end a waiting run */
    start_choice (NULL, NULL, id);
    proto_msg_t *req = proto_msg_new (PROTO_run_cancel, NULL);
    proto_set_str (&req->body.run_cancel.run_id, id);
    rep = request ("orchestrator", req);
    assert_int_equal (rep->type, PROTO_run_info);
    assert_string_equal (rep->body.run_info.status, "cancelled");
    proto_msg_destroy (&rep);
    start_choice (NULL, "{\"wallSeconds\":1}", id);
    await_status (id, "", &info);
    assert_string_equal (info.status, "budget_exhausted");

    /* bad definitions (the catalogue is loaded by now, so a clash with
     * tool-runner's names is found at once) */
    expect_refused ("{\"name\":\"x\"}", "client_tools: expected an array");
    expect_refused ("[{\"name\":\"has space\"}]", "client_tools[0].name");
    expect_refused ("[{\"name\":\"a__b\"}]", "client_tools[0].name");
    expect_refused ("[{\"name\":\"ok\"},{\"name\":\"runCommand\"}]",
                    "client_tools[1].name: 'runCommand' is one of tool-runner's tools");
    expect_refused ("[{\"name\":\"ok\"},{\"name\":\"ok\"}]", "client_tools[1].name: 'ok' is named twice");
    expect_refused ("[{\"name\":\"ok\",\"parameters\":{\"type\":\"array\"}}]",
                    "client_tools[0].parameters");
    expect_refused ("[{\"name\":\"ok\",\"description\":7}]", "client_tools[0].description");
    stack_down ();
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
        cmocka_unit_test (test_seed_openai),
        cmocka_unit_test (test_seed_anthropic),
        cmocka_unit_test (test_approve_and_decline),
        cmocka_unit_test (test_budgets),
        cmocka_unit_test (test_cancel),
        cmocka_unit_test (test_faults),
        cmocka_unit_test (test_unknown_task_and_model),
        cmocka_unit_test (test_verify_and_threads),
        cmocka_unit_test (test_restart),
        cmocka_unit_test (test_resume_own_runs),
        cmocka_unit_test (test_endings),
        cmocka_unit_test (test_unknown_check_refused),
        cmocka_unit_test (test_forty_runs_one_user),
        cmocka_unit_test (test_hundred_runs),
        cmocka_unit_test (test_cli),
        cmocka_unit_test (test_client_tools),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
