/* bench-agent: what the orchestrator costs, with the scripted model.
 *
 * 1. The loop gap at zero model latency (--runs runs of --steps steps,
 *    --concurrency at a time), two ways in the same runs:
 *    - as the model server sees it, which is what a provider would
 *      measure: from the end of one reply to the next request of the
 *      same run (caisson-llm-replay's GET /stats), so the tool call and
 *      every hop of the orchestrator's step are inside;
 *    - the orchestrator's own share (step_started's overheadUs): its time
 *      between getting control back (model turn or tool result) and
 *      handing it off again, tool time and the waits between excluded.
 *    Baseline: a bus round trip (health) to the same worker.
 * 2. --load concurrent runs (default 1000) of --steps steps at 100 ms
 *    model latency: wall time against the ideal, model-bound steps x
 *    100 ms, and the orchestrator's peak RSS. Baseline: one run alone.
 *
 * Tool-runner and event-log are orch_fixture's stand-ins (this program
 * run as `bench-agent fixture`), so tool time is a bus round trip. The
 * script is written at start: a sandbox, then runCommand steps, then an
 * answer. */
#include "bench_util.h"
#include "bus_client.h"
#include "bus_tap.h"
#include "mpjson.h"
#include "orch_fixture.h"

#include <curl/curl.h>
#include <czmq.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TASK "bench: a run of scripted steps"
#define LOAD_LATENCY_MS 100

static char s_bindir[1024], s_dir[256];
static size_t s_steps = 10;

/* Writes the script: turn 1 creates a sandbox, turns 2..steps-1 run a
 * command in it, the last answers. */
static int
write_cassette (void)
{
    json_t *turns = json_array ();
    json_array_append_new (turns, json_pack ("{s:[{s:s, s:{}}]}", "toolCalls", "name",
                                             "createSandbox", "args"));
    for (size_t i = 2; i < s_steps; i++) {
        char text[32], cmd[32];
        snprintf (text, sizeof text, "Step %zu.", i);
        snprintf (cmd, sizeof cmd, "echo %zu", i - 2);
        json_array_append_new (turns, json_pack ("{s:s, s:[{s:s, s:{s:s, s:s}}]}", "text", text,
                                                 "toolCalls", "name", "runCommand", "args",
                                                 "sandboxId", "{{sandboxId}}", "command", cmd));
    }
    json_array_append_new (turns, json_pack ("{s:s}", "text", "Bench run done."));
    json_t *c = json_pack ("{s:s, s:o}", "task", TASK, "turns", turns);
    char path[400];
    snprintf (path, sizeof path, "%s/cassettes", s_dir);
    mkdir (path, 0700);
    strcat (path, "/bench.json");
    int rc = json_dump_file (c, path, JSON_INDENT (1));
    json_decref (c);
    return rc;
}

static pid_t
spawn (const char *program, const char *arg, const char *const env[])
{
    pid_t pid = fork ();
    if (pid)
        return pid;
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    for (int i = 0; env && env[i]; i++)
        putenv ((char *) env[i]);
    char path[1200], log[600];
    snprintf (path, sizeof path, "%s/%s", s_bindir, program);
    snprintf (log, sizeof log, "%s/%s.log", s_dir, program);
    int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2 (fd, STDERR_FILENO);
    if (arg)
        execl ("/proc/self/exe", "bench-agent", arg, (char *) NULL);
    else
        execl (path, path, (char *) NULL);
    _exit (127);
}

static int
cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static uint64_t
pct (uint64_t *v, size_t n, double p)
{
    qsort (v, n, sizeof *v, cmp_u64);
    return n ? v[(size_t) ((double) (n - 1) * p)] : 0;
}

typedef struct {
    pid_t bus, replay, fixture, orch;
    bus_client_t *client;
    bus_tap_t *tap;
    char stats_url[128];        /* llm-replay's GET /stats */
} stack_t_;

static void
await_service (bus_client_t *c, const char *service)
{
    for (int i = 0; i < 200; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        proto_msg_t *rep = bus_client_request (c, service, req);
        bool up = rep && rep->type == PROTO_health_rep;
        proto_msg_destroy (&req);
        proto_msg_destroy (&rep);
        if (up)
            return;
        usleep (50000);
    }
    fprintf (stderr, "bench-agent: %s never answered (logs in %s)\n", service, s_dir);
    exit (1);
}

/* Starts the stack; live is how many runs it must take at once (all the
 * bench's runs are one user's). */
