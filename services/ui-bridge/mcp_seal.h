/* mcp_seal: the 2026-era requestState of a gated tools/call (mcp_gate.h),
 * sealed so a client carries it back but cannot forge or alter it.
 *
 * A state is hex(payload) "." hex(HMAC-SHA256(key, payload)), the payload
 * the compact JSON {c, d, r, u, w}: the run's call, the deadline (Unix
 * seconds), the run, its user and what was asked (mcp_seal_digest: the
 * tool and its arguments), so a retry naming another tool or other
 * arguments cannot carry the approval of this one. The key is drawn from
 * GnuTLS's key-grade randomness when the seal is made and never leaves
 * the process, so a restarted bridge refuses the states an earlier one
 * gave. */
#ifndef CAISSON_MCP_SEAL_H
#define CAISSON_MCP_SEAL_H

#include <stddef.h>
#include <stdint.h>

/* The largest state mcp_seal_open reads. */
#define MCP_SEAL_MAX 2048

typedef struct _mcp_seal_t mcp_seal_t;

/* A seal with a fresh key; NULL when out of memory or randomness. */
mcp_seal_t *mcp_seal_new (void);
/* Forgets the key (zeroed). */
void mcp_seal_destroy (mcp_seal_t **self_p);

/* The digest of a tools/call of tool name with args (a json_t *, NULL:
 * none) into out (MCP_SEAL_DIGEST bytes): hex SHA-256 of the name and
 * the compact arguments with sorted keys, so their order does not matter. */
#define MCP_SEAL_DIGEST 65
void mcp_seal_digest (const char *name, const void *args, char *out);

/* The state (new) for user's run and call, asked as what (a digest),
 * good until deadline. NULL when out of memory. */
char *mcp_seal_make (mcp_seal_t *self, const char *user, const char *run, const char *call,
                     const char *what, int64_t deadline);

/* Opens state: 0 when its seal holds, it is user's and was given for
 * what; run and call (len bytes each) and *deadline filled; else -1, why
 * saying what was wrong (not one of ours, the seal broken, another
 * user's, another call's). */
int mcp_seal_open (mcp_seal_t *self, const char *state, const char *user, const char *what,
                   char *run, char *call, size_t len, int64_t *deadline, char *why,
                   size_t whylen);

/* Hex of n bytes into out (2n + 1 bytes). */
void mcp_seal_hex (const unsigned char *b, size_t n, char *out);

#endif
