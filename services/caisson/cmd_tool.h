/* cmd_tool: `caisson tool list|call`, `caisson prs`, `caisson pr ID`.
 *
 * `tool` talks to tool-runner over the bus (an operator's direct call: no
 * approval gate, the same guardrails); `prs` and `pr` read the local
 * forge's records from the tool-runner store under the data directory. */
#ifndef CAISSON_CMD_TOOL_H
#define CAISSON_CMD_TOOL_H

/* Runs the subcommand argv[1] ("tool", "prs" or "pr"). Returns the exit
 * status: 0, 1 when the tool's result is an error (or no such PR), 2 on
 * bad usage, 3 when tool-runner did not answer. */
int cmd_tool_main (int argc, char **argv);

#endif
