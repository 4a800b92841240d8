/* test_sandbox_adopt: sandbox-manager replicas on one data dir, each with
 * its own registry (CAISSON_STORE_PER_INSTANCE=1), through the bus with
 * the real broker and manager binaries (issue 13, "Stable identity"):
 * two replicas never hand out the same host uid; a replica restarted
 * before its lease ends keeps its own sandboxes; one gone for good (kill
 * -9, never restarted) has its sandboxes adopted by a live replica once
 * its lease ends, so their ids keep working (exec sees the files, destroy
 * works, through the bus and the CLI, listed once) and the per-user
 * limit counts them; started again, it takes a new id. */
#define _GNU_SOURCE
#include "sbx_client.h"
#include "mpjson.h"
#include "runroute.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEASE_S "2"

static char s_a[64];            /* the first replica's instance (s_mgr) */

/* Fills inst with an instance of sandbox-manager the broker lists that is
 * not in known (NULL-ended); false when there is none. */
static bool
new_instance (const char *const known[], char *inst, size_t len)
{
    json_t *all = runroute_instances (s_c, "sandbox-manager");
    size_t i;
    json_t *x;
    bool found = false;
    json_array_foreach (all, i, x) {
        const char *name = json_string_value (x) + strlen ("sandbox-manager.");
        bool seen = false;
        for (size_t k = 0; known[k]; k++)
            seen |= !strcmp (known[k], name);
        if (!seen && !found) {
            snprintf (inst, len, "%s", name);
            found = true;
        }
    }
    json_decref (all);
    return found;
}

/* Sends req (consumed) to sandbox-manager.<inst> as user tester unless set. */
static proto_msg_t *
call_to (const char *inst, proto_msg_t *req)
{
    char addr[128];
    snprintf (addr, sizeof addr, "sandbox-manager.%s", inst);
    if (!req->env.user)
        proto_set_str (&req->env.user, "tester");
    proto_msg_t *rep = bus_client_request (s_c, addr, req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    return rep;
}

/* Starts a replica with lease lease_s; its pid, and its instance in inst. */
static pid_t
start_replica (const char *lease_s, char *inst, size_t len)
{
    char lease[64];
    snprintf (lease, sizeof lease, "CAISSON_SANDBOX_LEASE_S=%s", lease_s);
    const char *env[] = { lease, NULL };
    json_t *before = runroute_instances (s_c, "sandbox-manager");
    const char *known[16] = { NULL };
    size_t i;
    json_t *x;
    json_array_foreach (before, i, x)
        if (i < 15)
            known[i] = json_string_value (x) + strlen ("sandbox-manager.");
    pid_t pid = support_spawn ("caisson-sandbox-manager", env);
    assert_true (pid > 0);
    bool up = false;
    for (int t = 0; t < 200 && !up && support_alive (pid); t++)
        if (!(up = new_instance (known, inst, len)))
            zclock_sleep (50);
    json_decref (before);
    if (!up) {
        /* say why: its exit and the end of its log */
        int st = 0;
        bool gone = !support_alive (pid) && waitpid (pid, &st, WNOHANG) == pid;
        char log[PATH_MAX], tail[2048] = "";
        snprintf (log, sizeof log, "%s/caisson-sandbox-manager.log", getenv ("CAISSON_DATA"));
        FILE *f = fopen (log, "re");
        if (f && fseek (f, -(long) (sizeof tail - 1), SEEK_END) != 0)
            rewind (f);
        size_t n = f ? fread (tail, 1, sizeof tail - 1, f) : 0;
        tail[n] = 0;
        if (f)
            fclose (f);
        fail_msg ("a second sandbox-manager never registered (%s, status %d); its log ends:\n%s",
                  gone ? "exited" : "alive", st, tail);
    }
    return pid;
}

static char *
create_on (const char *inst, const char *user)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->body.sandbox_create.language, "python");
    proto_set_str (&req->env.user, user);
    req->body.sandbox_create.ttl_seconds = 600;
    proto_msg_t *rep = call_to (inst, req);
    if (rep->type == PROTO_error)
        fail_msg ("create on %s: %s: %s", inst, rep->body.error.code, rep->body.error.message);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    return id;
}

/* Runs cmd in sandbox id through sandbox-manager.<inst> (as an operator
 * when op): the reply. */
static proto_msg_t *
exec_as (const char *inst, const char *id, const char *cmd, bool op)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    req->env.op = op;
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    any_set (&req->body.sandbox_exec.command, json_string (cmd));
    req->body.sandbox_exec.timeout_seconds = 20;
    return call_to (inst, req);
}

static proto_msg_t *
exec_on (const char *inst, const char *id, const char *cmd)
{
    return exec_as (inst, id, cmd, false);
}

