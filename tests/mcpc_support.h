/* mcpc_support: helpers of the suites of tool-runner's MCP client that
 * drive it through the CLI and a test MCP server written with the SDK
 * (tests/mcp/ *.mjs): start the server, ask its test paths, read `caisson
 * mcp list` and call tools. */
#ifndef TESTS_MCPC_SUPPORT_H
#define TESTS_MCPC_SUPPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

/* Starts `node tests/mcp/<script> <port> [arg]` and waits until its GET
 * /stats answers (fails the test when it does not within 10 s). */
pid_t mcpc_support_node_up (const char *script, int port, const char *arg);

/* The JSON body of GET (or POST {}) path on the server at port, or NULL. */
json_t *mcpc_support_ask (int port, const char *path, bool post);

/* `caisson mcp list --json`'s entry for name (a new reference; fails the
 * test when there is none). */
json_t *mcpc_support_listed (const char *name);

/* The entry of name once its state is neither starting nor configured
 * (waits up to 60 s). */
json_t *mcpc_support_settled (const char *name);

/* The entry of name once its state is want (waits up to 60 s; fails the
 * test with the last state and reason otherwise). */
json_t *mcpc_support_await_state (const char *name, const char *want);

/* `caisson tool call name args --json`: its exit status, *result decoded
 * (fails the test when the output is not JSON). */
int mcpc_support_tool_call (const char *name, const char *args, json_t **result);

/* How many entries of `caisson tool list --json` are named name. */
size_t mcpc_support_tools_named (const char *name);

#endif
