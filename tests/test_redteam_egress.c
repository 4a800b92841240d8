/* test_redteam_egress: issue 15's attacks on the egress path (R1). The bus
 * listens on TCP (127.0.0.1, as compose's does on its network) and the
 * sandbox's policy allows all of 127.0.0.0/8, yet no protocol the proxy
 * speaks reaches a bus endpoint; a sandbox sees only its own socket, on a
 * read-only mount; a process with another sandbox's uid (or any other)
 * is not served on a socket that is not its own. */
#define _GNU_SOURCE
#include "egress_fixture.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int s_bus_port[3];

static int
setup (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    eg_fixture_up ("redteam-egress", 0);
    const char *names[] = { "CAISSON_BUS", "CAISSON_BUS_PUB", "CAISSON_BUS_SUB" };
    for (int i = 0; i < 3; i++) {
        char ep[64];
        s_bus_port[i] = support_free_port ();
        snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", s_bus_port[i]);
        setenv (names[i], ep, 1);
    }
    eg_stack_up ();
    return 0;
}

/* probe.py HOST PORT: one request each way through the proxy: the HTTP
 * status, the CONNECT status line, the SOCKS5 reply code (by address and
 * by name). */
static const char *s_probe_py =
    "import socket, sys\n"
    "host, port = sys.argv[1], int(sys.argv[2])\n"
    "def conn():\n"
    "    return socket.create_connection(('127.0.0.1', 3128), timeout=10)\n"
    "def head(s):\n"
    "    b = b''\n"
    "    while b'\\r\\n' not in b:\n"
    "        c = s.recv(1)\n"
    "        if not c: break\n"
    "        b += c\n"
    "    return b.split(b'\\r\\n')[0].decode()\n"
    "s = conn()\n"
    "s.sendall(('GET http://%s:%d/hello.txt HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n'\n"
    "           % (host, port, host)).encode())\n"
    "print('http', head(s))\n"
    "s = conn()\n"
    "s.sendall(('CONNECT %s:%d HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n'\n"
    "           % (host, port, host)).encode())\n"
    "print('connect', head(s))\n"
    "for atyp in ('addr', 'name'):\n"
    "    s = conn()\n"
    "    s.sendall(b'\\x05\\x01\\x00'); s.recv(2)\n"
    "    if atyp == 'addr':\n"
    "        ip = host if host[0].isdigit() else '127.0.0.1'\n"
    "        dst = b'\\x01' + socket.inet_aton(ip)\n"
    "    else:\n"
    "        dst = b'\\x03' + bytes([len(host)]) + host.encode()\n"
    "    s.sendall(b'\\x05\\x01\\x00' + dst + port.to_bytes(2, 'big'))\n"
    "    print('socks', atyp, s.recv(10)[:2].hex())\n";

/* The bus's three TCP endpoints, by address and by name, through HTTP,
 * CONNECT and SOCKS5, with 127.0.0.0/8 allowed: each refused. The same
 * probe reaches the origin, so the refusals are the proxy's hard deny. */
static void
test_bus_unreachable (void **state)
{
    (void) state;
    char *id = eg_create ("[\"127.0.0.0/8:1-65535\", \"bus.test:1-65535\", \"pypi.test:1-65535\"]",
                          NULL);
    eg_put (id, "probe.py", s_probe_py);
    assert_int_equal (eg_sh (id, "python3 probe.py " EG_ORIGIN " %d", eg.http_port), 0);
    EG_EXPECT ("http HTTP/1.0 200");
    EG_EXPECT ("connect HTTP/1.1 200");
    EG_EXPECT ("socks addr 0500");
    assert_int_equal (eg_sh (id, "python3 probe.py pypi.test %d", eg.http_port), 0);
    EG_EXPECT ("socks name 0500");
    for (int i = 0; i < 3; i++) {
        const char *hosts[] = { "127.0.0.1", "bus.test" };
        for (int h = 0; h < 2; h++) {
            assert_int_equal (eg_sh (id, "python3 probe.py %s %d", hosts[h], s_bus_port[i]), 0);
            EG_EXPECT ("http HTTP/1.1 403");
            EG_EXPECT ("connect HTTP/1.1 403 blocked by policy");
            EG_EXPECT ("socks addr 0502");
            EG_EXPECT ("socks name 0502");
        }
        /* curl, forced through the proxy (NO_PROXY lists 127.0.0.1). */
        assert_int_equal (eg_sh (id, "curl -s --noproxy '' -o /dev/null -w '%%{http_code}' "
                                     "http://127.0.0.1:%d/", s_bus_port[i]), 0);
        assert_string_equal (eg_out, "403");
    }
    destroy (id);
}

/* Inside: no socket in the whole tree but, at most, its own egress socket
 * (the init may reach the proxy's socket by a descriptor instead), which
 * it cannot remove or replace; where it is mounted the mount is read-only,
 * nosuid, nodev, noexec; the mounts do not name the host's data directory;
 * another sandbox's socket is nowhere to be found. */
