/* stack: the files a running stack keeps under its data directory, so
 * that client commands (`status`, `down`, `tap`) find it without being
 * told its endpoints again.
 *
 *   <data>/run/caisson.pid     the supervisor's pid
 *   <data>/run/endpoints.env   KEY=VALUE of every endpoint in use
 *   <data>/run/procs           one line per process: name pid instance
 *                              started_ms restarts
 *   <data>/log/<name>.log      each process's JSON-lines log */
#ifndef CAISSON_STACK_H
#define CAISSON_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STACK_MAX_PROCS 16

typedef struct {
    char name[32];
    pid_t pid;
    char instance[64];
    uint64_t started_ms;        /* wall clock, ms since the epoch */
    unsigned restarts;
} stack_proc_t;

/* Makes data (and run/, log/) absolute and existing; writes the absolute
 * path into out. Returns 0 or -1 with a message on stderr. */
int stack_prepare (const char *data, char *out, size_t outlen);

/* Refuses (-1, with the path and its owner on stderr) a data dir, run/ or
 * log/ that is not a directory owned by this process's user: `up` and
 * `keys` would otherwise start a stack whose keys, logs and pid file
 * another local user made. Returns 0 when all are this user's. */
int stack_check_owner (const char *data);

/* Takes group and other permissions off everything under data (which an
 * older version left 0755/0644), except the search bit of each sandbox's
 * directory; workspaces' contents are left alone. `up` runs it on start.
 * Returns 0, or -1 when the walk failed. */
int stack_tighten (const char *data);

/* Writes a path under the data directory into out. */
void stack_path (const char *data, const char *rel, char *out, size_t outlen);

/* The endpoints file: written by `up` from the current settings; read by
 * client commands, which setenv each KEY so libcommon uses them. */
int stack_write_endpoints (const char *data);
int stack_load_endpoints (const char *data);

/* The supervisor's pid from run/caisson.pid if that process is alive,
 * else 0. */
pid_t stack_supervisor (const char *data);
int stack_write_pid (const char *data, pid_t pid);

/* Replaces run/procs atomically, and reads it back (count returned, or -1
 * when there is no such file). */
int stack_write_procs (const char *data, const stack_proc_t *procs, size_t count);
int stack_read_procs (const char *data, stack_proc_t *procs, size_t max);

/* Removes the run/ files of a stack that has stopped. */
void stack_clear (const char *data);

/* Kills the sandboxes of the stack in data: every caisson-sandbox-init
 * whose sandbox directory lies under data/sandboxes. Sandboxes outlive a
 * restarted sandbox-manager on purpose; a stopped stack leaves nothing
 * running, and the next start heals them from their kept workspaces.
 * Their workspace filesystems are detached too (lazily): a loop-backed
 * one keeps its files in its image and is attached again by the next
 * start; a tmpfs one (no loop devices) is lost. Returns how many were
 * killed. */
int stack_kill_sandboxes (const char *data);

/* Makes data/eval-repos (where `caisson eval run` keeps the repositories
 * of its pull-request tasks) and adds the pattern "<it, resolved>/" + "*" to the
 * repositories tool-runner may clone and push to
 * (CAISSON_TOOLS_REPO_ALLOW, which the stack's processes inherit), as
 * `up` does for its offline demo repository. Returns 0, or -1 when the
 * directory cannot be made. */
int stack_allow_eval_repos (const char *data);

/* True when pid is alive and runs one of our binaries (guards against a
 * recycled pid). */
bool stack_is_ours (pid_t pid);

#endif
