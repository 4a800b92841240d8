/* bench-bus: what the broker and CURVE cost a request, measured against a
 * bare ZeroMQ hop in the same run.
 *
 * Two paths over the same transport (tcp on 127.0.0.1, or ipc with --ipc),
 * each run twice: plain ZeroMQ (CAISSON_BUS_CURVE=0), then CURVE with the
 * keys the benchmark makes in its directory, as a stack's bus is:
 *
 *   raw     a DEALER talking to a forked process whose ROUTER echoes every
 *           message back: the least a request over ZeroMQ can cost;
 *   broker  a bus_client talking to the real caisson-bus and one real worker
 *           (caisson-tool-runner, whose libcommon bus_worker answers ping).
 *
 * On each path it times N sequential round trips (p50, p99) and M requests
 * kept W in flight, then prints the two side by side against the targets.
 * The client does the same work on both paths, encoding a fresh ping per
 * request (the worker's reply cache is keyed by id, so ids must not repeat)
 * and decoding every reply, so the difference is the broker hop and the
 * worker. It is a benchmark, not a test: a missed target still exits 0;
 * only a failure to run exits 1. Every child is stopped before exit. */
#define _GNU_SOURCE
#include "bench_util.h"
#include "bus_client.h"
#include "busio.h"
#include "buskey.h"
#include "cid.h"
#include "proto.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVICE "tool-runner"
#define WORKER_PROGRAM "caisson-" SERVICE
#define BROKER_PROGRAM "caisson-bus"
#define REPLY_TIMEOUT_MS 5000   /* a reply this late means something broke */
#define READY_TIMEOUT_MS 10000
#define MIN_CREDIT 1000
#define TARGET_P50_RATIO 2.0
#define TARGET_PIPELINED_RPS 100000.0

extern char **environ;

typedef struct {
    int requests;               /* timed sequential round trips */
    int pipelined;              /* requests in the pipelined run */
    int window;                 /* pipelined requests in flight */
    int warmup;                 /* untimed round trips before timing */
    int payload;                /* bytes of ping data */
    bool ipc;
    int port;                   /* first of four tcp ports; 0: free ones */
} opts_t;

typedef struct {
    double p50_us, p99_us, seq_rps, pipe_rps;
} result_t;

/* One way to send a request and get its reply: a raw DEALER (echo path)
 * or a bus_client (broker path). */
typedef struct {
    void *sock;
    bus_client_t *client;
} path_t;

static char s_dir[PATH_MAX];    /* logs, data, ipc sockets */
static pid_t s_children[3];     /* echo, broker, worker; 0 when not running */
static uint8_t *s_payload;

/* ---- statistics --------------------------------------------------------- */

/* Nearest-rank percentile (pct of 100) of sorted values, in microseconds. */
static double
percentile_us (const int64_t *sorted, size_t n, size_t pct)
{
    size_t rank = (pct * n + 99) / 100;
    return (double) sorted[rank > 0 ? rank - 1 : 0] / 1000.0;
}

/* ---- requests ----------------------------------------------------------- */

/* Encodes and sends a fresh ping; its id goes to id when id is not NULL. */
static int
send_ping (path_t *p, const opts_t *o, char id[CID_SIZE])
{
    proto_msg_t *m = proto_msg_new (PROTO_ping, NULL);
    uint8_t *data = NULL;
    size_t size;
    int rc = -1;
    if (o->payload)
        proto_set_bytes (&m->body.ping.data, s_payload, (size_t) o->payload);
    if (proto_encode (m, &data, &size) == 0) {
        if (id)
            snprintf (id, CID_SIZE, "%s", m->env.id);
        rc = p->client ? bus_client_send (p->client, SERVICE, data, size)
                       : busio_send_copy (p->sock, data, size, false);
    }
    free (data);
    proto_msg_destroy (&m);
    return rc;
}

/* The next reply, decoded, or NULL after timeout_ms. */
static proto_msg_t *
recv_reply (path_t *p, int timeout_ms)
{
    if (p->client)
        return bus_client_recv (p->client, timeout_ms, NULL);
    zmq_pollitem_t item = { p->sock, 0, ZMQ_POLLIN, 0 };
    busio_msg_t m;
    while (busio_recv (p->sock, &m, ZMQ_DONTWAIT))
        if (zmq_poll (&item, 1, timeout_ms) <= 0)
            return NULL;
    proto_err_t err;
    proto_msg_t *reply = NULL;
    if (m.n == 1)
        reply = proto_decode (zmq_msg_data (&m.f[0]), zmq_msg_size (&m.f[0]), &err);
    busio_close (&m);
    return reply;
}

