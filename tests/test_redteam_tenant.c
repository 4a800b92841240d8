/* test_redteam_tenant: a second tenant attacks the first, through every
 * door a tenant has: HTTP and AG-UI with their own token, and the bus
 * with their own name on the envelope (as ui-bridge would put it). The
 * whole stack is real (broker, event-log, sandbox-manager, tool-runner,
 * orchestrator, ui-bridge), with the scripted model (caisson-llm-replay)
 * playing cassettes this test writes. Each test is an attack that
 * succeeded before the fix (issue 11, items 3 to 6 and 11):
 * - bob names alice's thread on POST /api/runs, /agui and run.start:
 *   404 / not_found, and alice's conversation is not loaded (nor after an
 *   orchestrator restart);
 * - bob approves, cancels or reads alice's run over the bus: not_found,
 *   and the run still waits for alice;
 * - bob's run calls a tool on alice's sandbox: not_found, nothing ran;
 * - a non-operator's run asks for `approval: auto`, or budgets above the
 *   deployment's: 400 naming the field;
 * - repo.clone of a repository on the host that no one allowed, or out of
 *   the allowed directory through `..`, and git.openPR into a host
 *   repository the allowed one was swapped for: refused;
 * - bob fetches alice's artifact by naming its hash in his own run: 404.
 * And the CLI acts for its --user: the run it starts is that user's. */
#include "support.h"
#include "tenant_support.h"
#include "ui_support.h"

#include "bus_client.h"
#include "evkind.h"
#include "mpjson.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECRET_TASK "remember the launch code for me"
#define SECRET "ALICE-LAUNCH-CODE-7319"
#define GATED_TASK "open a pull request for the release notes"
#define BOB_TASK "run a command in the sandbox I was given"

static char s_sandbox[96];          /* alice's */
static char s_repo_allow[1200];
/* the orchestrator's settings beyond tenant_stack_model's */
static const char *const s_orch_extra[] = { "CAISSON_DENY=repo.applyDiff", NULL };

/* ---- the bus, as a tenant or an operator -------------------------------- */

/* The run's status as its orchestrator tells an operator, with why it
 * ended when it did not complete. */
static void
status_of (const char *run, char *out, size_t len)
{
    proto_msg_t *req = as ("root", true, PROTO_run_get);
    proto_set_str (&req->body.run_get.run_id, run);
    proto_msg_t *rep = ask ("orchestrator", req, 5000);
    assert_int_equal (rep->type, PROTO_run_info);
    snprintf (out, len, "%s%s%s", rep->body.run_info.status, rep->body.run_info.reason ? ": " : "",
              rep->body.run_info.reason ? rep->body.run_info.reason : "");
    proto_msg_destroy (&rep);
}

/* Waits (at most 20 s) until the run's status is want. */
static void
await_status (const char *run, const char *want)
{
    char status[1024] = "";
    for (int i = 0; i < 400; i++) {
        status_of (run, status, sizeof status);
        if (!strcmp (status, want))
            return;
        usleep (50000);
    }
    fail_msg ("run %s is %s, not %s", run, status, want);
}

/* The stored events of run, read as an operator (new JSON array). */
static json_t *
events_of (const char *run)
{
    proto_msg_t *req = as ("root", true, PROTO_events_read);
    proto_set_str (&req->body.events_read.run, run);
    proto_msg_t *rep = ask ("event-log", req, 5000);
    assert_int_equal (rep->type, PROTO_events_page);
    char why[128];
    json_t *events = mpjson_decode (rep->body.events_page.events.data,
                                    rep->body.events_page.events.size, 32, why, sizeof why);
    proto_msg_destroy (&rep);
    assert_non_null (events);
    return events;
}

/* The data of run's first stored event of kind (new), or NULL. */
static json_t *
event_data (const char *run, const char *kind)
{
    json_t *events = events_of (run), *found = NULL;
    size_t i;
    json_t *e;
    json_array_foreach (events, i, e)
        if (!found && !strcmp (json_string_value (json_object_get (e, "kind")) ?: "", kind))
            found = json_incref (json_object_get (e, "data"));
    json_decref (events);
    return found;
}

