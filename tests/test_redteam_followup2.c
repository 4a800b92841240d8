/* test_redteam_followup2: a second red-team pass over issue 11's fixes,
 * as code in a sandbox, a local process on the bus and a second local
 * uid. Each test is an attack that asserts it fails. */
#define _GNU_SOURCE
#include "sbx_client.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs build/bin/caisson with argv as uid/gid nobody (65534): the
 * second local user. Its exit status. */
static int
as_nobody (const char *const argv[])
{
    pid_t pid = fork ();
    if (pid == 0) {
        if (setgroups (0, NULL) || setgid (65534) || setuid (65534))
            _exit (126);
        int st = support_run (argv, NULL, 0);
        _exit (WIFEXITED (st) ? WEXITSTATUS (st) : 125);
    }
    int st = 0;
    waitpid (pid, &st, 0);
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

/* A second local user makes the data dir an operator will name (under
 * /tmp, say) before the operator does, with bus keys it made itself; if
 * `caisson up` takes that dir, the other user holds the client (operator)
 * key and the bus's secret key of the stack root started, and owns its
 * log and run dirs. `up` and `keys` must refuse a dir they do not own. */
static void
test_planted_data_dir (void **state)
{
    (void) state;
    char data[128], arg_data[160];
    snprintf (data, sizeof data, "/tmp/caisson-planted-%d", (int) getpid ());
    assert_int_equal (mkdir (data, 0777), 0);
    assert_int_equal (chown (data, 65534, 65534), 0);
    snprintf (arg_data, sizeof arg_data, "%s", data);
    const char *plant[] = { "caisson", "keys", "--data", arg_data, NULL };
    assert_int_equal (as_nobody (plant), 0);

    /* root's stack, on endpoints of its own beside the suite's (in the dir,
     * where the other user reaches them) */
    char bus[200], pub[200], sub[200];
    snprintf (pub, sizeof pub, "ipc://%s/p-in", data);
    snprintf (sub, sizeof sub, "ipc://%s/p-out", data);
    char *saved[3] = { strdup (getenv ("CAISSON_BUS")), strdup (getenv ("CAISSON_BUS_PUB")),
                       strdup (getenv ("CAISSON_BUS_SUB")) };
    snprintf (bus, sizeof bus, "ipc://%s/bus", data);
    setenv ("CAISSON_BUS", bus, 1);
    setenv ("CAISSON_BUS_PUB", pub, 1);
    setenv ("CAISSON_BUS_SUB", sub, 1);
    setenv ("CAISSON_DATA", data, 1);
    unsetenv ("CAISSON_BUS_KEYS");
    const char *keys[] = { "caisson", "keys", "--data", arg_data, NULL };
    int keys_rc = support_run (keys, NULL, 0);
    const char *up[] = { "caisson", "up", "--detach", "--data", arg_data, NULL };
    int up_rc = support_run (up, NULL, 0);
    bool started = WIFEXITED (up_rc) && WEXITSTATUS (up_rc) == 0;
    /* root's own data dir, its keys dir named outside it: the other uid's */
    char own[200], kdir[200];
    snprintf (own, sizeof own, "%s/own", s_dir);
    snprintf (kdir, sizeof kdir, "%s/keys", data);
    setenv ("CAISSON_BUS_KEYS", kdir, 1);
    const char *keys_out[] = { "caisson", "keys", "--data", own, NULL };
    int keys_out_rc = support_run (keys_out, NULL, 0);
    unsetenv ("CAISSON_BUS_KEYS");
    if (started) {
        const char *down[] = { "caisson", "down", "--data", arg_data, NULL };
        support_run (down, NULL, 0);
    }
    setenv ("CAISSON_BUS", saved[0], 1);
    setenv ("CAISSON_BUS_PUB", saved[1], 1);
    setenv ("CAISSON_BUS_SUB", saved[2], 1);
    setenv ("CAISSON_DATA", s_dir, 1);
    for (int i = 0; i < 3; i++)
        free (saved[i]);
    char rm[200];
    snprintf (rm, sizeof rm, "rm -rf '%s'", data);
    assert_int_equal (system (rm), 0);
    if (started)
        fail_msg ("caisson up started root's stack in %s, a dir uid 65534 made with its own "
                  "bus keys: that uid holds the stack's client (operator) key", data);
    if (WIFEXITED (keys_out_rc) && WEXITSTATUS (keys_out_rc) == 0)
        fail_msg ("caisson keys accepted CAISSON_BUS_KEYS=%s, a dir uid 65534 made", kdir);
    if (WIFEXITED (keys_rc) && WEXITSTATUS (keys_rc) == 0)
        fail_msg ("caisson keys accepted the keys uid 65534 planted in %s/keys", data);
}

/* Inotify instances are counted per user along the user-namespace chain:
 * one sandbox taking all it may must not take the host's owner of its
 * namespace's (root's: 128 by default) and so every other sandbox's
 * watchDirectory and the host's own inotify users. */
static void
test_inotify_instances_stay_in_the_sandbox (void **state)
{
    (void) state;
    char *hog = create ("python", 600);
    char out[4096];
    int rc = run (hog, "python3 -c \"\n"
                  "import ctypes, os, time\n"
                  "libc = ctypes.CDLL(None, use_errno=True)\n"
                  "n = 0\n"
                  "while n < 1000 and libc.inotify_init1(0) >= 0: n += 1\n"
                  "print(n, flush=True)\n"
                  "time.sleep(60)\n"
                  "\" > /workspace/held 2>&1 &\n"
                  "for i in $(seq 100); do [ -s /workspace/held ] && break; sleep 0.05; done\n"
                  "cat /workspace/held", out, sizeof out);
    assert_int_equal (rc, 0);
    int held = atoi (out);
    /* the host's root, the manager's user */
    int fd = inotify_init1 (IN_CLOEXEC);
    int host_errno = errno;
    if (fd >= 0)
        close (fd);
    /* another tenant's sandbox */
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->env.user, "victim");
    proto_set_str (&req->body.sandbox_create.language, "python");
    req->body.sandbox_create.ttl_seconds = 600;
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *victim = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    req = file_req (PROTO_sandbox_watch_start, victim, ".");
    proto_set_str (&req->env.user, "victim");
    rep = call (req);
    char watch[600];
    snprintf (watch, sizeof watch, "%s", rep->type == PROTO_error ? rep->body.error.message : "");
    bool watched = rep->type == PROTO_sandbox_watch;
    proto_msg_destroy (&rep);
    destroy (victim);
    destroy (hog);
    if (fd < 0)
        fail_msg ("a sandbox holding %d inotify instances left the host's root none: %s", held,
                  strerror (host_errno));
    if (!watched)
        fail_msg ("a sandbox holding %d inotify instances broke another tenant's watch: %s", held,
                  watch);
}

