/* mcpc_users: users' own MCP servers in tool-runner, one set (mcpc_t) per
 * user who has used them lately (docs/mcp.md § Your own servers).
 *
 * A user's set is made by their first tools.list, tools.call or mcp.list
 * (it reads their mcp.json and starts their servers on a thread of its
 * own), dropped when they store a new mcp.json (the next use starts the
 * new one) and when unused for CAISSON_MCP_USER_IDLE_S, so users who are
 * not working cost nothing. A dropped set ends (its sandboxes destroyed,
 * its sessions closed) on a thread of its own once no call holds it, so
 * the service loop never waits for that. Used on the service loop's
 * thread only. */
#ifndef TR_MCPC_USERS_H
#define TR_MCPC_USERS_H

#include "mcpc.h"

typedef struct _mcpc_users_t mcpc_users_t;

/* deployment (borrowed; must outlive this): the deployment's servers. */
mcpc_users_t *mcpc_users_new (const mcpc_t *deployment);

/* Drops every set and waits for them to end. */
void mcpc_users_destroy (mcpc_users_t **self_p);

/* user's set (borrowed: mcpc_ref to keep it), made when there is none,
 * marked used; NULL for no user (NULL or ""). */
mcpc_t *mcpc_users_get (mcpc_users_t *self, const char *user);

/* Drops user's set, if any: their next use reads their mcp.json again. */
void mcpc_users_drop (mcpc_users_t *self, const char *user);

/* Drops the sets unused for idle_ms that no call holds. */
void mcpc_users_expire (mcpc_users_t *self, int64_t idle_ms);

/* Drops a reference to a set (*set_p set to NULL); the last one ends it
 * on a thread of its own. */
void mcpc_users_release (mcpc_users_t *self, mcpc_t **set_p);

#endif
