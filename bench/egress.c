/* bench-egress: what the egress path costs (issue 15), beside the same
 * requests made directly on the host, all in one run:
 *
 *   throughput  curl downloads a 100 MiB body from a server in this
 *               program (127.0.0.2, sent from memory):
 *               (a) on the host, directly;
 *               (b) in a `policy` sandbox, through its forwarder and
 *                   egress-proxy (HTTP_PROXY), with the default CPU limit
 *                   (curl and the init's forwarder share it), and (b2)
 *                   in one of 2 CPUs;
 *               (c) on the host through the proxy's Unix socket alone
 *                   (curl --unix-socket, as the sandbox's uid), which
 *                   separates the forwarder's share from the proxy's.
 *               Rounds alternate; medians. Target (b)/(a) >= 0.8.
 *   TTFB        one python3 script, N GETs of a 100-byte body, each timed
 *               from connect to the first byte: in the sandbox through the
 *               proxy, and on the host directly. p50 and p99; target: the
 *               proxy adds <= 1 ms at p50.
 *
 * It starts its own broker, egress-proxy and sandbox-manager (from the
 * directory it lives in) under a fresh data directory, with no bytes-per-
 * minute budget (CAISSON_EGRESS_BYTES_PER_MIN=0: the default's 4 GiB a
 * minute would cap (b) near 68 MiB/s), and prints the load average beside
 * the figures. Needs root.
 * Usage: bench-egress [ROUNDS [REQUESTS]] (default 5 and 500). */
#define _GNU_SOURCE
#include "bench_util.h"
#include "bus_client.h"
#include "mpjson.h"
#include "proto.h"

#include <arpa/inet.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ORIGIN "127.0.0.2"
#define BIG (100u << 20)
#define ROUNDS_MAX 64

static char *s_big;
static int s_port;
static bus_client_t *s_c;

/* One client of the origin: reads the request head, answers /big or
 * /small, closes. */
static void *
serve_one (void *arg)
{
    int fd = (int) (intptr_t) arg;
    char head[8192];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof head - 1 && (r = recv (fd, head + got, sizeof head - 1 - got, 0)) > 0) {
        got += (size_t) r;
        head[got] = 0;
        if (strstr (head, "\r\n\r\n"))
            break;
    }
    head[got] = 0;
    bool big = strstr (head, " /big ") != NULL;
    size_t len = big ? BIG : 100;
    char hdr[160];
    int n = snprintf (hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n", len);
    if (send (fd, hdr, (size_t) n, MSG_NOSIGNAL) == n)
        for (size_t off = 0; off < len && (r = send (fd, s_big + off, len - off,
                                                       MSG_NOSIGNAL)) > 0; )
            off += (size_t) r;
    close (fd);
    return NULL;
}

static void *
origin (void *arg)
{
    int ls = (int) (intptr_t) arg;
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4 (ls, (struct sockaddr *) &peer, &len, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_t t;
        if (pthread_create (&t, NULL, serve_one, (void *) (intptr_t) fd) == 0)
            pthread_detach (t);
        else
            close (fd);
    }
    return NULL;
}

