/* bench-mcp: what Caisson's MCP server (ui-bridge /mcp, issue 17) costs
 * per tool call, beside the bus path and the SDK's own floor, in one run.
 *
 * One private stack: broker, sandbox-manager, tool-runner and ui-bridge,
 * a token for alice and one sandbox of hers. The call is checkFileExists
 * of a missing path in that sandbox (read-only, so never gated: the fast
 * path). Four ways:
 *   bus           tools.call from a C bus client as alice, as
 *                 `caisson tool call` sends it (the baseline)
 *   /mcp 2025     the official TypeScript SDK client (v2), 2025-11-25
 *                 (initialize + session), over HTTP
 *   /mcp 2026     the same client pinned to stateless 2026-07-28
 *   in-memory     the SDK client against the SDK's own server and a
 *                 trivial tool over InMemoryTransport (2025 era only)
 * The three SDK ways run in bench/mcp/driver.mjs. For each: --calls
 * sequential calls (default 2000) after a warm-up, p50 and p99 and their
 * calls per second, then calls per second with --clients clients
 * (default 16, each its own connection or session, one call in flight)
 * for --seconds (default 3), and p50 against the bus path's (ratio and
 * difference); last the bus path again, to show how far a busy machine
 * drifted meanwhile. ui-bridge's rate and connection limits per user and per
 * address, and tool-runner's slots per user, are raised for the run (they
 * would refuse N clients).
 * Prints the load average before and after and the git revision. Needs
 * root (the sandbox) and Node with tests/agui/node_modules: without them
 * it says so and exits 0. --keep keeps the services' logs (ui-bridge's
 * give its own time per POST). A benchmark, not a test: 1 only when it
 * cannot run. */
#define _GNU_SOURCE
#include "bench_util.h"
#include "bus_client.h"
#include "cid.h"
#include "mpjson.h"
#include "proto.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DRIVER CAISSON_SOURCE_DIR "/bench/mcp/driver.mjs"
#define SDK CAISSON_SOURCE_DIR "/tests/agui/node_modules/@modelcontextprotocol/client"

enum { BUS, MGR, TOOLS, BRIDGE, KIDS };
static pid_t s_kids[KIDS];
static char s_sandbox[128];
static double s_seconds = 3;
static atomic_long s_done;
static atomic_bool s_failed;

/* 0 once something accepts on 127.0.0.1:port (within 10 s), else -1. */
static int
await_port (int port)
{
    for (int i = 0; i < 500; i++) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                                 .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
        int rc = connect (fd, (struct sockaddr *) &a, sizeof a);
        close (fd);
        if (!rc)
            return 0;
        usleep (20000);
    }
    return -1;
}

/* One tools.call of name with args as alice (the identity set in main),
 * with a fresh call id as the CLI gives it; its result (a new reference),
 * or NULL on an error or a failed call. */
static json_t *
call (bus_client_t *c, const char *name, json_t *args)
{
    char id[CID_SIZE];
    cid_new (id);
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    proto_set_str (&req->body.tools_call.name, name);
    proto_set_str (&req->body.tools_call.call_id, id);
    mpjson_set (&req->body.tools_call.args, args, 32);
    proto_msg_t *rep = bus_client_request (c, "tool-runner", req);
    proto_msg_destroy (&req);
    json_t *result = NULL;
    if (rep && rep->type == PROTO_tools_result && rep->body.tools_result.ok)
        result = mpjson_get (&rep->body.tools_result.result, 32);
    else
        fprintf (stderr, "bench-mcp: %s: %s\n", name, !rep ? "no answer"
                 : rep->type == PROTO_error ? rep->body.error.message : "failed");
    proto_msg_destroy (&rep);
    return result;
}

/* The measured call: checkFileExists of a missing path. 0, or -1. */
static int
check (bus_client_t *c)
{
    json_t *args = json_pack ("{s:s, s:s}", "sandboxId", s_sandbox, "path", "x");
    json_t *r = call (c, "checkFileExists", args);
    json_decref (args);
    int rc = r && json_is_false (json_object_get (r, "exists")) ? 0 : -1;
    json_decref (r);
    return rc;
}

static bus_client_t *
client (void)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    if (c)
        bus_client_set_timeout (c, 30000, 0);
    return c;
}

static void *
worker (void *arg)
{
    (void) arg;
    bus_client_t *c = client ();
    double end = bench_now_ms () + s_seconds * 1000;
    while (c && !atomic_load (&s_failed) && bench_now_ms () < end) {
        if (check (c))
            atomic_store (&s_failed, true);
        else
            atomic_fetch_add (&s_done, 1);
    }
    if (!c)
        atomic_store (&s_failed, true);
    bus_client_destroy (&c);
    return NULL;
}

/* The bus path: p50/p99 (µs) of n sequential calls and their calls per
 * second, then calls per second with nclients threads, each its own
 * client. 0, or -1. */
