/* bench-ui: what ui-bridge adds on top of the bus, measured against the
 * bus alone in the same run.
 *
 *   request  GET /api/runs/{id} over HTTP/1.1 keep-alive (token check,
 *            rate limit, JSON, one event-log request), against the same
 *            `run.record.get` sent straight to event-log with a bus_client;
 *   stream   an event appended to event-log until it arrives on an open
 *            SSE stream of /api/runs/{id}/events, against its arrival on
 *            a plain bus subscriber listening at the same time.
 *
 * Prints p50 and p99 of each side and their ratio. It starts the broker,
 * event-log and ui-bridge from its own bin directory in a temporary data
 * directory and stops them before it exits. Exit 1 only when it cannot
 * run. */
#define _GNU_SOURCE
#include "bench_util.h"
#include "bus_client.h"
#include "bus_tap.h"
#include "cid.h"
#include "proto.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <czmq.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQUESTS 2000
#define EVENTS 300

static char s_bin[1024], s_dir[256], s_token[128];
static int s_port;

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    return remove (path);
}

static void
report (const char *what, double *base, double *ui, int n)
{
    qsort (base, (size_t) n, sizeof *base, bench_cmp_double);
    qsort (ui, (size_t) n, sizeof *ui, bench_cmp_double);
    double b50 = base[n / 2], b99 = base[n * 99 / 100], u50 = ui[n / 2], u99 = ui[n * 99 / 100];
    printf ("%-8s bus alone p50 %7.3f ms  p99 %7.3f ms | via ui-bridge p50 %7.3f ms  p99 %7.3f ms"
            " | ratio p50 %.2fx  p99 %.2fx  (n=%d)\n", what, b50, b99, u50, u99, u50 / b50,
            u99 / b99, n);
}

static size_t
sink (char *data, size_t size, size_t n, void *arg)
{
    (void) data, (void) arg;
    return size * n;
}

static int
append (bus_client_t *c, const char *run, const char *kind, const char *json)
{
    proto_msg_t *m = proto_msg_new (PROTO_event_append, NULL);
    proto_set_str (&m->env.run, run);
    proto_set_str (&m->body.event_append.kind, kind);
    /* A one-key map {"user": "bench"} or {} in msgpack. */
    if (json && !strcmp (json, "user"))
        proto_set_bytes (&m->body.event_append.data, "\x81\xa4user\xa5" "bench", 12);
    proto_msg_t *rep = bus_client_request (c, "event-log", m);
    int rc = rep && rep->type == PROTO_event_ack ? 0 : -1;
    proto_msg_destroy (&rep);
    proto_msg_destroy (&m);
    return rc;
}

static int
sse_open (const char *run)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) s_port),
                              .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    if (connect (fd, (struct sockaddr *) &sa, sizeof sa))
        return -1;
    char req[512];
    int n = snprintf (req, sizeof req, "GET /api/runs/%s/events HTTP/1.0\r\nAuthorization: "
                      "Bearer %s\r\n\r\n", run, s_token);
    return write (fd, req, (size_t) n) == n ? fd : -1;
}

/* Waits for the frame with id seq on fd (buffer carried between calls). */
static int
sse_wait (int fd, uint64_t seq, char *buf, size_t cap, size_t *used)
{
    char needle[48];
    snprintf (needle, sizeof needle, "id: %llu\n", (unsigned long long) seq);
    for (;;) {
        char *hit = strstr (buf, needle);
        if (hit) {
            size_t keep = *used - (size_t) (hit + strlen (needle) - buf);
            memmove (buf, hit + strlen (needle), keep + 1);
            *used = keep;
            return 0;
        }
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll (&p, 1, 5000) <= 0)
            return -1;
        ssize_t n = read (fd, buf + *used, cap - *used - 1);
        if (n <= 0)
            return -1;
        *used += (size_t) n;
        buf[*used] = '\0';
    }
}

