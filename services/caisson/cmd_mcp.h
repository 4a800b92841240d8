/* cmd_mcp: `caisson mcp list`, the MCP servers whose tools tool-runner
 * gives the agent (CAISSON_MCP_SERVERS), their states and tools. */
#ifndef CAISSON_CMD_MCP_H
#define CAISSON_CMD_MCP_H

#include <stdbool.h>

/* Whether argv1 is this command's ("mcp"). */
bool cmd_mcp_is (const char *argv1);

/* Runs `caisson mcp ...`. Returns the exit status: 0, 2 on bad usage, 3
 * when tool-runner did not answer. */
int cmd_mcp_main (int argc, char **argv);

#endif