/* The id of the request a reply answers: the echo path returns the ping
 * itself, a worker's pong names the ping as its cause. NULL when the reply
 * is neither (an error). */
static const char *
answered (const proto_msg_t *reply)
{
    if (reply->type == PROTO_ping)
        return reply->env.id;
    return reply->type == PROTO_pong ? reply->env.cause : NULL;
}

/* Takes the next reply and checks it is a ping or pong (answering id when
 * id is not NULL). Returns 0, or -1 having said what came instead. */
static int
expect_reply (path_t *p, const char *id)
{
    proto_msg_t *reply = recv_reply (p, REPLY_TIMEOUT_MS);
    int rc = -1;
    if (zsys_interrupted)
        fprintf (stderr, "bench-bus: interrupted\n");
    else if (!reply)
        fprintf (stderr, "bench-bus: no decodable reply within %d ms\n", REPLY_TIMEOUT_MS);
    else if (reply->type == PROTO_error)
        fprintf (stderr, "bench-bus: error reply: %s: %s\n", reply->body.error.code,
                 reply->body.error.message);
    else if (!answered (reply) || (id && strcmp (answered (reply), id) != 0))
        fprintf (stderr, "bench-bus: unexpected %s reply\n", proto_type_name (reply->type));
    else
        rc = 0;
    proto_msg_destroy (&reply);
    return rc;
}

static int
round_trip (path_t *p, const opts_t *o)
{
    char id[CID_SIZE];
    return send_ping (p, o, id) == 0 ? expect_reply (p, id) : -1;
}

/* Warm-up, then sequential round trips timed one by one (encoding and
 * decoding included), then a pipelined run. Returns 0 or -1. */
static int
measure (path_t *p, const opts_t *o, result_t *r)
{
    for (int i = 0; i < o->warmup; i++)
        if (round_trip (p, o))
            return -1;

    int64_t *lat = malloc ((size_t) o->requests * sizeof *lat);
    if (!lat)
        return -1;
    int64_t start = bench_now_ns ();
    for (int i = 0; i < o->requests; i++) {
        int64_t t0 = bench_now_ns ();
        if (round_trip (p, o)) {
            free (lat);
            return -1;
        }
        lat[i] = bench_now_ns () - t0;
    }
    r->seq_rps = o->requests / ((double) (bench_now_ns () - start) / 1e9);
    qsort (lat, (size_t) o->requests, sizeof *lat, bench_cmp_i64);
    r->p50_us = percentile_us (lat, (size_t) o->requests, 50);
    r->p99_us = percentile_us (lat, (size_t) o->requests, 99);
    free (lat);

    int sent = 0, got = 0;
    start = bench_now_ns ();
    while (got < o->pipelined) {
        while (sent < o->pipelined && sent - got < o->window) {
            if (send_ping (p, o, NULL))
                return -1;
            sent++;
        }
        if (expect_reply (p, NULL)) {
            fprintf (stderr, "bench-bus: (with %d requests in flight, a ROUTER may have dropped "
                     "replies at its high-water mark; try a smaller --window)\n", o->window);
            return -1;
        }
        got++;
    }
    r->pipe_rps = o->pipelined / ((double) (bench_now_ns () - start) / 1e9);
    return 0;
}

/* ---- child processes ---------------------------------------------------- */

/* The child's half of a fork: dies with the benchmark even if it is
 * killed outright, and writes its output to log. */
static void
child_setup (pid_t parent, const char *log)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != parent)
        _exit (1);              /* the benchmark died before prctl */
    int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2 (fd, STDOUT_FILENO);
        dup2 (fd, STDERR_FILENO);
        close (fd);
    }
}

static void
stop_child (pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill (*pid, SIGTERM);
    for (int waited = 0; waited < 2000; waited += 10) {
        if (waitpid (*pid, NULL, WNOHANG) == *pid) {
            *pid = 0;
            return;
        }
        usleep (10000);
    }
    kill (*pid, SIGKILL);
    waitpid (*pid, NULL, 0);
    *pid = 0;
}

static void
stop_children (void)
{
    /* The worker first, so it does not spend its last moments re-registering
     * with a broker that has gone. */
    for (int i = 2; i >= 0; i--)
        stop_child (&s_children[i]);
}

