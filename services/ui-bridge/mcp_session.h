/* mcp_session: the sessions of /mcp's 2025-era clients (2025-06-18,
 * 2025-11-25).
 *
 * An `initialize` mints a session: a 128-bit random id (hex), sent back as
 * Mcp-Session-Id and bound to the token's user and the version agreed. A
 * later request naming it must come from the same user, else it is
 * answered as an unknown session (404), so one user cannot borrow
 * another's. A user holds at most per_user sessions (opening one more
 * drops their least recently used) and a session unused for idle_s is
 * forgotten. Thread-safe: HTTP handlers share one table. */
#ifndef CAISSON_MCP_SESSION_H
#define CAISSON_MCP_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#define MCP_SESSION_ID_LEN 32

typedef struct _mcp_sessions_t mcp_sessions_t;

mcp_sessions_t *mcp_sessions_new (size_t per_user, unsigned idle_s);
void mcp_sessions_destroy (mcp_sessions_t **self_p);

/* Opens a session for user speaking version, whose client declared the
 * elicitation capability when elicits; its id goes into id
 * (MCP_SESSION_ID_LEN + 1 bytes). Returns 0, or -1 when out of memory or
 * randomness. */
int mcp_sessions_open (mcp_sessions_t *self, const char *user, const char *version, bool elicits,
                       char *id);

/* 0 when id names a live session of user (it is touched, its version
 * copied into version and its elicitation capability into *elicits when
 * not NULL), else -1. */
int mcp_sessions_check (mcp_sessions_t *self, const char *user, const char *id, char *version,
                        size_t len, bool *elicits);

/* Ends user's session id. 0, or -1 when it is not one of user's. */
int mcp_sessions_close (mcp_sessions_t *self, const char *user, const char *id);

#endif
