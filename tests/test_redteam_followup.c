/* test_redteam_followup: the red team's second pass over the tenant
 * isolation work (issue 11), on the whole stack with the scripted model.
 * Each test is an attack that succeeded on the merged defences:
 * - bob, a bus client whose envelope says bob, appends a `run_started`
 *   naming himself to alice's run: event-log re-derived the run's owner
 *   from it, so bob then read alice's run, events and transcript over
 *   HTTP with his own token (and alice lost them); he could also end her
 *   run with a forged answer, or start a run in alice's name;
 * - bob references alice's artifact (its hash) from an `artifact` event
 *   of his own run, and fetched her bytes through that run;
 * - a repository allow-list of a remote directory
 *   (`http://host/allowed/` and a star) admitted `http://host/allowed/../host.git`:
 *   the glob's `*` spans `/` and `..`, and git's HTTP client resolves
 *   the dot segments, so repo.clone fetched a repository no one allowed;
 * - a run names a model of a provider the deployment never configured:
 *   the orchestrator posts the tenant's text to that provider's default
 *   loopback URL (llamacpp's is ui-bridge's own port);
 * - the unauthenticated /metrics labelled tool calls with whatever name
 *   the model used, so alice's made-up (or client) tool names showed there,
 *   one new series each;
 * - a token revoked while its event stream is open: the stream went on
 *   receiving the run's events;
 * - bob, with his token, holds every connection the bridge allows (from a
 *   few addresses, each connection kept alive after one request): alice
 *   could not connect;
 * - bob starts runs that stay live (awaiting approval) without limit: one
 *   tenant holds the orchestrator's runs (and the model's capacity).
 * And one defence that held, kept as a test: bob's approve, decline and
 * cancel of alice's run over HTTP, and his AG-UI answers to her
 * interrupt and call, are 404. */
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

#define SECRET "ALICE-FOLLOWUP-SECRET-4411"
#define SECRET_TASK "keep this for me: " SECRET
#define GATED_TASK "open a pull request for the changelog"
#define LEAKY_TASK "use my private tool"

static char s_sandbox[96];          /* alice's */
static char s_repo_allow[1200];

/* ---- the bus ------------------------------------------------------------ */

/* An event.append of kind with data (consumed) to run, as user; the
 * reply. */
static proto_msg_t *
append_as (const char *user, const char *run, const char *kind, json_t *data)
{
    assert_non_null (data);
    proto_msg_t *req = as (user, false, PROTO_event_append);
    proto_set_str (&req->env.run, run);
    proto_set_str (&req->body.event_append.kind, kind);
    assert_int_equal (mpjson_set (&req->body.event_append.data, data, 8), 0);
    json_decref (data);
    return ask ("event-log", req, 5000);
}

/* append_as with data an evkind constructor builds, shaped as the
 * orchestrator emits kind: APPEND_AS ("bob", run, complete, .status = ...). */
