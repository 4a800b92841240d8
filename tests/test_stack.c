/* test_stack: the whole stack through the `caisson` command, as a user
 * drives it: up --detach, status --json, a service killed with SIGKILL and
 * restarted by the supervisor, down, and nothing left running. Also every
 * binary's --help and --version. */
#include "support.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const binaries[] = {
    "caisson", "caisson-bus", "caisson-ui-bridge", "caisson-orchestrator",
    "caisson-tool-runner", "caisson-sandbox-manager", "caisson-event-log",
};

static void
test_help_and_version (void **state)
{
    (void) state;
    char out[8192];
    for (size_t i = 0; i < sizeof binaries / sizeof binaries[0]; i++) {
        const char *help[] = { binaries[i], "--help", NULL };
        assert_int_equal (support_run (help, out, sizeof out), 0);
        assert_non_null (strstr (out, "CAISSON_BUS"));
        const char *version[] = { binaries[i], "--version", NULL };
        assert_int_equal (support_run (version, out, sizeof out), 0);
        assert_non_null (strstr (out, CAISSON_VERSION_STRING));
        const char *bad[] = { binaries[i], "--no-such-flag", NULL };
        assert_int_equal (support_run (bad, NULL, 0), 2);
    }
}

/* Runs `caisson status --json` and returns the parsed document. */
static json_t *
status (const char *dir, int *rc)
{
    static char out[16384];
    const char *argv[] = { "caisson", "status", "--json", "--data", dir, NULL };
    *rc = support_run (argv, out, sizeof out);
    json_error_t err;
    json_t *doc = json_loads (out, 0, &err);
    if (!doc)
        fail_msg ("status --json printed no JSON: %s (%s)", err.text, out);
    return doc;
}

static json_t *
process (json_t *doc, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get (doc, "processes"), i, p)
        if (!strcmp (json_string_value (json_object_get (p, "name")), name))
            return p;
    return NULL;
}

static char s_dirs[2][512];

/* Makes stack slot i a fresh data dir with its own endpoints. */
static const char *
new_stack_dir (int i, const char *name)
{
    const char *dir = support_sandbox_env (name);
    assert_non_null (dir);
    snprintf (s_dirs[i], sizeof s_dirs[i], "%s", dir);
    return s_dirs[i];
}

/* Whatever an assertion skipped, the stacks a test started go. */
static int
teardown (void **state)
{
    (void) state;
    for (int i = 0; i < 2; i++)
        if (s_dirs[i][0]) {
            const char *down[] = { "caisson", "down", "--data", s_dirs[i], NULL };
            support_run (down, NULL, 0);
            s_dirs[i][0] = '\0';
        }
    return 0;
}

static void
test_up_kill_restart_down (void **state)
{
    (void) state;
    const char *dir = new_stack_dir (0, "stack");
    setenv ("CAISSON_HEARTBEAT_MS", "200", 1);

    const char *up[] = { "caisson", "up", "--detach", "--data", dir, NULL };
    char out[4096];
    assert_int_equal (support_run (up, out, sizeof out), 0);
    assert_non_null (strstr (out, "6 processes healthy"));

    /* A second `up` for the same data dir refuses. */
    assert_int_equal (support_run (up, NULL, 0), 1);

    int rc;
    json_t *doc = status (dir, &rc);
    assert_int_equal (rc, 0);
    assert_true (json_is_true (json_object_get (doc, "running")));
    json_t *procs = json_object_get (doc, "processes");
    assert_int_equal (json_array_size (procs), 6);
    pid_t pids[7];
    size_t i;
    json_t *p;
    json_array_foreach (procs, i, p) {
        assert_true (json_is_true (json_object_get (p, "healthy")));
        pids[i] = (pid_t) json_integer_value (json_object_get (p, "pid"));
        assert_true (support_alive (pids[i]));
    }
    pids[6] = (pid_t) json_integer_value (json_object_get (doc, "supervisor"));
    pid_t victim = (pid_t) json_integer_value (json_object_get (process (doc, "tool-runner"), "pid"));
    json_decref (doc);

    assert_int_equal (kill (victim, SIGKILL), 0);
    bool back = false;
    for (int tries = 0; tries < 100 && !back; tries++) {
        usleep (100000);
        doc = status (dir, &rc);
        json_t *tr = process (doc, "tool-runner");
        back = rc == 0 && json_is_true (json_object_get (tr, "healthy"))
            && json_integer_value (json_object_get (tr, "pid")) != victim
            && json_integer_value (json_object_get (tr, "restarts")) == 1;
        if (back) {
            pids[3] = (pid_t) json_integer_value (json_object_get (tr, "pid"));
            assert_int_equal (json_integer_value (json_object_get (
                                  process (doc, "event-log"), "restarts")), 0);
        }
        json_decref (doc);
    }
    assert_true (back);

    const char *down[] = { "caisson", "down", "--data", dir, NULL };
    assert_int_equal (support_run (down, NULL, 0), 0);
    for (int k = 0; k < 7; k++)
        assert_false (support_alive (pids[k]));
    doc = status (dir, &rc);
    assert_int_equal (rc, 3);
    assert_true (json_is_false (json_object_get (doc, "running")));
    json_decref (doc);
}

static void
test_two_stacks_side_by_side (void **state)
{
    (void) state;
    const char *dirs[2] = { new_stack_dir (0, "stack-a"), new_stack_dir (1, "stack-b") };
    /* new_stack_dir left the environment on stack b's endpoints; stack a
     * needs its own. */
    char ep[600];
    for (int i = 0; i < 2; i++) {
        snprintf (ep, sizeof ep, "ipc://%s/bus", dirs[i]);
        setenv ("CAISSON_BUS", ep, 1);
        snprintf (ep, sizeof ep, "ipc://%s/events-in", dirs[i]);
        setenv ("CAISSON_BUS_PUB", ep, 1);
        snprintf (ep, sizeof ep, "ipc://%s/events-out", dirs[i]);
        setenv ("CAISSON_BUS_SUB", ep, 1);
        const char *up[] = { "caisson", "up", "--detach", "--data", dirs[i], NULL };
        assert_int_equal (support_run (up, NULL, 0), 0);
    }
    /* Client commands find each stack from its data dir alone, whatever
     * the environment says. */
    unsetenv ("CAISSON_BUS");
    int rc;
    pid_t sup[2];
    for (int i = 0; i < 2; i++) {
        json_t *doc = status (dirs[i], &rc);
        assert_int_equal (rc, 0);
        sup[i] = (pid_t) json_integer_value (json_object_get (doc, "supervisor"));
        json_decref (doc);
    }
    assert_int_not_equal (sup[0], sup[1]);

    const char *down[] = { "caisson", "down", "--data", dirs[0], NULL };
    assert_int_equal (support_run (down, NULL, 0), 0);
    assert_false (support_alive (sup[0]));
    json_t *doc = status (dirs[1], &rc);
    assert_int_equal (rc, 0);       /* the other stack is untouched */
    json_decref (doc);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_help_and_version),
        cmocka_unit_test_teardown (test_up_kill_restart_down, teardown),
        cmocka_unit_test_teardown (test_two_stacks_side_by_side, teardown),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