/* True when the child has exited (and is reaped). */
static bool
child_exited (pid_t *pid)
{
    if (*pid > 0 && waitpid (*pid, NULL, WNOHANG) == *pid)
        *pid = 0;
    return *pid == 0;
}

/* The echo server. Forked before the benchmark makes any ZeroMQ context,
 * so it starts from a clean process; it serves until SIGTERM interrupts
 * its blocking receive. Writes '1' to ready_fd once bound, '0' if it
 * cannot bind (the reason is in its log). */
static void
echo_serve (const char *endpoint, int ready_fd)
{
    buskey_set_role (BUSKEY_BUS);     /* the server key clients expect */
    zsock_t *router = busio_socket (ZMQ_ROUTER, endpoint, true);
    char ok = router ? '1' : '0';
    if (write (ready_fd, &ok, 1) != 1 || !router)
        _exit (1);
    close (ready_fd);
    void *raw = zsock_resolve (router);
    busio_msg_t m;
    while (!zsys_interrupted && busio_recv (raw, &m, 0) == 0) {
        for (int i = 0; i < m.n; i++)
            busio_send_move (raw, &m.f[i], i + 1 < m.n);
        m.n = 0;
    }
    _exit (0);
}

static pid_t
start_echo (const char *endpoint)
{
    char log[PATH_MAX + 64];
    snprintf (log, sizeof log, "%s/echo.log", s_dir);
    int fds[2];
    if (pipe (fds))
        return -1;
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        close (fds[0]);
        child_setup (parent, log);
        echo_serve (endpoint, fds[1]);
    }
    close (fds[1]);
    char ok = '0';
    if (pid > 0 && (read (fds[0], &ok, 1) != 1 || ok != '1')) {
        s_children[0] = pid;
        stop_child (&s_children[0]);
        pid = -1;
    }
    close (fds[0]);
    return pid;
}

/* Sets this process's CAISSON_BUS_CURVE, which the children started from
 * now on inherit. */
static void
use_curve (bool curve)
{
    setenv ("CAISSON_BUS_CURVE", curve ? "1" : "0", 1);
}

/* Starts bindir/program with envp. Everything the child needs is made
 * before the fork because the benchmark then has ZeroMQ's threads running,
 * and after a fork only async-signal-safe calls are safe until exec. */
static pid_t
start_program (const char *bindir, const char *program, char *const envp[])
{
    char path[PATH_MAX + 64], log[PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/%s", bindir, program);
    snprintf (log, sizeof log, "%s/%s.log", s_dir, program);
    if (access (path, X_OK)) {
        fprintf (stderr, "bench-bus: cannot run %s: %s\n", path, strerror (errno));
        return -1;
    }
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        child_setup (parent, log);
        execve (path, (char *const[]) { path, NULL }, envp);
        _exit (127);
    }
    return pid;
}

/* The current environment with each of the "KEY=VALUE" entries of set in
 * place of any existing KEY. The strings are borrowed. */
static char **
env_with (char *const set[], int nset)
{
    int n = 0;
    while (environ[n])
        n++;
    char **env = calloc ((size_t) (n + nset + 1), sizeof *env);
    if (!env)
        return NULL;
    int used = 0;
    for (int i = 0; i < n; i++) {
        bool replaced = false;
        for (int j = 0; j < nset && !replaced; j++) {
            size_t keylen = (size_t) (strchr (set[j], '=') - set[j]) + 1;
            replaced = strncmp (environ[i], set[j], keylen) == 0;
        }
        if (!replaced)
            env[used++] = environ[i];
    }
    for (int j = 0; j < nset; j++)
        env[used++] = set[j];
    return env;
}

/* ---- endpoints ---------------------------------------------------------- */

/* Asks the kernel for n distinct free tcp ports on 127.0.0.1. The sockets
 * are held until all are picked, so no port is handed out twice. */
static int
free_ports (int n, int ports[])
{
    int fds[4];
    int rc = 0, opened = 0;
    for (; opened < n && rc == 0; opened++) {
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        fds[opened] = socket (AF_INET, SOCK_STREAM, 0);
        if (fds[opened] < 0 || bind (fds[opened], (struct sockaddr *) &a, sizeof a)
            || getsockname (fds[opened], (struct sockaddr *) &a, &len))
            rc = -1;
        else
            ports[opened] = ntohs (a.sin_port);
    }
    for (int i = 0; i < opened; i++)
        if (fds[i] >= 0)
            close (fds[i]);
    return rc;
}