/* ---- HTTP --------------------------------------------------------------- */

/* POST /api/runs as token with body; returns the status and, on 201, the
 * run id in run (may be NULL). The response body goes to text. */
static long
start_http (const char *token, const char *body, char run[CID_SIZE], char *text, size_t len)
{
    long status;
    json_t *doc = ui_json ("POST", "/api/runs", token, body, &status);
    if (run)
        snprintf (run, CID_SIZE, "%s", json_string_value (json_object_get (doc, "runId")) ?: "");
    if (text) {
        char *dump = json_dumps (doc, JSON_COMPACT);
        snprintf (text, len, "%s", dump ? dump : "");
        free (dump);
    }
    json_decref (doc);
    return status;
}

/* ---- fixture ------------------------------------------------------------ */

/* The cassettes: alice's secret conversation, her gated call, and bob's
 * run that names alice's sandbox (known only once it exists). */
static void
write_cassettes (void)
{
    char path[1300], text[4096];
    snprintf (path, sizeof path, "%s/secret.json", ts_replay_dir);
    /* later turns answer alice's next runs on the thread, which find this
     * task in the conversation: the thread's history reached the model */
    write_file (path, "{\"task\": \"" SECRET_TASK "\", \"turns\": [{\"text\": \"Noted: "
                      SECRET ".\"}, {\"text\": \"It is still " SECRET ".\"}, "
                      "{\"text\": \"Yes.\"}]}");
    snprintf (path, sizeof path, "%s/gated.json", ts_replay_dir);
    write_file (path, "{\"task\": \"" GATED_TASK "\", \"turns\": [{\"toolCalls\": [{\"name\": "
                      "\"git.openPR\", \"args\": {\"sandboxId\": \"nowhere-1\", \"title\": "
                      "\"Release notes\"}}]}, {\"text\": \"Done.\"}]}");
    snprintf (path, sizeof path, "%s/bob.json", ts_replay_dir);
    snprintf (text, sizeof text, "{\"task\": \"" BOB_TASK "\", \"turns\": [{\"toolCalls\": "
              "[{\"name\": \"runCommand\", \"args\": {\"sandboxId\": \"%s\", \"command\": "
              "\"echo bob-was-here > pwned; cat alice.txt\"}}]}, "
              "{\"text\": \"Done.\"}]}", s_sandbox);
    write_file (path, text);
}

static int
setup (void **state)
{
    (void) state;
    tenant_stack_begin ("redteam-tenant", false);
    /* the one directory this deployment allows repositories from */
    snprintf (s_repo_allow, sizeof s_repo_allow, "CAISSON_TOOLS_REPO_ALLOW=%s/allowed/*", ts_dir);
    static const char *const default_tools[] = { "CAISSON_INSTANCE=tdefault",
                                                 "CAISSON_STORE_PER_INSTANCE=1", NULL };
    const char *tools_env[] = { "CAISSON_INSTANCE=tallow", "CAISSON_STORE_PER_INSTANCE=1",
                                s_repo_allow, NULL };
    /* the second tool-runner is the same binary with no repository
     * setting: the default allow-list */
    static const char *const tool_services[] = { "tool-runner.tallow", "tool-runner.tdefault",
                                                 NULL };
    tenant_stack_services (tools_env, default_tools, tool_services);

    /* alice's sandbox, with a file of hers in it */
    bool ok;
    json_t *r = tool ("tool-runner.tallow", "alice", "createSandbox", "{}", &ok);
    assert_true (ok);
    snprintf (s_sandbox, sizeof s_sandbox, "%s",
              json_string_value (json_object_get (r, "sandboxId")));
    json_decref (r);
    char args[512];
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"files\":[{\"path\":\"alice.txt\","
              "\"data\":\"alice-private\"}]}", s_sandbox);
    r = tool ("tool-runner.tallow", "alice", "writeFiles", args, &ok);
    assert_true (ok);
    json_decref (r);

    write_cassettes ();
    int port = 20000 + (int) (getpid () % 20000) + (int) (time (NULL) % 7) * 3;
    tenant_stack_model (port, s_orch_extra);
    return 0;
}

