/* bench-gateway: what the model gateway (issue 16) adds to a model call.
 *
 * One private stack: broker, caisson-gateway-keys, caisson-gateway and the
 * scripted model (caisson-llm-replay, no added latency) playing a one-turn
 * cassette of 20 text chunks. A key with a rate limit and a cost budget
 * (so every call is checked and reserved) calls through the gateway.
 * 1. --calls streamed completions (default 2000) each way, alternating,
 *    one keep-alive connection each, one at a time: time to first byte
 *    (CURLINFO_STARTTRANSFER_TIME_T) and total time, p50 and p99, straight
 *    to the scripted model (the baseline) and through the gateway. The
 *    target is a gateway TTFB within 1 ms of the baseline at p50.
 * 2. Calls per second at 1, 16 and 64 concurrent clients (curl multi,
 *    keep-alive), --seconds each (default 3), both ways.
 * 3. Fairness: a second key's gkey.reserve round trip (p50/p99, on the
 *    bus as a gateway sends it), alone and while a first key keeps 64
 *    reserves in flight (one key flooding gateway-keys).
 * 4. Phase 1 through the gateway again with gateway-keys syncing every
 *    batch (CAISSON_GATEWAY_KEYS_SYNC=full) instead of only settles.
 * Prints the load average and the git revision: figures from a busy
 * machine mean little. */
#include "bench_util.h"
#include "bus_client.h"
#include "mpjson.h"
#include "vkey.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TASK "bench: one streamed answer"
#define CHUNKS 20
#define CHUNK 24

#define FLOOD 64                /* reserves the flooding key keeps in flight */

static char s_bindir[1024], s_dir[256], s_key[256], s_key2[256];
static char s_direct[128], s_via[128];  /* the two chat completions URLs */
static char *s_body_direct, *s_body_via;
static pid_t s_keys = -1;

typedef struct {
    int64_t *ttfb, *total;       /* µs */
    size_t n;
} samples_t;

static size_t
sink (char *data, size_t size, size_t n, void *arg)
{
    (void) data;
    (void) arg;
    return size * n;
}

static int
write_cassette (void)
{
    char text[CHUNKS * CHUNK + 1];
    for (size_t i = 0; i < sizeof text - 1; i++)
        text[i] = (char) ('a' + i % 26);
    text[sizeof text - 1] = '\0';
    json_t *c = json_pack ("{s:s, s:i, s:[{s:s}]}", "task", TASK, "chunk", CHUNK, "turns",
                           "text", text);
    char path[400];
    snprintf (path, sizeof path, "%s/cassettes", s_dir);
    mkdir (path, 0700);
    strcat (path, "/bench.json");
    int rc = json_dump_file (c, path, JSON_INDENT (1));
    json_decref (c);
    return rc;
}

static char *
body_for (const char *model)
{
    json_t *r = json_pack ("{s:s, s:b, s:i, s:[{s:s, s:s}]}", "model", model, "stream", 1,
                           "max_tokens", 200, "messages", "role", "user", "content", TASK);
    char *out = json_dumps (r, JSON_COMPACT);
    json_decref (r);
    return out;
}

/* An easy handle posting a streamed completion, direct or via the
 * gateway; headers in *h (the caller frees them). */
static CURL *
easy (bool via, struct curl_slist **h)
{
    char auth[320];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", s_key);
    *h = curl_slist_append (NULL, "Content-Type: application/json");
    if (via)
        *h = curl_slist_append (*h, auth);
    CURL *e = curl_easy_init ();
    curl_easy_setopt (e, CURLOPT_URL, via ? s_via : s_direct);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, *h);
    curl_easy_setopt (e, CURLOPT_POSTFIELDS, via ? s_body_via : s_body_direct);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, 30000L);
    return e;
}

static bool
ok (CURL *e, CURLcode rc)
{
    long status = 0;
    curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &status);
    return rc == CURLE_OK && status == 200;
}

/* Phase 1: n calls each way, alternating, into d (direct) and v (via). */
static int
latency (size_t n, samples_t *d, samples_t *v)
{
    struct curl_slist *hd, *hv;
    CURL *ed = easy (false, &hd), *ev = easy (true, &hv);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        for (int w = 0; w < 2; w++) {
            CURL *e = w ? ev : ed;
            samples_t *s = w ? v : d;
            if (!ok (e, curl_easy_perform (e))) {
                fprintf (stderr, "bench-gateway: a call %s failed\n", w ? "via" : "direct");
                rc = -1;
                break;
            }
            curl_off_t t0, t1;
            curl_easy_getinfo (e, CURLINFO_STARTTRANSFER_TIME_T, &t0);
            curl_easy_getinfo (e, CURLINFO_TOTAL_TIME_T, &t1);
            s->ttfb[s->n] = t0;
            s->total[s->n++] = t1;
        }
    }
    curl_easy_cleanup (ed);
    curl_easy_cleanup (ev);
    curl_slist_free_all (hd);
    curl_slist_free_all (hv);
    return rc;
}

