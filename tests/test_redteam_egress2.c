/* test_redteam_egress2: a hostile tenant against caisson-egress-proxy
 * (issue 15's red team, second pass). The test plays sandbox-manager
 * (egress.policy.set for two boxes) and both sandboxes (clients on the
 * boxes' Unix sockets, which is what a sandbox's init relays).
 *
 * Resolver starvation: the proxy resolves names in a small pool of
 * threads shared by every sandbox. A sandbox allowed `*` asks for names
 * that never resolve; the proxy here runs in a mount namespace of its own
 * whose /etc/resolv.conf names 127.0.0.9:53, where the test holds a UDP
 * socket that never answers (so nothing leaves the machine). Another
 * sandbox's name from the hosts file must still resolve in time.
 *
 * Descriptors: the proxy runs with a soft RLIMIT_NOFILE far below its
 * hard one, as services usually do; one sandbox's tunnels must not fill
 * the proxy for the others while the hard limit has room. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* unshare */
#endif
#include "support.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mpjson.h"

static const char *s_dir;
static pid_t s_bus, s_proxy;
static int s_port, s_hold, s_dns = -1;
static bus_client_t *s_c;

#define ATTACKER "t1-aaaa1"
#define VICTIM   "t1-bbbb2"
#define ATTACKER2 "t1-cccc3"

/* The origin on 127.0.0.2: any request is answered 200 and closed. */
static void *
origin (void *arg)
{
    int lfd = (int) (intptr_t) arg;
    for (;;) {
        int fd = accept (lfd, NULL, NULL);
        if (fd < 0)
            continue;
        char buf[4096];
        if (recv (fd, buf, sizeof buf, 0) > 0) {
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                     "Connection: close\r\n\r\nok";
            if (send (fd, ok, sizeof ok - 1, MSG_NOSIGNAL) < 0) {
                /* the client left */
            }
        }
        close (fd);
    }
    return NULL;
}

static int
origin_start (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sin = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.0.2", &sin.sin_addr);
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal (bind (fd, (struct sockaddr *) &sin, sizeof sin), 0);
    assert_int_equal (listen (fd, 64), 0);
    socklen_t sl = sizeof sin;
    getsockname (fd, (struct sockaddr *) &sin, &sl);
    pthread_t th;
    pthread_create (&th, NULL, origin, (void *) (intptr_t) fd);
    pthread_detach (th);
    return ntohs (sin.sin_port);
}

/* A server on 127.0.0.2 that accepts and holds every connection. */
static void *
holder (void *arg)
{
    int lfd = (int) (intptr_t) arg;
    for (;;)
        if (accept (lfd, NULL, NULL) < 0)
            usleep (1000);
    return NULL;
}

static int
hold_start (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sin = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.0.2", &sin.sin_addr);
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal (bind (fd, (struct sockaddr *) &sin, sizeof sin), 0);
    assert_int_equal (listen (fd, 256), 0);
    socklen_t sl = sizeof sin;
    getsockname (fd, (struct sockaddr *) &sin, &sl);
    pthread_t th;
    pthread_create (&th, NULL, holder, (void *) (intptr_t) fd);
    pthread_detach (th);
    return ntohs (sin.sin_port);
}

static char *
sock_path (const char *id)
{
    static char p[512];
    snprintf (p, sizeof p, "%s/sandboxes/%s/net/egress.sock", s_dir, id);
    return p;
}

