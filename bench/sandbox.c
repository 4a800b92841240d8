/* bench-sandbox: how fast sandbox-manager makes and uses sandboxes, next
 * to its baselines, all in one run:
 *
 *   (a) create -> exec /bin/true -> destroy, through the bus
 *   (b) exec /bin/true in an existing sandbox, through the bus
 *   and, within (a), the create alone (served by the warm pool)
 *   bwrap   bwrap --unshare-all --die-with-parent --ro-bind / / /bin/true
 *   plain   fork/exec of /bin/true (posix_spawn + waitpid)
 *
 * It starts its own broker and sandbox-manager (from the directory it
 * lives in) under a fresh data directory, with the configured warm pool.
 * Prints median and p99 of each, and the ratios the issue sets as
 * targets: (a) / bwrap <= 1, and (b) <= 2 x plain + 0.5 ms. Needs root. */
#define _GNU_SOURCE
#include "bench_util.h"
#include "bus_client.h"
#include "mpjson.h"
#include "proto.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct { double median, p99; } stat_t;

static stat_t
summarise (double *v, int n)
{
    qsort (v, (size_t) n, sizeof *v, bench_cmp_double);
    return (stat_t) { v[n / 2], v[(int) ((n - 1) * 0.99)] };
}

static int
spawn_wait (char *const argv[])
{
    pid_t pid;
    if (posix_spawn (&pid, argv[0], NULL, NULL, argv, environ))
        return -1;
    int st;
    waitpid (pid, &st, 0);
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

static proto_msg_t *
ask (bus_client_t *c, proto_msg_t *req)
{
    proto_msg_t *rep = bus_client_request (c, "sandbox-manager", req);
    proto_msg_destroy (&req);
    if (!rep || rep->type == PROTO_error) {
        fprintf (stderr, "bench-sandbox: %s\n", rep ? rep->body.error.message : "no answer");
        exit (1);
    }
    return rep;
}

static char *
create (bus_client_t *c)
{
    proto_msg_t *rep = ask (c, proto_msg_new (PROTO_sandbox_create, NULL));
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    return id;
}

static void
exec_true (bus_client_t *c, const char *id, const uint8_t *cmd, size_t cmdlen)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    proto_set_bytes (&req->body.sandbox_exec.command, cmd, cmdlen);
    proto_msg_t *rep = ask (c, req);
    if (rep->body.sandbox_exec_result.exit_code != 0) {
        fprintf (stderr, "bench-sandbox: /bin/true exited %lld\n",
                 (long long) rep->body.sandbox_exec_result.exit_code);
        exit (1);
    }
    proto_msg_destroy (&rep);
}

static void
destroy (bus_client_t *c, char *id)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_destroy, NULL);
    proto_set_str (&req->body.sandbox_destroy.sandbox_id, id);
    proto_msg_t *rep = ask (c, req);
    proto_msg_destroy (&rep);
    free (id);
}

int
main (int argc, char **argv)
{
    int n = argc > 1 ? atoi (argv[1]) : 200;
    if (n < 10)
        n = 10;
    char tmpl[PATH_MAX], bindir[PATH_MAX];
    if (bench_stack_env ("sandbox", bindir, sizeof bindir, tmpl, sizeof tmpl))
        return 1;
    setenv ("CAISSON_DATA", tmpl, 1);
    pid_t bus = bench_start (bindir, tmpl, "caisson-bus");
    pid_t mgr = bench_start (bindir, tmpl, "caisson-sandbox-manager");
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (c, 10000, 0);
    proto_msg_t *h = NULL;
    for (int i = 0; i < 100 && !(h && h->type == PROTO_health_rep); i++) {
        proto_msg_destroy (&h);
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        h = bus_client_request (c, "sandbox-manager", req);
        proto_msg_destroy (&req);
    }
    proto_msg_destroy (&h);
    usleep (300000);            /* let the warm pool fill */
    json_t *cmdj = json_pack ("[s]", "/bin/true");
    uint8_t *cmd;
    size_t cmdlen;
    mpjson_encode (cmdj, 2, &cmd, &cmdlen);
    json_decref (cmdj);
    double *a = calloc ((size_t) n, sizeof *a), *b = calloc ((size_t) n, sizeof *b),
           *w = calloc ((size_t) n, sizeof *w), *p = calloc ((size_t) n, sizeof *p),
           *cr = calloc ((size_t) n, sizeof *cr);
    for (int i = 0; i < n; i++) {
        double t = bench_now_ms ();
        char *id = create (c);
        cr[i] = bench_now_ms () - t;
        exec_true (c, id, cmd, cmdlen);
        destroy (c, id);
        a[i] = bench_now_ms () - t;
        usleep (20000);         /* an agent's pace: the pool refills between creates */
    }
    char *id = create (c);
    for (int i = 0; i < n; i++) {
        double t = bench_now_ms ();
        exec_true (c, id, cmd, cmdlen);
        b[i] = bench_now_ms () - t;
    }
    destroy (c, id);
    char *bw[] = { "/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                   "/bin/true", NULL };
    char *pl[] = { "/bin/true", NULL };
    bool have_bwrap = access (bw[0], X_OK) == 0;
    for (int i = 0; i < n; i++) {
        double t = bench_now_ms ();
        if (have_bwrap && spawn_wait (bw) != 0)
            have_bwrap = false;
        w[i] = bench_now_ms () - t;
        t = bench_now_ms ();
        spawn_wait (pl);
        p[i] = bench_now_ms () - t;
    }
    stat_t sc = summarise (cr, n), sa = summarise (a, n), sb = summarise (b, n), sw = summarise (w, n), sp = summarise (p, n);
    printf ("bench-sandbox: %d iterations each (ms)\n", n);
    printf ("  %-44s median %7.3f  p99 %7.3f\n", "(a) create -> exec /bin/true -> destroy", sa.median, sa.p99);
    printf ("  %-44s median %7.3f  p99 %7.3f\n", "    of which create (warm pool)", sc.median, sc.p99);
    printf ("  %-44s median %7.3f  p99 %7.3f\n", "(b) exec /bin/true in an existing sandbox", sb.median, sb.p99);
    if (have_bwrap)
        printf ("  %-44s median %7.3f  p99 %7.3f\n", "bwrap --unshare-all ... /bin/true", sw.median, sw.p99);
    else
        printf ("  bwrap: not available (install bubblewrap)\n");
    printf ("  %-44s median %7.3f  p99 %7.3f\n", "plain fork/exec /bin/true", sp.median, sp.p99);
    if (have_bwrap)
        printf ("  ratio (a)/bwrap: median %.2f  p99 %.2f (target <= 1)\n", sa.median / sw.median,
                sa.p99 / sw.p99);
    printf ("  ratio (b)/(2 x plain + 0.5 ms): median %.2f  p99 %.2f (target <= 1)\n",
            sb.median / (2 * sp.median + 0.5), sb.p99 / (2 * sp.p99 + 0.5));
    free (a), free (b), free (w), free (p), free (cr), free (cmd);
    bus_client_destroy (&c);
    bench_stop (mgr);
    bench_stop (bus);
    /* The warm pool's sandboxes outlive their manager by design; end them. */
    char cmdline[PATH_MAX + 200];
    snprintf (cmdline, sizeof cmdline, "for d in %s/sandboxes/*; do cat /sys/fs/cgroup/pids/caisson/"
              "$(basename $d)/cgroup.procs 2>/dev/null; done | xargs -r kill -9", tmpl);
    if (system (cmdline) != 0)
        fprintf (stderr, "bench-sandbox: could not end the pool's sandboxes\n");
    return 0;
}