/* The sandbox's pid 1 holds its socket to the manager: a command must not
 * reach its descriptors (/proc/1/fd, pidfd_getfd) or memory. */
static void
test_init_unreachable (void **state)
{
    (void) state;
    char *id = create ("python", 600);
    char out[4096];
    int rc = run (id, "python3 -c \"\n"
                  "import ctypes, os\n"
                  "libc = ctypes.CDLL(None, use_errno=True)\n"
                  "got = []\n"
                  "try: got.append('fd ' + ' '.join(os.listdir('/proc/1/fd')))\n"
                  "except OSError: pass\n"
                  "try: open('/proc/1/mem', 'rb'); got.append('mem')\n"
                  "except OSError: pass\n"
                  "p = os.pidfd_open(1)\n"
                  "for n in range(16):\n"
                  "    if libc.syscall(438, p, n, 0) >= 0: got.append('getfd %d' % n)\n"
                  "print(got)\n"
                  "\"", out, sizeof out);
    destroy (id);
    assert_int_equal (rc, 0);
    if (strcmp (out, "[]\n"))
        fail_msg ("a command reached its init: %s", out);
}

/* A made-up sandbox id names a made-up instance (`<instance>-<token>`),
 * and ui-bridge (GET /v1/sandboxes/ID) and tool-runner (any sandbox tool)
 * send a tenant's id to `sandbox-manager.<instance>` as given. Each name
 * took a slot in the broker's table of 4096 for good; once they are
 * gone, a restarted manager's new instance name had none: its sandboxes
 * could not be reached. */
