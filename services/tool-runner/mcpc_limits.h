/* mcpc_limits: what a deployment lets a user's own mcp.json hold
 * (docs/mcp.md § Your own servers).
 *
 * A user's servers run with the user's reach, never tool-runner's: at
 * most CAISSON_MCP_USER_SERVERS_MAX of them (0: none); no `files` (a host
 * path); no `${...}` (it would read tool-runner's environment, where the
 * deployment's secrets are); http servers only on the hosts
 * CAISSON_MCP_USER_HTTP_ALLOW lists (tool-runner's network position is
 * not a user's to probe); `trusted` only when CAISSON_MCP_USER_TRUSTED is
 * 1; no name the deployment's servers use. Checked when a user stores the
 * file and again when tool-runner starts their servers (the limits may
 * have changed since). */
#ifndef TR_MCPC_LIMITS_H
#define TR_MCPC_LIMITS_H

#include "mcpc_config.h"

/* 0 when mine (parsed with mcpc_config_parse_user) is within the limits,
 * beside deployment's servers (NULL: none); else -1 with err naming the
 * first entry that is not and what is wrong with it. */
int mcpc_limits_check (const mcpc_config_t *mine, const mcpc_config_t *deployment, char *err,
                       size_t errlen);

#endif