#define APPEND_AS(user, run, kind, ...) \
    append_as (user, run, evk_name (EVK_##kind), EVK (kind, __VA_ARGS__))

/* A run_started naming user, as the orchestrator emits it. */
static proto_msg_t *
started_as (const char *sender, const char *run, const char *task, const char *user)
{
    json_t *budgets = json_pack ("{s:i, s:i, s:i, s:i}", "steps", 20, "toolCalls", 50,
                                 "wallSeconds", 600, "tokens", 200000);
    json_t *policy = json_object ();
    proto_msg_t *rep = APPEND_AS (sender, run, run_started, .task = task, .user = user,
                                  .threadId = run, .model = "replay/demo", .orchestrator = "o1",
                                  .promptVersion = "v1", .budgets = budgets, .policy = policy);
    json_decref (budgets);
    json_decref (policy);
    return rep;
}

/* ---- HTTP --------------------------------------------------------------- */

/* The run's status over HTTP, as token sees it ("" when not seen). */
static void
status_http (const char *token, const char *run, char *out, size_t len)
{
    char path[256];
    snprintf (path, sizeof path, "/api/runs/%s", run);
    long status;
    json_t *doc = ui_json ("GET", path, token, NULL, &status);
    const char *s = status == 200 ? json_string_value (json_object_get (doc, "status")) : NULL;
    snprintf (out, len, "%s", s ? s : "");
    json_decref (doc);
}

/* alice's completed run; its id into run. */
static void
alice_run (char run[CID_SIZE])
{
    long status;
    json_t *doc = ui_json ("POST", "/api/runs", ts_alice, "{\"task\":\"" SECRET_TASK "\"}",
                           &status);
    assert_int_equal (status, 201);
    snprintf (run, CID_SIZE, "%s", json_string_value (json_object_get (doc, "runId")) ?: "");
    json_decref (doc);
    char st[64] = "";
    for (int i = 0; i < 400 && strcmp (st, "completed"); i++) {
        status_http (ts_root, run, st, sizeof st);
        if (strcmp (st, "completed"))
            usleep (50000);
    }
    assert_string_equal (st, "completed");
}

/* ---- fixture ------------------------------------------------------------ */

static int
setup (void **state)
{
    (void) state;
    /* with a plain HTTP server of the test's directory (git's dumb protocol) */
    tenant_stack_begin ("redteam-followup", true);
    /* the one remote directory this deployment allows repositories from */
    snprintf (s_repo_allow, sizeof s_repo_allow,
              "CAISSON_TOOLS_REPO_ALLOW=http://127.0.0.1:%d/allowed/*", ts_http_port);
    const char *tools_env[] = { s_repo_allow, NULL };
    static const char *const tool_services[] = { "tool-runner", NULL };
    tenant_stack_services (tools_env, NULL, tool_services);

    tenant_sandbox_new ("alice", s_sandbox, sizeof s_sandbox);

    char path[1300];
    snprintf (path, sizeof path, "%s/secret.json", ts_replay_dir);
    write_file (path, "{\"task\": \"" SECRET_TASK "\", \"turns\": [{\"text\": \"Kept: "
                      SECRET ".\"}]}");
    snprintf (path, sizeof path, "%s/leaky.json", ts_replay_dir);
    write_file (path, "{\"task\": \"" LEAKY_TASK "\", \"turns\": [{\"toolCalls\": [{\"name\": "
                      "\"aliceAcmeMergerTool\", \"args\": {}}, {\"name\": \"zz-" SECRET "\", "
                      "\"args\": {}}]}, {\"text\": \"Done.\"}]}");
    snprintf (path, sizeof path, "%s/gated.json", ts_replay_dir);
    write_file (path, "{\"task\": \"" GATED_TASK "\", \"turns\": [{\"toolCalls\": [{\"name\": "
                      "\"git.openPR\", \"args\": {\"sandboxId\": \"nowhere-1\", \"title\": "
                      "\"Changelog\"}}]}, {\"text\": \"Done.\"}]}");
    tenant_stack_model (support_free_port (), NULL);
    return 0;
}

/* ---- event-log: appends to another user's run --------------------------- */

static void
expect_refused (proto_msg_t *rep, const char *what)
{
    if (rep->type != PROTO_error)
        fail_msg ("%s was accepted (%s)", what, proto_type_name (rep->type));
    assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);
}

static void
test_append_to_another_users_run (void **state)
{
    (void) state;
    char run[CID_SIZE], st[64], path[256];
    alice_run (run);

    /* bob re-announces alice's run as his own, then ends it his way */
    expect_refused (started_as ("bob", run, "mine now", "bob"),
                    "bob's run_started on alice's run");
    expect_refused (APPEND_AS ("bob", run, complete, .status = "completed",
                               .answer = "forged by bob"),
                    "bob's complete on alice's run");
    json_t *result = json_object ();
    expect_refused (APPEND_AS ("bob", run, tool_result, .toolCallId = "c1", .name = "runCommand",
                               .ok = true, .result = result, .durationMs = 1),
                    "bob's tool_result on alice's run");
    json_decref (result);

    /* bob sees nothing of it over HTTP, alice still sees all of it */
    status_http (ts_bob, run, st, sizeof st);
    if (*st)
        fail_msg ("bob reads alice's run over HTTP (status %s)", st);
    snprintf (path, sizeof path, "/api/runs/%s/transcript?format=md", run);
    ui_res_t res = ui_request ("GET", path, ts_bob, NULL, NULL);
    if (res.status != 404)
        fail_msg ("bob read alice's transcript: %ld %.200s", res.status, res.body);
    ui_res_free (&res);
    snprintf (path, sizeof path, "/api/runs/%s", run);
    long status;
    json_t *doc = ui_json ("GET", path, ts_alice, NULL, &status);
    assert_int_equal (status, 200);
    assert_string_equal (json_string_value (json_object_get (doc, "user")), "alice");
    assert_null (strstr (json_string_value (json_object_get (doc, "answer")) ?: "", "forged"));
    json_decref (doc);

    /* nor may bob start a run in alice's name */
    char fake[CID_SIZE];
    cid_new (fake);
    expect_refused (started_as ("bob", fake, "alice asked for this", "alice"),
                    "bob's run_started naming alice");
    status_http (ts_alice, fake, st, sizeof st);
    assert_string_equal (st, "");

    /* the owner (as the orchestrator appends for her) still may */
    /* (an undeclared kind: event-log stores any) */
    proto_msg_t *rep = append_as ("alice", run, "note", json_pack ("{s:s}", "text", "hers"));
    assert_int_equal (rep->type, PROTO_event_ack);
    proto_msg_destroy (&rep);
}

/* ---- artifacts: claimed through an event of one's own run ---------------- */

/* alice's artifact, referenced by her run; bob learns its hash (a link,
 * a screenshot) and references it from a run of his own: he must still
 * not get the bytes. */
static void
test_artifact_claimed_by_event (void **state)
{
    (void) state;
    char run[CID_SIZE];
    alice_run (run);
    proto_msg_t *req = as ("alice", false, PROTO_artifact_put);
    const char *bytes = "alice's release key: " SECRET "\n";
    proto_set_bytes (&req->body.artifact_put.data, bytes, strlen (bytes));
    proto_set_str (&req->body.artifact_put.kind, "file");
    proto_msg_t *rep = ask ("event-log", req, 5000);
    assert_int_equal (rep->type, PROTO_artifact_ref);
    char hash[65];
    snprintf (hash, sizeof hash, "%s", rep->body.artifact_ref.hash);
    proto_msg_destroy (&rep);
    rep = APPEND_AS ("alice", run, artifact, .hash = hash, .kind = "file", .name = "key.txt",
                     .size = strlen (bytes));
    assert_int_equal (rep->type, PROTO_event_ack);
    proto_msg_destroy (&rep);

    /* bob's own run, and an artifact event in it naming alice's hash */
    char mine[CID_SIZE], path[256];
    cid_new (mine);
    rep = started_as ("bob", mine, "mine", "bob");
    assert_int_equal (rep->type, PROTO_event_ack);
    proto_msg_destroy (&rep);
    expect_refused (APPEND_AS ("bob", mine, artifact, .hash = hash, .kind = "file",
                               .name = "key.txt", .size = strlen (bytes)),
                    "bob's artifact event naming alice's hash");
    snprintf (path, sizeof path, "/api/artifacts/%s?run=%s", hash, mine);
    ui_res_t res = ui_request ("GET", path, ts_bob, NULL, NULL);
    if (res.status != 404)
        fail_msg ("bob fetched alice's artifact through his run: %ld %.200s", res.status,
                  res.body);
    ui_res_free (&res);
    /* alice still can, through hers */
    snprintf (path, sizeof path, "/api/artifacts/%s?run=%s", hash, run);
    res = ui_request ("GET", path, ts_alice, NULL, NULL);
    assert_int_equal (res.status, 200);
    ui_res_free (&res);
}

/* ---- models: a provider the deployment never configured ----------------- */

/* A run's model names a provider the deployment did not set up (no key,
 * no URL): its default URL is a loopback port (llamacpp 8080 is
 * ui-bridge's own default, ollama 11434, vllm 8000), so the orchestrator
 * would POST the tenant's text to whatever listens there. */
static void
test_unconfigured_provider (void **state)
{
    (void) state;
    static const char *const models[] = { "llamacpp/x", "ollama/llama3", "vllm/any" };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char body[256];
        snprintf (body, sizeof body, "{\"task\":\"hello\",\"model\":\"%s\"}", models[i]);
        long status;
        json_t *doc = ui_json ("POST", "/api/runs", ts_bob, body, &status);
        char *text = json_dumps (doc, JSON_COMPACT);
        json_decref (doc);
        if (status != 400 || !strstr (text, "model"))
            fail_msg ("a run on %s answered %ld: %s", models[i], status, text);
        free (text);
    }
    /* the deployment's own provider is still anyone's */
    long status;
    json_t *doc = ui_json ("POST", "/api/runs", ts_bob, "{\"task\":\"hello\",\"model\":"
                           "\"replay/other\"}", &status);
    json_decref (doc);
    assert_int_equal (status, 201);
}

