/* tokens: the bearer tokens of the HTTP API, stored hashed.
 *
 * `caisson token create` appends one line per token to a plain file,
 * `$CAISSON_DATA/ui-bridge/tokens` unless CAISSON_TOKENS_FILE names
 * another; ui-bridge reads it and reloads it whenever it changes, so a
 * `caisson token revoke` (which rewrites the file and renames it into
 * place) takes effect at the next request. A line is `<sha256 of the
 * token, hex> <user> <role> <created ms> <expires ms, 0: never>`; the
 * token itself is printed once and never stored. A token's id is the
 * first TOKENS_ID_LEN hex digits of its hash. ui-bridge records each
 * token's last use in `<file>.used` (`<hash> <ms>` lines), written at most
 * once a minute per token. Several ui-bridge instances share tokens by
 * sharing that file (the data volume, or a mounted secret).
 * Tokens carry 200 random bits, so a plain SHA-256 is a sufficient hash:
 * there is nothing to brute-force that a slow hash would protect. */
#ifndef CAISSON_TOKENS_H
#define CAISSON_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKENS_USER_MAX 64
#define TOKENS_ID_LEN 12
#define TOKENS_UNKNOWN -1
#define TOKENS_EXPIRED -2

typedef struct _tokens_t tokens_t;

/* The token file in use (CAISSON_TOKENS_FILE, else under CAISSON_DATA). */
void tokens_path (char *out, size_t outlen);

/* True when name is a valid user name: 1..64 of [A-Za-z0-9._@-]. */
bool tokens_valid_user (const char *name);

/* Now, in ms since the epoch. */
uint64_t tokens_now_ms (void);

/* Parses a duration: N followed by s, m, h or d ("30d"), or "never" or
 * "0" (*ms = 0). Returns 0, or -1 when text is none of those. */
int tokens_parse_duration (const char *text, uint64_t *ms);

/* Makes a new token for user that expires expires_in_ms from now (0:
 * never), appends its hash to the file at path (created with mode 0600,
 * parents made), and writes the token into out (at least 64 bytes).
 * Returns 0 or -1 with errno set. */
int tokens_create (const char *path, const char *user, bool operator_, uint64_t expires_in_ms,
                   char *out, size_t outlen);

/* Calls fn for each token of the file at path, in the order made: its id,
 * user, role, creation and expiry (0: never) and last use (0: never), all
 * ms since the epoch. Never the token or its hash. Returns 0 (a missing
 * file has no tokens) or -1 with errno set. */
typedef void (tokens_list_fn) (const char *id, const char *user, bool operator_,
                               uint64_t created, uint64_t expires, uint64_t used, void *arg);
int tokens_list (const char *path, tokens_list_fn *fn, void *arg);

/* Removes the one token whose id starts with id (8 to 64 hex digits) from
 * the file at path. Returns 0, or -1 with errno ENOENT (no such token),
 * EEXIST (id names several) or EINVAL (not an id). */
int tokens_revoke (const char *path, const char *id);

/* A reader of the file at path; lookups reload it when it has changed. */
tokens_t *tokens_new (const char *path);
void tokens_destroy (tokens_t **self_p);

/* Looks token up. Returns 0 and fills user (TOKENS_USER_MAX + 1 bytes) and
 * *operator_ when it is known and not expired (and records its use), else
 * TOKENS_UNKNOWN (never made, or revoked) or TOKENS_EXPIRED. Thread-safe. */
int tokens_lookup (tokens_t *self, const char *token, char *user, bool *operator_);

#endif
