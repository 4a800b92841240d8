/* test_thread_guard: event-log is the one authority on whose a thread is
 * and whether it takes runs (issue 14, thread ownership), through the
 * real broker and event-log:
 * - a run_started naming another user's thread, even one made with
 *   thread.create and never run, is refused as not_found; its owner's is
 *   stored;
 * - a deleted thread is a tombstone: a later run_started naming it is
 *   refused with a clear `conflict` (not_found for anyone else), and the
 *   thread does not come back with only that run;
 * - a run_started that arrives while thread.delete waits for the
 *   orchestrators (a stand-in, this program re-run as
 *   `orchestrator.standin<n>`) does not re-make the thread; when an
 *   orchestrator cannot drop it, the delete is refused and the thread
 *   takes runs again;
 * - retention that deletes a thread's last run drops the thread too. */
#include "eventlog_util.h"
#include "mpjson.h"
#include "runroute.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *s_self;

/* A run_started of run on thread as user sends it (the orchestrator's
 * shape), at ts (0: now). */
static proto_msg_t *
started_on (const char *run, const char *user, const char *thread, uint64_t ts)
{
    json_t *budgets = json_pack ("{s:i, s:i, s:i, s:i}", "steps", 20, "toolCalls", 50,
                                 "wallSeconds", 600, "tokens", 200000);
    json_t *policy = json_object ();
    proto_msg_t *m = APPEND_MSG (run, run_started, .task = "guard", .user = user,
                                 .threadId = thread, .model = "replay/demo",
                                 .orchestrator = "o1", .promptVersion = "v1",
                                 .budgets = budgets, .policy = policy);
    json_decref (budgets);
    json_decref (policy);
    proto_set_str (&m->env.user, user);
    if (ts)
        m->env.ts = ts;
    return m;
}

/* The code of the error req got ("" when it was acknowledged); its
 * message into why. */
static const char *
outcome (bus_client_t *c, proto_msg_t *req, char *why, size_t len)
{
    static char code[64];
    proto_msg_t *rep = request (c, req);
    assert_non_null (rep);
    code[0] = why[0] = '\0';
    if (rep->type == PROTO_error) {
        snprintf (code, sizeof code, "%s", rep->body.error.code);
        snprintf (why, len, "%s", rep->body.error.message);
    }
    else
        assert_int_equal (rep->type, PROTO_event_ack);
    proto_msg_destroy (&rep);
    return code;
}

static proto_msg_t *
as (proto_msg_t *m, const char *user)
{
    proto_set_str (&m->env.user, user);
    return m;
}

/* thread_get of thread as user: its runs (new), or NULL when not_found. */
static json_t *
thread_runs (bus_client_t *c, const char *user, const char *thread)
{
    proto_msg_t *req = as (proto_msg_new (PROTO_thread_get, NULL), user);
    proto_set_str (&req->body.thread_get.thread_id, thread);
    proto_msg_t *rep = request (c, req);
    assert_non_null (rep);
    json_t *runs = NULL;
    if (rep->type == PROTO_error)
        assert_string_equal (rep->body.error.code, "not_found");
    else
        runs = any_json (&rep->body.thread_convo.runs);
    proto_msg_destroy (&rep);
    return runs;
}

/* True when user's threads.list shows thread. */
static bool
listed (bus_client_t *c, const char *user, const char *thread)
{
    proto_msg_t *rep = request (c, as (proto_msg_new (PROTO_threads_list, NULL), user));
    assert_int_equal (rep->type, PROTO_threads_page);
    json_t *all = any_json (&rep->body.threads_page.threads), *t;
    size_t i;
    bool found = false;
    json_array_foreach (all, i, t)
        found |= !strcmp (json_string_value (json_object_get (t, "thread")) ?: "", thread);
    json_decref (all);
    proto_msg_destroy (&rep);
    return found;
}

/* run's record as alice reads it, or NULL. */
static json_t *
alice_run (bus_client_t *c, const char *run)
{
    proto_set_identity ("alice", false);
    json_t *rec = run_get (c, run);
    proto_set_identity (NULL, false);
    return rec;
}