/* ---- repositories: dot segments in a remote URL ------------------------- */

static void
test_remote_allow_list_dot_segments (void **state)
{
    (void) state;
    support_sh ("set -e; cd '%s'; mkdir -p allowed; for r in host ok; do "
        "git init -q -b main work-$r; git -C work-$r -c user.name=t -c user.email=t@t "
        "commit -q --allow-empty -m init-$r; git clone -q --bare work-$r $r.git; "
        "git -C $r.git update-server-info; done; mv ok.git allowed/ok.git", ts_dir);
    char args[1024];
    bool ok;
    /* the allowed repository clones */
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"url\":"
              "\"http://127.0.0.1:%d/allowed/ok.git\"}", s_sandbox, ts_http_port);
    json_t *r = tool ("tool-runner", "alice", "repo.clone", args, &ok);
    if (!ok)
        fail_msg ("the allowed clone failed: %s", json_dumps (r, JSON_COMPACT));
    json_decref (r);
    /* out of the allowed directory with `..`, plain and percent-encoded */
    static const char *const escapes[] = { "allowed/../host.git", "allowed/./../host.git",
                                           "allowed/%2e%2e/host.git", "allowed/%2E./host.git",
                                           "allowed/x/../../host.git" };
    for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
        snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"url\":\"http://127.0.0.1:%d/%s\"}",
                  s_sandbox, ts_http_port, escapes[i]);
        r = tool ("tool-runner", "alice", "repo.clone", args, &ok);
        if (ok || strcmp (error_code (r), "repo_not_allowed"))
            fail_msg ("repo.clone of %s answered %s", escapes[i], json_dumps (r, JSON_COMPACT));
        json_decref (r);
    }
}