/* The host uid sandbox id's root maps to, read inside it. */
static unsigned long
host_uid (const char *inst, const char *id)
{
    proto_msg_t *rep = exec_as (inst, id, "cat /proc/self/uid_map", true);
    if (rep->type == PROTO_error)
        fail_msg ("exec in %s: %s", id, rep->body.error.message);
    unsigned long inside = 1, outside = 0;
    assert_int_equal (sscanf (rep->body.sandbox_exec_result.stdout, "%lu %lu", &inside,
                              &outside), 2);
    assert_int_equal (inside, 0);
    proto_msg_destroy (&rep);
    return outside;
}

static void
destroy_on (const char *inst, char *id)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_destroy, NULL);
    proto_set_str (&req->body.sandbox_destroy.sandbox_id, id);
    req->env.op = true;         /* clean-up, whoever owns it */
    proto_msg_t *rep = call_to (inst, req);
    if (rep->type == PROTO_error)
        fail_msg ("destroy %s: %s: %s", id, rep->body.error.code, rep->body.error.message);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    assert_string_equal (rep->body.sandbox_info.status, "destroyed");
    proto_msg_destroy (&rep);
    free (id);
}

/* How many of tester's sandboxes sandbox-manager.<inst> lists; with one,
 * it is s_orphan. */
static char s_orphan[64];

static size_t
listed (const char *inst)
{
    proto_msg_t *rep = call_to (inst, proto_msg_new (PROTO_sandbox_list, NULL));
    assert_int_equal (rep->type, PROTO_sandbox_listed);
    char why[128];
    json_t *list = mpjson_decode (rep->body.sandbox_listed.sandboxes.data,
                                  rep->body.sandbox_listed.sandboxes.size, 4, why, sizeof why);
    size_t n = json_array_size (list);
    if (n == 1)
        assert_string_equal (json_string_value (json_object_get (json_array_get (list, 0),
                                                                 "sandbox_id")), s_orphan);
    json_decref (list);
    proto_msg_destroy (&rep);
    return n;
}

/* Sandboxes made on two replicas at once never share a host uid. */
static void
test_replicas_never_share_a_uid (void **state)
{
    (void) state;
    char b[64];
    pid_t pb = start_replica ("30", b, sizeof b);
    enum { N = 6 };
    /* Every create sent before any answer: the replicas work at once. */
    for (int i = 0; i < N; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
        proto_set_str (&req->env.user, i % 3 == 0 ? "u1" : i % 3 == 1 ? "u2" : "u3");
        req->body.sandbox_create.ttl_seconds = 600;
        char addr[128];
        snprintf (addr, sizeof addr, "sandbox-manager.%s", i % 2 ? b : s_a);
        support_send (s_c, addr, req);
    }
    char *ids[N], on[N][64];
    unsigned long uids[N];
    for (int i = 0; i < N; i++) {
        proto_msg_t *rep = bus_client_recv (s_c, 30000, NULL);
        assert_non_null (rep);
        if (rep->type == PROTO_error)
            fail_msg ("create: %s: %s", rep->body.error.code, rep->body.error.message);
        assert_int_equal (rep->type, PROTO_sandbox_info);
        ids[i] = strdup (rep->body.sandbox_info.sandbox_id);
        proto_msg_destroy (&rep);
        snprintf (on[i], sizeof on[i], "%.*s", (int) strcspn (ids[i], "-"), ids[i]);
    }
    for (int i = 0; i < N; i++)
        uids[i] = host_uid (on[i], ids[i]);
    for (int i = 0; i < N; i++)
        for (int k = i + 1; k < N; k++)
            if (uids[i] == uids[k])
                fail_msg ("%s (on %s) and %s (on %s) both run as host uid %lu", ids[i], on[i],
                          ids[k], on[k], uids[i]);
    for (int i = 0; i < N; i++)
        destroy_on (on[i], ids[i]);
    support_expect_clean_exit (pb);
}

/* A replica killed and restarted before its lease ends comes back under
 * its own id and serves its own sandboxes: the live one did not take them. */
static void
test_restart_before_lease_keeps_own (void **state)
{
    (void) state;
    char b[64], again[64];
    pid_t pb = start_replica ("30", b, sizeof b);
    char *id = create_on (b, "tester");
    proto_msg_t *rep = exec_on (b, id, "echo mine > mine.txt");
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    proto_msg_destroy (&rep);
    kill (pb, SIGKILL);
    waitpid (pb, NULL, 0);
    zclock_sleep (3000);            /* past the live replica's own lease and scans */
    pb = start_replica ("30", again, sizeof again);
    assert_string_equal (again, b);
    rep = exec_on (b, id, "cat mine.txt");
    if (rep->type == PROTO_error)
        fail_msg ("exec after restart: %s: %s", rep->body.error.code, rep->body.error.message);
    assert_string_equal (rep->body.sandbox_exec_result.stdout, "mine\n");
    proto_msg_destroy (&rep);
    destroy_on (b, id);
    support_expect_clean_exit (pb);
}

