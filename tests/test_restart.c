/* test_restart: what a stack keeps across `caisson down` and `caisson up`
 * on the same data dir, driven through the CLI and the bus as a user and
 * an operator would (issue 13, item 1): each process keeps its instance
 * id, so a run that was awaiting approval can be approved and completes,
 * and a sandbox made before can run commands after. Also: a sandbox id
 * whose manager instance the bus has never seen is answered `not_found`
 * at once, a manager restarted by the supervisor still serves the requests
 * that came meanwhile, and a second manager on the same registry refuses
 * to start. */
#include "support.h"
#include "bus_client.h"
#include "runroute.h"

#include <czmq.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PR_TASK "add a CONTRIBUTING.md to the demo repository and open a pull request"

static char s_out[1 << 17];

static int
stack_up (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("restart");
    assert_non_null (dir);
    setenv ("CAISSON_HEARTBEAT_MS", "200", 1);
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

/* `caisson status --json`'s entry for process name: its pid and instance. */
static pid_t
process (const char *name, char *instance, size_t len)
{
    const char *argv[] = { "caisson", "status", "--json", NULL };
    assert_int_equal (support_run (argv, s_out, sizeof s_out), 0);
    json_t *doc = json_loads (s_out, 0, NULL);
    assert_non_null (doc);
    size_t i;
    json_t *p;
    pid_t pid = 0;
    json_array_foreach (json_object_get (doc, "processes"), i, p)
        if (!strcmp (json_string_value (json_object_get (p, "name")), name)) {
            pid = (pid_t) json_integer_value (json_object_get (p, "pid"));
            if (instance)
                snprintf (instance, len, "%s", json_string_value (json_object_get (p, "instance")));
        }
    json_decref (doc);
    assert_true (pid > 0);
    return pid;
}

/* The run's status in `caisson runs --json` ("" when not listed). */
static void
run_status (const char *run, char *status, size_t len)
{
    const char *argv[] = { "caisson", "runs", "--json", NULL };
    status[0] = '\0';
    if (support_run (argv, s_out, sizeof s_out))
        return;
    for (char *line = strtok (s_out, "\n"); line; line = strtok (NULL, "\n")) {
        json_t *r = json_loads (line, 0, NULL);
        json_t *rec = json_is_array (r) ? NULL : r;
        size_t i;
        json_t *x;
        json_array_foreach (r, i, x)
            if (!strcmp (json_string_value (json_object_get (x, "run")) ?: "", run))
                rec = x;
        if (rec && !strcmp (json_string_value (json_object_get (rec, "run")) ?: "", run))
            snprintf (status, len, "%s", json_string_value (json_object_get (rec, "status")) ?: "");
        json_decref (r);
    }
}

/* `caisson sandbox exec ID -- sh -c SCRIPT`: exit status, stdout in s_out. */
static int
sandbox_sh (const char *id, const char *script)
{
    const char *argv[] = { "caisson", "sandbox", "exec", id, "--timeout", "20", "--",
                           "sh", "-c", script, NULL };
    return support_run (argv, s_out, sizeof s_out);
}

static void
test_down_up_keeps_approvals_and_sandboxes (void **state)
{
    (void) state;
    char inst_before[64], inst_after[64];
    process ("orchestrator", inst_before, sizeof inst_before);

    const char *create[] = { "caisson", "sandbox", "create", "--language", "python", NULL };
    assert_int_equal (support_run (create, s_out, sizeof s_out), 0);
    char sandbox[128] = "";
    sscanf (s_out, "%127s", sandbox);
    assert_int_equal (sandbox_sh (sandbox, "echo kept > keep.txt"), 0);

    char path[1024], run[128], call[128];
    snprintf (path, sizeof path, "%s/pr-run.jsonl", getenv ("CAISSON_DATA"));
    pid_t pid = support_run_in_background (PR_TASK, path);
    support_await_approval (path, run, call, sizeof run);
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);

    support_stack_down ();
    const char *up[] = { "caisson", "up", "--detach", NULL };
    assert_int_equal (support_run (up, s_out, sizeof s_out), 0);
    process ("orchestrator", inst_after, sizeof inst_after);
    assert_string_equal (inst_before, inst_after);

    /* The run still waits for its approval, and takes it. */
    const char *approve[] = { "caisson", "approve", run, call, NULL };
    int rc = support_run (approve, s_out, sizeof s_out);
    if (rc)
        fail_msg ("caisson approve after down/up exited %d: %s", rc, s_out);
    /* The HTTP API answers for it too (it did not: 504 after 20 s): the
     * call is decided now, which the orchestrator says at once (409). */
    const char *token[] = { "caisson", "token", "create", "--user", "ops", "--operator", NULL };
    assert_int_equal (support_run (token, s_out, sizeof s_out), 0);
    char bearer[256];
    snprintf (bearer, sizeof bearer, "%.*s", (int) strcspn (s_out, "\n"), s_out);
    char cmd[2048];
    snprintf (cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' -m 15 -X POST "
              "-H 'Authorization: Bearer %s' -H 'Content-Type: application/json' "
              "-d '{\"toolCallId\":\"%s\"}' http://%s/api/runs/%s/approve",
              bearer, call, getenv ("CAISSON_HTTP"), run);
    int64_t t0 = zclock_mono ();
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    int http = 0;
    assert_int_equal (fscanf (p, "%d", &http), 1);
    pclose (p);
    if ((http != 409 && http != 200) || zclock_mono () - t0 > 5000)
        fail_msg ("POST /approve after down/up: %d after %lld ms", http,
                  (long long) (zclock_mono () - t0));
    char status[64] = "";
    for (int i = 0; i < 600 && strcmp (status, "completed"); i++) {
        run_status (run, status, sizeof status);
        if (strcmp (status, "completed"))
            zclock_sleep (100);
    }
    assert_string_equal (status, "completed");

    /* The sandbox made before is there, with its workspace, and runs. */
    if (sandbox_sh (sandbox, "cat keep.txt"))
        fail_msg ("exec in %s after down/up failed: %s", sandbox, s_out);
    assert_string_equal (s_out, "kept\n");
}