/* ---- /metrics: tool names the model made up ----------------------------- */

/* The model of alice's run calls tools that do not exist, named after her
 * business: the unauthenticated /metrics must not show those names (nor
 * grow a series for every name a model invents). */
static void
test_metrics_names_of_made_up_tools (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("POST", "/api/runs", ts_alice, "{\"task\":\"" LEAKY_TASK "\"}",
                           &status);
    assert_int_equal (status, 201);
    char run[CID_SIZE], st[64] = "";
    snprintf (run, sizeof run, "%s", json_string_value (json_object_get (doc, "runId")) ?: "");
    json_decref (doc);
    for (int i = 0; i < 400 && strcmp (st, "completed"); i++) {
        status_http (ts_root, run, st, sizeof st);
        if (strcmp (st, "completed"))
            usleep (50000);
    }
    assert_string_equal (st, "completed");
    usleep (500000);        /* the bridge's watcher counts from the live events */
    ui_res_t res = ui_request ("GET", "/metrics", NULL, NULL, NULL);
    assert_int_equal (res.status, 200);
    assert_non_null (strstr (res.body, "caisson_tool_calls_total"));
    if (strstr (res.body, "aliceAcmeMergerTool") || strstr (res.body, SECRET))
        fail_msg ("/metrics names alice's made-up tools:\n%.1500s",
                  strstr (res.body, "caisson_tool_calls_total"));
    ui_res_free (&res);
}

/* ---- HTTP and AG-UI acts on another user's run (held) -------------------- */

