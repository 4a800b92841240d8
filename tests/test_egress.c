/* test_egress: sandboxes in network mode `policy` (issue 15) with the real
 * broker, egress-proxy and sandbox-manager, against origins on 127.0.0.2:
 * curl, urllib and pip through the proxy env; refusals and their reasons
 * (not listed, denied subdomain, a name resolving inward, a mismatched TLS
 * server name); no DNS and no UDP out; mode none reaches nothing; every
 * decision an event; runtime updates revoke live connections and survive
 * restarts of the proxy and the manager; limits. */
#define _GNU_SOURCE
#include "egress_fixture.h"
#include "mpjson.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char s_out[1 << 16];
static char s_cmd[4096];

/* ["<name>:<port>", "127.0.0.2:<port>"]: a name that resolves to the
 * origin needs its address listed too (static storage). */
static const char *
allow_origin (const char *name, int port)
{
    static char list[256];
    snprintf (list, sizeof list, "[\"%s:%d\", \"" EG_ORIGIN ":%d\"]", name, port, port);
    return list;
}

static void
put (const char *id, const char *path, const char *text)
{
    proto_msg_t *rep = write_file (id, path, text);
    assert_int_equal (rep->type, PROTO_sandbox_path);
    proto_msg_destroy (&rep);
}

/* The shell command (printf style) in id, at most 60 s; exit code, output
 * in s_out. */
static int sbx (const char *id, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static int
sbx (const char *id, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (s_cmd, sizeof s_cmd, fmt, ap);
    va_end (ap);
    return eg_run (id, s_cmd, 60, s_out, sizeof s_out);
}

#define expect_out(needle) do { \
        if (!strstr (s_out, (needle))) \
            fail_msg ("`%s` did not say \"%s\":\n%s", s_cmd, (needle), s_out); \
    } while (0)