static int
bus_path (bus_client_t *c, int n, int nclients, double *p50, double *p99, double *one,
          double *many)
{
    for (int i = 0; i < 50; i++)
        if (check (c))
            return -1;
    int64_t *t = calloc ((size_t) n, sizeof *t);
    int64_t t0 = bench_now_ns ();
    for (int i = 0; t && i < n; i++) {
        int64_t s = bench_now_ns ();
        if (check (c)) {
            free (t);
            return -1;
        }
        t[i] = bench_now_ns () - s;
    }
    if (!t)
        return -1;
    *one = n / ((bench_now_ns () - t0) / 1e9);
    qsort (t, (size_t) n, sizeof *t, bench_cmp_i64);
    *p50 = t[n / 2] / 1e3;
    *p99 = t[n * 99 / 100] / 1e3;
    free (t);
    pthread_t th[256];
    int made = 0;
    while (made < nclients && !pthread_create (&th[made], NULL, worker, NULL))
        made++;
    for (int i = 0; i < made; i++)
        pthread_join (th[i], NULL);
    *many = (double) atomic_load (&s_done) / s_seconds;
    return made == nclients && !atomic_load (&s_failed) ? 0 : -1;
}

/* A token for alice from `caisson token create`, into token. 0, or -1. */
static int
make_token (const char *bindir, const char *dir, char *token, size_t len)
{
    char cmd[2 * PATH_MAX + 64];
    snprintf (cmd, sizeof cmd, "'%s/caisson' token create --user alice --data '%s'", bindir, dir);
    FILE *p = popen (cmd, "r");
    bool got = p && fgets (token, (int) len, p);
    if (p && pclose (p))
        got = false;
    token[got ? strcspn (token, "\n") : 0] = '\0';
    return *token ? 0 : -1;
}

/* Starts the stack, makes alice's token and sandbox. 0, or -1. */
static int
start (const char *bindir, const char *dir, bus_client_t **c, int port, char *token,
       size_t len)
{
    s_kids[BUS] = bench_start (bindir, dir, "caisson-bus");
    s_kids[MGR] = bench_start (bindir, dir, "caisson-sandbox-manager");
    s_kids[TOOLS] = bench_start (bindir, dir, "caisson-tool-runner");
    s_kids[BRIDGE] = bench_start (bindir, dir, "caisson-ui-bridge");
    *c = client ();
    proto_msg_t *rep = NULL;
    for (int i = 0; *c && !rep && i < 100; i++) {
        proto_msg_t *ping = proto_msg_new (PROTO_ping, NULL);
        bus_client_set_timeout (*c, 200, 0);
        rep = bus_client_request (*c, "tool-runner", ping);
        proto_msg_destroy (&ping);
    }
    bool up = rep != NULL;
    proto_msg_destroy (&rep);
    if (!up || await_port (port) || make_token (bindir, dir, token, len)) {
        fprintf (stderr, "bench-mcp: the stack did not come up (logs in %s)\n", dir);
        return -1;
    }
    bus_client_set_timeout (*c, 90000, 0);
    json_t *args = json_pack ("{s:s}", "language", "python");
    json_t *made = call (*c, "createSandbox", args);
    json_decref (args);
    const char *id = json_string_value (json_object_get (made, "sandboxId"));
    snprintf (s_sandbox, sizeof s_sandbox, "%s", id ? id : "");
    json_decref (made);
    bus_client_set_timeout (*c, 30000, 0);
    return *s_sandbox ? 0 : -1;
}

static void
stop (bus_client_t **c)
{
    if (*c && *s_sandbox) {
        proto_msg_t *req = proto_msg_new (PROTO_sandbox_destroy, NULL);
        proto_set_str (&req->body.sandbox_destroy.sandbox_id, s_sandbox);
        proto_msg_t *rep = bus_client_request (*c, "sandbox-manager", req);
        proto_msg_destroy (&rep);
        proto_msg_destroy (&req);
    }
    bus_client_destroy (c);
    for (int i = KIDS - 1; i >= 0; i--)
        if (s_kids[i] > 0)
            bench_stop (s_kids[i]);
}