/* The run's status and the call it waits on, as an operator sees them. */
static void
run_state (const char *run, char *status, size_t len, char call[129])
{
    proto_msg_t *req = as ("root", true, PROTO_run_get);
    proto_set_str (&req->body.run_get.run_id, run);
    proto_msg_t *rep = ask ("orchestrator", req, 5000);
    assert_int_equal (rep->type, PROTO_run_info);
    snprintf (status, len, "%s", rep->body.run_info.status);
    char why[128];
    json_t *p = rep->body.run_info.pending.size
              ? mpjson_decode (rep->body.run_info.pending.data, rep->body.run_info.pending.size,
                               8, why, sizeof why) : NULL;
    snprintf (call, 129, "%s", json_string_value (json_object_get (p, "toolCallId")) ?: "");
    json_decref (p);
    proto_msg_destroy (&rep);
}

/* bob approves, declines and cancels alice's gated run over HTTP, and
 * answers her approval interrupt and a call of hers over AG-UI: 404 each
 * time, and the run still waits for alice. */
static void
test_http_acts_on_another_users_run (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("POST", "/api/runs", ts_alice, "{\"task\":\"" GATED_TASK "\"}",
                           &status);
    assert_int_equal (status, 201);
    char run[CID_SIZE], st[64] = "", call[129] = "";
    snprintf (run, sizeof run, "%s", json_string_value (json_object_get (doc, "runId")) ?: "");
    json_decref (doc);
    for (int i = 0; i < 400 && strcmp (st, "awaiting_approval"); i++) {
        run_state (run, st, sizeof st, call);
        if (strcmp (st, "awaiting_approval"))
            usleep (50000);
    }
    assert_string_equal (st, "awaiting_approval");
    static const char *const acts[] = { "approve", "decline", "cancel" };
    char path[256], body[1024];
    snprintf (body, sizeof body, "{\"toolCallId\":\"%s\"}", call);
    for (size_t i = 0; i < 3; i++) {
        snprintf (path, sizeof path, "/api/runs/%s/%s", run, acts[i]);
        ui_res_t res = ui_request ("POST", path, ts_bob, body, NULL);
        if (res.status != 404)
            fail_msg ("bob's %s of alice's run answered %ld: %.200s", acts[i], res.status,
                      res.body);
        ui_res_free (&res);
    }
    snprintf (body, sizeof body, "{\"threadId\":\"b-1\",\"runId\":\"b-1\",\"resume\":"
              "[{\"interruptId\":\"%s:%s:5\",\"status\":\"resolved\"}]}", run, call);
    ui_res_t res = ui_request ("POST", "/agui", ts_bob, body, NULL);
    if (res.status != 404)
        fail_msg ("bob's AG-UI resume of alice's interrupt answered %ld", res.status);
    ui_res_free (&res);
    snprintf (body, sizeof body, "{\"threadId\":\"b-2\",\"runId\":\"b-2\",\"messages\":"
              "[{\"id\":\"m\",\"role\":\"tool\",\"toolCallId\":\"%s:%s:5\","
              "\"content\":\"{}\"}]}", run, call);
    res = ui_request ("POST", "/agui", ts_bob, body, NULL);
    if (res.status != 404)
        fail_msg ("bob's AG-UI tool result on alice's run answered %ld", res.status);
    ui_res_free (&res);
    run_state (run, st, sizeof st, call);
    assert_string_equal (st, "awaiting_approval");
    snprintf (path, sizeof path, "/api/runs/%s/cancel", run);
    res = ui_request ("POST", path, ts_alice, NULL, NULL);
    assert_int_equal (res.status, 200);
    ui_res_free (&res);
}

/* ---- runs: one tenant keeps the orchestrator busy ------------------------ */

/* bob starts runs that stay live (each awaits approval) with no end: with
 * CAISSON_RUN_MAX_LIVE_PER_USER=3 his fourth is 429, alice's run is still
 * started, and once one of his ends he may start another. */