int
main (void)
{
    if (bench_stack_env ("ui", s_bin, sizeof s_bin, s_dir, sizeof s_dir))
        return 1;
    char ep[512];
    setenv ("CAISSON_DATA", s_dir, 1);
    setenv ("CAISSON_HTTP_RATE", "1000000", 1);
    setenv ("CAISSON_HTTP_BURST", "1000000", 1);
    setenv ("CAISSON_LMDB_MAP_MB", "64", 1);
    s_port = 20000 + getpid () % 20000;
    snprintf (ep, sizeof ep, "127.0.0.1:%d", s_port);
    setenv ("CAISSON_HTTP", ep, 1);
    zsys_init ();
    zsys_set_logstream (NULL);
    proto_limits_load ();

    pid_t bus = bench_start (s_bin, s_dir, "caisson-bus");
    pid_t elog = bench_start (s_bin, s_dir, "caisson-event-log");
    pid_t bridge = bench_start (s_bin, s_dir, "caisson-ui-bridge");
    int fds[2];
    if (pipe (fds))
        return 1;
    pid_t tok = fork ();
    if (tok == 0) {
        dup2 (fds[1], 1);
        char path[1200];
        snprintf (path, sizeof path, "%s/caisson", s_bin);
        execl (path, path, "token", "create", "--user", "bench", (char *) NULL);
        _exit (127);
    }
    close (fds[1]);
    ssize_t n = read (fds[0], s_token, sizeof s_token - 1);
    s_token[n > 0 ? n : 0] = '\0';
    s_token[strcspn (s_token, "\n")] = '\0';
    waitpid (tok, NULL, 0);

    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    char run[CID_SIZE];
    cid_new (run);
    int status = 1;
    for (int i = 0; i < 100 && append (c, run, "run_started", "user"); i++)
        zclock_sleep (50);
    CURL *curl = curl_easy_init ();
    char url[256], auth[200];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/api/runs/%s", s_port, run);
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", s_token);
    struct curl_slist *h = curl_slist_append (NULL, auth);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, sink);
    long code = 0;
    for (int i = 0; i < 100 && code != 200; i++) {
        curl_easy_perform (curl);
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200)
            zclock_sleep (50);
    }
    if (code != 200) {
        fprintf (stderr, "bench-ui: the bridge did not answer (see %s)\n", s_dir);
        goto done;
    }
    static double base[REQUESTS], ui[REQUESTS];
    for (int i = 0; i < REQUESTS; i++) {
        proto_msg_t *m = proto_msg_new (PROTO_run_record_get, NULL);
        proto_set_str (&m->body.run_record_get.run, run);
        double t0 = bench_now_ms ();
        proto_msg_t *rep = bus_client_request (c, "event-log", m);
        base[i] = bench_now_ms () - t0;
        proto_msg_destroy (&rep);
        proto_msg_destroy (&m);
        t0 = bench_now_ms ();
        curl_easy_perform (curl);
        ui[i] = bench_now_ms () - t0;
    }
    report ("request", base, ui, REQUESTS);

    char topic[64];
    snprintf (topic, sizeof topic, "run.%s.", run);
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), topic);
    int fd = sse_open (run);
    static char buf[1 << 20];
    size_t used = 0;
    buf[0] = '\0';
    zclock_sleep (300);
    if (fd < 0 || sse_wait (fd, 1, buf, sizeof buf, &used)) {
        fprintf (stderr, "bench-ui: no event stream\n");
        goto done;
    }
    static double sbase[EVENTS], sui[EVENTS];
    for (int i = 0; i < EVENTS; i++) {
        double t0 = bench_now_ms ();
        append (c, run, "text", NULL);
        char t[256];
        proto_msg_t *e = bus_tap_recv (tap, t, sizeof t, 5000, NULL);
        sbase[i] = bench_now_ms () - t0;
        proto_msg_destroy (&e);
        if (sse_wait (fd, (uint64_t) i + 2, buf, sizeof buf, &used)) {
            fprintf (stderr, "bench-ui: event %d never reached the stream\n", i + 2);
            goto done;
        }
        sui[i] = bench_now_ms () - t0;
    }
    report ("stream", sbase, sui, EVENTS);
    close (fd);
    bus_tap_destroy (&tap);
    status = 0;
done:
    curl_slist_free_all (h);
    curl_easy_cleanup (curl);
    bus_client_destroy (&c);
    bench_stop (bridge);
    bench_stop (elog);
    bench_stop (bus);
    if (status == 0)
        nftw (s_dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}
