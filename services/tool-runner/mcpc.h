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
 * by the next call (both with back-off while that fails). A missing or
 * unusable mcp.json is logged and leaves no servers; it never stops
 * tool-runner. */
#ifndef TR_MCPC_H
#define TR_MCPC_H

#include "catalogue.h"

#include <jansson.h>

typedef struct _mcpc_t mcpc_t;

/* The servers configured in the mcp.json at path (NULL or empty: none),
 * their start begun. Skipped entries and an unusable file are logged. One
 * per process (tool_fn has no user data: mcpc_tool_fn finds it). */
mcpc_t *mcpc_new (const char *path);

/* Stops starting servers (within about 100 ms), ends their sandboxes. Call
 * once no job runs a tool of theirs. */
void mcpc_destroy (mcpc_t **self_p);

/* A new array of `{name, transport, state, reason?, trusted, tools}`, the
 * kept servers in the file's order, then the skipped ones (`invalid`). */
json_t *mcpc_list_json (mcpc_t *self);

/* A new array: catalogue's entries, then those of the ready servers. */
json_t *mcpc_catalogue (mcpc_t *self, const json_t *catalogue);

/* The row of MCP tool name (valid until mcpc_destroy) and its input
 * schema (likewise), or NULL when no ready server has it. */
const tool_def_t *mcpc_tool_find (mcpc_t *self, const char *name, const json_t **input);

#endif