/* ---- threads ------------------------------------------------------------ */

/* alice's completed run on thread; its id into run. */
static void
alice_secret_run (const char *thread, char run[CID_SIZE])
{
    char body[512];
    snprintf (body, sizeof body, "{\"task\":\"" SECRET_TASK "\",\"threadId\":\"%s\"}", thread);
    assert_int_equal (start_http (ts_alice, body, run, NULL, 0), 201);
    await_status (run, "completed");
}

static void
expect_thread_refused (const char *thread)
{
    /* POST /api/runs */
    char body[512], text[1024];
    snprintf (body, sizeof body, "{\"task\":\"what did we talk about?\",\"threadId\":\"%s\"}",
              thread);
    long status = start_http (ts_bob, body, NULL, text, sizeof text);
    if (status != 404)
        fail_msg ("bob's run on alice's thread answered %ld: %s", status, text);
    /* the AG-UI endpoint */
    snprintf (body, sizeof body, "{\"threadId\":\"%s\",\"runId\":\"agui-1\",\"messages\":"
              "[{\"id\":\"m1\",\"role\":\"user\",\"content\":\"what did we talk about?\"}]}",
              thread);
    ui_res_t res = ui_request ("POST", "/agui", ts_bob, body, NULL);
    if (res.status != 404)
        fail_msg ("bob's AG-UI request on alice's thread answered %ld: %.300s", res.status,
                  res.body ? res.body : "");
    ui_res_free (&res);
    /* run.start on the bus, envelope user bob */
    proto_msg_t *req = as ("bob", false, PROTO_run_start);
    proto_set_str (&req->body.run_start.task, "what did we talk about?");
    proto_set_str (&req->body.run_start.thread_id, thread);
    proto_msg_t *rep = ask ("orchestrator", req, 5000);
    if (rep->type != PROTO_error || strcmp (rep->body.error.code, "not_found"))
        fail_msg ("bob's run.start on alice's thread answered %s", proto_type_name (rep->type));
    proto_msg_destroy (&rep);
    /* none of it became a run of bob's, so the model never saw the thread */
    json_t *doc = ui_json ("GET", "/api/runs", ts_bob, NULL, &status);
    assert_int_equal (status, 200);
    size_t i;
    json_t *run;
    json_array_foreach (json_object_get (doc, "runs"), i, run)
        if (!strcmp (json_string_value (json_object_get (run, "thread")) ?: "", thread))
            fail_msg ("bob has a run on alice's thread %s", thread);
    json_decref (doc);
}

static void
test_thread_of_another_user (void **state)
{
    (void) state;
    char run[CID_SIZE], thread[64];
    /* docs/api.md's own example thread: two users following the docs */
    snprintf (thread, sizeof thread, "t1");
    alice_secret_run (thread, run);
    expect_thread_refused (thread);
    /* a thread no one has used is the caller's own, and alice's still hers */
    char bob_run[CID_SIZE];
    assert_int_equal (start_http (ts_bob, "{\"task\":\"hello\",\"threadId\":\"bob-own\"}",
                                  bob_run, NULL, 0), 201);
    await_status (bob_run, "completed");
    assert_int_equal (start_http (ts_alice, "{\"task\":\"hello again\",\"threadId\":\"t1\"}",
                                  run, NULL, 0), 201);
    await_status (run, "completed");
    /* a run that names no thread starts one named after itself: alice's */
    char own[CID_SIZE], text[1024];
    assert_int_equal (start_http (ts_alice, "{\"task\":\"" SECRET_TASK "\"}", own, text,
                                  sizeof text), 201);
    json_t *doc = json_loads (text, 0, NULL);
    snprintf (thread, sizeof thread, "%s",
              json_string_value (json_object_get (doc, "threadId")) ?: "");
    json_decref (doc);
    assert_string_equal (thread, own);
    await_status (own, "completed");
    expect_thread_refused (thread);

    /* the owner is durable: an orchestrator restart does not forget it */
    tenant_orchestrator_restart (s_orch_extra);
    expect_thread_refused ("t1");
}

/* ---- runs over the bus -------------------------------------------------- */

