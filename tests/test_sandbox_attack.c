/* test_sandbox_attack: attacks from inside a sandbox, each of which must
 * fail: reading host files (the data dir's LMDB file, another sandbox's
 * workspace, /etc/shadow), writing outside the writable roots, reaching a
 * port on the host's 127.0.0.1, a fork bomb and a memory hog (contained by
 * the cgroup limits, the host unaffected), a process outliving destroy,
 * killing or tracing a host process, mount, a new user namespace, AF_VSOCK,
 * and reading sandbox-manager's environment; and from outside, its owner
 * sending a reply or event type as a request (read through another type's
 * body, its pid became the init's path pointer). */
#define _GNU_SOURCE
#include "sbx_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Asserts the shell command fails inside the sandbox (non-zero exit). */
static void
must_fail (const char *id, const char *cmd)
{
    char out[4096], full[8192];
    snprintf (full, sizeof full, "%s", cmd);
    int code = run (id, full, out, sizeof out);
    if (code == 0)
        fail_msg ("attack succeeded: %s\n%s", cmd, out);
}

static void
test_filesystem (void **state)
{
    (void) state;
    char *a = create ("python", 600), *b = create ("python", 600), cmd[2048];
    proto_msg_t *w = write_file (b, "secret.txt", "b's secret");
    proto_msg_destroy (&w);
    snprintf (cmd, sizeof cmd, "cat %s/sandbox-manager/data.mdb", s_dir);
    must_fail (a, cmd);
    snprintf (cmd, sizeof cmd, "ls %s", s_dir);
    must_fail (a, cmd);
    snprintf (cmd, sizeof cmd, "cat %s/sandboxes/%s/workspace/secret.txt", s_dir, b);
    must_fail (a, cmd);
    must_fail (a, "cat /etc/shadow");
    must_fail (a, "echo x > /usr/evil");
    must_fail (a, "echo x > /etc/evil");
    must_fail (a, "echo x > /evil");
    must_fail (a, "ls /work /root /old_root /farm 2>&1 | grep -v 'No such' | grep .");
    must_fail (a, "mount -t tmpfs none /tmp");
    must_fail (a, "unshare -U true");
    must_fail (a, "unshare -Ur true");
    must_fail (a, "python3 -c 'import socket; socket.socket(40, socket.SOCK_STREAM)'");
    must_fail (a, "id -u | grep -x 0 && touch /proc/sys/kernel/hostname && echo x > /proc/sys/kernel/hostname");
    destroy (a);
    destroy (b);
}

static void
test_processes_and_network (void **state)
{
    (void) state;
    char *id = create ("python", 600), cmd[512], out[4096];
    /* A port listening on the host's loopback. */
    int l = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    assert_int_equal (bind (l, (struct sockaddr *) &a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname (l, (struct sockaddr *) &a, &al);
    listen (l, 1);
    snprintf (cmd, sizeof cmd, "python3 -c \"import socket; socket.create_connection(('127.0.0.1', %d), 2)\"",
              ntohs (a.sin_port));
    must_fail (id, cmd);
    close (l);
    /* Host processes: invisible, so neither killed nor traced. */
    snprintf (cmd, sizeof cmd, "kill -9 %d", (int) getpid ());
    must_fail (id, cmd);
    snprintf (cmd, sizeof cmd, "kill -9 %d", (int) s_mgr);
    must_fail (id, cmd);
    /* Its own init ignores signals from inside (pid 1 of its namespace). */
    run (id, "kill -9 1", NULL, 0);
    assert_int_equal (run (id, "echo alive", out, sizeof out), 0);
    must_fail (id, "python3 -c 'import ctypes,sys; sys.exit(0 if ctypes.CDLL(None).ptrace(16, 1, 0, 0) == 0 else 1)'");
    /* sandbox-manager's environment never reaches the sandbox. */
    assert_int_equal (run (id, "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'", out, sizeof out), 0);
    assert_null (strstr (out, "CAISSON_TEST_SECRET"));
    assert_null (strstr (out, "CAISSON_BUS"));
    /* A fork bomb is held at the pids limit and ended by the timeout. */
    proto_msg_t *rep = sh (id, "bomb() { bomb | bomb & }; bomb; sleep 5", 3, NULL);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    proto_msg_destroy (&rep);
    assert_true (support_alive (s_mgr));
    assert_int_equal (run (id, "echo still here", out, sizeof out), 0);
    /* A memory hog is killed at the memory limit (default 512 MiB). */
    must_fail (id, "python3 -c 'x = bytearray(3 << 30); print(len(x))'");
    /* Nothing outlives destroy. */
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    any_set (&req->body.sandbox_exec.command, json_string ("setsid sleep 1000 & nohup sleep 1000 & sleep 1000"));
    req->body.sandbox_exec.background = true;
    rep = call (req);
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_sandbox_get, NULL);
    proto_set_str (&req->body.sandbox_get.sandbox_id, id);
    rep = call (req);
    pid_t init = (pid_t) rep->body.sandbox_info.init_pid;
    proto_msg_destroy (&rep);
    char idcopy[128];
    snprintf (idcopy, sizeof idcopy, "%s", id);
    destroy (id);
    /* Every process gone within a second of destroy. */
    snprintf (cmd, sizeof cmd, "/sys/fs/cgroup/pids/caisson/%s/cgroup.procs", idcopy);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        FILE *f = fopen (cmd, "r");
        int pid = 0;
        gone = !support_alive (init) && (!f || fscanf (f, "%d", &pid) != 1);
        if (f)
            fclose (f);
        if (!gone)
            usleep (10000);
    }
    assert_true (gone);
}