/* A sandbox id naming a manager instance the bus never saw is answered
 * not_found at once, by the CLI and on the bus. */
static void
test_unknown_instance_answered_at_once (void **state)
{
    (void) state;
    zclock_sleep (1000);        /* past the broker's start-up grace */
    int64_t t0 = zclock_mono ();
    const char *argv[] = { "caisson", "sandbox", "exec", "nosuchmgr-abc123", "--", "true", NULL };
    assert_int_not_equal (support_run (argv, NULL, 0), 0);
    int64_t took = zclock_mono () - t0;
    if (took > 1000)
        fail_msg ("caisson sandbox exec of an unknown instance took %lld ms", (long long) took);

    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    bus_client_set_timeout (c, 5000, 0);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_get, NULL);
    proto_set_str (&req->body.sandbox_get.sandbox_id, "nosuchmgr-abc123");
    t0 = zclock_mono ();
    proto_msg_t *rep = bus_client_request (c, "sandbox-manager.nosuchmgr", req);
    took = zclock_mono () - t0;
    proto_msg_destroy (&req);
    bus_client_destroy (&c);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "not_found");
    assert_non_null (strstr (rep->body.error.message, "nosuchmgr"));
    proto_msg_destroy (&rep);
    assert_true (took < 1000);
}

/* True when the broker lists inst among sandbox-manager's instances. */
static bool
listed (bus_client_t *c, const char *inst)
{
    char want[128];
    snprintf (want, sizeof want, "sandbox-manager.%s", inst);
    json_t *all = runroute_instances (c, "sandbox-manager");
    bool found = false;
    size_t i;
    json_t *x;
    json_array_foreach (all, i, x)
        found |= !strcmp (json_string_value (x), want);
    json_decref (all);
    return found;
}

/* A manager that went away and comes back within the broker's grace gets
 * the request sent meanwhile to its instance, rather than `not_found`. */
static void
test_restart_within_grace_served (void **state)
{
    (void) state;
    const char *create[] = { "caisson", "sandbox", "create", NULL };
    assert_int_equal (support_run (create, s_out, sizeof s_out), 0);
    char sandbox[128] = "", inst[64], addr[128];
    sscanf (s_out, "%127s", sandbox);
    pid_t mgr = process ("sandbox-manager", inst, sizeof inst);
    snprintf (addr, sizeof addr, "sandbox-manager.%s", inst);

    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    bus_client_set_timeout (c, 2000, 0);
    /* Stopped, it misses its heartbeats and the broker drops it. */
    assert_int_equal (kill (mgr, SIGSTOP), 0);
    for (int i = 0; i < 100 && listed (c, inst); i++)
        zclock_sleep (100);
    bool gone = !listed (c, inst);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_get, NULL);
    proto_set_str (&req->body.sandbox_get.sandbox_id, sandbox);
    req->env.op = true;
    support_send (c, addr, req);
    zclock_sleep (1000);
    kill (mgr, SIGCONT);
    assert_true (gone);
    proto_msg_t *rep = bus_client_recv (c, 10000, NULL);
    bus_client_destroy (&c);
    assert_non_null (rep);
    if (rep->type == PROTO_error)
        fail_msg ("answered %s: %s", rep->body.error.code, rep->body.error.message);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    assert_string_equal (rep->body.sandbox_info.sandbox_id, sandbox);
    proto_msg_destroy (&rep);
}

/* A second sandbox-manager on the stack's data dir refuses to start, and
 * says why; the first goes on serving. */
static void
test_second_manager_refused (void **state)
{
    (void) state;
    const char *dir = getenv ("CAISSON_DATA");
    pid_t pid = support_spawn ("caisson-sandbox-manager", NULL);
    assert_true (pid > 0);
    int status = 0;
    for (int i = 0; i < 100 && waitpid (pid, &status, WNOHANG) == 0; i++)
        zclock_sleep (100);
    if (support_alive (pid)) {
        support_stop (pid, SIGKILL, 1000);
        fail_msg ("a second sandbox-manager on %s kept running", dir);
    }
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 2);
    char log[1200];
    snprintf (log, sizeof log, "%s/caisson-sandbox-manager.log", dir);
    FILE *f = fopen (log, "r");
    assert_non_null (f);
    size_t n = fread (s_out, 1, sizeof s_out - 1, f);
    fclose (f);
    s_out[n] = '\0';
    if (!strstr (s_out, "another sandbox-manager"))
        fail_msg ("the refusal does not say why: %s", s_out);
    const char *ls[] = { "caisson", "sandbox", "ls", NULL };
    assert_int_equal (support_run (ls, NULL, 0), 0);
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_unknown_instance_answered_at_once),
        cmocka_unit_test (test_second_manager_refused),
        cmocka_unit_test (test_restart_within_grace_served),
        cmocka_unit_test (test_down_up_keeps_approvals_and_sandboxes),
    };
    return support_run_group_tests (tests, stack_up, stack_down);
}