static void
test_only_own_socket (void **state)
{
    (void) state;
    char *a = eg_create ("[\"pypi.test:80\"]", NULL);
    char *b = eg_create ("[\"pypi.test:80\"]", NULL);
    assert_int_equal (eg_sh (a, "find / -type s 2>/dev/null | grep -vxc /run/caisson/egress.sock"
                                "; true"), 0);
    assert_string_equal (eg_out, "0\n");
    assert_int_equal (eg_sh (a, "grep ' /run/caisson ' /proc/mounts | cut -d' ' -f4 | tr , '\\n' "
                                "| grep -xE 'ro|nosuid|nodev|noexec' | sort | tr '\\n' ' '"), 0);
    if (*eg_out)
        assert_string_equal (eg_out, "nodev noexec nosuid ro ");
    /* Replacing it fails: it is there (a socket) after as before. */
    const char *sock = "test -S /run/caisson/egress.sock && echo -n 1 || echo -n 0";
    assert_int_equal (eg_sh (a, "%s; rm -f /run/caisson/egress.sock 2>/dev/null; ln -s /tmp/x "
                                "/run/caisson/egress.sock 2>/dev/null; %s; ls -A /run/caisson "
                                "2>/dev/null; true", sock, sock), 0);
    if (strcmp (eg_out, "00") && strcmp (eg_out, "11egress.sock\n"))
        fail_msg ("attack succeeded: the sandbox changed its socket directory: %s", eg_out);
    assert_int_equal (eg_sh (a, "grep -c '%s' /proc/self/mountinfo; true", getenv ("CAISSON_DATA")),
                      0);
    assert_string_equal (eg_out, "0\n");
    char other[1200];
    eg_socket_path (b, other, sizeof other);
    assert_int_not_equal (eg_sh (a, "test -e '%s'", other), 0);
    /* Its own proxy still answers. */
    assert_int_equal (eg_sh (a, "curl -s -o /dev/null -w '%%{http_code}' http://files.test/"), 0);
    assert_string_equal (eg_out, "403");
    destroy (a);
    destroy (b);
}

/* What a process running as uid gets on sandbox id's socket asking for
 * the origin's hello.txt (the reply, or "" when the connection was cut);
 * -1 when it could not connect at all. */
static int
fetch_as (const char *id, uid_t uid, char *out, size_t n)
{
    char dir[1200];
    eg_socket_path (id, dir, sizeof dir);
    *strrchr (dir, '/') = 0;
    int fds[2];
    assert_int_equal (pipe (fds), 0);
    pid_t pid = fork ();
    if (pid == 0) {
        /* The path's parents are root's (0700): enter the net directory
         * as root, then become uid and connect by a relative name. */
        close (fds[0]);
        if (chdir (dir) || setgroups (0, NULL) || setresgid (uid, uid, uid)
            || setresuid (uid, uid, uid))
            _exit (2);
        int s = socket (AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "egress.sock" };
        if (connect (s, (struct sockaddr *) &sa, sizeof sa))
            _exit (3);
        struct timeval tv = { .tv_sec = 5 };
        setsockopt (s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char req[256];
        int len = snprintf (req, sizeof req, "GET http://" EG_ORIGIN ":%d/hello.txt HTTP/1.1\r\n"
                            "Host: " EG_ORIGIN "\r\n\r\n", eg.http_port);
        if (write (s, req, (size_t) len) != len)
            _exit (0);
        char buf[4096];
        ssize_t r;
        while ((r = read (s, buf, sizeof buf)) > 0)
            if (write (fds[1], buf, (size_t) r) != r)
                break;
        _exit (0);
    }
    close (fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read (fds[0], out + got, n - 1 - got)) > 0)
        got += (size_t) r;
    out[got] = 0;
    close (fds[0]);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    return WEXITSTATUS (status) == 3 ? -1 : 0;
}

/* Only the sandbox's own uid is served on its socket: not another
 * sandbox's, not nobody's, not root's. */
static void
test_peer_uid (void **state)
{
    (void) state;
    char allow[128];
    snprintf (allow, sizeof allow, "[\"" EG_ORIGIN ":%d\"]", eg.http_port);
    char *a = eg_create (allow, NULL);
    char *b = eg_create (allow, NULL);
    uid_t ua = eg_sandbox_uid (a), ub = eg_sandbox_uid (b);
    assert_int_not_equal (ua, ub);
    assert_int_not_equal (ua, 0);
    char reply[4096];
    assert_int_equal (fetch_as (a, ua, reply, sizeof reply), 0);
    if (!strstr (reply, "hello from the origin"))
        fail_msg ("the sandbox's own uid was not served: %s", reply);
    const uid_t others[] = { ub, 65534, 0 };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        if (fetch_as (a, others[i], reply, sizeof reply) == 0
            && strstr (reply, "hello from the origin"))
            fail_msg ("attack succeeded: uid %u was served on another sandbox's socket",
                      (unsigned) others[i]);
    }
    destroy (a);
    destroy (b);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bus_unreachable),
        cmocka_unit_test (test_only_own_socket),
        cmocka_unit_test (test_peer_uid),
    };
    return support_run_group_tests (tests, setup, eg_teardown);
}