static int64_t
pct (int64_t *x, size_t n, double p)
{
    if (!n)
        return 0;
    qsort (x, n, sizeof *x, bench_cmp_i64);
    size_t i = (size_t) (p * (double) (n - 1) + 0.5);
    return x[i];
}

static void
report (const char *what, samples_t *s)
{
    printf ("  %-26s ttfb p50 %7.3f ms  p99 %7.3f ms   total p50 %7.3f ms  p99 %7.3f ms\n",
            what, pct (s->ttfb, s->n, 0.5) / 1e3, pct (s->ttfb, s->n, 0.99) / 1e3,
            pct (s->total, s->n, 0.5) / 1e3, pct (s->total, s->n, 0.99) / 1e3);
}

/* Phase 2: calls per second with clients at once for seconds; -1 when a
 * call failed. */
static double
throughput (bool via, int clients, double seconds)
{
    CURLM *m = curl_multi_init ();
    CURL *e[64];
    struct curl_slist *h[64];
    for (int i = 0; i < clients; i++) {
        e[i] = easy (via, &h[i]);
        curl_multi_add_handle (m, e[i]);
    }
    double t0 = bench_now_ms (), end = t0 + seconds * 1000;
    long done = 0, failed = 0;
    int running = clients;
    while (running || bench_now_ms () < end) {
        curl_multi_perform (m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read (m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *x = msg->easy_handle;
            if (ok (x, msg->data.result))
                done++;
            else
                failed++;
            curl_multi_remove_handle (m, x);
            if (bench_now_ms () < end) {
                curl_multi_add_handle (m, x);
                running++;
            }
        }
        if (!running && bench_now_ms () >= end)
            break;
        curl_multi_poll (m, NULL, 0, 10, NULL);
    }
    double s = (bench_now_ms () - t0) / 1000;
    for (int i = 0; i < clients; i++) {
        curl_multi_remove_handle (m, e[i]);
        curl_easy_cleanup (e[i]);
        curl_slist_free_all (h[i]);
    }
    curl_multi_cleanup (m);
    if (failed)
        fprintf (stderr, "bench-gateway: %ld calls failed\n", failed);
    return failed ? -1 : (double) done / s;
}

/* Sends m (taken) to gateway-keys. */
static int
send_msg (bus_client_t *c, proto_msg_t *m)
{
    uint8_t *data;
    size_t size;
    int rc = proto_encode (m, &data, &size);
    proto_msg_destroy (&m);
    if (!rc) {
        rc = bus_client_send (c, "gateway-keys", data, size);
        free (data);
    }
    return rc;
}

/* A gkey.reserve of a new call with key (its id in call unless NULL), as
 * gateway `bench` sends it. */
static int
send_reserve (bus_client_t *c, const char *key, char *call)
{
    proto_msg_t *m = proto_msg_new (PROTO_gkey_reserve, NULL);
    proto_gkey_reserve_t *r = &m->body.gkey_reserve;
    char own[CID_SIZE];
    uint8_t h[32];
    call = call ? call : own;
    cid_new (call);
    vkey_hash (key, h);
    proto_set_str (&r->call, call);
    proto_set_bytes (&r->key_hash, h, sizeof h);
    proto_set_str (&r->model, "replay/t");
    proto_set_str (&r->route, "chat");
    r->input_bound = 10;
    r->output_max = 10;
    proto_set_str (&r->gateway, "bench");
    return send_msg (c, m);
}

/* A gkey.settle of call (5 tokens out), its answer not waited for. */
static int
send_settle (bus_client_t *c, const char *call)
{
    proto_msg_t *m = proto_msg_new (PROTO_gkey_settle, NULL);
    proto_gkey_settle_t *s = &m->body.gkey_settle;
    proto_set_str (&s->call, call);
    proto_set_str (&s->model, "replay/t");
    proto_set_str (&s->outcome, "ok");
    s->output = 5;
    s->status = 200;
    return send_msg (c, m);
}

typedef struct {
    atomic_bool stop;
    long granted;
} flood_t;

/* The flooding key: FLOOD reserves in flight until stop. */
static void *
flood (void *arg)
{
    flood_t *f = arg;
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    int inflight = 0;
    for (; inflight < FLOOD && !send_reserve (c, s_key, NULL); inflight++)
        ;
    while (inflight > 0) {
        proto_msg_t *rep = bus_client_recv (c, 5000, NULL);
        if (!rep)
            break;
        f->granted += rep->type == PROTO_gkey_grant && rep->body.gkey_grant.ok;
        proto_msg_destroy (&rep);
        inflight--;
        if (!atomic_load (&f->stop) && !send_reserve (c, s_key, NULL))
            inflight++;
    }
    bus_client_destroy (&c);
    return NULL;
}

/* The next gkey.grant on c (other answers, settles', are dropped). */
static bool
granted (bus_client_t *c)
{
    for (;;) {
        proto_msg_t *rep = bus_client_recv (c, 5000, NULL);
        if (!rep)
            return false;
        bool grant = rep->type == PROTO_gkey_grant, ok = grant && rep->body.gkey_grant.ok;
        proto_msg_destroy (&rep);
        if (grant)
            return ok;
    }
}

/* n reserves of the second key one after another: their round trips
 * (µs) in t; -1 when one was not granted. behind_settle: each sent right
 * behind the settle of the one before, as a gateway's next call follows
 * its last call's settle. */
static int
reserve_times (bus_client_t *c, int64_t *t, size_t n, bool behind_settle)
{
    char call[CID_SIZE];
    if (behind_settle && (send_reserve (c, s_key2, call) || !granted (c)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (behind_settle && send_settle (c, call))
            return -1;
        double t0 = bench_now_ms ();
        if (send_reserve (c, s_key2, call) || !granted (c))
            return -1;
        t[i] = (int64_t) ((bench_now_ms () - t0) * 1000);
    }
    return 0;
}

/* Phase 3: the second key's reserve latency alone, then beside the flood. */
static int
fairness (size_t n)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    int64_t *alone = calloc (n, sizeof *alone), *flooded = calloc (n, sizeof *flooded);
    int64_t *behind = calloc (n, sizeof *behind);
    flood_t f = { .granted = 0 };
    atomic_init (&f.stop, false);
    pthread_t th;
    int rc = reserve_times (c, alone, n, false) || reserve_times (c, behind, n, true);
    double t0 = bench_now_ms ();
    if (!rc && !(rc = pthread_create (&th, NULL, flood, &f))) {
        usleep (200000);
        rc = reserve_times (c, flooded, n, false);
        atomic_store (&f.stop, true);
        pthread_join (th, NULL);
    }
    if (!rc) {
        printf ("  reserve, 2nd key alone:    p50 %7.3f ms  p99 %7.3f ms\n",
                pct (alone, n, 0.5) / 1e3, pct (alone, n, 0.99) / 1e3);
        printf ("  reserve right behind a settle: p50 %7.3f ms  p99 %7.3f ms\n",
                pct (behind, n, 0.5) / 1e3, pct (behind, n, 0.99) / 1e3);
        printf ("  reserve, 2nd key, 1st key flooding (%d in flight, %.0f grants/s): p50 %7.3f ms"
                "  p99 %7.3f ms\n", FLOOD, f.granted / ((bench_now_ms () - t0) / 1000),
                pct (flooded, n, 0.5) / 1e3, pct (flooded, n, 0.99) / 1e3);
    }
    else
        fprintf (stderr, "bench-gateway: a reserve of the second key failed\n");
    free (alone);
    free (flooded);
    free (behind);
    bus_client_destroy (&c);
    return rc;
}

static int
await_http (const char *url)
{
    for (int i = 0; i < 200; i++) {
        CURL *e = curl_easy_init ();
        curl_easy_setopt (e, CURLOPT_URL, url);
        curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, sink);
        CURLcode rc = curl_easy_perform (e);
        bool up = ok (e, rc);
        curl_easy_cleanup (e);
        if (up)
            return 0;
        usleep (50000);
    }
    fprintf (stderr, "bench-gateway: %s never answered\n", url);
    return -1;
}

