/* forge: the host side of the repository tools, and the local forge.
 *
 * Repositories are fetched and pushed on the host by tool-runner, never by
 * the sandbox: a clone travels into the sandbox as a git bundle, and a pull
 * request's branch comes back out as one, so no credential and no host
 * path ever enters a sandbox. The local forge pushes the branch to the
 * origin (a bare repository on the host) and keeps a record per pull
 * request {id, title, body, base, head, diff, status, url, commit, createdAt}
 * in the tool-runner LMDB, keyed by id, with the head branch indexed so the
 * same branch never opens two pull requests. */
#ifndef TR_FORGE_H
#define TR_FORGE_H

#include <jansson.h>
#include <stddef.h>

#include "calls.h"
#include "toolctx.h"

forge_t *forge_new (calls_t *calls);
void forge_destroy (forge_t **self_p);

/* Runs git with argv (argv[0] is "git") on the host, without a shell,
 * with env ("KEY=VALUE" entries, NULL-terminated; env itself may be NULL)
 * added to its environment, capturing stdout and stderr into out
 * (NUL-terminated, cut to outlen). Returns the exit status, or -1 when it
 * could not run or took longer than timeout_s. */
int forge_git (const char *const argv[], const char *const env[], char *out, size_t outlen,
               unsigned timeout_s);

/* Environment entries that make git authenticate to a GitHub url with the
 * configured token (an http.extraHeader through GIT_CONFIG_*, so the token
 * is on no command line). */
typedef struct {
    char entries[3][700];
    const char *list[4];
} forge_env_t;

/* Fills env and returns its list when url is a GitHub URL and a token is
 * configured; else returns NULL (no extra environment). */
const char *const *forge_auth_env (const char *url, forge_env_t *env);

/* Remembers which origin a sandbox's repository was cloned from, so a
 * pull request goes back there whatever the sandbox's git config says. */
int forge_set_origin (forge_t *self, const char *sandbox_id, const char *origin,
                      const char *base);
/* Writes the origin and default base into out buffers. Returns 0, or -1
 * when the sandbox cloned nothing. */
int forge_get_origin (forge_t *self, const char *sandbox_id, char *origin, size_t olen,
                      char *base, size_t blen);

/* Stores a new pull request record (rec: title, body, base, head, diff,
 * commit) unless one exists for its head; either way returns a new
 * reference to the stored record (with id, url, status, createdAt), or
 * NULL when the store failed. */
json_t *forge_open (forge_t *self, json_t *rec);

/* Every record (newest last) without diffs, or one record by id. New
 * references; NULL when there is none. */
json_t *forge_list (forge_t *self);
json_t *forge_get (forge_t *self, const char *id);

#endif
