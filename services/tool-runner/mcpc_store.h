/* mcpc_store: a user's own mcp.json, kept by event-log (memory.get and
 * memory.put of `doc` `mcp`: one versioned document per user, as the
 * working memory is; docs/mcp.md § Your own servers). tool-runner is the
 * one that writes it, after checking it (mcpc_limits), and reads it when
 * it starts a user's servers. */
#ifndef TR_MCPC_STORE_H
#define TR_MCPC_STORE_H

#include "bus_client.h"
#include "proto.h"

#include <stdint.h>

/* The stored file of user, asked of event-log on client: 0 with *content
 * (new; "" when none) and *version, or -1 with err. */
int mcpc_store_load (bus_client_t *client, const char *user, char **content, uint64_t *version,
                     char *err, size_t errlen);

/* req (mcp.config.get or mcp.config.put, already checked) carried to
 * event-log as req's user, operator or not: the answer to give req, an
 * `mcp.config` or an `error`. */
proto_msg_t *mcpc_store_ask (bus_client_t *client, const proto_msg_t *req);

#endif
