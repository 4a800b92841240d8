/* test_threads: conversation threads end to end, through HTTP, the bus
 * and the CLI, over the real event-log, orchestrator and ui-bridge with
 * the scripted model (tests/cassettes/thread_*.json) and a stand-in
 * tool-runner (this program re-run as a bus worker):
 * - a follow-up on a thread answers from the earlier exchange (its
 *   cassette fails the run unless the model was sent it); the thread is
 *   listed newest first, titled from its first task;
 * - a cancelled and a failed run keep their turns: thread.get shows them
 *   marked, and the next run's model request carries them;
 * - a thread survives a restart of event-log and the orchestrator;
 * - rename (a person's title wins), delete (confirmation, refused while a
 *   run is live, runs and their own artifacts gone, the conversation
 *   dropped by the orchestrator);
 * - bob cannot list, read, rename, delete or continue alice's thread;
 * - `caisson threads`, `caisson thread show|rename|rm`, `caisson run --thread`;
 * - the web UI (headless Chromium): the chat continues its thread, New
 *   chat starts one, the list reopens one after a reload. */
#include "support.h"
#include "ui_support.h"

#include "bus_worker.h"
#include "mpjson.h"
#include "store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIRST "thread: remember the word PAPAYA"
#define FOLLOWUP "thread: which word did I give you?"
#define GATED "thread: open a pull request"
#define BROKEN "thread: a run that fails"
#define AFTER "thread: what happened before?"

static const char *s_self;
static pid_t s_pids[6];
static const char *s_alice, *s_bob;
static char s_url_env[128], s_port_env[64], s_dir_env[2048];

/* ---- the stand-in tool-runner ------------------------------------------- */

/* The stand-in tool-runner's catalogue and its one sandbox. */
static ui_standin_t s_tools = {
    "["
    "{\"name\":\"createSandbox\",\"description\":\"makes a sandbox\","
    "\"inputSchema\":{\"type\":\"object\"}}"
    ","
    "{\"name\":\"git.openPR\",\"description\":\"opens a PR\","
    "\"inputSchema\":{\"type\":\"object\"},\"mutates\":true}"
    "]",
    "sb-threads-1",
};

/* ---- fixture ------------------------------------------------------------ */

static pid_t
spawn_eventlog (void)
{
    return support_spawn ("caisson-event-log", NULL);
}

static pid_t
spawn_orchestrator (void)
{
    return support_spawn ("caisson-orchestrator",
                          (const char *[]) { "MODEL=replay/demo", s_url_env, NULL });
}

