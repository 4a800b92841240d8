/* bench-sandbox: how fast sandbox-manager makes and uses sandboxes, next
 * to its baselines, all in one run:
 *
 *   (a) create -> exec /bin/true -> destroy, through the bus
 *   (b) exec /bin/true in an existing sandbox, through the bus
 *   bwrap   bwrap --unshare-all --die-with-parent --ro-bind / / /bin/true
 *   plain   fork/exec of /bin/true (posix_spawn + waitpid)
 *
 * It starts its own broker and sandbox-manager (from the directory it
 * lives in) under a fresh data directory, with the configured warm pool.
 * Prints median and p99 of each, and the ratios the issue sets as
 * targets: (a) / bwrap <= 1, and (b) <= 2 x plain + 0.5 ms. Needs root. */
#define _GNU_SOURCE
#include "bus_client.h"
#include "mpjson.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double
now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int
cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

typedef struct { double median, p99; } stat_t;

static stat_t
summarise (double *v, int n)
{
    qsort (v, (size_t) n, sizeof *v, cmp);
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

static pid_t
start (const char *bindir, const char *program)
{
    char path[PATH_MAX], log[PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", bindir, program);
    snprintf (log, sizeof log, "%s/%s.log", getenv ("CAISSON_DATA"), program);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_addopen (&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid;
    char *argv[] = { path, NULL };
    int rc = posix_spawn (&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    return rc ? -1 : pid;
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
    char *id = strdup (rep->body.sandbox_info.sandboxId);
    proto_msg_destroy (&rep);
    return id;
}

static void
exec_true (bus_client_t *c, const char *id, const uint8_t *cmd, size_t cmdlen)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandboxId, id);
    proto_set_bytes (&req->body.sandbox_exec.command, cmd, cmdlen);
    proto_msg_t *rep = ask (c, req);
    if (rep->body.sandbox_exec_result.exitCode != 0) {
        fprintf (stderr, "bench-sandbox: /bin/true exited %lld\n",
                 (long long) rep->body.sandbox_exec_result.exitCode);
        exit (1);
    }
    proto_msg_destroy (&rep);
}

static void
destroy (bus_client_t *c, char *id)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_destroy, NULL);
    proto_set_str (&req->body.sandbox_destroy.sandboxId, id);
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
    char tmpl[] = "/tmp/bench-sandbox-XXXXXX", bindir[PATH_MAX], ep[PATH_MAX + 16];
    if (!mkdtemp (tmpl))
        return 1;
    ssize_t len = readlink ("/proc/self/exe", bindir, sizeof bindir - 1);
    bindir[len > 0 ? len : 0] = 0;
    *strrchr (bindir, '/') = 0;
    setenv ("CAISSON_DATA", tmpl, 1);
    snprintf (ep, sizeof ep, "ipc://%s/bus", tmpl);
    setenv ("CAISSON_BUS", ep, 1);
    snprintf (ep, sizeof ep, "ipc://%s/pub", tmpl);
    setenv ("CAISSON_BUS_PUB", ep, 1);
    snprintf (ep, sizeof ep, "ipc://%s/sub", tmpl);
    setenv ("CAISSON_BUS_SUB", ep, 1);
    pid_t bus = start (bindir, "caisson-bus"), mgr = start (bindir, "caisson-sandbox-manager");
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
           *w = calloc ((size_t) n, sizeof *w), *p = calloc ((size_t) n, sizeof *p);
    for (int i = 0; i < n; i++) {
        double t = now_ms ();
        char *id = create (c);
        exec_true (c, id, cmd, cmdlen);
        destroy (c, id);
        a[i] = now_ms () - t;
        usleep (20000);         /* an agent's pace: the pool refills between creates */
    }
    char *id = create (c);
    for (int i = 0; i < n; i++) {
        double t = now_ms ();
        exec_true (c, id, cmd, cmdlen);
        b[i] = now_ms () - t;
    }
    destroy (c, id);
    char *bw[] = { "/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                   "/bin/true", NULL };
    char *pl[] = { "/bin/true", NULL };
    bool have_bwrap = access (bw[0], X_OK) == 0;
    for (int i = 0; i < n; i++) {
        double t = now_ms ();
        if (have_bwrap && spawn_wait (bw) != 0)
            have_bwrap = false;
        w[i] = now_ms () - t;
        t = now_ms ();
        spawn_wait (pl);
        p[i] = now_ms () - t;
    }
    stat_t sa = summarise (a, n), sb = summarise (b, n), sw = summarise (w, n), sp = summarise (p, n);
    printf ("bench-sandbox: %d iterations each (ms)\n", n);
    printf ("  %-44s median %7.3f  p99 %7.3f\n", "(a) create -> exec /bin/true -> destroy", sa.median, sa.p99);
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
    free (a), free (b), free (w), free (p), free (cmd);
    bus_client_destroy (&c);
    kill (mgr, SIGTERM);
    waitpid (mgr, NULL, 0);
    kill (bus, SIGTERM);
    waitpid (bus, NULL, 0);
    /* The warm pool's sandboxes outlive their manager by design; end them. */
    char cmdline[PATH_MAX + 200];
    snprintf (cmdline, sizeof cmdline, "for d in %s/sandboxes/*; do cat /sys/fs/cgroup/pids/caisson/"
              "$(basename $d)/cgroup.procs 2>/dev/null; done | xargs -r kill -9", tmpl);
    if (system (cmdline) != 0)
        fprintf (stderr, "bench-sandbox: could not end the pool's sandboxes\n");
    return 0;
}
