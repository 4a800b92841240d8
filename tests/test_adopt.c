/* test_adopt: runs survive the loss of their orchestrator for good
 * (issue 13, "Stable identity"). Orchestrators with their own stores
 * (CAISSON_STORE_PER_INSTANCE=1) on one data dir: when one is killed and
 * does not come back within its lease, a live one adopts its unfinished
 * runs, so a run awaiting approval is still answered (through the CLI)
 * and completes, and its record names the adopter; one restarted within
 * its lease takes its own runs up again; two survivors never both resume
 * a run; and the sandboxes a completed run keeps for its thread survive
 * a restart and are still destroyed once idle. The stack is `caisson up`
 * (its orchestrator is supervised); the others are started here. */
#include "support.h"
#include "bus_client.h"
#include "runroute.h"

#include <czmq.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PR_TASK "add a CONTRIBUTING.md to the demo repository and open a pull request"
#define SEED "write a python reverse_string function with unit tests and run them"

static char s_out[1 << 18];
static char s_adopted[128];     /* the run test_killed_owner_adopted saw adopted */

static int
stack_up (void **state)
{
    (void) state;
    assert_non_null (support_sandbox_env ("adopt"));
    setenv ("CAISSON_HEARTBEAT_MS", "200", 1);
    setenv ("CAISSON_STORE_PER_INSTANCE", "1", 1);
    setenv ("CAISSON_RUN_LEASE_S", "1", 1);
    setenv ("CAISSON_RUN_SANDBOX_IDLE_S", "4", 1);
    unsetenv ("CAISSON_INSTANCE");
    support_stack_up (support_free_port (), support_free_port ());
    return 0;
}

static int
stack_down (void **state)
{
    (void) state;
    support_stack_down ();
    return 0;
}

/* The id kept in DATA/orchestrator/<slot> (the slot's process may be
 * gone) into id; false while the slot has none (yet). */
static bool
read_slot (const char *slot, char *id, size_t len)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/orchestrator/%s", getenv ("CAISSON_DATA"), slot);
    FILE *f = fopen (path, "r");
    id[0] = '\0';
    if (f && !fgets (id, (int) len, f))
        id[0] = '\0';
    if (f)
        fclose (f);
    id[strcspn (id, "\r\n")] = '\0';
    return id[0] != '\0';
}

static void
slot_id (const char *slot, char *id, size_t len)
{
    assert_true (read_slot (slot, id, len));
}

/* True when the broker lists orchestrator.<inst>. */
static bool
listed (const char *inst)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    bus_client_set_timeout (c, 2000, 0);
    char want[128];
    snprintf (want, sizeof want, "orchestrator.%s", inst);
    json_t *all = runroute_instances (c, "orchestrator");
    bool found = false;
    size_t i;
    json_t *x;
    json_array_foreach (all, i, x)
        found |= !strcmp (json_string_value (x), want);
    json_decref (all);
    bus_client_destroy (&c);
    return found;
}

/* Starts an orchestrator of this data dir (extra: one KEY=VALUE or NULL)
 * in slot, waits until the broker lists it; its id into id. */
static pid_t
spawn_orchestrator (const char *slot, const char *extra, char *id, size_t len)
{
    const char *env[] = { extra, NULL };
    pid_t pid = support_spawn ("caisson-orchestrator", env);
    assert_true (pid > 0);
    /* the slot's file is made, then its id written */
    for (int i = 0; i < 200 && !read_slot (slot, id, len); i++)
        zclock_sleep (50);
    slot_id (slot, id, len);
    for (int i = 0; i < 200 && !listed (id); i++)
        zclock_sleep (50);
    assert_true (listed (id));
    return pid;
}

/* run.start of task sent to orchestrator.<inst>, as the CLI sends it (an
 * operator acting for `cli`); the new run's id into run. */
static void
start_on (const char *inst, const char *task, const char *thread, char *run, size_t len)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    bus_client_set_timeout (c, 10000, 0);
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->env.user, "cli");
    req->env.op = true;
    proto_set_str (&req->body.run_start.task, task);
    proto_set_str (&req->body.run_start.thread_id, thread);
    char addr[128];
    snprintf (addr, sizeof addr, "orchestrator.%s", inst);
    proto_msg_t *rep = bus_client_request (c, addr, req);
    proto_msg_destroy (&req);
    bus_client_destroy (&c);
    assert_non_null (rep);
    if (rep->type == PROTO_error)
        fail_msg ("run.start: %s: %s", rep->body.error.code, rep->body.error.message);
    assert_int_equal (rep->type, PROTO_run_started);
    snprintf (run, len, "%s", rep->body.run_started.run_id);
    proto_msg_destroy (&rep);
}