int
main (int argc, char **argv)
{
    int calls = 2000, clients = 16;
    bool keep = argc > 1 && !strcmp (argv[argc - 1], "--keep");
    if (keep)
        argc--;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp (argv[i], "--calls"))
            calls = atoi (argv[i + 1]);
        else if (!strcmp (argv[i], "--clients"))
            clients = atoi (argv[i + 1]);
        else if (!strcmp (argv[i], "--seconds"))
            s_seconds = atof (argv[i + 1]);
    }
    if (calls < 100 || clients < 1 || clients > 256 || s_seconds <= 0 || argc % 2 == 0) {
        fprintf (stderr, "usage: bench-mcp [--calls N>=100] [--clients 1-256] [--seconds S] "
                 "[--keep]\n");
        return 1;
    }
    if (geteuid () != 0) {
        printf ("bench-mcp: skipped: needs root (sandbox-manager makes the sandbox the tool "
                "reads)\n");
        return 0;
    }
    if (access (SDK, R_OK) || system ("node --version >/dev/null 2>&1")) {
        printf ("bench-mcp: skipped: needs node and the MCP SDK in tests/agui/node_modules "
                "(scripts/bootstrap installs them)\n");
        return 0;
    }
    char bindir[PATH_MAX], dir[PATH_MAX], addr[64], token[256] = "";
    if (bench_stack_env ("mcp", bindir, sizeof bindir, dir, sizeof dir))
        return 1;
    int port = bench_free_port ();
    snprintf (addr, sizeof addr, "127.0.0.1:%d", port);
    setenv ("CAISSON_DATA", dir, 1);
    setenv ("CAISSON_HTTP", addr, 1);
    /* ui-bridge's limits per user and per address (all clients are on
     * 127.0.0.1) would measure themselves, not /mcp: the rate (50/s), and
     * connections (32 per address: SDK clients hold more than one each) */
    setenv ("CAISSON_HTTP_RATE", "1000000", 1);
    setenv ("CAISSON_HTTP_BURST", "1000000", 1);
    char conns[16];
    snprintf (conns, sizeof conns, "%d", 8 * clients + 64);
    setenv ("CAISSON_HTTP_MAX_PER_IP", conns, 1);
    setenv ("CAISSON_HTTP_MAX_CONN_PER_USER", conns, 1);
    setenv ("CAISSON_HTTP_MAX_PER_USER", conns, 1);
    /* nor may tool-runner's slots per user (8) refuse the N clients */
    char slots[16];
    snprintf (slots, sizeof slots, "%d", clients);
    setenv ("CAISSON_TOOLS_SLOTS_PER_USER", slots, 1);
    setenv ("CAISSON_TOOLS_CONCURRENCY", clients > 16 ? slots : "16", 1);
    setenv ("CAISSON_SANDBOX_POOL", "0", 1);    /* no spare left running after */
    /* host uids clear of the test suites' (tests/support.c) */
    char uids[32];
    snprintf (uids, sizeof uids, "%llu", 1100000ull + 65536ull * (130 + (unsigned) getpid () % 64));
    setenv ("CAISSON_SANDBOX_UID_BASE", uids, 1);
    zsys_init ();
    zsys_set_logstream (NULL);
    proto_set_identity ("alice", false);

    char rev[64] = "unknown";
    FILE *g = popen ("git -C " CAISSON_SOURCE_DIR " rev-parse --short HEAD 2>/dev/null", "r");
    if (g && fgets (rev, sizeof rev, g))
        rev[strcspn (rev, "\n")] = '\0';
    if (g)
        pclose (g);
    printf ("bench-mcp: git %s, load average %.2f, checkFileExists: %d sequential calls, "
            "then %d clients for %.0f s\n\n", rev, bench_load (), calls, clients, s_seconds);
    bus_client_t *c = NULL;
    double p50 = 0, p99 = 0, one = 0, many = 0;
    int rc = start (bindir, dir, &c, port, token, sizeof token) ? 1 : 0;
    if (!rc && bus_path (c, calls, clients, &p50, &p99, &one, &many)) {
        fprintf (stderr, "bench-mcp: the bus path failed (logs in %s)\n", dir);
        rc = 1;
    }
    if (!rc) {
        printf ("  %-28s %10s %10s %10s %10s %8s %9s\n", "path", "p50 (us)", "p99 (us)",
                "calls/s 1", "calls/s N", "p50/bus", "+us p50");
        printf ("  %-28s %10.1f %10.1f %10.0f %10.0f %8.2f %9.0f\n",
                "bus tools.call (baseline)", p50, p99, one, many, 1.0, 0.0);
        fflush (stdout);
        char cmd[2 * PATH_MAX + 512];
        snprintf (cmd, sizeof cmd, "node '%s' 'http://%s' '%s' '%s' %d %g %d %.1f", DRIVER,
                  addr, token, s_sandbox, calls, s_seconds, clients, p50);
        if (system (cmd)) {
            fprintf (stderr, "bench-mcp: the SDK driver failed (logs in %s)\n", dir);
            rc = 1;
        }
    }
    /* the bus path again: how far the machine drifted meanwhile */
    double base = p50;
    atomic_store (&s_done, 0);
    if (!rc && bus_path (c, calls, clients, &p50, &p99, &one, &many)) {
        fprintf (stderr, "bench-mcp: the bus path failed (logs in %s)\n", dir);
        rc = 1;
    }
    if (!rc)
        printf ("  %-28s %10.1f %10.1f %10.0f %10.0f %8.2f %9.0f\n", "bus tools.call, again",
                p50, p99, one, many, p50 / base, p50 - base);
    printf ("\n  load average after: %.2f\n", bench_load ());
    stop (&c);
    if (keep)
        printf ("  logs kept in %s\n", dir);
    else if (!rc) {
        char cmd[PATH_MAX + 16];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system (cmd) != 0)
            fprintf (stderr, "bench-mcp: could not remove %s\n", dir);
    }
    return rc;
}