static void
policy_set_owned (const char *id, const char *allow, uint64_t max_conns, const char *owner)
{
    support_sh ("mkdir -p %s/sandboxes/%s/net", s_dir, id);
    proto_msg_t *m = proto_msg_new (PROTO_egress_policy_set, NULL);
    proto_egress_policy_set_t *b = &m->body.egress_policy_set;
    proto_set_str (&b->sandbox_id, id);
    b->uid = getuid ();
    b->max_conns = max_conns;
    if (owner)
        proto_set_str (&b->owner, owner);
    json_t *a = json_loads (allow, 0, NULL), *d = json_array ();
    assert_non_null (a);
    mpjson_set (&b->allow, a, 2);
    mpjson_set (&b->deny, d, 2);
    json_decref (a);
    json_decref (d);
    proto_msg_t *rep = bus_client_request (s_c, "egress-proxy", m);
    proto_msg_destroy (&m);
    assert_non_null (rep);
    if (rep->type != PROTO_egress_ack)
        fail_msg ("policy.set: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    proto_msg_destroy (&rep);
}

static void
policy_set (const char *id, const char *allow, uint64_t max_conns)
{
    policy_set_owned (id, allow, max_conns, NULL);
}

static int
uconnect (const char *id)
{
    int fd = socket (AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    const char *path = sock_path (id);
    assert_true (strlen (path) < sizeof sun.sun_path);
    memcpy (sun.sun_path, path, strlen (path) + 1);
    if (connect (fd, (struct sockaddr *) &sun, sizeof sun)) {
        close (fd);
        return -1;
    }
    struct timeval tv = { 8, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void
say (int fd, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
say (int fd, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    assert_int_equal (send (fd, buf, (size_t) n, MSG_NOSIGNAL), n);
}

static char *
read_all (int fd)
{
    static char buf[8192];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = recv (fd, buf + len, sizeof buf - 1 - len, 0)) > 0)
        len += (size_t) n;
    buf[len] = 0;
    return buf;
}

/* The attacker keeps its connection limit busy with names that never
 * resolve, wave after wave (each wave's connections time out in the
 * proxy), then the victim asks for a name of the hosts file. */
static void
starve (const char *const attackers[], size_t n)
{
    char allow[128];
    snprintf (allow, sizeof allow, "[\"pypi.test:%d\", \"127.0.0.2:%d\"]", s_port, s_port);
    policy_set_owned (VICTIM, allow, 16, "alice");
    int fds[32];
    for (int wave = 0; wave < 4; wave++) {
        for (int i = 0; i < 16; i++) {
            fds[i] = uconnect (attackers[(size_t) i % n]);
            assert_true (fds[i] >= 0);
            say (fds[i], "CONNECT w%d-%d.nowhere.test:443 HTTP/1.1\r\n\r\n", wave, i);
        }
        if (wave == 3)
            break;
        zclock_sleep (1300);    /* past the proxy's resolve timeout (1 s) */
        for (int i = 0; i < 16; i++)
            close (fds[i]);
    }
    usleep (100 * 1000);
    int fd = uconnect (VICTIM);
    assert_true (fd >= 0);
    say (fd, "GET http://pypi.test:%d/ HTTP/1.1\r\nHost: pypi.test:%d\r\n\r\n", s_port, s_port);
    char *out = read_all (fd);
    close (fd);
    for (int i = 0; i < 16; i++)
        close (fds[i]);
    if (!strstr (out, "HTTP/1.1 200"))
        fail_msg ("another sandbox's name from the hosts file was starved: %.300s", out);
}

static void
test_resolver_starvation (void **state)
{
    (void) state;
    policy_set (ATTACKER, "[\"*\"]", 16);
    const char *const one[] = { ATTACKER };
    starve (one, 1);
}

/* The same from two sandboxes of one user (a user may have many). */
static void
test_resolver_starvation_one_user (void **state)
{
    (void) state;
    policy_set_owned (ATTACKER, "[\"*\"]", 16, "mallory");
    policy_set_owned (ATTACKER2, "[\"*\"]", 16, "mallory");
    const char *const two[] = { ATTACKER, ATTACKER2 };
    starve (two, 2);
}

/* Descriptors: one sandbox holds its connection limit (64) of tunnels to
 * an allowed server; another sandbox must still get through, while the
 * proxy may open far more descriptors than that takes (its hard limit). */
static void
test_fd_exhaustion (void **state)
{
    (void) state;
    char allow[128];
    snprintf (allow, sizeof allow, "[\"127.0.0.2:%d\"]", s_hold);
    policy_set (ATTACKER, allow, 64);
    snprintf (allow, sizeof allow, "[\"pypi.test:%d\", \"127.0.0.2:%d\"]", s_port, s_port);
    policy_set (VICTIM, allow, 16);
    int fds[64], held = 0;
    for (int i = 0; i < 64; i++) {
        fds[i] = uconnect (ATTACKER);
        assert_true (fds[i] >= 0);
        char buf[256];
        int m = snprintf (buf, sizeof buf, "CONNECT 127.0.0.2:%d HTTP/1.1\r\n\r\n", s_hold);
        if (send (fds[i], buf, (size_t) m, MSG_NOSIGNAL) < 0) {
            /* refused at once (503): the answer tells */
        }
        ssize_t n = recv (fds[i], buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        held += strstr (buf, " 200 ") != NULL;
    }
    printf ("# the attacker holds %d tunnels\n", held);
    int fd = uconnect (VICTIM);
    assert_true (fd >= 0);
    /* by address: the resolver's threads may still be busy from before */
    say (fd, "GET http://127.0.0.2:%d/ HTTP/1.1\r\nHost: 127.0.0.2:%d\r\n\r\n", s_port, s_port);
    char *out = read_all (fd);
    close (fd);
    for (int i = 0; i < 64; i++)
        close (fds[i]);
    if (!strstr (out, "HTTP/1.1 200"))
        fail_msg ("one sandbox's tunnels shut another out: %.300s", out);
    usleep (300 * 1000);
}

/* Revocation: a connection still connecting upstream when its rule is
 * removed must not become a tunnel once the connect completes. The
 * upstream is a listener whose accept queue is full (its SYNs wait). */
static void
test_revoke_while_connecting (void **state)
{
    (void) state;
    int lfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in sin = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.0.2", &sin.sin_addr);
    setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal (bind (lfd, (struct sockaddr *) &sin, sizeof sin), 0);
    assert_int_equal (listen (lfd, 0), 0);
    socklen_t sl = sizeof sin;
    getsockname (lfd, (struct sockaddr *) &sin, &sl);
    int port = ntohs (sin.sin_port), fill[3];
    for (int i = 0; i < 3; i++) {
        fill[i] = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect (fill[i], (struct sockaddr *) &sin, sizeof sin)) {
            /* in progress: it fills the queue or waits */
        }
    }
    usleep (200 * 1000);
    char allow[128];
    snprintf (allow, sizeof allow, "[\"127.0.0.2:%d\"]", port);
    policy_set (ATTACKER, allow, 16);
    int fd = uconnect (ATTACKER);
    assert_true (fd >= 0);
    say (fd, "CONNECT 127.0.0.2:%d HTTP/1.1\r\n\r\n", port);
    usleep (300 * 1000);
    snprintf (allow, sizeof allow, "[\"127.0.0.2:%d\"]", s_port);
    policy_set (ATTACKER, allow, 16);   /* the rule is gone */
    usleep (300 * 1000);
    for (int i = 0; i < 3; i++) {
        int a = accept (lfd, NULL, NULL);   /* room for the proxy's next SYN */
        if (a >= 0)
            close (a);
        close (fill[i]);
    }
    char *out = read_all (fd);   /* the proxy's SYN is sent again within ~3 s */
    close (fd);
    close (lfd);
    if (strstr (out, " 200 "))
        fail_msg ("a tunnel opened after its rule was removed: %.200s", out);
}

/* A UDP socket on 127.0.0.9:53 that never answers: the proxy's DNS. */
static void
dns_sink (void)
{
    s_dns = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (53) };
    inet_pton (AF_INET, "127.0.0.9", &sin.sin_addr);
    assert_int_equal (bind (s_dns, (struct sockaddr *) &sin, sizeof sin), 0);
}

/* caisson-egress-proxy in a mount namespace where /etc/resolv.conf is
 * the sink's. */
static pid_t
spawn_proxy (void)
{
    char resolv[600], bin[1024], log[600];
    snprintf (resolv, sizeof resolv, "%s/resolv.conf", s_dir);
    support_sh ("printf 'nameserver 127.0.0.9\\noptions timeout:4 attempts:1\\n' > %s", resolv);
    snprintf (bin, sizeof bin, "%s/caisson-egress-proxy", CAISSON_BIN_DIR);
    snprintf (log, sizeof log, "%s/caisson-egress-proxy.log", s_dir);
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (unshare (CLONE_NEWNS) || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)
            || mount (resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL))
            _exit (126);
        /* a service's usual soft limit is far below its hard one (systemd:
         * 1024 of 524288); here 256 of the test's hard limit */
        struct rlimit rl;
        getrlimit (RLIMIT_NOFILE, &rl);
        rl.rlim_cur = 256;
        setrlimit (RLIMIT_NOFILE, &rl);
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2 (fd, STDERR_FILENO);
            close (fd);
        }
        execl (bin, bin, (char *) NULL);
        _exit (127);
    }
    return pid;
}