/* A key for user bench with a rate limit and a cost budget no call
 * reaches: every call is checked and reserved. */
static int
make_key (bus_client_t *c, char *out)
{
    proto_msg_t *m = proto_msg_new (PROTO_gkey_create, NULL);
    proto_set_str (&m->env.user, "operator");
    m->env.op = true;
    proto_set_str (&m->body.gkey_create.user, "bench");
    m->body.gkey_create.rpm = 10000000;
    m->body.gkey_create.tpm = 1000000000000ull;
    m->body.gkey_create.budget_nusd = 1000000000000000ull;
    proto_msg_t *rep = bus_client_request (c, "gateway-keys", m);
    proto_msg_destroy (&m);
    int rc = rep && rep->type == PROTO_gkey_made ? 0 : -1;
    if (!rc)
        snprintf (out, 256, "%s", rep->body.gkey_made.key);
    else
        fprintf (stderr, "bench-gateway: gkey.create: %s\n", rep && rep->type == PROTO_error
                 ? rep->body.error.message : "no answer");
    proto_msg_destroy (&rep);
    return rc;
}

static int
await_keys (bus_client_t *c)
{
    for (int i = 0; i < 100; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        proto_msg_t *rep = bus_client_request (c, "gateway-keys", req);
        bool up = rep && rep->type == PROTO_health_rep;
        proto_msg_destroy (&req);
        proto_msg_destroy (&rep);
        if (up)
            return 0;
        usleep (50000);
    }
    fprintf (stderr, "bench-gateway: gateway-keys never answered\n");
    return -1;
}

