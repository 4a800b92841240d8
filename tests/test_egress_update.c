/* test_egress_update: a `policy` sandbox's rules and limits at run time
 * (issue 15, R2 and R3), with the real broker, egress-proxy and
 * sandbox-manager: sandbox.net.update closes a live connection a new deny
 * covers; the policy survives egress-proxy killed with -9 (its store) and a
 * manager restart (its resync); connection 65 of 64 is refused with the
 * reason; a bytes-per-minute budget slows a download without cutting it. */
#define _GNU_SOURCE
#include "egress_fixture.h"
#include "mpjson.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A client that holds a CONNECT to pypi.test open, silent, and says how
 * it ended: CLOSED after s seconds, or TIMEOUT after 20. */
static const char *s_hold_py =
    "import socket, sys, time\n"
    "port = int(sys.argv[1])\n"
    "s = socket.create_connection(('127.0.0.1', 3128), timeout=20)\n"
    "s.sendall(b'CONNECT pypi.test:%d HTTP/1.1\\r\\nHost: pypi.test\\r\\n\\r\\n' % port)\n"
    "print(s.recv(100).split(b'\\r\\n')[0].decode(), flush=True)\n"
    "t = time.time()\n"
    "try:\n"
    "    b = s.recv(100)\n"
    "    print('CLOSED' if not b else 'DATA', int(time.time() - t))\n"
    "except socket.timeout:\n"
    "    print('TIMEOUT')\n"
    "except OSError as e:\n"
    "    print('CLOSED', int(time.time() - t), e)\n";

/* Starts `python3 hold.py PORT` in the background; its pid. */
static uint64_t
hold_start (const char *id)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    snprintf (eg_cmd, sizeof eg_cmd, "python3 hold.py %d", eg.http_port);
    any_set (&req->body.sandbox_exec.command, json_string (eg_cmd));
    req->body.sandbox_exec.background = true;
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    uint64_t pid = rep->body.sandbox_exec_result.pid;
    proto_msg_destroy (&rep);
    return pid;
}

static void
hold_wait (const char *id, uint64_t pid)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_wait, NULL);
    proto_set_str (&req->body.sandbox_exec_wait.sandbox_id, id);
    req->body.sandbox_exec_wait.pid = pid;
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    snprintf (eg_out, sizeof eg_out, "%s%s", rep->body.sandbox_exec_result.stdout,
              rep->body.sandbox_exec_result.stderr);
    proto_msg_destroy (&rep);
}

/* R2: deny_add closes a live connection it covers (revoked) without
 * restarting the sandbox; the policy outlives a proxy killed with -9 and a
 * manager restart (which re-sends it to a proxy that lost its store). */