/* A reply or an event sent as a request names a sandbox too, but it is
 * not a request: it is refused as such, and the sandbox (its init, pid 1)
 * is unharmed. */
static void
test_not_a_request (void **state)
{
    (void) state;
    char *id = create ("python", 600), out[256];
    const proto_type_t types[] = { PROTO_sandbox_output, PROTO_sandbox_exec_result,
                                   PROTO_sandbox_path, PROTO_sandbox_ack };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        proto_msg_t *req = proto_msg_new (types[i], NULL);
        /* each body starts with sandbox_id; what follows is an address
         * wherever another type's body keeps a string */
        proto_set_str (&req->body.sandbox_output.sandbox_id, id);
        if (types[i] == PROTO_sandbox_output) {
            req->body.sandbox_output.pid = 0x4141414141;
            proto_set_str (&req->body.sandbox_output.stream, "stdout");
        }
        else if (types[i] == PROTO_sandbox_exec_result)
            req->body.sandbox_exec_result.pid = 0x4141414141;
        else if (types[i] == PROTO_sandbox_path)
            proto_set_str (&req->body.sandbox_path.path, "/etc/passwd");
        proto_msg_t *rep = call (req);
        assert_int_equal (rep->type, PROTO_error);
        assert_string_equal (rep->body.error.code, "unknown_type");
        proto_msg_destroy (&rep);
    }
    assert_int_equal (run (id, "echo alive", out, sizeof out), 0);
    assert_non_null (strstr (out, "alive"));
    destroy (id);
}

/* A fork bomb ended by its timeout leaves the sandbox usable at once: the
 * exec's answer comes only when every process of its tree is gone and
 * reaped, so the next command can fork (it failed with "fork: Resource
 * temporarily unavailable" when the answer raced the bomb's last
 * children). Bombs in sh and in Python (faster forks), each followed at
 * once by a command. */
static void
test_fork_bomb_recovers (void **state)
{
    (void) state;
    char *id = create ("python", 600), out[4096];
    const char *bombs[] = {
        "bomb() { bomb | bomb & }; bomb; sleep 5",
        "python3 -c 'import os\nwhile True:\n    try: os.fork()\n    except OSError: pass'",
        "bomb() { bomb & bomb & }; bomb; sleep 5",
    };
    for (int round = 0; round < 6; round++) {
        proto_msg_t *rep = sh (id, bombs[round % 3], 1, NULL);
        assert_int_equal (rep->type, PROTO_sandbox_exec_result);
        proto_msg_destroy (&rep);
        /* the answer came: only the init (and its helper) are left */
        char path[256];
        snprintf (path, sizeof path, "/sys/fs/cgroup/pids/caisson/%s/pids.current", id);
        FILE *f = fopen (path, "r");
        long left = -1;
        if (f) {
            if (fscanf (f, "%ld", &left) != 1)
                left = -1;
            fclose (f);
        }
        if (left > 2)
            fail_msg ("round %d: %ld processes left in the sandbox after the answer", round, left);
        assert_int_equal (run (id, "sh -c 'echo ok; true'", out, sizeof out), 0);
        assert_non_null (strstr (out, "ok"));
    }
    /* What is started to outlive its command (output elsewhere) does;
     * a leftover still holding the command's output does not. */
    assert_int_equal (run (id, "nohup sleep 300 >/dev/null 2>&1 & sleep 299 & echo started", out,
                           sizeof out), 0);
    if (!strstr (out, "still held its output") || !strstr (out, "background: true"))
        fail_msg ("the command's leftover was ended without a word:\n%s", out);
    assert_int_equal (run (id, "ps -eo args | grep -c '^sleep 30[0]'", out, sizeof out), 0);
    assert_int_equal (atoi (out), 1);
    assert_int_equal (run (id, "ps -eo args | grep -c '^sleep 29[9]'", out, sizeof out), 1);
    destroy (id);
}

int
main (void)
{
    setenv ("CAISSON_TEST_SECRET", "hunter2", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_filesystem),
        cmocka_unit_test (test_processes_and_network),
        cmocka_unit_test (test_fork_bomb_recovers),
        cmocka_unit_test (test_not_a_request),
    };
    return support_run_group_tests (tests, sbx_setup, sbx_teardown);
}
