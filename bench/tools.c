/* bench-tools: what tool-runner adds to a tool call, beside a ping to the
 * same process in the same run.
 *
 * It starts caisson-bus and one caisson-tool-runner (ipc endpoints and
 * data in a temporary directory) and times N sequential round trips of:
 *
 *   ping          the baseline: broker hop and worker, no tool-runner code
 *   tools.list    the catalogue, encoded from JSON each time
 *   invalid call  tools.call refused by the schema validator (no claim)
 *   new call      tools.call createSandbox with dry_run and a fresh call
 *                 id: validate, claim in LMDB (a commit), a job thread,
 *                 store the result (a commit), answer; no sandbox involved
 *   repeated call the same call id again: answered from the stored result
 *
 * and prints p50 and p99 of each with its ratio to ping's. A benchmark,
 * not a test: it exits 1 only when it cannot run. */
#define _GNU_SOURCE
#include "bench_util.h"
#include "bus_client.h"
#include "mpjson.h"
#include "proto.h"

#include <czmq.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pid_t s_kids[2];

static void
stop_all (void)
{
    for (int i = 1; i >= 0; i--)
        if (s_kids[i] > 0)
            bench_stop (s_kids[i]);
}

typedef enum { K_PING, K_LIST, K_INVALID, K_NEW, K_REPEAT } kind_t;

static proto_msg_t *
make (kind_t kind, int i)
{
    proto_msg_t *m = proto_msg_new (kind == K_PING ? PROTO_ping
                                    : kind == K_LIST ? PROTO_tools_list : PROTO_tools_call, NULL);
    if (kind <= K_LIST)
        return m;
    char id[64];
    snprintf (id, sizeof id, "bench-%d", kind == K_REPEAT ? 0 : i);
    proto_set_str (&m->body.tools_call.name, "createSandbox");
    proto_set_str (&m->body.tools_call.call_id, id);
    m->body.tools_call.dry_run = true;
    json_t *args = kind == K_INVALID ? json_pack ("{s:s}", "language", "cobol")
                                     : json_pack ("{s:s}", "language", "python");
    mpjson_set (&m->body.tools_call.args, args, 8);
    json_decref (args);
    return m;
}

static int
measure (bus_client_t *c, kind_t kind, int n, int64_t *p50, int64_t *p99)
{
    int64_t *t = calloc ((size_t) n, sizeof *t);
    if (!t)
        return -1;
    for (int i = 0; i < n; i++) {
        proto_msg_t *req = make (kind, i);
        int64_t t0 = bench_now_ns ();
        proto_msg_t *rep = bus_client_request (c, "tool-runner", req);
        t[i] = bench_now_ns () - t0;
        bool ok = rep && rep->type != PROTO_error;
        proto_msg_destroy (&rep);
        proto_msg_destroy (&req);
        if (!ok) {
            free (t);
            return -1;
        }
    }
    qsort (t, (size_t) n, sizeof *t, bench_cmp_i64);
    *p50 = t[n / 2];
    *p99 = t[n * 99 / 100];
    free (t);
    return 0;
}

int
main (int argc, char **argv)
{
    int n = argc > 2 && !strcmp (argv[1], "--requests") ? atoi (argv[2]) : 2000;
    if (n < 100) {
        fprintf (stderr, "usage: bench-tools [--requests N>=100]\n");
        return 1;
    }
    char bindir[PATH_MAX], dir[PATH_MAX];
    if (bench_stack_env ("tools", bindir, sizeof bindir, dir, sizeof dir))
        return 1;
    setenv ("CAISSON_DATA", dir, 1);
    s_kids[0] = bench_start (bindir, dir, "caisson-bus");
    s_kids[1] = bench_start (bindir, dir, "caisson-tool-runner");
    zsys_init ();
    zsys_set_logstream (NULL);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (c, 200, 50);
    proto_msg_t *hello = proto_msg_new (PROTO_ping, NULL), *rep = NULL;
    if (c && hello)
        rep = bus_client_request (c, "tool-runner", hello);
    proto_msg_destroy (&hello);
    if (!rep) {
        fprintf (stderr, "bench-tools: tool-runner did not answer (logs in %s)\n", dir);
        bus_client_destroy (&c);
        stop_all ();
        return 1;
    }
    proto_msg_destroy (&rep);
    bus_client_set_timeout (c, 5000, 0);
    static const char *const names[] = { "ping (baseline)", "tools.list", "invalid call",
                                         "new call (dry run)", "repeated call id" };
    int64_t p50[5], p99[5];
    int status = 0;
    printf ("bench-tools: %d sequential requests each, ipc, one tool-runner\n\n", n);
    printf ("  %-20s %10s %10s %8s\n", "request", "p50 (us)", "p99 (us)", "p50/ping");
    for (int k = 0; k < 5 && !status; k++) {
        if (measure (c, (kind_t) k, n, &p50[k], &p99[k])) {
            fprintf (stderr, "bench-tools: %s failed\n", names[k]);
            status = 1;
            break;
        }
        printf ("  %-20s %10.1f %10.1f %8.2f\n", names[k], p50[k] / 1e3, p99[k] / 1e3,
                (double) p50[k] / (double) p50[0]);
    }
    bus_client_destroy (&c);
    stop_all ();
    if (!status) {
        char cmd[PATH_MAX + 16];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system (cmd) != 0)
            fprintf (stderr, "bench-tools: could not remove %s\n", dir);
    }
    return status;
}
