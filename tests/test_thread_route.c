/* test_thread_route: threads with two orchestrators, each with its own
 * store (CAISSON_STORE_PER_INSTANCE=1), over the real broker, event-log,
 * ui-bridge and the scripted model, with a stand-in tool-runner (this
 * program re-run as a bus worker) (issue 14):
 * - ownership is event-log's: bob cannot continue alice's thread made
 *   with thread.create before any run, through HTTP, the CLI or AG-UI,
 *   whichever instance his run lands on; alice then can, on either;
 * - continuity: a follow-up goes to the instance holding the thread
 *   (both alive); once that one is gone, the next run lands on the other,
 *   which rebuilds the conversation from event-log (the cassette
 *   `thread_again` fails the run unless the first exchange, and a failed
 *   run's text marked as failed, reached the model); and when the first
 *   comes back and the second goes, the first's older copy is replaced
 *   by event-log's (`thread_stale`). Leases are long, so no adoption
 *   hands a thread over. */
#include "support.h"
#include "ui_support.h"

#include "bus_client.h"
#include "bus_worker.h"
#include "mpjson.h"
#include "runroute.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIRST "thread: remember the word PAPAYA"
#define FOLLOWUP "thread: which word did I give you?"
#define BROKEN "thread: a run that fails"
#define AGAIN "thread: which word did I give you, once more?"
#define STALE "thread: and what did you say last time?"

static const char *s_self;
static pid_t s_pids[7];         /* bus, event-log, replay, tools, ui-bridge, oa, ob */
static const char *s_alice, *s_bob;
static char s_url_env[128], s_port_env[64], s_dir_env[2048];

/* The stand-in tool-runner's catalogue and its one sandbox. */
static ui_standin_t s_tools = {
    "["
    "{\"name\":\"createSandbox\",\"description\":\"makes a sandbox\","
    "\"inputSchema\":{\"type\":\"object\"}}"
    "]",
    "sb-route-1",
};

static pid_t
spawn_orchestrator (const char *instance)
{
    char inst[96];
    snprintf (inst, sizeof inst, "CAISSON_INSTANCE=%s", instance);
    return support_spawn ("caisson-orchestrator",
                          (const char *[]) { "MODEL=replay/demo", s_url_env, inst,
                                             "CAISSON_STORE_PER_INSTANCE=1",
                                             "CAISSON_RUN_LEASE_S=600", NULL });
}

/* True when the broker lists orchestrator.<inst>. */
static bool
listed (const char *inst)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    bus_client_set_timeout (c, 1000, 1);
    json_t *all = runroute_instances (c, "orchestrator"), *s;
    char want[80];
    snprintf (want, sizeof want, "orchestrator.%s", inst);
    bool found = false;
    size_t i;
    json_array_foreach (all, i, s)
        found |= !strcmp (json_string_value (s), want);
    json_decref (all);
    bus_client_destroy (&c);
    return found;
}

static void
await_listed (const char *inst, bool want)
{
    for (int i = 0; i < 200; i++) {
        if (listed (inst) == want)
            return;
        usleep (100000);
    }
    fail_msg ("orchestrator.%s never %s", inst, want ? "registered" : "went away");
}

static int
setup (void **state)
{
    (void) state;
    assert_non_null (support_sandbox_env ("thread-route"));
    setenv ("CAISSON_HEARTBEAT_MS", "200", 1);
    unsetenv ("CAISSON_INSTANCE");
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
    s_pids[4] = support_spawn ("caisson-ui-bridge", NULL);
    s_pids[5] = spawn_orchestrator ("oa");
    s_pids[6] = spawn_orchestrator ("ob");
    assert_int_equal (ui_wait_ready (), 0);
    s_alice = ui_token (0, "alice", 0);
    s_bob = ui_token (1, "bob", 0);
    await_listed ("oa", true);
    await_listed ("ob", true);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    for (int i = 6; i >= 0; i--)
        if (s_pids[i] > 0)
            support_stop (s_pids[i], SIGTERM, 5000);
    return 0;
}

/* POST /api/runs as token on thread; the HTTP status, the run id in run. */
static long
post_run (const char *token, const char *task, const char *thread, char *run)
{
    json_t *body = json_pack ("{s:s}", "task", task);
    if (thread)
        json_object_set_new (body, "threadId", json_string (thread));
    char *text = json_dumps (body, JSON_COMPACT);
    long st;
    json_t *rep = ui_json ("POST", "/api/runs", token, text, &st);
    snprintf (run, 64, "%s", st == 201 ? support_json_str (rep, "runId") : "");
    free (text);
    json_decref (body);
    json_decref (rep);
    return st;
}

/* Waits for run to end; asserts it completed; returns its record (new). */
static json_t *
await_completed (const char *token, const char *run)
{
    char path[128];
    snprintf (path, sizeof path, "/api/runs/%s", run);
    for (int i = 0; i < 300; i++) {
        long st;
        json_t *rec = ui_json ("GET", path, token, NULL, &st);
        const char *now = support_json_str (rec, "status");
        if (now && !strcmp (now, "completed"))
            return rec;
        if (now && strcmp (now, "running") && strcmp (now, "awaiting_approval"))
            fail_msg ("run %s ended %s: %s", run, now, support_json_str (rec, "failure") ?: "");
        json_decref (rec);
        usleep (50000);
    }
    fail_msg ("run %s never ended", run);
    return NULL;
}

