/* bench-agent: what the orchestrator costs, with the scripted model.
 *
 * 1. Overhead per step at zero model latency: runs of ten steps, one at a
 *    time; each step_started event carries the orchestrator's own time
 *    between getting control back (model turn or tool result) and handing
 *    it off again (tool call or next model request), model and tool time
 *    excluded. Baseline: a bus round trip (health) to the same worker.
 * 2. N concurrent runs (default 1000) of ten steps at 100 ms model
 *    latency: wall time against the ideal, model-bound 10 x 100 ms, and
 *    the orchestrator's peak RSS. Baseline: one run alone, same latency.
 *
 * Tool-runner and event-log are orch_fixture's stand-ins (this program
 * run as `bench-agent fixture`), so tool time is a bus round trip. */
#include "bench_util.h"
#include "bus_client.h"
#include "bus_tap.h"
#include "mpjson.h"
#include "orch_fixture.h"

#include <czmq.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define TASK "bench: ten steps"
#define STEPS 10

static char s_bindir[1024], s_dir[256];

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

static void
stack_up (stack_t_ *s, int latency_ms)
{
    static char lat[64], dirs[1200], port[64], url[128];
    int p = 10000 + getpid () % 20000 + latency_ms % 7;  /* below the ephemeral range */
    snprintf (lat, sizeof lat, "CAISSON_LLM_REPLAY_LATENCY_MS=%d", latency_ms);
    snprintf (dirs, sizeof dirs, "CAISSON_LLM_REPLAY_DIR=%s", CAISSON_BENCH_CASSETTES);
    snprintf (port, sizeof port, "CAISSON_LLM_REPLAY_PORT=%d", p);
    snprintf (url, sizeof url, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1", p);
    const char *renv[] = { lat, dirs, port, NULL };
    const char *oenv[] = { url, "MODEL=replay/bench", "CAISSON_RUN_MAX_SECONDS=600", NULL };
    s->bus = spawn ("caisson-bus", NULL, NULL);
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

/* Waits for n runs to end, collecting step overheads (step > 1) into
 * samples when given. Returns how many completed. */
static size_t
await_runs (stack_t_ *s, size_t n, uint64_t *samples, size_t *nsamples, size_t cap)
{
    size_t ended = 0, completed = 0;
    while (ended < n) {
        char topic[256];
        proto_msg_t *ev = bus_tap_recv (s->tap, topic, sizeof topic, 30000, NULL);
        if (!ev) {
            fprintf (stderr, "bench-agent: no event for 30 s (%zu of %zu ended)\n", ended, n);
            break;
        }
        const char *kind = ev->type == PROTO_event ? ev->body.event.kind : "";
        if (!strcmp (kind, "complete") || !strcmp (kind, "failed")) {
            ended++;
            completed += !strcmp (kind, "complete");
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
    while (bus_client_recv (s->client, 0, NULL))
        ;
    return completed;
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
overhead (size_t runs)
{
    stack_t_ s;
    stack_up (&s, 0);
    size_t cap = runs * STEPS, n = 0;
    uint64_t *samples = calloc (cap, sizeof *samples), *rtt = calloc (1000, sizeof *rtt);
    for (int i = 0; i < 1000; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        int64_t t0 = zclock_usecs ();
        proto_msg_t *rep = bus_client_request (s.client, "tool-runner", req);
        rtt[i] = (uint64_t) (zclock_usecs () - t0);
        proto_msg_destroy (&req);
        proto_msg_destroy (&rep);
    }
    size_t done = 0;
    int64_t t0 = zclock_usecs ();
    for (size_t i = 0; i < runs; i++) {
        send_start (&s);
        done += await_runs (&s, 1, samples, &n, cap);
    }
    double per_run = (double) (zclock_usecs () - t0) / 1000.0 / (double) runs;
    uint64_t bus50 = pct (rtt, 1000, 0.5), bus99 = pct (rtt, 1000, 0.99);
    uint64_t p50 = pct (samples, n, 0.5), p99 = pct (samples, n, 0.99), max = pct (samples, n, 1);
    printf ("overhead per step (zero model latency, %zu runs of %d steps, %zu completed, "
            "%zu samples):\n", runs, STEPS, done, n);
    printf ("  orchestrator   p50 %6llu us   p99 %6llu us   max %6llu us   (target p99 <= 1000 us)\n",
            (unsigned long long) p50, (unsigned long long) p99, (unsigned long long) max);
    printf ("  baseline: bus round trip to a worker   p50 %6llu us   p99 %6llu us\n",
            (unsigned long long) bus50, (unsigned long long) bus99);
    printf ("  ratio p50 overhead / bus round trip: %.2f;  whole run (model + tools): %.1f ms\n",
            bus50 ? (double) p50 / (double) bus50 : 0.0, per_run);
    free (samples);
    free (rtt);
    stack_down (&s);
}

static void
concurrent (size_t runs, int latency_ms)
{
    stack_t_ s;
    stack_up (&s, latency_ms);
    int64_t t0 = zclock_usecs ();
    send_start (&s);
    size_t one = await_runs (&s, 1, NULL, NULL, 0);
    double single = (double) (zclock_usecs () - t0) / 1000.0;
    double cpu0 = cpu_seconds (s.orch), rcpu0 = cpu_seconds (s.replay);
    t0 = zclock_usecs ();
    for (size_t i = 0; i < runs; i++)
        send_start (&s);
    size_t done = await_runs (&s, runs, NULL, NULL, 0);
    double wall = (double) (zclock_usecs () - t0) / 1000.0;
    double ideal = (double) STEPS * latency_ms;
    uint64_t rss = status_kb (s.orch, "VmHWM"), anon = status_kb (s.orch, "RssAnon"),
             file = status_kb (s.orch, "RssFile");
    double cpu = cpu_seconds (s.orch) - cpu0, rcpu = cpu_seconds (s.replay) - rcpu0;
    printf ("%zu concurrent runs x %d steps at %d ms model latency (%zu completed):\n", runs,
            STEPS, latency_ms, done);
    printf ("  wall %.0f ms   ideal %.0f ms   ratio %.2f   (target <= 1.20)\n", wall, ideal,
            wall / ideal);
    printf ("  baseline: one run alone %.0f ms (%s), ratio to ideal %.2f\n", single,
            one ? "completed" : "FAILED", single / ideal);
    printf ("  orchestrator peak RSS %.1f MB   (target <= 64 MB); at the end: heap and stacks "
            "%.1f MB, mapped files (LMDB, libraries) %.1f MB\n", (double) rss / 1024.0,
            (double) anon / 1024.0, (double) file / 1024.0);
    printf ("  CPU during the runs: orchestrator %.2f s, scripted model %.2f s\n", cpu, rcpu);
    stack_down (&s);
}

int
main (int argc, char **argv)
{
    if (argc == 2 && !strcmp (argv[1], "fixture"))
        return orch_fixture_main ();
    size_t runs = 1000, seq = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp (argv[i], "--runs"))
            runs = strtoull (argv[i + 1], NULL, 10);
        else if (!strcmp (argv[i], "--sequential"))
            seq = strtoull (argv[i + 1], NULL, 10);
    }
    if (bench_stack_env ("agent", s_bindir, sizeof s_bindir, s_dir, sizeof s_dir))
        return 1;
    setenv ("CAISSON_DATA", s_dir, 1);
    setenv ("CAISSON_LOG_LEVEL", "warn", 1);
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    zsys_set_max_sockets (0);
    signal (SIGPIPE, SIG_IGN);
    printf ("bench-agent (data and logs in %s)\n", s_dir);
    overhead (seq);
    concurrent (runs, 100);
    return 0;
}