static void
test_live_runs_of_one_tenant (void **state)
{
    (void) state;
    static const char *const orch_extra[] = { "CAISSON_RUN_MAX_LIVE_PER_USER=3", NULL };
    tenant_orchestrator_restart (orch_extra);
    char runs[3][CID_SIZE];
    for (int i = 0; i < 3; i++) {
        long status;
        json_t *doc = ui_json ("POST", "/api/runs", ts_bob, "{\"task\":\"" GATED_TASK "\"}",
                               &status);
        assert_int_equal (status, 201);
        snprintf (runs[i], CID_SIZE, "%s", json_string_value (json_object_get (doc, "runId")));
        json_decref (doc);
    }
    long status;
    json_t *doc = ui_json ("POST", "/api/runs", ts_bob, "{\"task\":\"" GATED_TASK "\"}", &status);
    char *text = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    if (status != 429)
        fail_msg ("bob's fourth live run answered %ld: %s", status, text);
    free (text);
    doc = ui_json ("POST", "/api/runs", ts_alice, "{\"task\":\"hello\"}", &status);
    json_decref (doc);
    assert_int_equal (status, 201);
    char path[256];
    snprintf (path, sizeof path, "/api/runs/%s/cancel", runs[0]);
    ui_res_t res = ui_request ("POST", path, ts_bob, NULL, NULL);
    assert_int_equal (res.status, 200);
    ui_res_free (&res);
    doc = ui_json ("POST", "/api/runs", ts_bob, "{\"task\":\"hello\"}", &status);
    json_decref (doc);
    assert_int_equal (status, 201);
    for (int i = 1; i < 3; i++) {
        snprintf (path, sizeof path, "/api/runs/%s/cancel", runs[i]);
        res = ui_request ("POST", path, ts_bob, NULL, NULL);
        ui_res_free (&res);
    }
}

/* ---- tokens: revoked while a stream is open ----------------------------- */

/* The first TOKENS_ID_LEN hex digits of the token's sha256: its id. */
static void
token_id (const char *token, char id[16])
{
    char cmd[512];
    snprintf (cmd, sizeof cmd, "printf %%s '%s' | sha256sum | cut -c1-12", token);
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    assert_non_null (fgets (id, 16, p));
    id[strcspn (id, "\n")] = '\0';
    pclose (p);
}

/* alice opens her run's event stream, then her token is revoked: what the
 * run does afterwards must not reach that stream. */
static void
test_stream_outlives_revoked_token (void **state)
{
    (void) state;
    char token[256];
    snprintf (token, sizeof token, "%s", ui_token (3, "alice", 0));
    long status;
    json_t *doc = ui_json ("POST", "/api/runs", token, "{\"task\":\"" GATED_TASK "\"}",
                           &status);
    assert_int_equal (status, 201);
    char run[CID_SIZE], st[64] = "";
    snprintf (run, sizeof run, "%s", json_string_value (json_object_get (doc, "runId")) ?: "");
    json_decref (doc);
    for (int i = 0; i < 400 && strcmp (st, "awaiting_approval"); i++) {
        proto_msg_t *req = as ("root", true, PROTO_run_get);
        proto_set_str (&req->body.run_get.run_id, run);
        proto_msg_t *rep = ask ("orchestrator", req, 5000);
        assert_int_equal (rep->type, PROTO_run_info);
        snprintf (st, sizeof st, "%s", rep->body.run_info.status);
        proto_msg_destroy (&rep);
        if (strcmp (st, "awaiting_approval"))
            usleep (50000);
    }
    assert_string_equal (st, "awaiting_approval");

    /* the stream, as a browser tab left open holds it */
    char out[1300], url[512], auth[300];
    snprintf (out, sizeof out, "%s/stream.txt", ts_dir);
    snprintf (url, sizeof url, "%s/api/runs/%s/events", ui_base, run);
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", token);
    pid_t curl = fork ();
    assert_true (curl >= 0);
    if (curl == 0) {
        execlp ("curl", "curl", "-sN", "--max-time", "30", "-o", out, "-H", auth, url,
                (char *) NULL);
        _exit (127);
    }
    zclock_sleep (1500);

    char id[16];
    token_id (token, id);
    const char *argv[] = { "caisson", "token", "revoke", id, NULL };
    char text[512];
    assert_int_equal (support_run (argv, text, sizeof text), 0);
    for (int i = 0; i < 100; i++) {
        ui_res_t res = ui_request ("GET", "/api/runs", token, NULL, NULL);
        status = res.status;
        ui_res_free (&res);
        if (status == 401)
            break;
        usleep (50000);
    }
    assert_int_equal (status, 401);

    /* the run goes on after the revocation: an operator cancels it */
    char path[256];
    snprintf (path, sizeof path, "/api/runs/%s/cancel", run);
    ui_res_t res = ui_request ("POST", path, ts_root, NULL, NULL);
    assert_int_equal (res.status, 200);
    ui_res_free (&res);
    zclock_sleep (1500);
    kill (curl, SIGTERM);
    support_stop (curl, SIGKILL, 2000);
    FILE *f = fopen (out, "r");
    assert_non_null (f);
    static char seen[65536];
    size_t n = fread (seen, 1, sizeof seen - 1, f);
    seen[n] = '\0';
    fclose (f);
    assert_non_null (strstr (seen, "ask_approval"));    /* the stream was live */
    if (strstr (seen, "cancelled on request"))
        fail_msg ("the revoked token's stream still received the run's end:\n%.2000s", seen);
}