static void
test_bus_acts_on_another_users_run (void **state)
{
    (void) state;
    char run[CID_SIZE];
    assert_int_equal (start_http (ts_alice, "{\"task\":\"" GATED_TASK "\"}", run, NULL, 0), 201);
    await_status (run, "awaiting_approval");
    json_t *ask_ev = NULL;
    for (int i = 0; i < 100 && !ask_ev; i++)
        if (!(ask_ev = event_data (run, "ask_approval")))
            usleep (50000);
    assert_non_null (ask_ev);
    const char *call = json_string_value (json_object_get (ask_ev, "toolCallId"));

    /* bob approves, declines, answers, cancels and reads: none of it is his */
    proto_type_t acts[] = { PROTO_run_approve, PROTO_run_decline, PROTO_run_tool_result,
                            PROTO_run_cancel, PROTO_run_get };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        proto_msg_t *req = as ("bob", false, acts[i]);
        if (acts[i] == PROTO_run_tool_result) {
            proto_set_str (&req->body.run_tool_result.run_id, run);
            proto_set_str (&req->body.run_tool_result.tool_call_id, call);
            proto_set_str (&req->body.run_tool_result.content, "{}");
        }
        else if (acts[i] == PROTO_run_approve || acts[i] == PROTO_run_decline) {
            proto_set_str (&req->body.run_approve.run_id, run);
            proto_set_str (&req->body.run_approve.tool_call_id, call);
        }
        else
            proto_set_str (&req->body.run_get.run_id, run);
        proto_msg_t *rep = ask ("orchestrator", req, 5000);
        if (rep->type != PROTO_error || strcmp (rep->body.error.code, "not_found"))
            fail_msg ("bob's %s on alice's run answered %s %s", proto_type_name (acts[i]),
                      proto_type_name (rep->type),
                      rep->type == PROTO_error ? rep->body.error.code : "");
        proto_msg_destroy (&rep);
    }
    char status[1024];
    status_of (run, status, sizeof status);
    assert_string_equal (status, "awaiting_approval");
    assert_null (event_data (run, "approval_decision"));

    /* event-log: the record, the events, the transcript and the list */
    proto_msg_t *req = as ("bob", false, PROTO_run_record_get);
    proto_set_str (&req->body.run_record_get.run, run);
    proto_msg_t *rep = ask ("event-log", req, 5000);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);
    req = as ("bob", false, PROTO_events_read);
    proto_set_str (&req->body.events_read.run, run);
    rep = ask ("event-log", req, 5000);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);
    req = as ("bob", false, PROTO_transcript_get);
    proto_set_str (&req->body.transcript_get.run, run);
    rep = ask ("event-log", req, 5000);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);
    req = as ("bob", false, PROTO_runs_list);
    rep = ask ("event-log", req, 5000);
    assert_int_equal (rep->type, PROTO_runs_page);
    char why[128];
    json_t *runs = mpjson_decode (rep->body.runs_page.runs.data, rep->body.runs_page.runs.size,
                                  32, why, sizeof why);
    size_t i;
    json_t *r;
    json_array_foreach (runs, i, r)
        assert_string_equal (json_string_value (json_object_get (r, "user")), "bob");
    json_decref (runs);
    proto_msg_destroy (&rep);
    /* the global order holds none of alice's events for bob */
    req = as ("bob", false, PROTO_events_read);
    rep = ask ("event-log", req, 5000);
    assert_int_equal (rep->type, PROTO_events_page);
    json_t *events = mpjson_decode (rep->body.events_page.events.data,
                                    rep->body.events_page.events.size, 32, why, sizeof why);
    json_array_foreach (events, i, r)
        if (!strcmp (json_string_value (json_object_get (r, "run")) ?: "", run))
            fail_msg ("bob read alice's event %s", json_string_value (json_object_get (r, "kind")));
    json_decref (events);
    proto_msg_destroy (&rep);

    /* alice herself still can */
    req = as ("alice", false, PROTO_run_decline);
    proto_set_str (&req->body.run_decline.run_id, run);
    proto_set_str (&req->body.run_decline.tool_call_id, call);
    rep = ask ("orchestrator", req, 5000);
    assert_int_equal (rep->type, PROTO_run_info);
    proto_msg_destroy (&rep);
    json_decref (ask_ev);
    await_status (run, "completed");
}