static void
stack_up (stack_t_ *s, int latency_ms, size_t live)
{
    static char lat[64], dirs[1200], port[64], url[128], max_live[64];
    int p = 10000 + getpid () % 20000 + latency_ms % 7;  /* below the ephemeral range */
    snprintf (lat, sizeof lat, "CAISSON_LLM_REPLAY_LATENCY_MS=%d", latency_ms);
    snprintf (dirs, sizeof dirs, "CAISSON_LLM_REPLAY_DIR=%s/cassettes", s_dir);
    snprintf (port, sizeof port, "CAISSON_LLM_REPLAY_PORT=%d", p);
    snprintf (url, sizeof url, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1", p);
    snprintf (s->stats_url, sizeof s->stats_url, "http://127.0.0.1:%d/stats", p);
    const char *renv[] = { lat, dirs, port, NULL };
    snprintf (max_live, sizeof max_live, "CAISSON_RUN_MAX_LIVE_PER_USER=%zu", live);
    const char *oenv[] = { url, max_live, "MODEL=replay/bench", "CAISSON_RUN_MAX_SECONDS=600",
                           NULL };
    /* The bench sends each run.start once: the broker keeps them queued
     * while the orchestrator works through a thousand (its default 2.5 s
     * would drop the tail on a loaded machine, where a client resends). */
    const char *benv[] = { "CAISSON_REQUEST_TIMEOUT_MS=120000", NULL };
    s->bus = spawn ("caisson-bus", NULL, benv);
    s->replay = spawn ("caisson-llm-replay", NULL, renv);
    s->fixture = spawn ("fixture", "fixture", NULL);
    s->orch = spawn ("caisson-orchestrator", NULL, oenv);
    s->client = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (s->client, 2000, 3);
    s->tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), "run.");
    await_service (s->client, "tool-runner");
    await_service (s->client, "orchestrator");
}

static void
stack_down (stack_t_ *s)
{
    bus_tap_destroy (&s->tap);
    bus_client_destroy (&s->client);
    bench_stop (s->orch);
    bench_stop (s->replay);
    bench_stop (s->fixture);
    bench_stop (s->bus);
}

static void
send_start (stack_t_ *s)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->body.run_start.task, TASK);
    uint8_t *data;
    size_t size;
    proto_encode (req, &data, &size);
    bus_client_send (s->client, "orchestrator", data, size);
    free (data);
    proto_msg_destroy (&req);
}

/* Runs total runs, at most inflight at once (each started as another
 * ends), collecting step overheads (step > 1) into samples when given.
 * Returns how many completed. */
static size_t
run_all (stack_t_ *s, size_t total, size_t inflight, uint64_t *samples, size_t *nsamples,
         size_t cap)
{
    size_t started = 0, ended = 0, completed = 0;
    for (; started < total && started < inflight; started++)
        send_start (s);
    while (ended < total) {
        char topic[256];
        proto_msg_t *ev = bus_tap_recv (s->tap, topic, sizeof topic, 30000, NULL);
        if (!ev) {
            fprintf (stderr, "bench-agent: no event for 30 s (%zu of %zu ended)\n", ended,
                     total);
            break;
        }
        const char *kind = ev->type == PROTO_event ? ev->body.event.kind : "";
        if (!strcmp (kind, "complete") || !strcmp (kind, "failed")) {
            ended++;
            completed += !strcmp (kind, "complete");
            if (started < total) {
                send_start (s);
                started++;
            }
        }
        else if (samples && !strcmp (kind, "step_started")) {
            char why[64];
            json_t *d = mpjson_decode (ev->body.event.data.data, ev->body.event.data.size, 8, why,
                                       sizeof why);
            if (json_integer_value (json_object_get (d, "step")) > 1 && *nsamples < cap)
                samples[(*nsamples)++] =
                    (uint64_t) json_integer_value (json_object_get (d, "overheadUs"));
            json_decref (d);
        }
        proto_msg_destroy (&ev);
    }
    size_t answered = 0;
    proto_msg_t *rep;
    while ((rep = bus_client_recv (s->client, 0, NULL))) {
        answered++;
        if (rep->type == PROTO_error)
            fprintf (stderr, "bench-agent: run.start refused: %s\n", rep->body.error.message);
        proto_msg_destroy (&rep);
    }
    if (answered < started)
        fprintf (stderr, "bench-agent: %zu of %zu run.start never answered\n",
                 started - answered, started);
    return completed;
}

static size_t
on_body (char *data, size_t size, size_t n, void *arg)
{
    size_t len = strlen (arg), add = size * n;
    if (len + add < 1024) {
        memcpy ((char *) arg + len, data, add);
        ((char *) arg)[len + add] = '\0';
    }
    return add;
}

