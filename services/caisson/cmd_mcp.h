/* cmd_mcp: the MCP servers whose tools tool-runner gives the agent.
 *
 *   caisson mcp list [--json]   the deployment's servers (CAISSON_MCP_SERVERS)
 *                               and the caller's own: scope, state, tools
 *   caisson mcp set FILE|-      make FILE (or stdin) the caller's own mcp.json
 *   caisson mcp get [--json]    print it
 *   caisson mcp clear           remove it (their servers stop)
 *
 * `--user NAME` (every command's) names whose. */
#ifndef CAISSON_CMD_MCP_H
#define CAISSON_CMD_MCP_H

#include <stdbool.h>

/* Whether argv1 is this command's ("mcp"). */
bool cmd_mcp_is (const char *argv1);

/* Runs `caisson mcp ...`. Returns the exit status: 0; 1 when tool-runner
 * refused (why on stderr); 2 on bad usage; 3 when tool-runner did not
 * answer. */
int cmd_mcp_main (int argc, char **argv);

#endif
