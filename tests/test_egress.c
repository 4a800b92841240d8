/* test_egress: sandboxes in network mode `policy` (issue 15) with the real
 * broker, egress-proxy and sandbox-manager, against origins on 127.0.0.2:
 * curl, urllib and pip through the proxy env; refusals and their reasons
 * (not listed, denied subdomain, a name resolving inward, a mismatched TLS
 * server name); no DNS and no UDP out; mode none reaches nothing; every
 * decision an event. Runtime updates and limits: test_egress_update. */
#define _GNU_SOURCE
#include "egress_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* S1: curl and urllib reach an allowed host through the proxy env alone. */
static void
test_allowed_curl_urllib (void **state)
{
    (void) state;
    char *id = eg_create (eg_allow_origin ("pypi.test", eg.http_port), NULL);
    char sock[1200];
    eg_socket_path (id, sock, sizeof sock);
    struct stat st;
    assert_int_equal (stat (sock, &st), 0);
    assert_true (S_ISSOCK (st.st_mode));
    assert_int_equal (eg_sh (id, "echo $http_proxy $HTTP_PROXY $https_proxy $HTTPS_PROXY "
                                 "$all_proxy $ALL_PROXY $no_proxy"), 0);
    EG_EXPECT ("http://127.0.0.1:3128 http://127.0.0.1:3128 http://127.0.0.1:3128 "
                "http://127.0.0.1:3128 socks5h://127.0.0.1:3128 socks5h://127.0.0.1:3128 "
                "localhost,127.0.0.1,::1");
    assert_int_equal (eg_sh (id, "curl -sS http://pypi.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("hello from the origin");
    assert_int_equal (eg_sh (id, "python3 -c \"import urllib.request as u; print(u.urlopen("
                                 "'http://pypi.test:%d/hello.txt', timeout=20).read().decode())\"",
                             eg.http_port), 0);
    EG_EXPECT ("hello from the origin");
    /* SOCKS5 (ALL_PROXY's way) by name too. */
    assert_int_equal (eg_sh (id, "curl -sS -x socks5h://127.0.0.1:3128 "
                                 "http://pypi.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("hello from the origin");
    /* Without the proxy there is no way: the sandbox has no DNS. */
    assert_int_not_equal (eg_sh (id, "env -u http_proxy -u HTTP_PROXY -u all_proxy -u ALL_PROXY "
                                     "curl -sS -m 5 http://pypi.test:%d/hello.txt",
                                 eg.http_port), 0);
    destroy (id);
}

/* S2: pip download and pip install (in a venv) from the local index. */
static void
test_pip_local_index (void **state)
{
    (void) state;
    char *id = eg_create (eg_allow_origin ("pypi.test", eg.http_port), NULL);
    const char *pip = "PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1";
    int rc = eg_run (id, "python3 -m venv /workspace/v", 120, eg_out, sizeof eg_out);
    if (rc)
        fail_msg ("venv: %s", eg_out);
    assert_int_equal (eg_sh (id, "%s /workspace/v/bin/pip download -d /workspace/dl --index-url "
                                 "http://pypi.test:%d/simple --trusted-host pypi.test caissondemo",
                             pip, eg.http_port), 0);
    assert_int_equal (eg_sh (id, "ls /workspace/dl"), 0);
    EG_EXPECT ("caissondemo-0.1-py3-none-any.whl");
    assert_int_equal (eg_sh (id, "%s /workspace/v/bin/pip install --index-url "
                                 "http://pypi.test:%d/simple --trusted-host pypi.test caissondemo",
                             pip, eg.http_port), 0);
    EG_EXPECT ("Successfully installed caissondemo-0.1");
    assert_int_equal (eg_sh (id, "/workspace/v/bin/python -c "
                                 "'import caissondemo; print(caissondemo.greet(\"sandbox\"))'"), 0);
    EG_EXPECT ("hello, sandbox, from caissondemo");
    destroy (id);
}

/* S3: a host not on the list: 403 with the reason for curl, the reason in
 * urllib's exception (HTTP and CONNECT). */
static void
test_refused_reason (void **state)
{
    (void) state;
    char *id = eg_create (eg_allow_origin ("pypi.test", eg.http_port), NULL);
    const char *why = "blocked by policy: files.test is not in this sandbox's allow list";
    assert_int_equal (eg_sh (id, "curl -sv http://files.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("< HTTP/1.1 403");
    EG_EXPECT ("X-Caisson-Reason: blocked by policy: files.test is not in this sandbox's allow");
    EG_EXPECT (why);
    assert_null (strstr (eg_out, "hello from the origin"));
    assert_int_equal (eg_sh (id, "python3 -c \"import urllib.request as u\ntry:\n"
                                 "    u.urlopen('http://files.test:%d/hello.txt', timeout=20)\n"
                                 "except Exception as e:\n    print(e.code, e.read().decode())\"",
                             eg.http_port), 0);
    EG_EXPECT ("403 blocked by policy: files.test is not in this sandbox's allow list");
    /* CONNECT: the reason is in the status line, so in the exception. */
    assert_int_equal (eg_sh (id, "python3 -c \"import urllib.request as u\ntry:\n"
                                 "    u.urlopen('https://files.test:%d/', timeout=20)\n"
                                 "except Exception as e:\n    print(e)\"", eg.http_port), 0);
    EG_EXPECT ("Tunnel connection failed: 403 blocked by policy: files.test is not in this "
                "sandbox's allow list");
    assert_int_not_equal (eg_sh (id, "curl -sS https://files.test:%d/", eg.http_port), 0);
    EG_EXPECT ("403");
    /* SOCKS5 has no text: REP 0x02, "not allowed by ruleset". */
    assert_int_equal (eg_sh (id, "python3 -c \"import socket\n"
                                 "s = socket.create_connection(('127.0.0.1', 3128))\n"
                                 "s.sendall(b'\\x05\\x01\\x00'); s.recv(2)\n"
                                 "s.sendall(b'\\x05\\x01\\x00\\x03\\x0afiles.test' + "
                                 "(%d).to_bytes(2, 'big'))\n"
                                 "print('socks', s.recv(10)[:2].hex())\"", eg.http_port), 0);
    EG_EXPECT ("socks 0502");
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
    bus_tap_t *tap = eg_tap (id);
    assert_int_equal (eg_sh (id, "curl -sS http://pypi.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("hello from the origin");
    assert_int_equal (eg_sh (id, "curl -sS http://other.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("hello from the origin");
    assert_int_equal (eg_sh (id, "curl -sS http://files.test:%d/hello.txt", eg.http_port), 0);
    char why[160];
    snprintf (why, sizeof why, "blocked by policy: files.test matches deny rule 'files.test:%d'",
              eg.http_port);
    EG_EXPECT (why);
    assert_null (strstr (eg_out, "hello from the origin"));
    /* The event names the deciding rule. */
    proto_msg_t *ev = eg_await_event (tap, "deny", "files.test", 5000);
    if (!ev)
        fail_msg ("no deny event for files.test");
    snprintf (why, sizeof why, "files.test:%d", eg.http_port);
    assert_string_equal (ev->body.sandbox_net_event.rule, why);
    proto_msg_destroy (&ev);
    bus_tap_destroy (&tap);
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
    assert_int_equal (eg_sh (id, "curl -sS http://inward.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("blocked by policy: inward.test resolves to 127.0.0.3, a loopback address "
                "(list the address to allow it)");
    /* The same name-rule reaches a listed address. */
    assert_int_equal (eg_sh (id, "curl -sS http://other.test:%d/hello.txt", eg.http_port), 0);
    EG_EXPECT ("hello from the origin");
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
    char *id = eg_create (eg_allow_origin ("tls.test", eg.tls_port), NULL);
    char ca[8192];
    FILE *f = fopen (eg.ca, "r");
    assert_non_null (f);
    ca[fread (ca, 1, sizeof ca - 1, f)] = 0;
    fclose (f);
    eg_put (id, "ca.pem", ca);
    eg_put (id, "sni.py", s_sni_py);
    bus_tap_t *tap = eg_tap (id);
    assert_int_equal (eg_sh (id, "curl -sS --cacert /workspace/ca.pem https://tls.test:%d/",
                             eg.tls_port), 0);
    EG_EXPECT ("Ciphers supported in s_server binary");
    assert_int_equal (eg_sh (id, "python3 sni.py %d tls.test", eg.tls_port), 0);
    EG_EXPECT ("200");
    EG_EXPECT ("GOT HTTP/1.0 200 ok");
    assert_int_equal (eg_sh (id, "python3 sni.py %d other.test", eg.tls_port), 0);
    EG_EXPECT ("CUT");
    assert_null (strstr (eg_out, "GOT"));
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
    char *id = eg_create (eg_allow_origin ("pypi.test", eg.http_port), NULL);
    assert_int_equal (eg_sh (id, "getent hosts localhost"), 0);   /* files work */
    assert_int_not_equal (eg_sh (id, "getent hosts pypi.test"), 0);
    /* A query to the host's resolver (or any) cannot be sent; one to a
     * loopback resolver (127.0.0.53, Docker's 127.0.0.11) stays on the
     * sandbox's own lo, where nothing answers. */
    assert_int_equal (eg_sh (id, "python3 -c \"import socket\n"
                                 "ns = [l.split()[1] for l in open('/etc/resolv.conf')"
                                 " if l.startswith('nameserver')] + ['8.8.8.8']\n"
                                 "for a in ns:\n"
                                 "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                 "    s.settimeout(1)\n"
                                 "    try:\n        s.sendto(b'x', (a, 53))\n"
                                 "    except OSError as e:\n"
                                 "        print('ERR', a, e.errno); continue\n"
                                 "    if not a.startswith('127.'): print('LEFT', a); continue\n"
                                 "    try:\n        s.recv(512); print('LEFT', a)\n"
                                 "    except OSError:\n        print('SILENT', a)\""), 0);
    assert_null (strstr (eg_out, "LEFT"));
    EG_EXPECT ("ERR 8.8.8.8 101");
    assert_int_equal (eg_sh (id, "ip -o link | wc -l; ip -o link | cut -d: -f2"), 0);
    assert_string_equal (eg_out, "1\n lo\n");
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
    eg_sh (id, "python3 -c \"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
               "for i in range(5):\n    s.sendto(b'sandbox', ('" EG_ORIGIN "', %d))\"",
           ntohs (sa.sin_port));
    assert_int_equal (recv (u, buf, sizeof buf, 0), -1);
    close (u);
    assert_int_equal (eg_sh (id, "python3 -c \"import socket\n"
                                 "def conn():\n"
                                 "    return socket.create_connection(('127.0.0.1', 3128))\n"
                                 "s = conn()\n"
                                 "s.sendall(b'\\x05\\x01\\x00'); print('greet', s.recv(2).hex())\n"
                                 "s.sendall(b'\\x05\\x03\\x00\\x01' + bytes(6))\n"
                                 "print('udp', s.recv(10)[:2].hex())\n"
                                 "s = conn()\n"
                                 "s.sendall(b'\\x05\\x01\\x00'); s.recv(2)\n"
                                 "s.sendall(b'\\x05\\x01\\x00\\x03\\x09pypi.test' + "
                                 "(%d).to_bytes(2, 'big'))\n"
                                 "print('connect', s.recv(10)[:2].hex())\"", eg.http_port), 0);
    EG_EXPECT ("greet 0500");
    EG_EXPECT ("udp 0507");
    EG_EXPECT ("connect 0500");     /* the same client connects where allowed */
    destroy (id);
}

/* S9: mode none: no socket, no proxy env, nothing on 3128. */
static void
test_mode_none (void **state)
{
    (void) state;
    proto_msg_t *rep = call (eg_create_req ("none", NULL, NULL));
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    /* No socket anywhere (the proxy's is never reachable in mode none). */
    assert_int_equal (eg_sh (id, "find / -type s 2>/dev/null | wc -l"), 0);
    assert_string_equal (eg_out, "0\n");
    assert_int_equal (eg_sh (id, "env | grep -ci proxy || true"), 0);
    assert_string_equal (eg_out, "0\n");
    assert_int_equal (eg_sh (id, "python3 -c \"import socket\ntry:\n"
                                 "    socket.create_connection(('127.0.0.1', 3128), timeout=5)\n"
                                 "    print('OPEN')\n"
                                 "except OSError as e:\n    print(type(e).__name__)\""), 0);
    assert_string_equal (eg_out, "ConnectionRefusedError\n");
    assert_int_not_equal (eg_sh (id, "curl -sS -m 5 -x http://127.0.0.1:3128 "
                                     "http://" EG_ORIGIN ":%d/hello.txt", eg.http_port), 0);
    destroy (id);
}

/* S11: allow, close (with bytes) and deny events on sandbox.<id>.net,
 * carrying the run and correlation id of the exec that caused them. */
static void
test_events (void **state)
{
    (void) state;
    char *id = eg_create (eg_allow_origin ("pypi.test", eg.http_port), NULL);
    bus_tap_t *tap = eg_tap (id);
    const char *run = "01JEGRESSTESTRAN0000000000", *corr = "01JEGRESSTESTCRR0000000000";
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    proto_set_str (&req->env.run, run);
    proto_set_str (&req->env.corr, corr);
    snprintf (eg_cmd, sizeof eg_cmd, "curl -sS http://pypi.test:%d/hello.txt; "
              "curl -sS http://files.test:%d/hello.txt", eg.http_port, eg.http_port);
    any_set (&req->body.sandbox_exec.command, json_string (eg_cmd));
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
    };
    return support_run_group_tests (tests, eg_setup, eg_teardown);
}