static samples_t
samples (size_t n)
{
    samples_t s = { calloc (n, sizeof (int64_t)), calloc (n, sizeof (int64_t)), 0 };
    return s;
}

int
main (int argc, char **argv)
{
    size_t calls = 2000;
    double seconds = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--calls") && i + 1 < argc)
            calls = strtoul (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "--seconds") && i + 1 < argc)
            seconds = atof (argv[++i]);
        else {
            fprintf (stderr, "usage: bench-gateway [--calls N] [--seconds S]\n");
            return 2;
        }
    }
    if (bench_stack_env ("gateway", s_bindir, sizeof s_bindir, s_dir, sizeof s_dir)
        || write_cassette ())
        return 1;
    curl_global_init (CURL_GLOBAL_DEFAULT);
    char cassettes[300];
    int rport = bench_free_port (), gport = bench_free_port ();
    bench_replay_env (s_dir, rport, gport);
    snprintf (cassettes, sizeof cassettes, "%s/cassettes", s_dir);
    setenv ("CAISSON_LLM_REPLAY_DIR", cassettes, 1);
    setenv ("CAISSON_GATEWAY_PRICES", "replay/*=1,2,0,4096", 1);
    snprintf (s_direct, sizeof s_direct, "http://127.0.0.1:%d/v1/chat/completions", rport);
    snprintf (s_via, sizeof s_via, "http://127.0.0.1:%d/v1/chat/completions", gport);
    s_body_direct = body_for ("t");
    s_body_via = body_for ("replay/t");
    pid_t bus = bench_start (s_bindir, s_dir, "caisson-bus");
    pid_t replay = bench_start (s_bindir, s_dir, "caisson-llm-replay");
    s_keys = bench_start (s_bindir, s_dir, "caisson-gateway-keys");
    pid_t gateway = bench_start (s_bindir, s_dir, "caisson-gateway");
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (c, 200, 0);
    char health[128];
    snprintf (health, sizeof health, "http://127.0.0.1:%d/health", gport);
    int rc = await_keys (c) || await_http (health) || make_key (c, s_key)
             || make_key (c, s_key2) ? 1 : 0;
    samples_t d = samples (calls), v = samples (calls), vf = samples (calls);
    char rev[64] = "unknown";
    FILE *g = popen ("git -C " CAISSON_SOURCE_DIR " rev-parse --short HEAD 2>/dev/null", "r");
    if (g && fgets (rev, sizeof rev, g))
        rev[strcspn (rev, "\n")] = '\0';
    if (g)
        pclose (g);
    printf ("bench-gateway: git %s, load average %.2f, %zu calls each way, %d chunks of %d B\n",
            rev, bench_load (), calls, CHUNKS, CHUNK);
    if (!rc && !(rc = latency (calls, &d, &v))) {
        report ("direct (baseline)", &d);
        report ("via gateway", &v);
        printf ("  gateway adds: ttfb p50 %+.3f ms (target <= 1 ms)\n",
                (pct (v.ttfb, v.n, 0.5) - pct (d.ttfb, d.n, 0.5)) / 1e3);
        int clients[] = { 1, 16, 64 };
        for (size_t i = 0; i < 3 && !rc; i++) {
            double a = throughput (false, clients[i], seconds);
            double b = throughput (true, clients[i], seconds);
            rc = a < 0 || b < 0;
            printf ("  %2d clients: %8.0f calls/s direct  %8.0f calls/s via gateway\n",
                    clients[i], a, b);
        }
        if (!rc)
            rc = fairness (calls);
    }
    if (!rc) {
        /* gateway-keys again, syncing every batch */
        bench_stop (s_keys);
        setenv ("CAISSON_GATEWAY_KEYS_SYNC", "full", 1);
        s_keys = bench_start (s_bindir, s_dir, "caisson-gateway-keys");
        rc = await_keys (c);
        samples_t dd = samples (calls);
        if (!rc && !(rc = latency (calls, &dd, &vf)))
            report ("via gateway, sync full", &vf);
        free (dd.ttfb);
        free (dd.total);
    }
    printf ("  load average after: %.2f\n", bench_load ());
    bus_client_destroy (&c);
    bench_stop (gateway);
    bench_stop (s_keys);
    bench_stop (replay);
    bench_stop (bus);
    samples_t *all[] = { &d, &v, &vf };
    for (size_t i = 0; i < 3; i++) {
        free (all[i]->ttfb);
        free (all[i]->total);
    }
    free (s_body_direct);
    free (s_body_via);
    curl_global_cleanup ();
    return rc;
}