/* Fills the four endpoints: echo, broker requests, events in, events out. */
static int
make_endpoints (const opts_t *o, char ep[4][PATH_MAX + 32])
{
    static const char *names[4] = { "echo", "bus", "events-in", "events-out" };
    int ports[4];
    if (o->ipc) {
        for (int i = 0; i < 4; i++)
            snprintf (ep[i], sizeof ep[i], "ipc://%s/%s", s_dir, names[i]);
        return 0;
    }
    if (o->port)
        for (int i = 0; i < 4; i++)
            ports[i] = o->port + i;
    else if (free_ports (4, ports))
        return -1;
    for (int i = 0; i < 4; i++)
        snprintf (ep[i], sizeof ep[i], "tcp://127.0.0.1:%d", ports[i]);
    return 0;
}

static int
remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    return remove (path);
}

/* ---- the two paths ------------------------------------------------------ */

static int
bench_raw (const opts_t *o, const char *endpoint, bool curve, result_t *r)
{
    use_curve (curve);
    if ((s_children[0] = start_echo (endpoint)) < 0) {
        s_children[0] = 0;
        fprintf (stderr, "bench-bus: echo server did not start\n");
        return -1;
    }
    zsock_t *sock = busio_socket (ZMQ_DEALER, endpoint, false);
    int rc = -1;
    if (sock) {
        path_t p = { .sock = zsock_resolve (sock) };
        rc = measure (&p, o, r);
    }
    zsock_destroy (&sock);
    /* Stopped now so it takes no CPU from the broker's run. */
    stop_child (&s_children[0]);
    return rc;
}

/* Pings the worker through the broker until it answers, then drains the
 * answers to earlier pings so none is taken for a measured reply. */
static int
wait_ready (bus_client_t *client)
{
    int64_t deadline = zclock_mono () + READY_TIMEOUT_MS;
    bus_client_set_timeout (client, 200, 0);
    bool ready = false;
    while (!ready && zclock_mono () < deadline && !zsys_interrupted) {
        if (child_exited (&s_children[1]) || child_exited (&s_children[2])) {
            fprintf (stderr, "bench-bus: %s exited\n",
                     s_children[1] ? WORKER_PROGRAM : BROKER_PROGRAM);
            return -1;
        }
        proto_msg_t *ping = proto_msg_new (PROTO_ping, NULL);
        proto_msg_t *rep = ping ? bus_client_request (client, SERVICE, ping) : NULL;
        ready = rep && rep->type == PROTO_pong;
        proto_msg_destroy (&rep);
        proto_msg_destroy (&ping);
    }
    if (!ready) {
        fprintf (stderr, "bench-bus: %s did not answer ping through %s\n",
                 WORKER_PROGRAM, BROKER_PROGRAM);
        return -1;
    }
    proto_msg_t *late;
    while ((late = bus_client_recv (client, 200, NULL)))
        proto_msg_destroy (&late);
    return 0;
}