/* A replica gone for good: its sandbox is adopted by the live one once its
 * lease ends, keeps its id, files and owner, and counts for the limit. */
static void
test_gone_for_good_adopted (void **state)
{
    (void) state;
    char b[64];
    pid_t pb = start_replica (LEASE_S, b, sizeof b);
    char *orphan = create_on (b, "tester");
    snprintf (s_orphan, sizeof s_orphan, "%s", orphan);
    proto_msg_t *rep = exec_on (b, orphan, "echo before > kept.txt");
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    proto_msg_destroy (&rep);
    unsigned long uid = host_uid (b, orphan);
    kill (pb, SIGKILL);
    waitpid (pb, NULL, 0);

    /* Its id keeps working, by its own instance's address. */
    bus_client_set_timeout (s_c, 2000, 0);
    int64_t t0 = zclock_mono ();
    bool served = false;
    while (!served && zclock_mono () - t0 < 20000) {
        proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
        proto_set_str (&req->body.sandbox_exec.sandbox_id, orphan);
        any_set (&req->body.sandbox_exec.command, json_string ("cat kept.txt"));
        req->body.sandbox_exec.timeout_seconds = 20;
        char addr[128];
        snprintf (addr, sizeof addr, "sandbox-manager.%s", b);
        proto_set_str (&req->env.user, "tester");
        rep = bus_client_request (s_c, addr, req);
        proto_msg_destroy (&req);
        served = rep && rep->type == PROTO_sandbox_exec_result;
        if (served)
            assert_string_equal (rep->body.sandbox_exec_result.stdout, "before\n");
        proto_msg_destroy (&rep);
        if (!served)
            zclock_sleep (200);
    }
    bus_client_set_timeout (s_c, 30000, 0);
    if (!served)
        fail_msg ("sandbox %s of the dead replica %s was never served again", orphan, b);
    assert_int_equal (host_uid (b, orphan), uid);
    /* Started again after that, the dead replica takes another id rather
     * than fight for its old registry; the adopter keeps serving it. */
    char again[64];
    pb = start_replica (LEASE_S, again, sizeof again);
    assert_string_not_equal (again, b);
    assert_int_equal (host_uid (b, orphan), uid);
    support_expect_clean_exit (pb);
    /* Its owner sees it listed by its own instance (lists ask every
     * instance the broker names and merge), and only there. */
    assert_int_equal (listed (b), 1);
    assert_int_equal (listed (s_a), 0);
    /* The CLI routes by the id and merges every instance's list: once. */
    static char out[8192];
    const char *cli_exec[] = { "caisson", "sandbox", "exec", orphan, "--timeout", "20", "--",
                               "cat", "kept.txt", NULL };
    if (support_run (cli_exec, out, sizeof out))
        fail_msg ("caisson sandbox exec %s after adoption: %s", orphan, out);
    assert_string_equal (out, "before\n");
    const char *cli_list[] = { "caisson", "sandbox", "ls", NULL };
    if (support_run (cli_list, out, sizeof out))
        fail_msg ("caisson sandbox ls: %s", out);
    char *first = strstr (out, orphan);
    assert_non_null (first);
    assert_null (strstr (first + 1, orphan));

    /* The per-user limit (3 here) counts the adopted sandbox. */
    char *mine[2] = { create_on (s_a, "tester"), create_on (s_a, "tester") };
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    req->body.sandbox_create.ttl_seconds = 600;
    rep = call_to (s_a, req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "too_many_sandboxes");
    proto_msg_destroy (&rep);

    destroy_on (b, orphan);
    /* Its last sandbox gone, the adopted registry is removed (its uid
     * range free again) and its instance no longer served. */
    char dir[1024];
    snprintf (dir, sizeof dir, "%s/sandbox-manager/%s", s_dir, b);
    for (int i = 0; i < 100 && !access (dir, F_OK); i++)
        zclock_sleep (50);
    if (!access (dir, F_OK))
        fail_msg ("%s is still there after its last sandbox was destroyed", dir);
    char *third = create_on (s_a, "tester");
    destroy_on (s_a, third);
    destroy_on (s_a, mine[0]);
    destroy_on (s_a, mine[1]);
}

static int
setup (void **state)
{
    setenv ("CAISSON_STORE_PER_INSTANCE", "1", 1);
    setenv ("CAISSON_SANDBOX_LEASE_S", LEASE_S, 1);
    setenv ("CAISSON_HEARTBEAT_MS", "200", 1);
    unsetenv ("CAISSON_INSTANCE");
    int rc = sbx_setup (state);
    const char *none[] = { NULL };
    if (!new_instance (none, s_a, sizeof s_a))
        fail_msg ("the first sandbox-manager is not listed");
    return rc;
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_replicas_never_share_a_uid),
        cmocka_unit_test (test_restart_before_lease_keeps_own),
        cmocka_unit_test (test_gone_for_good_adopted),
    };
    return support_run_group_tests (tests, setup, sbx_teardown);
}