/* ---- sandboxes through tools ------------------------------------------- */

static void
test_tool_on_another_users_sandbox (void **state)
{
    (void) state;
    /* directly: a tools.call whose envelope says bob */
    char args[512];
    bool ok;
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"command\":\"cat alice.txt\"}",
              s_sandbox);
    json_t *r = tool ("tool-runner.tallow", "bob", "runCommand", args, &ok);
    assert_false (ok);
    assert_string_equal (error_code (r), "not_found");
    json_decref (r);
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"path\":\"alice.txt\"}", s_sandbox);
    r = tool ("tool-runner.tallow", "bob", "readFile", args, &ok);
    assert_false (ok);
    assert_string_equal (error_code (r), "not_found");
    json_decref (r);

    /* through a run of bob's whose model names alice's sandbox */
    char run[CID_SIZE];
    assert_int_equal (start_http (ts_bob, "{\"task\":\"" BOB_TASK "\"}", run, NULL, 0), 201);
    await_status (run, "completed");
    json_t *result = event_data (run, "tool_result");
    assert_non_null (result);
    assert_false (json_is_true (json_object_get (result, "ok")));
    assert_string_equal (error_code (json_object_get (result, "result")), "not_found");
    json_decref (result);
    /* and nothing ran there: alice finds no file of bob's */
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"path\":\"pwned\"}", s_sandbox);
    r = tool ("tool-runner.tallow", "alice", "readFile", args, &ok);
    assert_false (ok);
    json_decref (r);
}

/* ---- policy floor ------------------------------------------------------- */

static void
test_policy_floor (void **state)
{
    (void) state;
    char text[1024];
    long status = start_http (ts_bob, "{\"task\":\"" GATED_TASK "\",\"policy\":"
                              "{\"approval\":\"auto\"}}", NULL, text, sizeof text);
    if (status != 400 || !strstr (text, "policy.approval"))
        fail_msg ("approval auto for a non-operator answered %ld: %s", status, text);
    status = start_http (ts_bob, "{\"task\":\"" GATED_TASK "\",\"policy\":"
                         "{\"autoApprove\":[\"git.*\"]}}", NULL, text, sizeof text);
    if (status != 400 || !strstr (text, "policy.autoApprove"))
        fail_msg ("autoApprove for a non-operator answered %ld: %s", status, text);
    /* an operator, where the deployment does not allow it (the default) */
    status = start_http (ts_root, "{\"task\":\"" GATED_TASK "\",\"policy\":"
                         "{\"approval\":\"auto\"}}", NULL, text, sizeof text);
    if (status != 400 || !strstr (text, "CAISSON_RUN_ALLOW_AUTO"))
        fail_msg ("approval auto where not allowed answered %ld: %s", status, text);
    status = start_http (ts_bob, "{\"task\":\"hello\",\"budgets\":{\"steps\":1000000}}", NULL,
                         text, sizeof text);
    if (status != 400 || !strstr (text, "budgets.steps"))
        fail_msg ("a budget above the ceiling answered %ld: %s", status, text);
    status = start_http (ts_bob, "{\"task\":\"hello\",\"budgets\":{\"tokens\":99999999999}}",
                         NULL, text, sizeof text);
    if (status != 400 || !strstr (text, "budgets.tokens"))
        fail_msg ("a token budget above the ceiling answered %ld: %s", status, text);
    /* tightening is anyone's right; the deployment's deny list stays */
    char run[CID_SIZE];
    assert_int_equal (start_http (ts_bob, "{\"task\":\"hello\",\"budgets\":{\"steps\":3},"
                                  "\"policy\":{\"approval\":\"never\",\"deny\":[]}}", run,
                                  NULL, 0), 201);
    await_status (run, "completed");
    json_t *started = event_data (run, "run_started");
    json_t *policy = json_object_get (started, "policy");
    assert_string_equal (json_string_value (json_object_get (policy, "approval")), "never");
    assert_string_equal (json_string_value (json_array_get (json_object_get (policy, "deny"), 0)),
                         "repo.applyDiff");
    assert_int_equal (json_integer_value (json_object_get (json_object_get (started, "budgets"),
                                                           "steps")), 3);
    json_decref (started);
}