static void
test_owner_guard (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("thread-guard-own");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (5000, 1);
    proto_msg_t *rep = request (c, as (proto_msg_new (PROTO_thread_create, NULL), "alice"));
    assert_int_equal (rep->type, PROTO_thread_info);
    json_t *t = any_json (&rep->body.thread_info.thread);
    char thread[129], why[256];
    snprintf (thread, sizeof thread, "%s", json_string_value (json_object_get (t, "thread")));
    json_decref (t);
    proto_msg_destroy (&rep);

    /* bob knows the id; the thread never had a run */
    assert_string_equal (outcome (c, started_on (rid ("BOB"), "bob", thread, 0), why,
                                  sizeof why), "not_found");
    assert_null (strstr (why, "alice"));
    json_t *runs = thread_runs (c, "alice", thread);
    assert_int_equal (json_array_size (runs), 0);
    json_decref (runs);
    assert_string_equal (outcome (c, started_on (rid ("ALICE"), "alice", thread, 0), why,
                                  sizeof why), "");
    runs = thread_runs (c, "alice", thread);
    assert_int_equal (json_array_size (runs), 1);
    json_decref (runs);
    /* and once it has runs, still not bob's */
    assert_string_equal (outcome (c, started_on (rid ("BOB2"), "bob", thread, 0), why,
                                  sizeof why), "not_found");
    assert_false (listed (c, "bob", thread));
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

static void
test_deleted_is_tombstone (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("thread-guard-del");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (5000, 1);
    char why[256];
    const char *thread = "thread-to-delete";
    assert_string_equal (outcome (c, started_on (rid ("R1"), "alice", thread, 0), why,
                                  sizeof why), "");
    proto_msg_t *end = append_msg (rid ("R1"), "complete", "{\"answer\":\"done\"}");
    assert_string_equal (outcome (c, as (end, "alice"), why, sizeof why), "");
    proto_msg_t *del = as (proto_msg_new (PROTO_thread_delete, NULL), "alice");
    proto_set_str (&del->body.thread_delete.thread_id, thread);
    proto_msg_t *rep = request (c, del);
    assert_int_equal (rep->type, PROTO_thread_deleted);
    assert_int_equal (rep->body.thread_deleted.runs, 1);
    proto_msg_destroy (&rep);

    /* a run that comes after (or raced the delete) is refused, clearly */
    assert_string_equal (outcome (c, started_on (rid ("R2"), "alice", thread, 0), why,
                                  sizeof why), "conflict");
    assert_non_null (strstr (why, "deleted"));
    assert_string_equal (outcome (c, started_on (rid ("R3"), "bob", thread, 0), why,
                                  sizeof why), "not_found");
    assert_false (listed (c, "alice", thread));
    assert_false (listed (c, "bob", thread));
    assert_null (thread_runs (c, "alice", thread));
    assert_null (alice_run (c, rid ("R2")));
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

/* The stand-in orchestrator's thread.drop: with GUARD_RACE_RUN set, a
 * run_started on the thread (as the drop's user) sent while event-log
 * waits for this answer, then dropped; else refused. */
static proto_msg_t *
orch_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    if (req->type != PROTO_thread_drop)
        return proto_error_new (req, PROTO_ERR_unknown_type, "stand-in drops threads only");
    const char *run = getenv ("GUARD_RACE_RUN");
    if (!run)
        return proto_error_new (req, PROTO_ERR_unavailable, "stand-in: cannot drop");
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    /* sent, not waited for long: a handler that blocks past the broker's
     * heartbeat liveness gets this worker dropped */
    bus_client_set_timeout (c, 50, 0);
    proto_msg_t *rep = request (c, started_on (run, req->env.user,
                                               req->body.thread_drop.thread_id, 0));
    proto_msg_destroy (&rep);   /* none yet: event-log is busy with the delete */
    bus_client_destroy (&c);
    rep = proto_msg_new (PROTO_thread_dropped, req);
    proto_set_str (&rep->body.thread_dropped.thread_id, req->body.thread_drop.thread_id);
    return rep;
}

static proto_msg_t *
delete_as (bus_client_t *c, const char *user, const char *thread)
{
    proto_msg_t *del = as (proto_msg_new (PROTO_thread_delete, NULL), user);
    proto_set_str (&del->body.thread_delete.thread_id, thread);
    proto_msg_t *rep = request (c, del);
    assert_non_null (rep);
    return rep;
}

/* True when the broker lists orchestrator.<inst>. */
static bool
registered (const char *inst)
{
    bus_client_t *c = client_new (500, 0);
    char want[64];
    snprintf (want, sizeof want, "orchestrator.%s", inst);
    json_t *all = runroute_instances (c, "orchestrator"), *s;
    size_t i;
    bool up = false;
    json_array_foreach (all, i, s)
        up |= !strcmp (json_string_value (s), want);
    json_decref (all);
    bus_client_destroy (&c);
    return up;
}

static void
await_registered (const char *inst, bool want)
{
    for (int i = 0; i < 100 && registered (inst) != want; i++)
        usleep (50000);
    if (registered (inst) != want)
        fail_msg ("orchestrator.%s never %s", inst, want ? "registered" : "went away");
}

/* Starts the stand-in orchestrator as inst; returns once it is listed. */
static pid_t
standin_up (const char *inst)
{
    pid_t pid = support_spawn_self ((const char *[]) { s_self, "orch", inst, NULL });
    await_registered (inst, true);
    return pid;
}

static void
test_delete_serialized (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("thread-guard-race");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (8000, 0);
    char why[256];
    /* an orchestrator that cannot drop: nothing deleted, the mark lifted */
    pid_t orch = standin_up ("standin1");
    assert_string_equal (outcome (c, started_on (rid ("K1"), "alice", "kept", 0), why,
                                  sizeof why), "");
    assert_string_equal (outcome (c, as (append_msg (rid ("K1"), "complete", "{}"), "alice"),
                                  why, sizeof why), "");
    proto_msg_t *rep = delete_as (c, "alice", "kept");
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "unavailable");
    proto_msg_destroy (&rep);
    assert_string_equal (outcome (c, started_on (rid ("K2"), "alice", "kept", 0), why,
                                  sizeof why), "");
    assert_true (listed (c, "alice", "kept"));
    json_t *k2 = alice_run (c, rid ("K2"));
    assert_non_null (k2);
    json_decref (k2);
    support_stop (orch, SIGTERM, 5000);
    await_registered ("standin1", false);

    /* a run_started that comes while the delete waits on the orchestrator */
    setenv ("GUARD_RACE_RUN", rid ("RACE"), 1);
    orch = standin_up ("standin2");
    assert_string_equal (outcome (c, started_on (rid ("D1"), "alice", "doomed", 0), why,
                                  sizeof why), "");
    assert_string_equal (outcome (c, as (append_msg (rid ("D1"), "complete", "{}"), "alice"),
                                  why, sizeof why), "");
    rep = delete_as (c, "alice", "doomed");
    assert_int_equal (rep->type, PROTO_thread_deleted);
    assert_int_equal (rep->body.thread_deleted.orchestrators, 1);
    proto_msg_destroy (&rep);
    usleep (300000);                    /* the raced append has been taken */
    assert_null (alice_run (c, rid ("RACE")));
    assert_false (listed (c, "alice", "doomed"));
    assert_null (thread_runs (c, "alice", "doomed"));
    unsetenv ("GUARD_RACE_RUN");
    support_stop (orch, SIGTERM, 5000);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

static void
test_retention_drops_thread (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("thread-guard-retain");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (5000, 1);
    char why[256];
    uint64_t now = (uint64_t) time (NULL) * 1000000, old = now - 40ull * 86400 * 1000000;
    assert_string_equal (outcome (c, started_on (rid ("OLD"), "alice", "old-thread", old), why,
                                  sizeof why), "");
    assert_string_equal (outcome (c, started_on (rid ("NEW"), "alice", "new-thread", now), why,
                                  sizeof why), "");
    assert_true (listed (c, "alice", "old-thread"));
    support_expect_clean_exit (el);

    static const char *const keep30[] = { "CAISSON_EVENTLOG_RETENTION_DAYS=30", NULL };
    el = start_eventlog (keep30);
    assert_null (run_get (c, rid ("OLD")));
    assert_false (listed (c, "alice", "old-thread"));
    assert_null (thread_runs (c, "alice", "old-thread"));
    assert_true (listed (c, "alice", "new-thread"));
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

int
main (int argc, char **argv)
{
    s_self = argv[0];
    if (argc > 2 && !strcmp (argv[1], "orch"))
        return support_serve ("orchestrator", argv[2], orch_handler, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_owner_guard),
        cmocka_unit_test (test_deleted_is_tombstone),
        cmocka_unit_test (test_delete_serialized),
        cmocka_unit_test (test_retention_drops_thread),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