static void
test_made_up_instances_do_not_fill_the_broker (void **state)
{
    (void) state;
    bus_client_set_timeout (s_c, 1, 0);
    for (int i = 0; i < 4200; i++) {
        char id[64], service[96];
        snprintf (id, sizeof id, "fake%d-x", i);
        snprintf (service, sizeof service, "sandbox-manager.fake%d", i);
        proto_msg_t *req = proto_msg_new (PROTO_sandbox_get, NULL);
        proto_set_str (&req->env.user, "tenant");
        proto_set_str (&req->body.sandbox_get.sandbox_id, id);
        proto_msg_t *rep = bus_client_request (s_c, service, req);
        proto_msg_destroy (&req);
        proto_msg_destroy (&rep);
    }
    bus_client_set_timeout (s_c, 30000, 0);
    /* the manager restarts, under a new instance id */
    support_expect_clean_exit (s_mgr);
    start_stack_manager ();
    char *id = create ("python", 600);
    char service[160];
    snprintf (service, sizeof service, "sandbox-manager.%.*s", (int) (strrchr (id, '-') - id), id);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_get, NULL);
    proto_set_str (&req->env.user, "tester");
    proto_set_str (&req->body.sandbox_get.sandbox_id, id);
    proto_msg_t *rep = bus_client_request (s_c, service, req);
    proto_msg_destroy (&req);
    char got[600];
    snprintf (got, sizeof got, "%s", !rep ? "no answer" : rep->type == PROTO_error
              ? rep->body.error.message : "");
    bool ok = rep && rep->type == PROTO_sandbox_info;
    proto_msg_destroy (&rep);
    destroy (id);
    if (!ok)
        fail_msg ("after 4200 made-up instance names, %s is unreachable: %s", service, got);
}

/* /etc/subuid hands a local user a range of host uids to map in its own
 * user namespaces (rootless podman, unshare): useradd's 16th and 17th
 * users get 1083040.. and 1148576.., across the sandboxes' default range
 * (CAISSON_SANDBOX_UID_BASE 1100000). That user can then be a sandbox's
 * uid on the host: signal and ptrace its processes, read their
 * /proc/<pid>/environ (the tenant's envVars). sandbox-manager must refuse
 * a range any local user may hold. */
static void
test_sandbox_uids_held_by_a_local_user (void **state)
{
    (void) state;
    /* the host's own file is put back as it was, byte for byte */
    static char saved[65536];
    size_t len = 0;
    FILE *f = fopen ("/etc/subuid", "r");
    bool existed = f != NULL;
    if (f) {
        len = fread (saved, 1, sizeof saved, f);
        fclose (f);
        if (len == sizeof saved)
            skip ();
    }
    f = fopen ("/etc/subuid", "a");
    assert_non_null (f);
    /* across this stack's range as useradd's 16th user's is across the
     * default one (1083040.. over 1100000..): other tests' ranges stay
     * clear of it */
    unsigned long long base = strtoull (getenv ("CAISSON_SANDBOX_UID_BASE") ?: "1100000", NULL, 10);
    fprintf (f, "%stenant16:%llu:65536\n", len && saved[len - 1] != '\n' ? "\n" : "",
             base - 16960);
    fclose (f);
    support_expect_clean_exit (s_mgr);
    s_mgr = support_spawn ("caisson-sandbox-manager", NULL);
    bool refused = false;
    for (int i = 0; i < 50 && !refused; i++) {
        int st;
        refused = waitpid (s_mgr, &st, WNOHANG) == s_mgr;
        usleep (100 * 1000);
    }
    if (existed) {
        f = fopen ("/etc/subuid", "w");
        assert_non_null (f);
        assert_int_equal (fwrite (saved, 1, len, f), len);
        fclose (f);
    } else
        unlink ("/etc/subuid");
    if (!refused)
        support_stop (s_mgr, SIGTERM, 5000);
    start_stack_manager ();
    if (!refused)
        fail_msg ("sandbox-manager runs sandboxes as uids %llu.., which /etc/subuid gives "
                  "to local user tenant16", base);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_planted_data_dir),
        cmocka_unit_test (test_init_unreachable),
        cmocka_unit_test (test_inotify_instances_stay_in_the_sandbox),
        cmocka_unit_test (test_made_up_instances_do_not_fill_the_broker),
        cmocka_unit_test (test_sandbox_uids_held_by_a_local_user),
    };
    return support_run_group_tests (tests, sbx_setup, sbx_teardown);
}
