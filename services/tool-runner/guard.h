/* guard: the deployment's guardrails, narrowed by a run, never widened.
 *
 * A guard is a stack of layers: the deployment's (from configuration) and
 * any a run adds with the call's `limits`. A write is allowed only when
 * every layer allows its path and none denies it; a command likewise; caps
 * and timeouts are the smallest of all layers. So a run's limits can only
 * narrow what the deployment permits.
 *
 * Path globs are fnmatch(3) patterns without FNM_PATHNAME (`*` crosses
 * `/`), matched against the path relative to the sandbox's workspace, e.g.
 * `src/` followed by `*`, or `*.py`. Command patterns are matched against the whole command
 * string, e.g. `python3 *` or `*sudo*`. Repository patterns are matched
 * against the clone URL or path. */
#ifndef TR_GUARD_H
#define TR_GUARD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _guard_t guard_t;

/* The deployment's guard, from the CAISSON_TOOLS_* settings. */
guard_t *guard_new (void);
void guard_destroy (guard_t **self_p);

/* A new guard: base plus one layer from a run's limits object
 * {writeGlobs, writeDeny, commandAllow, commandDeny, repoAllow,
 * maxOutputBytes, timeoutSeconds}. NULL limits copies base. Returns NULL
 * with *error set to a tool error when limits is malformed (unknown keys
 * are refused: a limit not understood must not be ignored). */
guard_t *guard_narrow (const guard_t *base, const json_t *limits, json_t **error);

/* Normalises path (relative to workspace, or absolute) into abs (no `.`,
 * `..` or repeated `/`). When inside is set the result must lie in the
 * workspace. Returns 0, or -1 with *error (code path_outside_workspace, or
 * bad_path). */
int guard_resolve (const char *workspace, const char *path, bool inside, char *abs,
                   size_t abslen, json_t **error);

/* Whether writing (or deleting) abs, already resolved inside workspace,
 * is allowed. Returns 0, or -1 with *error (code path_not_allowed). */
int guard_write (const guard_t *self, const char *workspace, const char *abs,
                 const char *field, json_t **error);

/* Whether command may run. Returns 0, or -1 with *error (command_denied). */
int guard_command (const guard_t *self, const char *command, json_t **error);

/* Whether a repository URL or path may be cloned, or pushed to, by user
 * (the call's; NULL: nobody). A pattern's `{user}` stands for user, its
 * glob characters escaped, so `/srv/eval-repos/{user}/...` admits each user
 * to their own directory only; with no user such a pattern admits none. */
bool guard_repo (const guard_t *self, const char *url, const char *user);

size_t guard_max_output (const guard_t *self);
unsigned guard_timeout (const guard_t *self);

/* How many of s's len bytes to keep under a cap of max bytes: len when it
 * fits, else at most max, never ending inside a UTF-8 sequence. */
size_t guard_cut (const char *s, size_t len, size_t max);

#endif