static int
bench_broker (const opts_t *o, char ep[4][PATH_MAX + 32], bool curve, result_t *r)
{
    use_curve (curve);
    char self[PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return -1;
    self[len] = '\0';
    *strrchr (self, '/') = '\0';

    char set[5][PATH_MAX + 64];
    snprintf (set[0], sizeof set[0], "CAISSON_BUS=%s", ep[1]);
    snprintf (set[1], sizeof set[1], "CAISSON_BUS_PUB=%s", ep[2]);
    snprintf (set[2], sizeof set[2], "CAISSON_BUS_SUB=%s", ep[3]);
    snprintf (set[3], sizeof set[3], "CAISSON_DATA=%s", s_dir);
    /* Credit at least the window, so the broker never queues a pipelined
     * request for want of it. */
    snprintf (set[4], sizeof set[4], "CAISSON_WORKER_CREDIT=%d",
              o->window > MIN_CREDIT ? o->window : MIN_CREDIT);
    char **env = env_with ((char *const[]) { set[0], set[1], set[2], set[3], set[4] }, 5);
    if (!env)
        return -1;
    s_children[1] = start_program (self, BROKER_PROGRAM, env);
    s_children[2] = s_children[1] > 0 ? start_program (self, WORKER_PROGRAM, env) : -1;
    free (env);
    if (s_children[1] < 0 || s_children[2] < 0)
        return -1;

    bus_client_t *client = bus_client_new (ep[1]);
    int rc = -1;
    if (client && wait_ready (client) == 0) {
        path_t p = { .client = client };
        rc = measure (&p, o, r);
    }
    bus_client_destroy (&client);
    /* Stopped now, so the next run binds the same endpoints afresh. */
    stop_children ();
    return rc;
}

/* ---- report ------------------------------------------------------------- */

/* One row of the table: the four runs' values (with that many decimals),
 * and two ratios. */
static void
row (const char *what, int decimals, double raw, double raw_c, double brk, double brk_c,
     bool lower_is_better)
{
    printf ("  %-22s", what);
    const double v[4] = { raw, raw_c, brk, brk_c };
    for (int i = 0; i < 4; i++)
        printf (" %11.*f", decimals, v[i]);
    /* How many times worse CURVE makes each path. */
    printf (" %8.2f %8.2f\n", lower_is_better ? raw_c / raw : raw / raw_c,
            lower_is_better ? brk_c / brk : brk / brk_c);
}

static void
targets (const char *label, const result_t *raw, const result_t *brk)
{
    printf ("  %-6s broker p50 <= %.0f x raw p50      %8.1f us <= %8.1f us   %s\n", label,
            TARGET_P50_RATIO, brk->p50_us, TARGET_P50_RATIO * raw->p50_us,
            brk->p50_us <= TARGET_P50_RATIO * raw->p50_us ? "PASS" : "MISS");
    printf ("  %-6s broker pipelined >= %.0f req/s  %8.0f req/s              %s\n", label,
            TARGET_PIPELINED_RPS, brk->pipe_rps,
            brk->pipe_rps >= TARGET_PIPELINED_RPS ? "PASS" : "MISS");
}

/* r[0] raw plain, r[1] raw CURVE, r[2] broker plain, r[3] broker CURVE. */
static void
report (const opts_t *o, size_t ping_size, const result_t r[4])
{
    printf ("bench-bus: %s, ping of %zu bytes encoded; %d sequential requests "
            "(after %d warm-up), %d pipelined with %d in flight\n\n",
            o->ipc ? "ipc" : "tcp 127.0.0.1", ping_size, o->requests, o->warmup,
            o->pipelined, o->window);
    printf ("  %-22s %11s %11s %11s %11s %8s %8s\n", "", "raw", "raw+CURVE", "broker",
            "brk+CURVE", "raw", "broker");
    row ("sequential p50 (us)", 1, r[0].p50_us, r[1].p50_us, r[2].p50_us, r[3].p50_us,
         true);
    row ("sequential p99 (us)", 1, r[0].p99_us, r[1].p99_us, r[2].p99_us, r[3].p99_us,
         true);
    row ("sequential req/s", 0, r[0].seq_rps, r[1].seq_rps, r[2].seq_rps, r[3].seq_rps,
         false);
    row ("pipelined req/s", 0, r[0].pipe_rps, r[1].pipe_rps, r[2].pipe_rps,
         r[3].pipe_rps, false);
    printf ("\n  (the last two columns: how many times worse CURVE makes the raw hop and "
            "the broker path)\n\ntargets\n");
    targets ("plain", &r[0], &r[2]);
    targets ("CURVE", &r[1], &r[3]);
}

/* ---- options ------------------------------------------------------------ */

static void
usage (FILE *out)
{
    fprintf (out,
             "Usage: bench-bus [--requests N] [--pipelined M] [--window W] [--warmup K]\n"
             "                 [--payload BYTES] [--port P] [--ipc]\n\n"
             "Times ping round trips over a raw ZeroMQ DEALER/ROUTER echo and through\n"
             "caisson-bus to one " WORKER_PROGRAM ", each plain and with CURVE, and\n"
             "prints the four side by side with the targets.\n\n"
             "  --requests N     sequential round trips timed (default 20000)\n"
             "  --pipelined M    requests in the pipelined run (default 200000)\n"
             "  --window W       pipelined requests in flight (default 256)\n"
             "  --warmup K       untimed round trips first (default 2000)\n"
             "  --payload BYTES  bytes of ping data (default 0)\n"
             "  --port P         tcp ports P..P+3 (default $BENCH_BUS_PORT, else free ones)\n"
             "  --ipc            ipc endpoints in a temporary directory instead of tcp\n");
}

/* Parses a positive integer option value into *out; 0 is allowed when
 * zero_ok. Returns 0 or -1. */
static int
int_arg (const char *s, bool zero_ok, int *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol (s, &end, 10) : -1;
    if (!s || errno || *end || v < (zero_ok ? 0 : 1) || v > INT_MAX)
        return -1;
    *out = (int) v;
    return 0;
}

static int
parse (int argc, char **argv, opts_t *o)
{
    *o = (opts_t) { .requests = 20000, .pipelined = 200000, .window = 256, .warmup = 2000 };
    const char *env_port = getenv ("BENCH_BUS_PORT");
    if (env_port && *env_port && int_arg (env_port, false, &o->port)) {
        fprintf (stderr, "bench-bus: BENCH_BUS_PORT: not a port: '%s'\n", env_port);
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp (a, "--help") || !strcmp (a, "-h")) {
            usage (stdout);
            exit (0);
        }
        else if (!strcmp (a, "--ipc"))
            o->ipc = true;
        else if (!strcmp (a, "--requests"))
            rc = int_arg (v, false, &o->requests), i++;
        else if (!strcmp (a, "--pipelined"))
            rc = int_arg (v, false, &o->pipelined), i++;
        else if (!strcmp (a, "--window"))
            rc = int_arg (v, false, &o->window), i++;
        else if (!strcmp (a, "--warmup"))
            rc = int_arg (v, true, &o->warmup), i++;
        else if (!strcmp (a, "--port"))
            rc = int_arg (v, false, &o->port), i++;
        else if (!strcmp (a, "--payload"))
            rc = int_arg (v, true, &o->payload), i++;
        else
            rc = -1;
        if (rc) {
            fprintf (stderr, "bench-bus: bad argument '%s'%s%s\n", a, v ? " " : "", v ? v : "");
            usage (stderr);
            return -1;
        }
    }
    if (o->port > 65535 - 3) {
        fprintf (stderr, "bench-bus: port %d leaves no room for four ports\n", o->port);
        return -1;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    opts_t o;
    if (parse (argc, argv, &o))
        return 2;
    proto_limits_load ();
    if (o.payload && !(s_payload = calloc (1, (size_t) o.payload)))
        return 1;

    char ep[4][PATH_MAX + 32];
    if (bench_tmpdir ("bus", s_dir, sizeof s_dir) || make_endpoints (&o, ep)) {
        fprintf (stderr, "bench-bus: cannot set up endpoints: %s\n", strerror (errno));
        return 1;
    }

    /* The size of what goes over the wire, for the report. */
    proto_msg_t *sample = proto_msg_new (PROTO_ping, NULL);
    uint8_t *data = NULL;
    size_t ping_size = 0;
    if (o.payload)
        proto_set_bytes (&sample->body.ping.data, s_payload, (size_t) o.payload);
    if (proto_encode (sample, &data, &ping_size) == 0)
        free (data);
    proto_msg_destroy (&sample);

    /* The stack's keys, made here as `caisson up` makes them. */
    char keys[PATH_MAX + 16], err[PATH_MAX + 160];
    snprintf (keys, sizeof keys, "%s/keys", s_dir);
    setenv ("CAISSON_DATA", s_dir, 1);
    setenv ("CAISSON_BUS_KEYS", keys, 1);
    if (buskey_create (keys, err, sizeof err)) {
        fprintf (stderr, "bench-bus: %s\n", err);
        return 1;
    }

    result_t r[4];
    int rc = 0;
    for (int curve = 0; curve < 2 && rc == 0; curve++) {
        fprintf (stderr, "bench-bus: raw DEALER/ROUTER echo at %s%s ...\n", ep[0],
                 curve ? ", CURVE" : "");
        rc = bench_raw (&o, ep[0], curve, &r[curve]);
    }
    for (int curve = 0; curve < 2 && rc == 0; curve++) {
        fprintf (stderr, "bench-bus: broker at %s, worker " WORKER_PROGRAM "%s ...\n", ep[1],
                 curve ? ", CURVE" : "");
        rc = bench_broker (&o, ep, curve, &r[2 + curve]);
    }
    stop_children ();
    free (s_payload);
    if (rc) {
        fprintf (stderr, "bench-bus: failed; logs are in %s\n", s_dir);
        return 1;
    }
    nftw (s_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    report (&o, ping_size, r);
    return 0;
}