static void
origin_start (void)
{
    s_big = malloc (BIG);
    memset (s_big, 'x', BIG);
    int ls = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt (ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton (AF_INET, ORIGIN, &sa.sin_addr);
    socklen_t sl = sizeof sa;
    if (bind (ls, (struct sockaddr *) &sa, sizeof sa) || listen (ls, 512)
        || getsockname (ls, (struct sockaddr *) &sa, &sl)) {
        perror ("bench-egress: origin");
        exit (1);
    }
    s_port = ntohs (sa.sin_port);
    pthread_t t;
    pthread_create (&t, NULL, origin, (void *) (intptr_t) ls);
    pthread_detach (t);
}

static proto_msg_t *
ask (const char *service, proto_msg_t *req)
{
    proto_msg_t *rep = bus_client_request (s_c, service, req);
    proto_msg_destroy (&req);
    if (!rep || rep->type == PROTO_error) {
        fprintf (stderr, "bench-egress: %s: %s\n", service,
                 rep ? rep->body.error.message : "no answer");
        exit (1);
    }
    return rep;
}

static void
await_service (const char *service)
{
    bus_client_set_timeout (s_c, 200, 0);
    for (int i = 0; i < 100; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        proto_msg_t *rep = bus_client_request (s_c, service, req);
        proto_msg_destroy (&req);
        bool ok = rep && rep->type == PROTO_health_rep;
        proto_msg_destroy (&rep);
        if (ok) {
            bus_client_set_timeout (s_c, 120000, 0);
            return;
        }
    }
    fprintf (stderr, "bench-egress: %s never answered\n", service);
    exit (1);
}

/* Runs cmd in the sandbox; its stdout into out. Exits on failure. */
static void
sbx_sh (const char *id, const char *cmd, char *out, size_t n)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    json_t *j = json_string (cmd);
    mpjson_encode (j, 2, &req->body.sandbox_exec.command.data,
                   &req->body.sandbox_exec.command.size);
    json_decref (j);
    req->body.sandbox_exec.timeout_seconds = 600;
    proto_msg_t *rep = ask ("sandbox-manager", req);
    if (rep->body.sandbox_exec_result.exit_code != 0) {
        fprintf (stderr, "bench-egress: in the sandbox, `%s` exited %llu: %s\n", cmd,
                 (unsigned long long) rep->body.sandbox_exec_result.exit_code,
                 rep->body.sandbox_exec_result.stderr);
        exit (1);
    }
    snprintf (out, n, "%s", rep->body.sandbox_exec_result.stdout);
    proto_msg_destroy (&rep);
}

/* Runs argv on the host (as uid in directory dir when uid is not 0); its
 * stdout into out. Exits on failure. */
static void
host_run (const char *const argv[], uid_t uid, const char *dir, char *out, size_t n)
{
    int fds[2];
    if (pipe (fds))
        exit (1);
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (fds[1], STDOUT_FILENO);
        close (fds[0]);
        if (uid && (chdir (dir) || setgroups (0, NULL) || setresgid (uid, uid, uid)
                    || setresuid (uid, uid, uid)))
            _exit (126);
        execvp (argv[0], (char *const *) argv);
        _exit (127);
    }
    close (fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read (fds[0], out + got, n - 1 - got)) > 0)
        got += (size_t) r;
    out[got] = 0;
    close (fds[0]);
    int st;
    waitpid (pid, &st, 0);
    if (!WIFEXITED (st) || WEXITSTATUS (st)) {
        fprintf (stderr, "bench-egress: %s ... %s (as uid %u) failed: %s\n", argv[0],
                 argv[1], (unsigned) uid, out);
        exit (1);
    }
}

/* A `policy` sandbox allowed the origin (cpus 0: the default); its id,
 * and in *uid (when not NULL) the host uid it runs as. */
static char *
create_policy (uint64_t cpus, uid_t *uid)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->body.sandbox_create.network, "policy");
    req->body.sandbox_create.cpus = cpus;
    char rule[64];
    snprintf (rule, sizeof rule, ORIGIN ":%d", s_port);
    json_t *allow = json_pack ("[s]", rule);
    mpjson_encode (allow, 2, &req->body.sandbox_create.network_allow.data,
                   &req->body.sandbox_create.network_allow.size);
    json_decref (allow);
    proto_msg_t *rep = ask ("sandbox-manager", req);
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    char path[64];
    snprintf (path, sizeof path, "/proc/%llu",
              (unsigned long long) rep->body.sandbox_info.init_pid);
    proto_msg_destroy (&rep);
    struct stat st;
    if (stat (path, &st)) {
        perror ("bench-egress: the sandbox's init");
        exit (1);
    }
    if (uid)
        *uid = st.st_uid;
    return id;
}

static void
destroy (char *id)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_destroy, NULL);
    proto_set_str (&req->body.sandbox_destroy.sandbox_id, id);
    proto_msg_t *rep = ask ("sandbox-manager", req);
    proto_msg_destroy (&rep);
    free (id);
}