/* The run's stored record (new), from `caisson runs --json`, or NULL. */
static json_t *
record (const char *run)
{
    const char *argv[] = { "caisson", "runs", "--json", NULL };
    if (support_run (argv, s_out, sizeof s_out))
        return NULL;
    json_t *found = NULL;
    for (char *line = strtok (s_out, "\n"); line; line = strtok (NULL, "\n")) {
        json_t *r = json_loads (line, 0, NULL);
        json_t *one = json_is_array (r) ? NULL : r;
        size_t i;
        json_t *x;
        json_array_foreach (r, i, x)
            if (!strcmp (json_string_value (json_object_get (x, "run")) ?: "", run))
                one = x;
        if (!found && one && !strcmp (json_string_value (json_object_get (one, "run")) ?: "", run))
            found = json_incref (one);
        json_decref (r);
    }
    return found;
}

/* Waits up to ms for the record's field to equal want; its last value
 * into got. */
static bool
await_record (const char *run, const char *field, const char *want, int ms, char *got,
              size_t len)
{
    got[0] = '\0';
    for (int64_t end = zclock_mono () + ms; zclock_mono () < end; zclock_sleep (100)) {
        json_t *rec = record (run);
        snprintf (got, len, "%s", json_string_value (json_object_get (rec, field)) ?: "");
        json_decref (rec);
        if (!strcmp (got, want))
            return true;
    }
    return false;
}

/* How many events of kind the run's transcript holds; the last one's
 * data.toolCallId into call when call is not NULL. */
static int
events_of (const char *run, const char *kind, char *call, size_t len)
{
    const char *argv[] = { "caisson", "show", run, "--json", NULL };
    if (support_run (argv, s_out, sizeof s_out))
        return -1;
    int n = 0;
    for (char *line = strtok (s_out, "\n"); line; line = strtok (NULL, "\n")) {
        json_t *ev = json_loads (line, 0, NULL);
        if (!strcmp (json_string_value (json_object_get (ev, "kind")) ?: "", kind)) {
            n++;
            if (call)
                snprintf (call, len, "%s", json_string_value (json_object_get (
                    json_object_get (ev, "data"), "toolCallId")) ?: "");
        }
        json_decref (ev);
    }
    return n;
}

/* A run awaiting approval: its call id into call. */
static void
await_ask (const char *run, char *call, size_t len)
{
    for (int i = 0; i < 600 && events_of (run, "ask_approval", call, len) < 1; i++)
        zclock_sleep (100);
    assert_true (call[0]);
    char got[64];
    assert_true (await_record (run, "status", "awaiting_approval", 10000, got, sizeof got));
}

static void
approve_and_complete (const char *run, const char *call)
{
    const char *approve[] = { "caisson", "approve", run, call, NULL };
    int rc = support_run (approve, s_out, sizeof s_out);
    if (rc)
        fail_msg ("caisson approve exited %d: %s", rc, s_out);
    char got[64];
    if (!await_record (run, "status", "completed", 60000, got, sizeof got))
        fail_msg ("run %s is %s, not completed", run, got);
}

/* Two orchestrators besides the stack's; the one that holds a run
 * awaiting approval is killed for good. One survivor adopts the run once
 * the lease (1 s) ran out: its record names the adopter, it is resumed
 * once, `caisson approve` answers it and it completes. */
static void
test_killed_owner_adopted (void **state)
{
    (void) state;
    char a[64], b[64], c[64], run[128], call[128] = "", got[64];
    slot_id ("instance", a, sizeof a);
    pid_t pb = spawn_orchestrator ("instance-2", NULL, b, sizeof b);
    pid_t pc = spawn_orchestrator ("instance-3", NULL, c, sizeof c);
    start_on (b, PR_TASK, NULL, run, sizeof run);
    await_ask (run, call, sizeof call);
    assert_true (await_record (run, "orchestrator", b, 1000, got, sizeof got));

    kill (pb, SIGKILL);
    waitpid (pb, NULL, 0);
    int64_t t0 = zclock_mono ();
    bool moved = false;
    while (!moved && zclock_mono () - t0 < 15000) {
        await_record (run, "orchestrator", b, 200, got, sizeof got);
        moved = got[0] && strcmp (got, b);
    }
    if (!moved)
        fail_msg ("run %s still names its dead orchestrator %s after 15 s", run, b);
    assert_true (!strcmp (got, a) || !strcmp (got, c));
    approve_and_complete (run, call);
    assert_int_equal (events_of (run, "resumed", NULL, 0), 1);
    assert_true (await_record (run, "orchestrator", got, 1000, got, sizeof got));
    snprintf (s_adopted, sizeof s_adopted, "%s", run);

    assert_int_equal (support_stop (pc, SIGTERM, 10000), 0);
}