/* ---- host repositories -------------------------------------------------- */

/* alice's call of tool name with args at service is refused
 * repo_not_allowed. */
static void
expect_repo_refused (const char *service, const char *name, const char *args)
{
    bool ok;
    json_t *r = tool (service, "alice", name, args, &ok);
    assert_false (ok);
    assert_string_equal (error_code (r), "repo_not_allowed");
    json_decref (r);
}

static void
test_host_repositories (void **state)
{
    (void) state;
    /* a repository on the host no one allowed, and one in the allowed dir */
    support_sh ("set -e; cd '%s'; mkdir -p allowed; for r in host ok; do "
        "git init -q -b main work-$r; git -C work-$r -c user.name=t -c user.email=t@t "
        "commit -q --allow-empty -m init; git clone -q --bare work-$r $r.git; done; "
        "mv ok.git allowed/ok.git", ts_dir);
    char args[1024];
    /* the default allow-list allows nothing on the host */
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"url\":\"%s/host.git\"}", s_sandbox,
              ts_dir);
    expect_repo_refused ("tool-runner.tdefault", "repo.clone", args);
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"url\":\"file://%s/host.git\"}",
              s_sandbox, ts_dir);
    expect_repo_refused ("tool-runner.tdefault", "repo.clone", args);
    /* out of the allowed directory with `..` */
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"url\":\"%s/allowed/../host.git\"}",
              s_sandbox, ts_dir);
    expect_repo_refused ("tool-runner.tallow", "repo.clone", args);

    /* an allowed clone, then the allowed repository becomes a way into the
     * host one: git.openPR must not push there */
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"url\":\"%s/allowed/ok.git\"}",
              s_sandbox, ts_dir);
    bool ok;
    json_t *r = tool ("tool-runner.tallow", "alice", "repo.clone", args, &ok);
    if (!ok)
        fail_msg ("the allowed clone failed: %s", json_dumps (r, JSON_COMPACT));
    json_decref (r);
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"command\":\"cd repo && echo x > "
              "notes.md && git add notes.md && git -c user.name=a -c user.email=a@a commit -q "
              "-m notes\"}", s_sandbox);
    r = tool ("tool-runner.tallow", "alice", "runCommand", args, &ok);
    assert_true (ok);
    json_decref (r);
    support_sh ("cd '%s' && mv allowed/ok.git allowed/ok.orig && "
                "ln -s '%s/host.git' allowed/ok.git", ts_dir, ts_dir);
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"title\":\"Release notes\","
              "\"body\":\"notes\"}", s_sandbox);
    expect_repo_refused ("tool-runner.tallow", "git.openPR", args);
    char cmd[1200], out[256] = "";
    snprintf (cmd, sizeof cmd, "git --git-dir='%s/host.git' branch --list | wc -l", ts_dir);
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    assert_non_null (fgets (out, sizeof out, p));
    pclose (p);
    assert_int_equal (atoi (out), 1);     /* main only */
}

/* ---- artifacts ---------------------------------------------------------- */

