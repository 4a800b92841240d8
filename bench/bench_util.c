/* bench_util: the helpers every bench program used to carry a copy of.
 * See bench_util.h. */
#define _GNU_SOURCE
#include "bench_util.h"
#include "buskey.h"

#include <arpa/inet.h>
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

int64_t
bench_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double
bench_now_ms (void)
{
    return (double) bench_now_ns () / 1e6;
}

int
bench_cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

int
bench_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int
bench_tmpdir (const char *name, char *dir, size_t len)
{
    const char *tmp = getenv ("TMPDIR");
    int n = snprintf (dir, len, "%s/caisson-bench-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    return n > 0 && (size_t) n < len && mkdtemp (dir) ? 0 : -1;
}

int
bench_stack_env (const char *name, char *bindir, size_t bindir_len, char *dir, size_t dir_len)
{
    ssize_t n = readlink ("/proc/self/exe", bindir, bindir_len - 1);
    bindir[n > 0 ? n : 0] = '\0';
    char *slash = strrchr (bindir, '/');
    if (slash)
        *slash = '\0';
    if (bench_tmpdir (name, dir, dir_len))
        return -1;
    static const char *const vars[][2] = {
        { "CAISSON_BUS", "bus" }, { "CAISSON_BUS_PUB", "in" }, { "CAISSON_BUS_SUB", "out" },
    };
    char ep[PATH_MAX + 16];
    for (size_t i = 0; i < 3; i++) {
        snprintf (ep, sizeof ep, "ipc://%s/%s", dir, vars[i][1]);
        setenv (vars[i][0], ep, 1);
    }
    /* The bus is CURVE, as a stack's is: one key directory for the whole
     * bench, whatever CAISSON_DATA each service is given. */
    char keys[PATH_MAX + 16], err[PATH_MAX + 160];
    snprintf (keys, sizeof keys, "%s/keys", dir);
    setenv ("CAISSON_BUS_KEYS", keys, 1);
    if (buskey_create (keys, err, sizeof err)) {
        fprintf (stderr, "bench: %s\n", err);
        return -1;
    }
    return 0;
}

pid_t
bench_start (const char *bindir, const char *dir, const char *program)
{
    char path[PATH_MAX + 64], log[PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/%s", bindir, program);
    snprintf (log, sizeof log, "%s/%s.log", dir, program);
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen (log, "a", stderr))
            _exit (126);
        execl (path, path, (char *) NULL);
        _exit (127);
    }
    return pid;
}

void
bench_stop (pid_t pid)
{
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
}

double
bench_load (void)
{
    double avg = 0;
    FILE *f = fopen ("/proc/loadavg", "r");
    if (f && fscanf (f, "%lf", &avg) != 1)
        avg = 0;
    if (f)
        fclose (f);
    return avg;
}

int
bench_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && !bind (fd, (struct sockaddr *) &a, sizeof a)
        && !getsockname (fd, (struct sockaddr *) &a, &len))
        port = ntohs (a.sin_port);
    if (fd >= 0)
        close (fd);
    return port;
}

void
bench_replay_env (const char *dir, int replay_port, int gateway_port)
{
    char port[16], url[64], gw[64];
    snprintf (port, sizeof port, "%d", replay_port);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1", replay_port);
    snprintf (gw, sizeof gw, "127.0.0.1:%d", gateway_port);
    const char *const env[][2] = {
        { "CAISSON_DATA", dir }, { "CAISSON_LLM_REPLAY_PORT", port },
        { "CAISSON_LLM_REPLAY_URL", url }, { "CAISSON_GATEWAY_HTTP", gw },
    };
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        setenv (env[i][0], env[i][1], 1);
}