static void
test_update_revokes (void **state)
{
    (void) state;
    char allow[200];
    snprintf (allow, sizeof allow, "[\"pypi.test:%d\", \"files.test:%d\", \"" EG_ORIGIN ":%d\"]",
              eg.http_port, eg.http_port, eg.http_port);
    char *id = eg_create (allow, NULL);
    eg_put (id, "hold.py", s_hold_py);
    /* Control: nothing ends a held connection but its own timeout. */
    uint64_t pid = hold_start (id);
    hold_wait (id, pid);
    EG_EXPECT ("200");
    EG_EXPECT ("TIMEOUT");
    bus_tap_t *tap = eg_tap (id);
    pid = hold_start (id);
    proto_msg_t *ev = eg_await_event (tap, "allow", "pypi.test", 5000);
    assert_non_null (ev);
    proto_msg_destroy (&ev);
    char deny[64];
    snprintf (deny, sizeof deny, "[\"pypi.test:%d\"]", eg.http_port);
    proto_msg_t *rep = eg_net_update (id, NULL, deny, NULL);
    if (rep->type == PROTO_error)
        fail_msg ("net.update: %s", rep->body.error.message);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    json_t *deny_now = mpjson_get (&rep->body.sandbox_info.network_deny, 2);
    char *text = json_dumps (deny_now, JSON_COMPACT);
    assert_non_null (strstr (text ? text : "", "pypi.test"));
    free (text);
    json_decref (deny_now);
    proto_msg_destroy (&rep);
    hold_wait (id, pid);
    EG_EXPECT ("CLOSED");
    assert_null (strstr (eg_out, "TIMEOUT"));
    ev = eg_await_event (tap, "revoked", "pypi.test", 5000);
    if (!ev)
        fail_msg ("no revoked event");
    proto_msg_destroy (&ev);
    assert_int_equal (eg_sh (id, "curl -sS http://pypi.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("matches deny rule");
    bus_tap_destroy (&tap);

    /* kill -9 the proxy: the sandbox fails closed; restarted, it has the
     * policy back (its own store). */
    kill (eg.proxy, SIGKILL);
    waitpid (eg.proxy, NULL, 0);
    assert_int_equal (eg_sh (id, "curl -sS -m 5 http://files.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("egress proxy unreachable");
    eg_proxy_start ();
    assert_int_equal (eg_sh (id, "curl -sS http://files.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("hello from the origin");
    assert_int_equal (eg_sh (id, "curl -sS http://pypi.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("matches deny rule");

    /* The manager restarts while the proxy loses everything: its resync
     * sets the policy again, deny included. */
    support_expect_clean_exit (s_mgr);
    kill (eg.proxy, SIGKILL);
    waitpid (eg.proxy, NULL, 0);
    support_sh ("rm -rf '%s/egress-proxy'", getenv ("CAISSON_DATA"));
    eg_proxy_start ();
    start_stack_manager ();
    int rc = 1;
    for (int i = 0; i < 50 && rc; i++, usleep (100000))
        rc = eg_sh (id, "curl -sSf http://files.test:%d/hello.txt", eg.http_port);
    EG_EXPECT ("hello from the origin");
    assert_int_equal (eg_sh (id, "curl -sS http://pypi.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("matches deny rule");
    destroy (id);
}

/* R3: connection 65 of 64 gets 429 with the reason; the others go on. */
static void
test_max_conns (void **state)
{
    (void) state;
    char *id = eg_create (eg_allow_origin ("pypi.test", eg.http_port), NULL);
    snprintf (eg_cmd, sizeof eg_cmd,
              "import socket\n"
              "held = []\n"
              "for i in range(64):\n"
              "    s = socket.create_connection(('127.0.0.1', 3128), timeout=10)\n"
              "    s.sendall(b'CONNECT pypi.test:%d HTTP/1.1\\r\\n\\r\\n')\n"
              "    held.append((s, s.recv(100).split(b'\\r\\n')[0]))\n"
              "print('ok', sum(1 for s, h in held if b' 200' in h))\n"
              "s = socket.create_connection(('127.0.0.1', 3128), timeout=10)\n"
              "s.sendall(b'GET http://pypi.test:%d/hello.txt HTTP/1.1\\r\\n'\n"
              "          b'Host: pypi.test\\r\\n\\r\\n')\n"
              "print(s.recv(4096).decode())\n"
              "for s, h in held: s.close()\n",
              eg.http_port, eg.http_port);
    eg_put (id, "many.py", eg_cmd);
    assert_int_equal (eg_sh (id, "python3 many.py"), 0);
    EG_EXPECT ("ok 64");
    EG_EXPECT ("HTTP/1.1 429");
    EG_EXPECT ("too many connections (limit 64)");
    /* Closed, they free their places. */
    int rc = 1;
    for (int i = 0; i < 20 && rc; i++, usleep (100000))
        rc = eg_sh (id, "curl -sSf http://pypi.test:%d/hello.txt", eg.http_port);
    EG_EXPECT ("hello from the origin");
    destroy (id);
}

/* R3: over its bytes per minute a download is slowed, not cut. Runs last:
 * the manager and the proxy restart with a budget of 1.2 MB a minute. */
static void
test_bytes_per_min (void **state)
{
    (void) state;
    support_sh ("head -c 50000000 /dev/zero > '%s/big.bin'", eg.www);
    char *id = eg_create (eg_allow_origin ("pypi.test", eg.http_port), NULL);
    /* Control: unthrottled, 50 MB come in well under 8 s. */
    assert_int_equal (eg_sh (id, "curl -sS -m 8 -o /dev/null -w '%%{size_download}' "
                                 "http://pypi.test:%d/big.bin", eg.http_port), 0);
    assert_string_equal (eg_out, "50000000");
    destroy (id);
    setenv ("CAISSON_EGRESS_BYTES_PER_MIN", "1200000", 1);
    support_expect_clean_exit (s_mgr);
    support_expect_clean_exit (eg.proxy);
    eg_proxy_start ();
    start_stack_manager ();
    unsetenv ("CAISSON_EGRESS_BYTES_PER_MIN");
    id = eg_create (eg_allow_origin ("pypi.test", eg.http_port), NULL);
    /* curl's 28 is its own timeout: the connection was still open. */
    assert_int_equal (eg_sh (id, "curl -sS -m 8 -o /dev/null -w '%%{size_download}' "
                                 "http://pypi.test:%d/big.bin", eg.http_port), 28);
    long got = atol (eg_out);
    if (got <= 0 || got > 2000000)
        fail_msg ("a 1.2 MB/min sandbox got %ld bytes in 8 s", got);
    destroy (id);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_update_revokes),
        cmocka_unit_test (test_max_conns),
        cmocka_unit_test (test_bytes_per_min),
    };
    return support_run_group_tests (tests, eg_setup, eg_teardown);
}
