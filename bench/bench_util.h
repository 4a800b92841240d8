/* bench_util: what the bench programs share: the clock, comparators for
 * sorting samples, the load average, a free port, and a private stack of
 * services started from the program's own bin directory with its
 * endpoints in a temporary one (and the scripted model's settings). */
#ifndef CAISSON_BENCH_UTIL_H
#define CAISSON_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The monotonic clock, in nanoseconds and in milliseconds. */
int64_t bench_now_ns (void);
double bench_now_ms (void);

/* qsort comparators, ascending, for int64_t and double samples. */
int bench_cmp_i64 (const void *a, const void *b);
int bench_cmp_double (const void *a, const void *b);

/* Makes a fresh directory $TMPDIR/caisson-bench-<name>-<random> (or under
 * /tmp) and writes its path into dir (len bytes). 0, or -1. */
int bench_tmpdir (const char *name, char *dir, size_t len);

/* Prepares a private stack: bindir (bindir_len bytes) receives the
 * directory this program lives in, dir (dir_len bytes) a new directory
 * from bench_tmpdir, and CAISSON_BUS, CAISSON_BUS_PUB and CAISSON_BUS_SUB
 * name ipc endpoints in it; CAISSON_BUS_KEYS names the bus keys made in
 * dir/keys. 0, or -1 when dir or the keys cannot be made. */
int bench_stack_env (const char *name, char *bindir, size_t bindir_len, char *dir,
                     size_t dir_len);

/* Starts bindir/program without arguments, in this environment, its
 * stderr appended to dir/program.log; it dies with this process. Its
 * pid, or -1. */
pid_t bench_start (const char *bindir, const char *dir, const char *program);

/* Stops pid (SIGTERM) and waits for it to end. */
void bench_stop (pid_t pid);

/* The 1-minute load average (the figures mean little on a busy machine);
 * 0 when unknown. */
double bench_load (void);

/* A loopback TCP port free at the moment of asking, or -1. */
int bench_free_port (void);

/* Points a stack at dir for its data (CAISSON_DATA), at a scripted model
 * (caisson-llm-replay) on 127.0.0.1:replay_port (CAISSON_LLM_REPLAY_PORT
 * and CAISSON_LLM_REPLAY_URL, its /v1), and its gateway's HTTP at
 * 127.0.0.1:gateway_port (CAISSON_GATEWAY_HTTP). */
void bench_replay_env (const char *dir, int replay_port, int gateway_port);

#endif