static double
median (double *v, int n)
{
    qsort (v, (size_t) n, sizeof *v, bench_cmp_double);
    return v[n / 2];
}

/* The TTFB script: mode `proxy` (proxy-form through 127.0.0.1:3128) or
 * `direct`; prints p50 and p99 in ms. */
static const char *s_ttfb_py =
    "import socket, sys, time\n"
    "mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])\n"
    "ts = []\n"
    "for i in range(n):\n"
    "    t = time.perf_counter()\n"
    "    if mode == 'proxy':\n"
    "        s = socket.create_connection(('127.0.0.1', 3128))\n"
    "        path = 'http://%s:%d/small' % (host, port)\n"
    "    else:\n"
    "        s = socket.create_connection((host, port))\n"
    "        path = '/small'\n"
    "    s.sendall(('GET %s HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n'\n"
    "               % (path, host)).encode())\n"
    "    s.recv(1)\n"
    "    ts.append((time.perf_counter() - t) * 1000)\n"
    "    while s.recv(65536):\n"
    "        pass\n"
    "    s.close()\n"
    "ts.sort()\n"
    "print('%.3f %.3f' % (ts[len(ts) // 2], ts[int((len(ts) - 1) * 0.99)]))\n";

int
main (int argc, char **argv)
{
    int rounds = argc > 1 ? atoi (argv[1]) : 5, requests = argc > 2 ? atoi (argv[2]) : 500;
    if (rounds < 1 || rounds > ROUNDS_MAX || requests < 10) {
        fprintf (stderr, "usage: bench-egress [ROUNDS (1-%d) [REQUESTS (>= 10)]]\n", ROUNDS_MAX);
        return 2;
    }
    if (geteuid () != 0) {
        fprintf (stderr, "bench-egress: needs root (it makes sandboxes)\n");
        return 1;
    }
    char dir[PATH_MAX], bindir[PATH_MAX];
    if (bench_stack_env ("egress", bindir, sizeof bindir, dir, sizeof dir))
        return 1;
    setenv ("CAISSON_DATA", dir, 1);
    setenv ("CAISSON_SANDBOX_NETWORK_MAX", "policy", 1);
    setenv ("CAISSON_EGRESS_ALLOW_MAX", "*,127.0.0.0/8:1-65535", 1);
    /* The path's own speed: the default budget (4 GiB a minute, about
     * 68 MiB/s) would be what is measured. */
    setenv ("CAISSON_EGRESS_BYTES_PER_MIN", "0", 1);
    /* policy sandboxes never come from the warm pool, whose sandboxes would
     * outlive the manager this bench stops */
    setenv ("CAISSON_SANDBOX_POOL", "0", 1);
    printf ("bench-egress: data in %s\n", dir);
    origin_start ();
    pid_t bus = bench_start (bindir, dir, "caisson-bus");
    pid_t proxy = bench_start (bindir, dir, "caisson-egress-proxy");
    pid_t mgr = bench_start (bindir, dir, "caisson-sandbox-manager");
    s_c = bus_client_new (getenv ("CAISSON_BUS"));
    await_service ("egress-proxy");
    await_service ("sandbox-manager");

    uid_t uid;
    char *id = create_policy (0, &uid), *id2 = create_policy (2, NULL);
    char netdir[PATH_MAX + 64];
    snprintf (netdir, sizeof netdir, "%s/sandboxes/%s/net", dir, id);

    char big[128], out[4096];
    snprintf (big, sizeof big, "http://" ORIGIN ":%d/big", s_port);
    const char *direct[] = { "curl", "-sSf", "--noproxy", "*", "-o", "/dev/null", "-w",
                             "%{speed_download}", big, NULL };
    /* Over a Unix socket curl ignores -x: --request-target sends the
     * proxy form (absolute URI) the proxy wants. */
    const char *unix_sock[] = { "curl", "-sSf", "--unix-socket", "egress.sock",
                                "--request-target", big, "-o", "/dev/null", "-w",
                                "%{speed_download}", big, NULL };
    char in_sbx[256];
    snprintf (in_sbx, sizeof in_sbx, "curl -sSf -o /dev/null -w '%%{speed_download}' %s", big);
    double a[ROUNDS_MAX] = { 0 }, b[ROUNDS_MAX] = { 0 }, b2[ROUNDS_MAX] = { 0 },
           c[ROUNDS_MAX] = { 0 };
    for (int i = 0; i < rounds; i++) {
        host_run (direct, 0, NULL, out, sizeof out);
        a[i] = atof (out) / 1048576;
        sbx_sh (id, in_sbx, out, sizeof out);
        b[i] = atof (out) / 1048576;
        sbx_sh (id2, in_sbx, out, sizeof out);
        b2[i] = atof (out) / 1048576;
        host_run (unix_sock, uid, netdir, out, sizeof out);
        c[i] = atof (out) / 1048576;
    }
    double ma = median (a, rounds), mb = median (b, rounds), mb2 = median (b2, rounds),
           mc = median (c, rounds);

    /* TTFB: the same script both ways. */
    char script[PATH_MAX + 32];
    snprintf (script, sizeof script, "%s/ttfb.py", dir);
    FILE *f = fopen (script, "w");
    if (!f || fputs (s_ttfb_py, f) < 0 || fclose (f))
        return 1;
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_write_file, NULL);
    proto_set_str (&req->body.sandbox_write_file.sandbox_id, id);
    proto_set_str (&req->body.sandbox_write_file.path, "ttfb.py");
    proto_set_bytes (&req->body.sandbox_write_file.content, s_ttfb_py, strlen (s_ttfb_py));
    proto_msg_t *rep = ask ("sandbox-manager", req);
    proto_msg_destroy (&rep);
    char port[16], count[16], cmd[256];
    snprintf (port, sizeof port, "%d", s_port);
    snprintf (count, sizeof count, "%d", requests);
    const char *ttfb_direct[] = { "python3", script, "direct", ORIGIN, port, count, NULL };
    double d50, d99, p50, p99;
    host_run (ttfb_direct, 0, NULL, out, sizeof out);
    if (sscanf (out, "%lf %lf", &d50, &d99) != 2)
        return 1;
    snprintf (cmd, sizeof cmd, "python3 ttfb.py proxy " ORIGIN " %d %d", s_port, requests);
    sbx_sh (id, cmd, out, sizeof out);
    if (sscanf (out, "%lf %lf", &p50, &p99) != 2)
        return 1;

    char load[128] = "?";
    f = fopen ("/proc/loadavg", "r");
    if (f) {
        if (!fgets (load, sizeof load, f))
            snprintf (load, sizeof load, "?");
        load[strcspn (load, "\n")] = 0;
        fclose (f);
    }
    printf ("bench-egress: %d rounds of a 100 MiB download, %d small GETs (load average %s)\n",
            rounds, requests, load);
    printf ("  %-52s median %8.1f MiB/s\n", "(a) host, direct", ma);
    printf ("  %-52s median %8.1f MiB/s\n", "(b) sandbox (1 CPU), forwarder + egress-proxy", mb);
    printf ("  %-52s median %8.1f MiB/s\n", "(b2) the same, a sandbox of 2 CPUs", mb2);
    printf ("  %-52s median %8.1f MiB/s\n", "(c) host, egress-proxy's socket alone", mc);
    printf ("  ratio (b)/(a): %.2f (target >= 0.8); (b2)/(a): %.2f; (c)/(a): %.2f\n", mb / ma,
            mb2 / ma, mc / ma);
    printf ("  %-52s p50 %7.3f  p99 %7.3f ms\n", "TTFB host, direct", d50, d99);
    printf ("  %-52s p50 %7.3f  p99 %7.3f ms\n", "TTFB sandbox, through the proxy", p50, p99);
    printf ("  proxy adds at p50: %.3f ms (target <= 1)\n", p50 - d50);

    destroy (id);
    destroy (id2);
    bus_client_destroy (&s_c);
    bench_stop (mgr);
    bench_stop (proxy);
    bench_stop (bus);
    return 0;
}
