/* tokens: the bearer tokens of the HTTP API, stored hashed.
 *
 * `caisson token create` appends one line per token to a plain file,
 * `$CAISSON_DATA/ui-bridge/tokens` unless CAISSON_TOKENS_FILE names
 * another; ui-bridge reads it and reloads it whenever it changes. A line is
 * `<sha256 of the token, hex> <user> <role> <created ms>`; the token itself
 * is printed once and never stored. Several ui-bridge instances share
 * tokens by sharing that file (the data volume, or a mounted secret).
 * Tokens carry 200 random bits, so a plain SHA-256 is a sufficient hash:
 * there is nothing to brute-force that a slow hash would protect. */
#ifndef CAISSON_TOKENS_H
#define CAISSON_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#define TOKENS_USER_MAX 64

typedef struct _tokens_t tokens_t;

/* The token file in use (CAISSON_TOKENS_FILE, else under CAISSON_DATA). */
void tokens_path (char *out, size_t outlen);

/* True when name is a valid user name: 1..64 of [A-Za-z0-9._@-]. */
bool tokens_valid_user (const char *name);

/* Makes a new token for user, appends its hash to the file at path
 * (created with mode 0600, parents made), and writes the token into out
 * (at least 64 bytes). Returns 0 or -1 with errno set. */
int tokens_create (const char *path, const char *user, bool operator_, char *out,
                   size_t outlen);

/* A reader of the file at path; lookups reload it when it has changed. */
tokens_t *tokens_new (const char *path);
void tokens_destroy (tokens_t **self_p);

/* Looks token up. Returns 0 and fills user (TOKENS_USER_MAX + 1 bytes) and
 * *operator_ when it is known, else -1. Thread-safe. */
int tokens_lookup (tokens_t *self, const char *token, char *user, bool *operator_);

#endif