static int
setup (void **state)
{
    (void) state;
    assert_non_null (support_sandbox_env ("threads"));
    ui_pick_port ();
    int port = support_free_port ();
    snprintf (s_port_env, sizeof s_port_env, "CAISSON_LLM_REPLAY_PORT=%d", port);
    snprintf (s_url_env, sizeof s_url_env, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1", port);
    snprintf (s_dir_env, sizeof s_dir_env, "CAISSON_LLM_REPLAY_DIR=%s/tests/cassettes",
              CAISSON_SOURCE_DIR);
    s_pids[0] = support_spawn ("caisson-bus", NULL);
    s_pids[1] = spawn_eventlog ();
    s_pids[2] = support_spawn ("caisson-llm-replay",
                               (const char *[]) { s_port_env, s_dir_env, NULL });
    s_pids[3] = support_spawn_self ((const char *[]) { s_self, "tools", NULL });
    s_pids[4] = spawn_orchestrator ();
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
        support_stop (s_pids[i], SIGTERM, 5000);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* Starts task as token's user on thread (NULL: a new one); the run id
 * into run and the thread into thread (both CID_SIZE or more). */
static void
start (const char *token, const char *task, const char *thread, char *run, char *out_thread)
{
    json_t *body = json_pack ("{s:s}", "task", task);
    if (thread)
        json_object_set_new (body, "threadId", json_string (thread));
    char *text = json_dumps (body, JSON_COMPACT);
    long st;
    json_t *rep = ui_json ("POST", "/api/runs", token, text, &st);
    if (st != 201)
        fail_msg ("POST /api/runs answered %ld: %s", st, text);
    snprintf (run, 64, "%s", support_json_str (rep, "runId"));
    if (out_thread)
        snprintf (out_thread, 129, "%s", support_json_str (rep, "threadId"));
    free (text);
    json_decref (body);
    json_decref (rep);
}

/* Waits until run's record has status (or any end when status is ""),
 * and returns the record (new). */
static json_t *
await_run (const char *token, const char *run, const char *status)
{
    char path[128];
    snprintf (path, sizeof path, "/api/runs/%s", run);
    for (int i = 0; i < 300; i++) {
        long st;
        json_t *rec = ui_json ("GET", path, token, NULL, &st);
        const char *now = support_json_str (rec, "status");
        bool ended = now && strcmp (now, "running") && strcmp (now, "awaiting_approval");
        if (now && (!strcmp (now, status) || (!*status && ended)))
            return rec;
        if (ended)
            fail_msg ("run %s ended %s (%s), expected %s", run, now,
                      support_json_str (rec, "failure") ?: "", status);
        json_decref (rec);
        usleep (50000);
    }
    fail_msg ("run %s never reached %s", run, status);
    return NULL;
}

static long
http (const char *method, const char *path, const char *token, const char *body, json_t **out)
{
    long st;
    json_t *doc = ui_json (method, path, token, body, &st);
    if (out)
        *out = doc;
    else
        json_decref (doc);
    return st;
}

/* The thread ids of token's user's list, newest first (new array). */
static json_t *
list_ids (const char *token)
{
    json_t *page, *ids = json_array (), *t;
    assert_int_equal (http ("GET", "/api/threads", token, NULL, &page), 200);
    size_t i;
    json_array_foreach (json_object_get (page, "threads"), i, t)
        json_array_append (ids, json_object_get (t, "thread"));
    json_decref (page);
    return ids;
}

static bool
has_id (const json_t *ids, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach (ids, i, v)
        if (!strcmp (json_string_value (v), id))
            return true;
    return false;
}

/* The thread as GET /api/threads/ID gives it (new), once its title came
 * from source ("model", "task", "user"). */
static json_t *
await_title (const char *token, const char *thread, const char *source)
{
    char path[256];
    snprintf (path, sizeof path, "/api/threads/%s", thread);
    for (int i = 0; i < 200; i++) {
        json_t *convo;
        assert_int_equal (http ("GET", path, token, NULL, &convo), 200);
        json_t *t = json_incref (json_object_get (convo, "thread"));
        json_decref (convo);
        if (!strcmp (support_json_str (t, "titleSource") ?: "", source))
            return t;
        json_decref (t);
        usleep (50000);
    }
    fail_msg ("thread %s never got a title from %s", thread, source);
    return NULL;
}

/* Waits until run's stored events hold one of kind. */
static void
await_event (const char *token, const char *run, const char *kind)
{
    char path[256], needle[64];
    snprintf (path, sizeof path, "/api/runs/%s/transcript?format=jsonl", run);
    snprintf (needle, sizeof needle, "\"kind\":\"%s\"", kind);
    for (int i = 0; i < 200; i++) {
        ui_res_t res = ui_request ("GET", path, token, NULL, NULL);
        bool found = res.body && strstr (res.body, needle);
        ui_res_free (&res);
        if (found)
            return;
        usleep (50000);
    }
    fail_msg ("run %s never stored a %s event", run, kind);
}

/* ---- tests -------------------------------------------------------------- */

static void
test_followup_and_list (void **state)
{
    (void) state;
    char run[64], thread[129], run2[64], lone[64], lone_thread[129];
    start (s_alice, FIRST, NULL, run, thread);
    json_decref (await_run (s_alice, run, "completed"));
    /* the model titles the thread after its first answer (the scripted
     * model's title: `About: ` and the task's first six words) */
    json_t *titled = await_title (s_alice, thread, "model");
    assert_string_equal (support_json_str (titled, "title"), "About: " FIRST);
    json_decref (titled);
    /* the same over the Anthropic protocol (its system prompt is a list of blocks) */
    long st;
    json_t *rep = ui_json ("POST", "/api/runs", s_alice, "{\"task\":\"" FIRST "\","
                           "\"model\":\"replay-anthropic/t\"}", &st);
    assert_int_equal (st, 201);
    char arun[64], athread[129];
    snprintf (arun, sizeof arun, "%s", support_json_str (rep, "runId"));
    snprintf (athread, sizeof athread, "%s", support_json_str (rep, "threadId"));
    json_decref (rep);
    json_decref (await_run (s_alice, arun, "completed"));
    titled = await_title (s_alice, athread, "model");
    assert_string_equal (support_json_str (titled, "title"), "About: " FIRST);
    json_decref (titled);
    start (s_alice, FOLLOWUP, thread, run2, NULL);
    json_t *rec = await_run (s_alice, run2, "completed");
    assert_non_null (strstr (support_json_str (rec, "answer"), "PAPAYA"));
    json_decref (rec);
    /* the same question on a new thread has no earlier exchange: the
     * script refuses it, so the answer above came from the thread */
    start (s_alice, FOLLOWUP, NULL, lone, lone_thread);
    json_decref (await_run (s_alice, lone, "failed"));

    json_t *page, *t;
    assert_int_equal (http ("GET", "/api/threads", s_alice, NULL, &page), 200);
    json_t *threads = json_object_get (page, "threads");
    assert_true (json_array_size (threads) >= 2);
    assert_string_equal (support_json_str (json_array_get (threads, 0), "thread"), lone_thread);
    t = json_array_get (threads, 1);
    assert_string_equal (support_json_str (t, "thread"), thread);
    assert_string_equal (support_json_str (t, "title"), "About: " FIRST);
    assert_string_equal (support_json_str (t, "lastStatus"), "completed");
    assert_int_equal (json_integer_value (json_object_get (t, "runs")), 2);
    assert_true (json_integer_value (json_object_get (t, "lastActivity"))
                 >= json_integer_value (json_object_get (t, "created")));
    json_decref (page);
    /* paging: one at a time, the second page goes on where the first ended */
    assert_int_equal (http ("GET", "/api/threads?limit=1", s_alice, NULL, &page), 200);
    assert_int_equal (json_array_size (json_object_get (page, "threads")), 1);
    char path[256];
    snprintf (path, sizeof path, "/api/threads?limit=1&before=%s",
              support_json_str (page, "next"));
    json_decref (page);
    assert_int_equal (http ("GET", path, s_alice, NULL, &page), 200);
    assert_string_equal (support_json_str (json_array_get (json_object_get (page, "threads"), 0),
                                           "thread"), thread);
    json_decref (page);
    /* read as a conversation: both runs, in order, with their texts */
    snprintf (path, sizeof path, "/api/threads/%s", thread);
    json_t *convo;
    assert_int_equal (http ("GET", path, s_alice, NULL, &convo), 200);
    json_t *runs = json_object_get (convo, "runs");
    assert_int_equal (json_array_size (runs), 2);
    assert_string_equal (support_json_str (json_array_get (runs, 0), "task"), FIRST);
    assert_string_equal (support_json_str (json_array_get (runs, 1), "task"), FOLLOWUP);
    json_t *turn = json_array_get (json_object_get (json_array_get (runs, 0), "turns"), 0);
    assert_string_equal (support_json_str (turn, "text"), "Noted: the word is PAPAYA.");
    json_decref (convo);
}

static void
test_failed_and_cancelled_turns (void **state)
{
    (void) state;
    json_t *t;
    assert_int_equal (http ("POST", "/api/threads", s_alice, "{}", &t), 201);
    char thread[129], run[64], path[256];
    snprintf (thread, sizeof thread, "%s", support_json_str (t, "thread"));
    json_decref (t);
    start (s_alice, GATED, thread, run, NULL);
    json_decref (await_run (s_alice, run, "awaiting_approval"));
    snprintf (path, sizeof path, "/api/runs/%s/cancel", run);
    assert_int_equal (http ("POST", path, s_alice, NULL, NULL), 200);
    json_decref (await_run (s_alice, run, "cancelled"));
    start (s_alice, BROKEN, thread, run, NULL);
    json_decref (await_run (s_alice, run, "failed"));
    /* the next run's model is sent both, marked: its script checks */
    start (s_alice, AFTER, thread, run, NULL);
    json_decref (await_run (s_alice, run, "completed"));

    /* a first run that did not answer leaves the title its task gave */
    json_t *titled = await_title (s_alice, thread, "task");
    assert_string_equal (support_json_str (titled, "title"), GATED);
    json_decref (titled);
    snprintf (path, sizeof path, "/api/threads/%s", thread);
    json_t *convo;
    assert_int_equal (http ("GET", path, s_alice, NULL, &convo), 200);
    json_t *runs = json_object_get (convo, "runs");
    assert_int_equal (json_array_size (runs), 3);
    json_t *cancelled = json_array_get (runs, 0), *failed = json_array_get (runs, 1);
    assert_string_equal (support_json_str (cancelled, "status"), "cancelled");
    json_t *turns = json_object_get (cancelled, "turns");
    assert_string_equal (support_json_str (json_array_get (turns, 0), "text"),
                         "Plan: open a pull request.");
    assert_string_equal (support_json_str (json_array_get (turns, 1), "kind"), "approval");
    assert_string_equal (support_json_str (json_array_get (turns, 1), "name"), "git.openPR");
    assert_string_equal (support_json_str (failed, "status"), "failed");
    assert_non_null (support_json_str (failed, "failure"));
    turns = json_object_get (failed, "turns");
    assert_int_equal (json_array_size (turns), 3);
    assert_string_equal (support_json_str (json_array_get (turns, 2), "kind"), "tool_result");
    assert_string_equal (support_json_str (json_array_get (runs, 2), "status"), "completed");
    json_decref (convo);
}

static int
forget_threads (MDB_txn *txn, void *arg)
{
    store_t *st = arg;
    int rc = 0;
    for (size_t i = 1; i < 4 && !rc; i++)
        rc = mdb_drop (txn, store_dbi (st, i), 0);
    MDB_val k = { 7, "threads" };
    if (!rc)
        rc = mdb_del (txn, store_dbi (st, 0), &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static void
test_survives_restart (void **state)
{
    (void) state;
    char run[64], thread[129], path[256];
    start (s_alice, FIRST, NULL, run, thread);
    json_decref (await_run (s_alice, run, "completed"));
    usleep (200000);            /* the orchestrator writes within 20 ms */
    support_stop (s_pids[4], SIGTERM, 5000);
    support_stop (s_pids[1], SIGTERM, 5000);
    s_pids[1] = spawn_eventlog ();
    s_pids[4] = spawn_orchestrator ();
    ui_await_healthy ();
    json_t *ids = list_ids (s_alice);
    assert_true (has_id (ids, thread));
    json_decref (ids);
    snprintf (path, sizeof path, "/api/threads/%s", thread);
    assert_int_equal (http ("GET", path, s_alice, NULL, NULL), 200);
    start (s_alice, FOLLOWUP, thread, run, NULL);
    json_decref (await_run (s_alice, run, "completed"));
}

/* A store from before threads were kept: event-log stopped, its thread
 * databases emptied and its mark of having filled them removed; then it
 * starts again and must find the threads of the runs it has. */
static void
test_runs_before_threads (void **state)
{
    (void) state;
    char run[64], thread[129], run2[64];
    start (s_alice, FIRST, NULL, run, thread);
    json_decref (await_run (s_alice, run, "completed"));
    start (s_alice, FOLLOWUP, thread, run2, NULL);
    json_decref (await_run (s_alice, run2, "completed"));
    support_stop (s_pids[1], SIGTERM, 5000);
    char dir[1024];
    snprintf (dir, sizeof dir, "%s/event-log", getenv ("CAISSON_DATA"));
    static const char *const names[] = { "meta", "threads", "thread_act", "thread_runs" };
    store_t *st = store_new (dir, names, 4, 64u << 20, 1024u << 20, 0);
    assert_non_null (st);
    assert_int_equal (store_write (st, forget_threads, st), 0);
    store_destroy (&st);
    s_pids[1] = spawn_eventlog ();
    ui_await_healthy ();
    json_t *ids = list_ids (s_alice);
    assert_true (has_id (ids, thread));
    json_decref (ids);
    char path[256];
    snprintf (path, sizeof path, "/api/threads/%s", thread);
    json_t *convo;
    assert_int_equal (http ("GET", path, s_alice, NULL, &convo), 200);
    assert_int_equal (json_array_size (json_object_get (convo, "runs")), 2);
    json_t *t = json_object_get (convo, "thread");
    assert_string_equal (support_json_str (t, "title"), FIRST);
    assert_string_equal (support_json_str (t, "lastStatus"), "completed");
    json_decref (convo);
}

/* Puts bytes as alice and makes run (alice's) reference them; the hash
 * into hash (65 bytes). */
static void
attach (bus_client_t *c, const char *run, const char *bytes, char *hash)
{
    proto_msg_t *req = proto_msg_new (PROTO_artifact_put, NULL);
    proto_set_bytes (&req->body.artifact_put.data, (const uint8_t *) bytes, strlen (bytes));
    proto_msg_t *rep = bus_client_request (c, "event-log", req);
    proto_msg_destroy (&req);
    assert_int_equal (rep->type, PROTO_artifact_ref);
    snprintf (hash, 65, "%s", rep->body.artifact_ref.hash);
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_event_append, NULL);
    proto_set_str (&req->env.run, run);
    proto_set_str (&req->body.event_append.kind, "artifact");
    json_t *d = json_pack ("{s:s, s:s}", "hash", hash, "name", "notes.txt");
    mpjson_set (&req->body.event_append.data, d, 4);
    json_decref (d);
    rep = bus_client_request (c, "event-log", req);
    proto_msg_destroy (&req);
    assert_int_equal (rep->type, PROTO_event_ack);
    proto_msg_destroy (&rep);
}

/* True when event-log still has the artifact (asked as an operator). */
static bool
stored (const char *hash)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    proto_set_identity ("ops", true);
    proto_msg_t *req = proto_msg_new (PROTO_artifact_get, NULL);
    proto_set_str (&req->body.artifact_get.hash, hash);
    proto_msg_t *rep = bus_client_request (c, "event-log", req);
    assert_non_null (rep);
    bool there = rep->type == PROTO_artifact_data;
    proto_msg_destroy (&rep);
    proto_msg_destroy (&req);
    bus_client_destroy (&c);
    return there;
}

static void
test_rename_and_delete (void **state)
{
    (void) state;
    char run[64], thread[129], other[64], path[256], confirm[400];
    start (s_alice, FIRST, NULL, run, thread);
    json_decref (await_run (s_alice, run, "completed"));
    json_decref (await_title (s_alice, thread, "model"));
    start (s_alice, FIRST, NULL, other, NULL);
    json_decref (await_run (s_alice, other, "completed"));
    snprintf (path, sizeof path, "/api/threads/%s", thread);
    json_t *t;
    assert_int_equal (http ("PATCH", path, s_alice, "{\"title\":\"Papaya talk\"}", &t), 200);
    assert_string_equal (support_json_str (t, "title"), "Papaya talk");
    json_decref (t);
    assert_int_equal (http ("PATCH", path, s_alice, "{\"title\":\"  \"}", NULL), 400);
    assert_int_equal (http ("PATCH", path, s_alice, "{\"name\":\"x\"}", NULL), 400);
    /* a live run refuses the delete; the person's title outlives it */
    char live[64];
    start (s_alice, GATED, thread, live, NULL);
    json_decref (await_run (s_alice, live, "awaiting_approval"));
    snprintf (confirm, sizeof confirm, "%s?confirm=%s", path, thread);
    assert_int_equal (http ("DELETE", path, s_alice, NULL, NULL), 400);
    assert_int_equal (http ("DELETE", confirm, s_alice, NULL, NULL), 409);
    char cancel[128];
    snprintf (cancel, sizeof cancel, "/api/runs/%s/cancel", live);
    assert_int_equal (http ("POST", cancel, s_alice, NULL, NULL), 200);
    json_decref (await_run (s_alice, live, "cancelled"));
    assert_int_equal (http ("GET", path, s_alice, NULL, &t), 200);
    assert_string_equal (support_json_str (json_object_get (t, "thread"), "title"),
                         "Papaya talk");
    json_decref (t);
    /* a title given at creation is a person's too: the model's does not replace it */
    assert_int_equal (http ("POST", "/api/threads", s_alice, "{\"title\":\"Chosen first\"}", &t),
                      201);
    char chosen[129], first_run[64];
    snprintf (chosen, sizeof chosen, "%s", support_json_str (t, "thread"));
    json_decref (t);
    start (s_alice, FIRST, chosen, first_run, NULL);
    json_decref (await_run (s_alice, first_run, "completed"));
    await_event (s_alice, first_run, "thread_titled");
    t = await_title (s_alice, chosen, "user");
    assert_string_equal (support_json_str (t, "title"), "Chosen first");
    json_decref (t);
    /* an artifact of the thread's alone goes; one another run shares stays */
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    proto_set_identity ("alice", false);
    char own[65], shared[65];
    attach (c, run, "only the thread's run has this", own);
    attach (c, run, "two runs share this", shared);
    attach (c, other, "two runs share this", shared);
    bus_client_destroy (&c);
    json_t *rep;
    assert_int_equal (http ("DELETE", confirm, s_alice, NULL, &rep), 200);
    assert_int_equal (json_integer_value (json_object_get (rep, "runs")), 2);
    assert_int_equal (json_integer_value (json_object_get (rep, "orchestrators")), 1);
    json_decref (rep);
    assert_int_equal (http ("GET", path, s_alice, NULL, NULL), 404);
    char rpath[128];
    snprintf (rpath, sizeof rpath, "/api/runs/%s", run);
    assert_int_equal (http ("GET", rpath, s_alice, NULL, NULL), 404);
    assert_false (stored (own));
    assert_true (stored (shared));
    json_t *ids = list_ids (s_alice);
    assert_false (has_id (ids, thread));
    json_decref (ids);
    /* the id is a tombstone now: a run naming it is refused, clearly */
    char body[256];
    snprintf (body, sizeof body, "{\"task\":\"%s\",\"threadId\":\"%s\"}", FOLLOWUP, thread);
    assert_int_equal (http ("POST", "/api/runs", s_alice, body, &rep), 409);
    assert_non_null (strstr (support_json_str (json_object_get (rep, "error"), "message") ?: "",
                             "was deleted"));
    json_decref (rep);
}

static void
test_other_user (void **state)
{
    (void) state;
    char run[64], thread[129], path[400], body[400];
    start (s_alice, FIRST, NULL, run, thread);
    json_decref (await_run (s_alice, run, "completed"));
    json_t *ids = list_ids (s_bob);
    assert_false (has_id (ids, thread));
    json_decref (ids);
    snprintf (path, sizeof path, "/api/threads/%s", thread);
    assert_int_equal (http ("GET", path, s_bob, NULL, NULL), 404);
    assert_int_equal (http ("PATCH", path, s_bob, "{\"title\":\"mine now\"}", NULL), 404);
    snprintf (path, sizeof path, "/api/threads/%s?confirm=%s", thread, thread);
    assert_int_equal (http ("DELETE", path, s_bob, NULL, NULL), 404);
    snprintf (body, sizeof body, "{\"task\":\"" FOLLOWUP "\",\"threadId\":\"%s\"}", thread);
    assert_int_equal (http ("POST", "/api/runs", s_bob, body, NULL), 404);
    /* the same on the bus, as bob without the operator flag */
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    proto_set_identity ("bob", false);
    proto_msg_t *req = proto_msg_new (PROTO_thread_get, NULL);
    proto_set_str (&req->body.thread_get.thread_id, thread);
    proto_msg_t *rep = bus_client_request (c, "event-log", req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);
    proto_msg_destroy (&req);
    bus_client_destroy (&c);
    /* still alice's, untouched */
    snprintf (path, sizeof path, "/api/threads/%s", thread);
    json_t *t;
    assert_int_equal (http ("GET", path, s_alice, NULL, &t), 200);
    assert_string_not_equal (support_json_str (json_object_get (t, "thread"), "titleSource"),
                             "user");
    assert_int_equal (json_array_size (json_object_get (t, "runs")), 1);
    json_decref (t);
}

static void
test_cli (void **state)
{
    (void) state;
    char run[64], thread[129];
    static char out[1 << 16];
    start (s_alice, FIRST, NULL, run, thread);
    json_decref (await_run (s_alice, run, "completed"));
    const char *list[] = { "caisson", "threads", "--user", "alice", "--json", NULL };
    assert_int_equal (support_run (list, out, sizeof out), 0);
    json_t *threads = json_loads (out, 0, NULL);
    assert_string_equal (support_json_str (json_array_get (threads, 0), "thread"), thread);
    json_decref (threads);
    const char *rename[] = { "caisson", "thread", "rename", thread, "From the CLI", "--user",
                             "alice", NULL };
    assert_int_equal (support_run (rename, out, sizeof out), 0);
    const char *show[] = { "caisson", "thread", "show", thread, "--user", "alice", NULL };
    assert_int_equal (support_run (show, out, sizeof out), 0);
    assert_non_null (strstr (out, "# From the CLI"));
    assert_non_null (strstr (out, "> " FIRST));
    assert_non_null (strstr (out, "Noted: the word is PAPAYA."));
    char cmd[512];
    snprintf (cmd, sizeof cmd, "echo n | %s/caisson thread rm %s --user alice 2>/dev/null",
              CAISSON_BIN_DIR, thread);
    assert_int_not_equal (system (cmd), 0);
    assert_int_equal (support_run (show, out, sizeof out), 0);
    const char *rm[] = { "caisson", "thread", "rm", thread, "--yes", "--user", "alice", NULL };
    assert_int_equal (support_run (rm, out, sizeof out), 0);
    assert_int_not_equal (support_run (show, out, sizeof out), 0);
    /* caisson run --thread continues a thread */
    char thread2[129];
    start (s_alice, FIRST, NULL, run, thread2);
    json_decref (await_run (s_alice, run, "completed"));
    const char *cont[] = { "caisson", "run", "--user", "alice", "--thread", thread2, FOLLOWUP,
                           NULL };
    assert_int_equal (support_run (cont, out, sizeof out), 0);
    assert_non_null (strstr (out, "You gave me PAPAYA"));
}

/* The web UI in headless Chromium (tests/agui/browser.mjs, scenario
 * thread): a follow-up in the chat continues the thread and its answer
 * shows the model saw the first exchange; New chat starts a new thread;
 * after a reload the thread reopens and continues. */
static void
test_browser (void **state)
{
    (void) state;
    const char *args[] = { "node", "browser.mjs", ui_base, s_alice,
                           CAISSON_BIN_DIR "/../ui-screenshots/threads", "thread", FIRST,
                           FOLLOWUP, "You gave me PAPAYA", NULL };
    assert_int_equal (support_run_node (args), 0);
}

int
main (int argc, char **argv)
{
    s_self = argv[0];
    if (argc > 1 && !strcmp (argv[1], "tools"))
        return support_serve ("tool-runner", "standin", ui_standin_tools, &s_tools);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_followup_and_list),
        cmocka_unit_test (test_failed_and_cancelled_turns),
        cmocka_unit_test (test_survives_restart),
        cmocka_unit_test (test_runs_before_threads),
        cmocka_unit_test (test_rename_and_delete),
        cmocka_unit_test (test_other_user),
        cmocka_unit_test (test_cli),
        cmocka_unit_test (test_browser),
    };
    return support_run_group_tests (tests, setup, teardown);
}