static void
test_artifact_of_another_user (void **state)
{
    (void) state;
    /* alice's run produces an artifact, as a tool's output is kept */
    char run[CID_SIZE];
    assert_int_equal (start_http (ts_alice, "{\"task\":\"hello\"}", run, NULL, 0), 201);
    await_status (run, "completed");
    proto_msg_t *req = as ("alice", false, PROTO_artifact_put);
    const char *bytes = "alice's private diff: the launch code is " SECRET "\n";
    proto_set_bytes (&req->body.artifact_put.data, bytes, strlen (bytes));
    proto_set_str (&req->body.artifact_put.kind, "diff");
    proto_msg_t *rep = ask ("event-log", req, 5000);
    assert_int_equal (rep->type, PROTO_artifact_ref);
    char hash[65];
    snprintf (hash, sizeof hash, "%s", rep->body.artifact_ref.hash);
    proto_msg_destroy (&rep);
    req = as ("alice", false, PROTO_event_append);
    proto_set_str (&req->env.run, run);
    proto_set_str (&req->body.event_append.kind, evk_name (EVK_artifact));
    json_t *d = EVK (artifact, .hash = hash, .kind = "diff", .name = "fix.patch",
                     .size = strlen (bytes));
    mpjson_set (&req->body.event_append.data, d, 8);
    json_decref (d);
    rep = ask ("event-log", req, 5000);
    assert_int_equal (rep->type, PROTO_event_ack);
    proto_msg_destroy (&rep);

    char path[256];
    snprintf (path, sizeof path, "/api/artifacts/%s?run=%s", hash, run);
    ui_res_t res = ui_request ("GET", path, ts_alice, NULL, NULL);
    assert_int_equal (res.status, 200);
    assert_non_null (strstr (res.body, SECRET));
    ui_res_free (&res);

    /* bob names the hash in his own run's task, then asks through it */
    char bob_run[CID_SIZE], body[256];
    snprintf (body, sizeof body, "{\"task\":\"look at artifact %s\"}", hash);
    assert_int_equal (start_http (ts_bob, body, bob_run, NULL, 0), 201);
    await_status (bob_run, "completed");
    snprintf (path, sizeof path, "/api/artifacts/%s?run=%s", hash, bob_run);
    res = ui_request ("GET", path, ts_bob, NULL, NULL);
    if (res.status != 404)
        fail_msg ("bob fetched alice's artifact: %ld %.200s", res.status, res.body);
    ui_res_free (&res);
    snprintf (path, sizeof path, "/api/artifacts/%s?run=%s", hash, run);
    res = ui_request ("GET", path, ts_bob, NULL, NULL);
    assert_int_equal (res.status, 404);
    ui_res_free (&res);
    /* nor on the bus with his own name */
    req = as ("bob", false, PROTO_artifact_get);
    proto_set_str (&req->body.artifact_get.hash, hash);
    rep = ask ("event-log", req, 5000);
    if (rep->type != PROTO_error || strcmp (rep->body.error.code, "not_found"))
        fail_msg ("bob's artifact.get answered %s", proto_type_name (rep->type));
    proto_msg_destroy (&rep);
    /* an operator still can */
    snprintf (path, sizeof path, "/api/artifacts/%s", hash);
    res = ui_request ("GET", path, ts_root, NULL, NULL);
    assert_int_equal (res.status, 200);
    ui_res_free (&res);
}

/* ---- the CLI ------------------------------------------------------------ */

/* The CLI acts for --user: the run it starts is that user's, seen by
 * their token and not by another's. */
static void
test_cli_acts_for_its_user (void **state)
{
    (void) state;
    char out[4096];
    const char *argv[] = { "caisson", "run", "--user", "carol", "--json", "hello from the cli",
                           NULL };
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    const char *carol = ui_token (3, "carol", 0);
    long status;
    json_t *doc = ui_json ("GET", "/api/runs", carol, NULL, &status);
    assert_int_equal (status, 200);
    json_t *runs = json_object_get (doc, "runs");
    assert_int_equal (json_array_size (runs), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (runs, 0), "task")),
                         "hello from the cli");
    json_decref (doc);
    doc = ui_json ("GET", "/api/runs", ts_bob, NULL, &status);
    size_t i;
    json_t *r;
    json_array_foreach (json_object_get (doc, "runs"), i, r)
        assert_string_not_equal (json_string_value (json_object_get (r, "user")), "carol");
    json_decref (doc);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_thread_of_another_user),
        cmocka_unit_test (test_bus_acts_on_another_users_run),
        cmocka_unit_test (test_tool_on_another_users_sandbox),
        cmocka_unit_test (test_policy_floor),
        cmocka_unit_test (test_host_repositories),
        cmocka_unit_test (test_artifact_of_another_user),
        cmocka_unit_test (test_cli_acts_for_its_user),
    };
    return support_run_group_tests (tests, setup, tenant_stack_down);
}