/* The model server's loop-gap figures (docs/llm-replay.md), or NULL. */
static json_t *
server_gaps (stack_t_ *s)
{
    char body[1024] = "";
    CURL *e = curl_easy_init ();
    curl_easy_setopt (e, CURLOPT_URL, s->stats_url);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, body);
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, 5000L);
    CURLcode rc = curl_easy_perform (e);
    curl_easy_cleanup (e);
    json_t *g = rc == CURLE_OK ? json_loads (body, 0, NULL) : NULL;
    if (!g)
        fprintf (stderr, "bench-agent: no figures from %s\n", s->stats_url);
    return g;
}

static unsigned long long
gap_of (json_t *g, const char *name)
{
    return (unsigned long long) json_integer_value (json_object_get (g, name));
}

/* A field of /proc/<pid>/status, in kB. */
static uint64_t
status_kb (pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    uint64_t kb = 0;
    size_t n = strlen (field);
    while (f && fgets (line, sizeof line, f))
        if (!strncmp (line, field, n) && line[n] == ':')
            kb = strtoull (line + n + 1, NULL, 10);
    if (f)
        fclose (f);
    return kb;
}

/* CPU seconds (user + system) the process has used so far. */
static double
cpu_seconds (pid_t pid)
{
    char path[64], buf[1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen (path, "r");
    size_t n = f ? fread (buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose (f);
    buf[n] = '\0';
    char *p = strrchr (buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p)
        sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
    return (double) (ut + st) / (double) sysconf (_SC_CLK_TCK);
}

static void
loop_gap (size_t runs, size_t concurrency)
{
    stack_t_ s;
    stack_up (&s, 0, concurrency);
    size_t cap = runs * s_steps, n = 0;
    uint64_t *samples = calloc (cap, sizeof *samples), *rtt = calloc (1000, sizeof *rtt);
    for (int i = 0; i < 1000; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        int64_t t0 = zclock_usecs ();
        proto_msg_t *rep = bus_client_request (s.client, "tool-runner", req);
        rtt[i] = (uint64_t) (zclock_usecs () - t0);
        proto_msg_destroy (&req);
        proto_msg_destroy (&rep);
    }
    int64_t t0 = zclock_usecs ();
    size_t done = run_all (&s, runs, concurrency, samples, &n, cap);
    double wall = (double) (zclock_usecs () - t0) / 1000.0;
    json_t *g = server_gaps (&s);
    uint64_t bus50 = pct (rtt, 1000, 0.5), bus99 = pct (rtt, 1000, 0.99);
    uint64_t p50 = pct (samples, n, 0.5), p90 = pct (samples, n, 0.9),
             p99 = pct (samples, n, 0.99), max = pct (samples, n, 1);
    unsigned long long g50 = gap_of (g, "p50Us"), g99 = gap_of (g, "p99Us");
    printf ("loop gap per step, zero model latency (%zu runs of %zu steps, %zu at a time, "
            "%zu completed, %.0f ms):\n", runs, s_steps, concurrency, done, wall);
    printf ("  seen by the model server (end of reply -> next request of the run, %llu gaps, "
            "%llu unmatched):\n    p50 %6llu us   p90 %6llu us   p99 %6llu us   max %6llu us\n",
            gap_of (g, "gaps"), gap_of (g, "unmatched"), g50, gap_of (g, "p90Us"), g99,
            gap_of (g, "maxUs"));
    printf ("  orchestrator's own share (step_started overheadUs, %zu samples):\n"
            "    p50 %6llu us   p90 %6llu us   p99 %6llu us   max %6llu us   "
            "(target p99 <= 1000 us)\n", n, (unsigned long long) p50,
            (unsigned long long) p90, (unsigned long long) p99, (unsigned long long) max);
    printf ("  ratio server gap / overheadUs: p50 %.2f   p99 %.2f\n",
            p50 ? (double) g50 / (double) p50 : 0.0, p99 ? (double) g99 / (double) p99 : 0.0);
    printf ("  baseline: bus round trip to a worker   p50 %6llu us   p99 %6llu us "
            "(ratio p50 overheadUs / bus %.2f)\n", (unsigned long long) bus50,
            (unsigned long long) bus99, bus50 ? (double) p50 / (double) bus50 : 0.0);
    json_decref (g);
    free (samples);
    free (rtt);
    stack_down (&s);
}

static void
load (size_t runs, int latency_ms)
{
    stack_t_ s;
    stack_up (&s, latency_ms, runs);
    int64_t t0 = zclock_usecs ();
    size_t one = run_all (&s, 1, 1, NULL, NULL, 0);
    double single = (double) (zclock_usecs () - t0) / 1000.0;
    double cpu0 = cpu_seconds (s.orch), rcpu0 = cpu_seconds (s.replay);
    t0 = zclock_usecs ();
    size_t done = run_all (&s, runs, runs, NULL, NULL, 0);
    double wall = (double) (zclock_usecs () - t0) / 1000.0;
    double ideal = (double) s_steps * latency_ms;
    uint64_t rss = status_kb (s.orch, "VmHWM"), anon = status_kb (s.orch, "RssAnon"),
             file = status_kb (s.orch, "RssFile");
    double cpu = cpu_seconds (s.orch) - cpu0, rcpu = cpu_seconds (s.replay) - rcpu0;
    json_t *g = server_gaps (&s);
    printf ("%zu concurrent runs x %zu steps at %d ms model latency (%zu completed):\n", runs,
            s_steps, latency_ms, done);
    printf ("  wall %.0f ms   ideal %.0f ms   ratio %.2f   (target <= 1.20)\n", wall, ideal,
            wall / ideal);
    printf ("  baseline: one run alone %.0f ms (%s), ratio to ideal %.2f\n", single,
            one ? "completed" : "FAILED", single / ideal);
    printf ("  orchestrator peak RSS %.1f MB   (target <= 64 MB); at the end: heap and stacks "
            "%.1f MB, mapped files (LMDB, libraries) %.1f MB\n", (double) rss / 1024.0,
            (double) anon / 1024.0, (double) file / 1024.0);
    printf ("  CPU during the runs: orchestrator %.2f s, scripted model %.2f s\n", cpu, rcpu);
    printf ("  loop gap seen by the model server (these runs and the lone one, identical runs "
            "paired first in, first out):\n    p50 %6llu us   p90 %6llu us   p99 %6llu us   "
            "max %6llu us\n", gap_of (g, "p50Us"), gap_of (g, "p90Us"), gap_of (g, "p99Us"),
            gap_of (g, "maxUs"));
    json_decref (g);
    stack_down (&s);
}

static const char *s_usage =
    "usage: bench-agent [--steps N] [--runs N] [--concurrency N] [--load N]\n"
    "  --steps N        model turns per run, >= 2 (default 10)\n"
    "  --runs N         runs measured for the loop gap, at zero model latency (default 100)\n"
    "  --concurrency N  of those, how many in flight at once (default 1)\n"
    "  --load N         concurrent runs at 100 ms model latency; 0 skips (default 1000)\n"
    "The loop gap is reported as the model server sees it (end of one reply to the next\n"
    "request of the same run) beside the orchestrator's overheadUs. See bench/README.md.\n";

/* Reads a count of at least min into *v; false when the text is not one. */
static bool
count_arg (const char *text, size_t min, size_t *v)
{
    char *end;
    unsigned long long n = strtoull (text, &end, 10);
    if (!*text || *end || n < min || n > 1000000)
        return false;
    *v = (size_t) n;
    return true;
}

int
main (int argc, char **argv)
{
    if (argc == 2 && !strcmp (argv[1], "fixture"))
        return orch_fixture_main ();
    size_t runs = 100, concurrency = 1, load_runs = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        bool ok = i + 1 < argc;
        if (!strcmp (a, "--help") || !strcmp (a, "-h")) {
            fputs (s_usage, stdout);
            return 0;
        }
        if (!strcmp (a, "--steps"))
            ok = ok && count_arg (v, 2, &s_steps);
        else if (!strcmp (a, "--runs"))
            ok = ok && count_arg (v, 1, &runs);
        else if (!strcmp (a, "--concurrency"))
            ok = ok && count_arg (v, 1, &concurrency);
        else if (!strcmp (a, "--load"))
            ok = ok && count_arg (v, 0, &load_runs);
        else
            ok = false;
        if (!ok) {
            fprintf (stderr, "bench-agent: bad argument '%s'\n%s", a, s_usage);
            return 2;
        }
        i++;
    }
    if (bench_stack_env ("agent", s_bindir, sizeof s_bindir, s_dir, sizeof s_dir)
        || write_cassette ())
        return 1;
    setenv ("CAISSON_DATA", s_dir, 1);
    setenv ("CAISSON_LOG_LEVEL", "warn", 1);
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
    curl_global_init (CURL_GLOBAL_DEFAULT);
    zsys_init ();
    zsys_set_logstream (NULL);
    zsys_set_max_sockets (0);
    signal (SIGPIPE, SIG_IGN);
    printf ("bench-agent (data and logs in %s)\n", s_dir);
    loop_gap (runs, concurrency);
    if (load_runs)
        load (load_runs, LOAD_LATENCY_MS);
    curl_global_cleanup ();
    return 0;
}
