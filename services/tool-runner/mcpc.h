/* mcpc: the MCP servers tool-runner gives the agent (Caisson as an MCP
 * client, docs/mcp.md § Caisson as a client).
 *
 * It holds the servers of CAISSON_MCP_SERVERS and, for each, its state:
 * `invalid` (the entry was skipped, with why), `configured` (not started
 * yet), later `starting`, `ready` and `failed` as the stdio and HTTP
 * clients connect. `mcp.list` answers from here. A missing or unusable
 * mcp.json is logged and leaves no servers; it never stops tool-runner. */
#ifndef TR_MCPC_H
#define TR_MCPC_H

#include <jansson.h>

typedef struct _mcpc_t mcpc_t;

/* The servers configured in the mcp.json at path (NULL or empty: none).
 * Skipped entries, and a file that cannot be used, are logged. */
mcpc_t *mcpc_new (const char *path);
void mcpc_destroy (mcpc_t **self_p);

/* A new array of `{name, transport, state, reason?, trusted, tools}`, the
 * kept servers in the file's order, then the skipped ones (`invalid`). */
json_t *mcpc_list_json (const mcpc_t *self);

#endif