/* ---- connections: one tenant holds them all ---------------------------- */

/* GET path as token on the open connection fd (kept alive); the status,
 * 0 when there was no answer. */
static int
get_on (int fd, const char *path, const char *token)
{
    char req[1024], out[8192];
    int n = snprintf (req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      "%s\r\n\r\n", path, token);
    if (write (fd, req, (size_t) n) != n)
        return 0;
    ssize_t got = read (fd, out, sizeof out - 1);
    if (got <= 0)
        return 0;
    out[got] = '\0';
    int status = 0;
    sscanf (out, "HTTP/1.%*d %d", &status);
    return status;
}

/* bob, with his own token, opens every connection the bridge allows from a
 * few addresses and keeps them alive, each having made one request: alice
 * must still be served. */
static void
test_connections_of_one_tenant (void **state)
{
    (void) state;
    /* a small bridge: 24 connections, 8 per address, 8 per user */
    support_expect_clean_exit (ts_pids[TS_BRIDGE]);
    const char *env[] = { "CAISSON_HTTP_MAX_CONNECTIONS=24", "CAISSON_HTTP_MAX_PER_IP=8",
                          "CAISSON_HTTP_MAX_CONN_PER_USER=8", NULL };
    ts_pids[TS_BRIDGE] = support_spawn ("caisson-ui-bridge", env);
    assert_int_equal (ui_wait_ready (), 0);
    int fds[24], held = 0;
    for (int i = 0; i < 24; i++) {
        char from[32];
        snprintf (from, sizeof from, "127.0.0.%d", 11 + i / 8);
        fds[i] = ui_connect_from (from);
        if (fds[i] >= 0 && get_on (fds[i], "/api/runs?limit=1", ts_bob) == 200)
            held++;
    }
    char from[] = "127.0.0.30";
    int fd = ui_connect_from (from);
    int status = fd >= 0 ? get_on (fd, "/api/runs?limit=1", ts_alice) : 0;
    if (fd >= 0)
        close (fd);
    for (int i = 0; i < 24; i++)
        if (fds[i] >= 0)
            close (fds[i]);
    if (status != 200)
        fail_msg ("bob holds %d connections; alice's request answered %d", held, status);
    assert_true (held <= 8);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_append_to_another_users_run),
        cmocka_unit_test (test_artifact_claimed_by_event),
        cmocka_unit_test (test_remote_allow_list_dot_segments),
        cmocka_unit_test (test_unconfigured_provider),
        cmocka_unit_test (test_metrics_names_of_made_up_tools),
        cmocka_unit_test (test_http_acts_on_another_users_run),
        cmocka_unit_test (test_stream_outlives_revoked_token),
        cmocka_unit_test (test_live_runs_of_one_tenant),
        cmocka_unit_test (test_connections_of_one_tenant),
    };
    return support_run_group_tests (tests, setup, tenant_stack_down);
}