/* An orchestrator killed and restarted within its lease (30 s here)
 * takes its own run up again: nobody adopts it meanwhile. It came back
 * under the id of the one killed for good above, whose store was
 * adopted: it resumes nothing twice. */
static void
test_restart_within_lease_keeps_run (void **state)
{
    (void) state;
    char b[64], b2[64], run[128], call[128] = "", got[64];
    pid_t pb = spawn_orchestrator ("instance-2", "CAISSON_RUN_LEASE_S=30", b, sizeof b);
    start_on (b, PR_TASK, NULL, run, sizeof run);
    await_ask (run, call, sizeof call);
    kill (pb, SIGKILL);
    waitpid (pb, NULL, 0);
    zclock_sleep (3000);        /* three times the survivors' scan period */
    assert_true (await_record (run, "orchestrator", b, 1000, got, sizeof got));
    assert_int_equal (events_of (run, "resumed", NULL, 0), 0);

    pb = spawn_orchestrator ("instance-2", "CAISSON_RUN_LEASE_S=30", b2, sizeof b2);
    assert_string_equal (b, b2);
    for (int i = 0; i < 100 && events_of (run, "resumed", NULL, 0) < 1; i++)
        zclock_sleep (100);
    approve_and_complete (run, call);
    assert_int_equal (events_of (run, "resumed", NULL, 0), 1);
    assert_true (await_record (run, "orchestrator", b, 1000, got, sizeof got));
    /* the run adopted from this id before was not taken up again */
    if (s_adopted[0])
        assert_int_equal (events_of (s_adopted, "resumed", NULL, 0), 1);
    assert_int_equal (support_stop (pb, SIGTERM, 10000), 0);
}

/* How many sandboxes `caisson sandbox ls` lists. */
static int
sandboxes (void)
{
    const char *argv[] = { "caisson", "sandbox", "ls", NULL };
    if (support_run (argv, s_out, sizeof s_out))
        return -1;
    int n = 0;
    for (char *p = s_out; (p = strchr (p, '\n')); p++)
        n++;
    return n;
}

/* A run on a named thread keeps its sandbox for the thread; the
 * orchestrator is killed and comes back (its supervisor restarts it): it
 * still destroys the sandbox once idle (CAISSON_RUN_SANDBOX_IDLE_S, 4 s
 * here), rather than leaving it to the sandbox's own TTL. */
static void
test_kept_sandbox_survives_restart (void **state)
{
    (void) state;
    char a[64], run[128], got[64];
    slot_id ("instance", a, sizeof a);
    int before = sandboxes ();
    start_on (a, SEED, "th-kept", run, sizeof run);
    assert_true (await_record (run, "status", "completed", 60000, got, sizeof got));
    assert_int_equal (sandboxes (), before + 1);

    const char *argv[] = { "caisson", "status", "--json", NULL };
    assert_int_equal (support_run (argv, s_out, sizeof s_out), 0);
    json_t *doc = json_loads (s_out, 0, NULL);
    size_t i;
    json_t *p;
    pid_t pid = 0;
    json_array_foreach (json_object_get (doc, "processes"), i, p)
        if (!strcmp (json_string_value (json_object_get (p, "name")) ?: "", "orchestrator"))
            pid = (pid_t) json_integer_value (json_object_get (p, "pid"));
    json_decref (doc);
    assert_true (pid > 0);
    kill (pid, SIGKILL);
    for (int j = 0; j < 200 && (!listed (a) || support_alive (pid)); j++)
        zclock_sleep (50);
    assert_true (listed (a));
    int n = sandboxes ();
    for (int j = 0; j < 150 && n > before; j++) {
        zclock_sleep (100);
        n = sandboxes ();
    }
    if (n != before)
        fail_msg ("the thread's kept sandbox outlived its idle limit across a restart "
                  "(%d sandboxes, %d before the run)", n, before);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_kept_sandbox_survives_restart),
        cmocka_unit_test (test_killed_owner_adopted),
        cmocka_unit_test (test_restart_within_lease_keeps_run),
    };
    return support_run_group_tests (tests, stack_up, stack_down);
}
