/* mcpc: the MCP servers tool-runner gives the agent (Caisson as an MCP
 * client, docs/mcp.md § Caisson as a client).
 *
 * It holds the servers of CAISSON_MCP_SERVERS and, for each, its state:
 * `invalid` (the entry was skipped, with why), `configured` (not started
 * yet), `starting`, `ready` (its tools are in the catalogue), `failed`
 * (with why). A thread of its own starts the servers one after the other,
 * a stdio one in its sandbox (mcpc_stdio), a remote one by initializing a
 * session (mcpc_http), so the service loop never waits for them. Their
 * tools join `tools.list` as `<server>.<tool>` and `tools.call` of one
 * goes to its server, on the job's own thread: one call at a time per
 * stdio server, any number at once to a remote one. A stdio server that
 * has exited, or lost its sandbox, is started again by the next call of
 * one of its tools; a remote one that could not be reached is asked again
 * by the next call (both with back-off while that fails); one that failed
 * its first start is started again in the background (the same back-off).
 * A server's notifications/tools/list_changed, restart or new session
 * lists its tools again; a cancelled call (mcpc_cancel) tells its server
 * and is answered at once. A missing or
 * unusable mcp.json is logged and leaves no servers; it never stops
 * tool-runner.
 *
 * A set is the deployment's (mcpc_new: CAISSON_MCP_SERVERS, sandboxes of
 * the service user `mcp`) or one user's (mcpc_new_user: their own
 * mcp.json, read from event-log and checked against mcpc_limits by the
 * starting thread, sandboxes of that user). Each tool row leads to its set
 * (a call's ctx->def), so a call finds its server without a global. Sets
 * are counted references: a running call holds one, so a set replaced or
 * stopped while a call of it runs ends when the call does. */
#ifndef TR_MCPC_H
#define TR_MCPC_H

#include "catalogue.h"
#include "mcpc_config.h"

#include <jansson.h>
#include <stdint.h>

typedef struct _mcpc_t mcpc_t;

/* The servers configured in the mcp.json at path (NULL or empty: none),
 * their start begun. Skipped entries and an unusable file are logged. */
mcpc_t *mcpc_new (const char *path);

/* user's own servers, their start begun on a thread (which reads their
 * mcp.json first). deployment (borrowed, may be NULL; it must outlive the
 * set) gives the names a user may not take. */
mcpc_t *mcpc_new_user (const char *user, const mcpc_t *deployment);

/* Another reference to self; references are taken and dropped on one
 * thread (the service loop's). */
mcpc_t *mcpc_ref (mcpc_t *self);
/* How many references there are. */
int mcpc_refs (const mcpc_t *self);

/* Marks the set used now; mcpc_idle_ms: milliseconds since. */
void mcpc_touch (mcpc_t *self);
int64_t mcpc_idle_ms (const mcpc_t *self);

/* Drops a reference; the last stops starting servers (within about 100
 * ms) and ends their sandboxes and sessions, which may take seconds. */
void mcpc_destroy (mcpc_t **self_p);

/* The set's configuration (NULL while a user's is read, or none). */
const mcpc_config_t *mcpc_config_of (const mcpc_t *self);

/* A new array of `{name, scope, transport, state, reason?, trusted,
 * tools}` (scope `deployment` or `user`), the kept servers in the file's
 * order, then the skipped ones (`invalid`). */
json_t *mcpc_list_json (mcpc_t *self);

/* A new array: catalogue's entries, then those of the ready servers. */
json_t *mcpc_catalogue (mcpc_t *self, const json_t *catalogue);

/* Cancels the call of one of the set's tools whose ctx->cancel is key, if
 * it is in flight: its wait for the server ends at once, the server is
 * sent notifications/cancelled {requestId, reason} and the call answers
 * `cancelled`; the server's answer, should it come later, is dropped. A
 * call not yet in flight sees its tool_cancelled when it starts. Any
 * thread. */
void mcpc_cancel (mcpc_t *self, const void *key, const char *reason);

/* The row of MCP tool name (valid until mcpc_destroy) and its input
 * schema (likewise), or NULL when no ready server has it. */
const tool_def_t *mcpc_tool_find (mcpc_t *self, const char *name, const json_t **input);

#endif