/* The runs of token's user's thread (GET /api/threads/<id>), or -1. */
static long
thread_runs (const char *token, const char *thread)
{
    char path[256];
    snprintf (path, sizeof path, "/api/threads/%s", thread);
    long st;
    json_t *doc = ui_json ("GET", path, token, NULL, &st);
    long n = st == 200 ? (long) json_array_size (json_object_get (doc, "runs")) : -1;
    json_decref (doc);
    return n;
}

static void
test_bob_cannot_continue (void **state)
{
    (void) state;
    long st;
    json_t *made = ui_json ("POST", "/api/threads", s_alice, "{\"title\":\"alice's\"}", &st);
    assert_int_equal (st, 201);
    char thread[129];
    snprintf (thread, sizeof thread, "%s", support_json_str (made, "thread"));
    json_decref (made);

    /* HTTP, several times: the broker spreads them over both instances */
    char run[64];
    for (int i = 0; i < 4; i++)
        assert_int_equal (post_run (s_bob, FIRST, thread, run), 404);
    /* the CLI */
    static char out[1 << 16];
    const char *cli[] = { "caisson", "run", "--user", "bob", "--thread", thread, FIRST, NULL };
    for (int i = 0; i < 2; i++)
        assert_int_not_equal (support_run (cli, out, sizeof out), 0);
    /* AG-UI */
    char body[512];
    snprintf (body, sizeof body, "{\"threadId\":\"%s\",\"runId\":\"r1\",\"messages\":"
              "[{\"id\":\"m1\",\"role\":\"user\",\"content\":\"%s\"}]}", thread, FIRST);
    for (int i = 0; i < 2; i++) {
        ui_res_t res = ui_request ("POST", "/agui", s_bob, body, NULL);
        assert_int_equal (res.status, 404);
        ui_res_free (&res);
    }
    assert_int_equal (thread_runs (s_alice, thread), 0);
    assert_int_equal (thread_runs (s_bob, thread), -1);

    /* alice's own runs go on, on whichever instance: none took bob as owner */
    for (int i = 0; i < 3; i++) {
        assert_int_equal (post_run (s_alice, FIRST, thread, run), 201);
        json_decref (await_completed (s_alice, run));
    }
    assert_int_equal (thread_runs (s_alice, thread), 3);
}

static void
test_continuity_across_instances (void **state)
{
    (void) state;
    char run[64], thread[129], holder[64];
    long st;
    json_t *made = ui_json ("POST", "/api/threads", s_alice, "{}", &st);
    assert_int_equal (st, 201);
    snprintf (thread, sizeof thread, "%s", support_json_str (made, "thread"));
    json_decref (made);
    assert_int_equal (post_run (s_alice, FIRST, thread, run), 201);
    json_t *rec = await_completed (s_alice, run);
    snprintf (holder, sizeof holder, "%s", support_json_str (rec, "orchestrator"));
    json_decref (rec);
    /* both alive: each follow-up goes to the instance holding the thread */
    for (int i = 0; i < 3; i++) {
        assert_int_equal (post_run (s_alice, FOLLOWUP, thread, run), 201);
        rec = await_completed (s_alice, run);
        assert_string_equal (support_json_str (rec, "orchestrator"), holder);
        json_decref (rec);
    }
    /* a failed run stays in the thread, marked */
    assert_int_equal (post_run (s_alice, BROKEN, thread, run), 201);
    char path[128];
    snprintf (path, sizeof path, "/api/runs/%s", run);
    for (int i = 0; i < 300; i++) {
        rec = ui_json ("GET", path, s_alice, NULL, &st);
        bool failed = !strcmp (support_json_str (rec, "status") ?: "", "failed");
        json_decref (rec);
        if (failed)
            break;
        usleep (50000);
    }
    /* the holder goes for good: the next run lands on the other, which
     * rebuilds the thread from event-log */
    int slot = !strcmp (holder, "oa") ? 5 : 6;
    support_stop (s_pids[slot], SIGKILL, 5000);
    s_pids[slot] = -1;
    await_listed (holder, false);
    static char out[1 << 16];
    const char *cli[] = { "caisson", "run", "--user", "alice", "--thread", thread, AGAIN, NULL };
    assert_int_equal (support_run (cli, out, sizeof out), 0);
    assert_non_null (strstr (out, "Still PAPAYA."));
    assert_int_equal (thread_runs (s_alice, thread), 6);
    /* the first holder comes back and the second goes: the first's own
     * copy lacks the latest exchange, so it takes event-log's */
    s_pids[slot] = spawn_orchestrator (holder);
    await_listed (holder, true);
    int other = slot == 5 ? 6 : 5;
    support_stop (s_pids[other], SIGKILL, 5000);
    s_pids[other] = -1;
    await_listed (slot == 5 ? "ob" : "oa", false);
    assert_int_equal (post_run (s_alice, STALE, thread, run), 201);
    rec = await_completed (s_alice, run);
    assert_string_equal (support_json_str (rec, "orchestrator"), holder);
    json_decref (rec);
}

int
main (int argc, char **argv)
{
    s_self = argv[0];
    if (argc > 1 && !strcmp (argv[1], "tools"))
        return support_serve ("tool-runner", "standin", ui_standin_tools, &s_tools);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bob_cannot_continue),
        cmocka_unit_test (test_continuity_across_instances),
    };
    return support_run_group_tests (tests, setup, teardown);
}