/* S1: curl and urllib reach an allowed host through the proxy env alone. */
static void
test_allowed_curl_urllib (void **state)
{
    (void) state;
    char *id = eg_create (allow_origin ("pypi.test", eg.http_port), NULL);
    char sock[1200];
    eg_socket_path (id, sock, sizeof sock);
    struct stat st;
    assert_int_equal (stat (sock, &st), 0);
    assert_true (S_ISSOCK (st.st_mode));
    assert_int_equal (sbx (id, "echo $http_proxy $HTTP_PROXY $https_proxy $HTTPS_PROXY "
                               "$all_proxy $ALL_PROXY $no_proxy"), 0);
    expect_out ("http://127.0.0.1:3128 http://127.0.0.1:3128 http://127.0.0.1:3128 "
                "http://127.0.0.1:3128 socks5h://127.0.0.1:3128 socks5h://127.0.0.1:3128 "
                "localhost,127.0.0.1,::1");
    assert_int_equal (sbx (id, "curl -sS http://pypi.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("hello from the origin");
    assert_int_equal (sbx (id, "python3 -c \"import urllib.request as u; print(u.urlopen("
                               "'http://pypi.test:%d/hello.txt', timeout=20).read().decode())\"",
                           eg.http_port), 0);
    expect_out ("hello from the origin");
    /* SOCKS5 (ALL_PROXY's way) by name too. */
    assert_int_equal (sbx (id, "curl -sS -x socks5h://127.0.0.1:3128 http://pypi.test:%d/hello.txt",
                           eg.http_port), 0);
    expect_out ("hello from the origin");
    /* Without the proxy there is no way: the sandbox has no DNS. */
    assert_int_not_equal (sbx (id, "env -u http_proxy -u HTTP_PROXY -u all_proxy -u ALL_PROXY "
                                   "curl -sS -m 5 http://pypi.test:%d/hello.txt", eg.http_port), 0);
    destroy (id);
}

/* S2: pip download and pip install (in a venv) from the local index. */
static void
test_pip_local_index (void **state)
{
    (void) state;
    char *id = eg_create (allow_origin ("pypi.test", eg.http_port), NULL);
    const char *pip = "PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1";
    int rc = eg_run (id, "python3 -m venv /workspace/v", 120, s_out, sizeof s_out);
    if (rc)
        fail_msg ("venv: %s", s_out);
    assert_int_equal (sbx (id, "%s /workspace/v/bin/pip download -d /workspace/dl --index-url "
                               "http://pypi.test:%d/simple --trusted-host pypi.test caissondemo",
                           pip, eg.http_port), 0);
    assert_int_equal (sbx (id, "ls /workspace/dl"), 0);
    expect_out ("caissondemo-0.1-py3-none-any.whl");
    assert_int_equal (sbx (id, "%s /workspace/v/bin/pip install --index-url "
                               "http://pypi.test:%d/simple --trusted-host pypi.test caissondemo",
                           pip, eg.http_port), 0);
    expect_out ("Successfully installed caissondemo-0.1");
    assert_int_equal (sbx (id, "/workspace/v/bin/python -c "
                               "'import caissondemo; print(caissondemo.greet(\"sandbox\"))'"), 0);
    expect_out ("hello, sandbox, from caissondemo");
    destroy (id);
}

/* S3: a host not on the list: 403 with the reason for curl, the reason in
 * urllib's exception (HTTP and CONNECT). */
static void
test_refused_reason (void **state)
{
    (void) state;
    char *id = eg_create (allow_origin ("pypi.test", eg.http_port), NULL);
    const char *why = "blocked by policy: files.test is not in this sandbox's allow list";
    assert_int_equal (sbx (id, "curl -sv http://files.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("< HTTP/1.1 403");
    expect_out ("X-Caisson-Reason: blocked by policy: files.test is not in this sandbox's allow");
    expect_out (why);
    assert_null (strstr (s_out, "hello from the origin"));
    assert_int_equal (sbx (id, "python3 -c \"import urllib.request as u\ntry:\n"
                               "    u.urlopen('http://files.test:%d/hello.txt', timeout=20)\n"
                               "except Exception as e:\n    print(e.code, e.read().decode())\"",
                           eg.http_port), 0);
    expect_out ("403 blocked by policy: files.test is not in this sandbox's allow list");
    /* CONNECT: the reason is in the status line, so in the exception. */
    assert_int_equal (sbx (id, "python3 -c \"import urllib.request as u\ntry:\n"
                               "    u.urlopen('https://files.test:%d/', timeout=20)\n"
                               "except Exception as e:\n    print(e)\"", eg.http_port), 0);
    expect_out ("Tunnel connection failed: 403 blocked by policy: files.test is not in this "
                "sandbox's allow list");
    assert_int_not_equal (sbx (id, "curl -sS https://files.test:%d/", eg.http_port), 0);
    expect_out ("403");
    destroy (id);
}

/* S4: allow *.test, deny files.test: the denied subdomain is refused,
 * naming the rule; its siblings pass. */
static void
test_deny_subdomain (void **state)
{
    (void) state;
    char allow[160], deny[80];
    snprintf (allow, sizeof allow, "[\"*.test:%d\", \"" EG_ORIGIN ":%d\"]", eg.http_port,
              eg.http_port);
    snprintf (deny, sizeof deny, "[\"files.test:%d\"]", eg.http_port);
    char *id = eg_create (allow, deny);
    assert_int_equal (sbx (id, "curl -sS http://pypi.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("hello from the origin");
    assert_int_equal (sbx (id, "curl -sS http://other.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("hello from the origin");
    assert_int_equal (sbx (id, "curl -sS http://files.test:%d/hello.txt", eg.http_port), 0);
    char why[160];
    snprintf (why, sizeof why, "blocked by policy: files.test matches deny rule 'files.test:%d'",
              eg.http_port);
    expect_out (why);
    assert_null (strstr (s_out, "hello from the origin"));
    destroy (id);
}

/* S5: a listed name resolving to an address nobody listed (inward.test,
 * 127.0.0.3) is refused with the resolves-to reason. */
static void
test_resolves_inward (void **state)
{
    (void) state;
    char allow[160];
    snprintf (allow, sizeof allow, "[\"*.test:%d\", \"" EG_ORIGIN ":%d\"]", eg.http_port,
              eg.http_port);
    char *id = eg_create (allow, NULL);
    assert_int_equal (sbx (id, "curl -sS http://inward.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("blocked by policy: inward.test resolves to 127.0.0.3, a loopback address "
                "(list the address to allow it)");
    /* The same name-rule reaches a listed address. */
    assert_int_equal (sbx (id, "curl -sS http://other.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("hello from the origin");
    destroy (id);
}

/* A TLS client over a CONNECT to tls.test that says server name sni;
 * prints GOT (and the reply's first line) or CUT. */
static const char *s_sni_py =
    "import socket, ssl, sys\n"
    "port, sni = int(sys.argv[1]), sys.argv[2]\n"
    "s = socket.create_connection(('127.0.0.1', 3128), timeout=10)\n"
    "s.sendall(b'CONNECT tls.test:%d HTTP/1.1\\r\\nHost: tls.test:%d\\r\\n\\r\\n' % (port, port))\n"
    "head = b''\n"
    "while b'\\r\\n\\r\\n' not in head:\n"
    "    b = s.recv(1)\n"
    "    if not b: break\n"
    "    head += b\n"
    "print(head.split(b'\\r\\n')[0].decode())\n"
    "ctx = ssl.create_default_context(cafile='/workspace/ca.pem')\n"
    "ctx.check_hostname = False\n"
    "try:\n"
    "    t = ctx.wrap_socket(s, server_hostname=sni)\n"
    "    t.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
    "    print('GOT', t.recv(200).split(b'\\n')[0].decode())\n"
    "except Exception as e:\n"
    "    print('CUT', type(e).__name__, e)\n";

/* S6: CONNECT to the TLS origin: the matching server name passes (curl
 * through HTTPS_PROXY), a mismatched one is cut with a deny event naming it. */
static void
test_connect_sni (void **state)
{
    (void) state;
    char *id = eg_create (allow_origin ("tls.test", eg.tls_port), NULL);
    char ca[8192];
    FILE *f = fopen (eg.ca, "r");
    assert_non_null (f);
    ca[fread (ca, 1, sizeof ca - 1, f)] = 0;
    fclose (f);
    put (id, "ca.pem", ca);
    put (id, "sni.py", s_sni_py);
    bus_tap_t *tap = eg_tap (id);
    assert_int_equal (sbx (id, "curl -sS --cacert /workspace/ca.pem https://tls.test:%d/",
                           eg.tls_port), 0);
    expect_out ("Ciphers supported in s_server binary");
    assert_int_equal (sbx (id, "python3 sni.py %d tls.test", eg.tls_port), 0);
    expect_out ("200");
    expect_out ("GOT HTTP/1.0 200 ok");
    assert_int_equal (sbx (id, "python3 sni.py %d other.test", eg.tls_port), 0);
    expect_out ("CUT");
    assert_null (strstr (s_out, "GOT"));
    proto_msg_t *ev = eg_await_event (tap, "deny", "tls.test", 5000);
    if (!ev)
        fail_msg ("no deny event for the mismatched server name");
    assert_string_equal (ev->body.sandbox_net_event.protocol, "connect");
    assert_string_equal (ev->body.sandbox_net_event.reason,
                         "blocked by policy: TLS server name 'other.test' does not match "
                         "CONNECT host 'tls.test'");
    proto_msg_destroy (&ev);
    bus_tap_destroy (&tap);
    destroy (id);
}

/* S7: no DNS leaves the sandbox: no resolver reachable, only lo. */
static void
test_no_dns (void **state)
{
    (void) state;
    char *id = eg_create (allow_origin ("pypi.test", eg.http_port), NULL);
    assert_int_equal (sbx (id, "getent hosts localhost"), 0);   /* files work */
    assert_int_not_equal (sbx (id, "getent hosts pypi.test"), 0);
    /* A query to the host's resolver (or any) cannot be sent; one to a
     * loopback resolver (127.0.0.53, Docker's 127.0.0.11) stays on the
     * sandbox's own lo, where nothing answers. */
    assert_int_equal (sbx (id, "python3 -c \"import socket\n"
                               "ns = [l.split()[1] for l in open('/etc/resolv.conf')"
                               " if l.startswith('nameserver')] + ['8.8.8.8']\n"
                               "for a in ns:\n"
                               "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                               "    s.settimeout(1)\n"
                               "    try:\n        s.sendto(b'x', (a, 53))\n"
                               "    except OSError as e:\n        print('ERR', a, e.errno); continue\n"
                               "    if not a.startswith('127.'): print('LEFT', a); continue\n"
                               "    try:\n        s.recv(512); print('LEFT', a)\n"
                               "    except OSError:\n        print('SILENT', a)\""), 0);
    assert_null (strstr (s_out, "LEFT"));
    expect_out ("ERR 8.8.8.8 101");
    assert_int_equal (sbx (id, "ip -o link | wc -l; ip -o link | cut -d: -f2"), 0);
    assert_string_equal (s_out, "1\n lo\n");
    destroy (id);
}

/* S8: UDP goes nowhere: a listener on the host's 127.0.0.2 hears nothing
 * from the sandbox; SOCKS5 UDP ASSOCIATE is refused (0x07). */
static void
test_udp (void **state)
{
    (void) state;
    int u = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton (AF_INET, EG_ORIGIN, &sa.sin_addr);
    socklen_t len = sizeof sa;
    assert_int_equal (bind (u, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal (getsockname (u, (struct sockaddr *) &sa, &len), 0);
    struct timeval tv = { .tv_sec = 1 };
    setsockopt (u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* The listener works: the host reaches it. */
    assert_int_equal (sendto (u, "host", 4, 0, (struct sockaddr *) &sa, sizeof sa), 4);
    char buf[64];
    assert_int_equal (recv (u, buf, sizeof buf, 0), 4);
    char allow[160];
    snprintf (allow, sizeof allow, "[\"" EG_ORIGIN "/32:1-65535\", \"pypi.test:%d\"]",
              eg.http_port);
    char *id = eg_create (allow, NULL);
    sbx (id, "python3 -c \"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
             "for i in range(5):\n    s.sendto(b'sandbox', ('" EG_ORIGIN "', %d))\"",
         ntohs (sa.sin_port));
    assert_int_equal (recv (u, buf, sizeof buf, 0), -1);
    close (u);
    assert_int_equal (sbx (id, "python3 -c \"import socket\n"
                               "s = socket.create_connection(('127.0.0.1', 3128), timeout=10)\n"
                               "s.sendall(b'\\x05\\x01\\x00'); print('greet', s.recv(2).hex())\n"
                               "s.sendall(b'\\x05\\x03\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00')\n"
                               "print('udp', s.recv(10)[:2].hex())\n"
                               "s = socket.create_connection(('127.0.0.1', 3128), timeout=10)\n"
                               "s.sendall(b'\\x05\\x01\\x00'); s.recv(2)\n"
                               "s.sendall(b'\\x05\\x01\\x00\\x03\\x09pypi.test' + "
                               "(%d).to_bytes(2, 'big'))\n"
                               "print('connect', s.recv(10)[:2].hex())\"", eg.http_port), 0);
    expect_out ("greet 0500");
    expect_out ("udp 0507");
    expect_out ("connect 0500");     /* the same client connects where allowed */
    destroy (id);
}

/* S9: mode none: an empty /run/caisson, no proxy env, nothing on 3128. */
static void
test_mode_none (void **state)
{
    (void) state;
    proto_msg_t *rep = call (eg_create_req ("none", NULL, NULL));
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    assert_int_equal (sbx (id, "test -d /run/caisson && ls -A /run/caisson | wc -l"), 0);
    assert_string_equal (s_out, "0\n");
    assert_int_equal (sbx (id, "env | grep -ci proxy || true"), 0);
    assert_string_equal (s_out, "0\n");
    assert_int_equal (sbx (id, "python3 -c \"import socket\ntry:\n"
                               "    socket.create_connection(('127.0.0.1', 3128), timeout=5)\n"
                               "    print('OPEN')\nexcept OSError as e:\n    print(type(e).__name__)\""),
                      0);
    assert_string_equal (s_out, "ConnectionRefusedError\n");
    assert_int_not_equal (sbx (id, "curl -sS -m 5 -x http://127.0.0.1:3128 "
                                   "http://" EG_ORIGIN ":%d/hello.txt", eg.http_port), 0);
    destroy (id);
}

/* S11: allow, close (with bytes) and deny events on sandbox.<id>.net,
 * carrying the run and correlation id of the exec that caused them. */
static void
test_events (void **state)
{
    (void) state;
    char *id = eg_create (allow_origin ("pypi.test", eg.http_port), NULL);
    bus_tap_t *tap = eg_tap (id);
    const char *run = "01JEGRESSTESTRAN0000000000", *corr = "01JEGRESSTESTCRR0000000000";
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    proto_set_str (&req->env.run, run);
    proto_set_str (&req->env.corr, corr);
    snprintf (s_cmd, sizeof s_cmd, "curl -sS http://pypi.test:%d/hello.txt; "
              "curl -sS http://files.test:%d/hello.txt", eg.http_port, eg.http_port);
    any_set (&req->body.sandbox_exec.command, json_string (s_cmd));
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    proto_msg_destroy (&rep);
    proto_msg_t *ev = eg_await_event (tap, "allow", "pypi.test", 5000);
    if (!ev)
        fail_msg ("no allow event");
    proto_sandbox_net_event_t *e = &ev->body.sandbox_net_event;
    assert_string_equal (e->sandbox_id, id);
    assert_string_equal (e->protocol, "http");
    assert_int_equal (e->port, eg.http_port);
    assert_string_equal (e->addr, EG_ORIGIN);
    assert_non_null (e->rule);
    assert_true (strstr (e->rule, "pypi.test") || strstr (e->rule, EG_ORIGIN));
    assert_string_equal (e->run ? e->run : "", run);
    assert_string_equal (e->corr ? e->corr : "", corr);
    proto_msg_destroy (&ev);
    ev = eg_await_event (tap, "close", "pypi.test", 5000);
    if (!ev)
        fail_msg ("no close event");
    e = &ev->body.sandbox_net_event;
    assert_true (e->bytes_down >= strlen ("hello from the origin\n"));
    assert_true (e->bytes_up > 0);
    assert_string_equal (e->run ? e->run : "", run);
    proto_msg_destroy (&ev);
    ev = eg_await_event (tap, "deny", "files.test", 5000);
    if (!ev)
        fail_msg ("no deny event");
    e = &ev->body.sandbox_net_event;
    assert_int_equal (e->port, eg.http_port);
    assert_string_equal (e->reason,
                         "blocked by policy: files.test is not in this sandbox's allow list");
    assert_string_equal (e->corr ? e->corr : "", corr);
    proto_msg_destroy (&ev);
    /* The proxy's counters agree (total: every connection taken on the
     * socket, the refused one too). */
    req = proto_msg_new (PROTO_egress_stats_get, NULL);
    proto_set_str (&req->body.egress_stats_get.sandbox_id, id);
    req->env.op = true;
    rep = bus_client_request (s_c, "egress-proxy", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_egress_stats);
    assert_int_equal (rep->body.egress_stats.total, 2);
    assert_int_equal (rep->body.egress_stats.refused, 1);
    assert_true (rep->body.egress_stats.bytes_down >= strlen ("hello from the origin\n"));
    proto_msg_destroy (&rep);
    bus_tap_destroy (&tap);
    destroy (id);
}

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
    snprintf (s_cmd, sizeof s_cmd, "python3 hold.py %d", eg.http_port);
    any_set (&req->body.sandbox_exec.command, json_string (s_cmd));
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
    snprintf (s_out, sizeof s_out, "%s%s", rep->body.sandbox_exec_result.stdout,
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
    put (id, "hold.py", s_hold_py);
    /* Control: nothing ends a held connection but its own timeout. */
    uint64_t pid = hold_start (id);
    hold_wait (id, pid);
    expect_out ("200");
    expect_out ("TIMEOUT");
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
    expect_out ("CLOSED");
    assert_null (strstr (s_out, "TIMEOUT"));
    ev = eg_await_event (tap, "revoked", "pypi.test", 5000);
    if (!ev)
        fail_msg ("no revoked event");
    proto_msg_destroy (&ev);
    assert_int_equal (sbx (id, "curl -sS http://pypi.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("matches deny rule");
    bus_tap_destroy (&tap);

    /* kill -9 the proxy: the sandbox fails closed; restarted, it has the
     * policy back (its own store). */
    kill (eg.proxy, SIGKILL);
    waitpid (eg.proxy, NULL, 0);
    assert_int_equal (sbx (id, "curl -sS -m 5 http://files.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("egress proxy unreachable");
    eg_proxy_start ();
    assert_int_equal (sbx (id, "curl -sS http://files.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("hello from the origin");
    assert_int_equal (sbx (id, "curl -sS http://pypi.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("matches deny rule");

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
        rc = sbx (id, "curl -sSf http://files.test:%d/hello.txt", eg.http_port);
    expect_out ("hello from the origin");
    assert_int_equal (sbx (id, "curl -sS http://pypi.test:%d/hello.txt", eg.http_port), 0);
    expect_out ("matches deny rule");
    destroy (id);
}

/* R3: connection 65 of 64 gets 429 with the reason; the others go on. */
static void
test_max_conns (void **state)
{
    (void) state;
    char *id = eg_create (allow_origin ("pypi.test", eg.http_port), NULL);
    snprintf (s_cmd, sizeof s_cmd,
              "import socket\n"
              "held = []\n"
              "for i in range(64):\n"
              "    s = socket.create_connection(('127.0.0.1', 3128), timeout=10)\n"
              "    s.sendall(b'CONNECT pypi.test:%d HTTP/1.1\\r\\n\\r\\n')\n"
              "    held.append((s, s.recv(100).split(b'\\r\\n')[0]))\n"
              "print('ok', sum(1 for s, h in held if b' 200' in h))\n"
              "s = socket.create_connection(('127.0.0.1', 3128), timeout=10)\n"
              "s.sendall(b'GET http://pypi.test:%d/hello.txt HTTP/1.1\\r\\nHost: pypi.test\\r\\n\\r\\n')\n"
              "print(s.recv(4096).decode())\n"
              "for s, h in held: s.close()\n",
              eg.http_port, eg.http_port);
    put (id, "many.py", s_cmd);
    assert_int_equal (sbx (id, "python3 many.py"), 0);
    expect_out ("ok 64");
    expect_out ("HTTP/1.1 429");
    expect_out ("too many connections (limit 64)");
    /* Closed, they free their places. */
    int rc = 1;
    for (int i = 0; i < 20 && rc; i++, usleep (100000))
        rc = sbx (id, "curl -sSf http://pypi.test:%d/hello.txt", eg.http_port);
    expect_out ("hello from the origin");
    destroy (id);
}

/* R3: over its bytes per minute a download is slowed, not cut. Runs last:
 * the manager and the proxy restart with a budget of 1.2 MB a minute. */
static void
test_bytes_per_min (void **state)
{
    (void) state;
    support_sh ("head -c 50000000 /dev/zero > '%s/big.bin'", eg.www);
    char *id = eg_create (allow_origin ("pypi.test", eg.http_port), NULL);
    /* Control: unthrottled, 50 MB come in well under 8 s. */
    assert_int_equal (sbx (id, "curl -sS -m 8 -o /dev/null -w '%%{size_download}' "
                               "http://pypi.test:%d/big.bin", eg.http_port), 0);
    assert_string_equal (s_out, "50000000");
    destroy (id);
    setenv ("CAISSON_EGRESS_BYTES_PER_MIN", "1200000", 1);
    support_expect_clean_exit (s_mgr);
    support_expect_clean_exit (eg.proxy);
    eg_proxy_start ();
    start_stack_manager ();
    unsetenv ("CAISSON_EGRESS_BYTES_PER_MIN");
    id = eg_create (allow_origin ("pypi.test", eg.http_port), NULL);
    /* curl's 28 is its own timeout: the connection was still open. */
    assert_int_equal (sbx (id, "curl -sS -m 8 -o /dev/null -w '%%{size_download}' "
                               "http://pypi.test:%d/big.bin", eg.http_port), 28);
    long got = atol (s_out);
    if (got <= 0 || got > 2000000)
        fail_msg ("a 1.2 MB/min sandbox got %ld bytes in 8 s", got);
    destroy (id);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_allowed_curl_urllib),
        cmocka_unit_test (test_pip_local_index),
        cmocka_unit_test (test_refused_reason),
        cmocka_unit_test (test_deny_subdomain),
        cmocka_unit_test (test_resolves_inward),
        cmocka_unit_test (test_connect_sni),
        cmocka_unit_test (test_no_dns),
        cmocka_unit_test (test_udp),
        cmocka_unit_test (test_mode_none),
        cmocka_unit_test (test_events),
        cmocka_unit_test (test_update_revokes),
        cmocka_unit_test (test_max_conns),
        cmocka_unit_test (test_bytes_per_min),
    };
    return support_run_group_tests (tests, eg_setup, eg_teardown);
}