static int
setup (void **state)
{
    (void) state;
    s_dir = support_sandbox_env ("redteam_egress2");
    char v[600];
    snprintf (v, sizeof v, "%s/hosts", s_dir);
    support_sh ("printf '127.0.0.2 pypi.test\\n' > %s", v);
    setenv ("CAISSON_EGRESS_HOSTS", v, 1);
    setenv ("CAISSON_EGRESS_ALLOW_MAX", "*,127.0.0.2/32:1-65535", 1);
    setenv ("CAISSON_EGRESS_RESOLVERS", "2", 1);
    setenv ("CAISSON_EGRESS_RESOLVE_TIMEOUT_MS", "1000", 1);
    setenv ("CAISSON_HEARTBEAT_MS", "100", 1);
    s_port = origin_start ();
    s_hold = hold_start ();
    dns_sink ();
    s_bus = support_spawn ("caisson-bus", NULL);
    s_c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (s_c);
    s_proxy = spawn_proxy ();
    support_await_service (s_c, "egress-proxy");
    bus_client_set_timeout (s_c, 5000, 2);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    bus_client_destroy (&s_c);
    /* a resolver thread inside getaddrinfo finishes its call first (4 s) */
    support_stop (s_proxy, SIGTERM, 15000);
    support_stop (s_bus, SIGTERM, 5000);
    if (s_dns >= 0)
        close (s_dns);
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_resolver_starvation),
        cmocka_unit_test (test_resolver_starvation_one_user),
        cmocka_unit_test (test_fd_exhaustion),
        cmocka_unit_test (test_revoke_while_connecting),
    };
    return support_run_group_tests (tests, setup, teardown);
}
