/* rtmcpc: the fixture of the red-team suites of tool-runner's MCP client
 * (test_redteam_mcpc, test_redteam_mcpc_defects): the hostile server
 * tests/mcp/mcpc_hostile_server.mjs, an mcp.json naming its modes (plus
 * ${VAR} tricks, stdio servers and 64 servers, most of them hanging), a
 * bus and tool-runner (and sandbox-manager when root), and the CLI calls
 * the suites ask tool-runner with. */
#ifndef TESTS_RTMCPC_H
#define TESTS_RTMCPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Group setup and teardown: the server, the mcp.json, the services (the
 * teardown asserts tool-runner exits cleanly though servers still hang). */
int rtmcpc_setup (void **state);
int rtmcpc_teardown (void **state);

/* The hostile server's port, the test's directory, tool-runner's pid. */
int rtmcpc_port (void);
const char *rtmcpc_dir (void);
pid_t rtmcpc_tool_runner (void);

/* The hostile server's GET /stats decoded (a new reference; NULL while it
 * is not up): {chainDepth, chainAnswers, asked}. */
json_t *rtmcpc_stats (void);

/* `caisson mcp list --json`'s entry for name (a new reference). */
json_t *rtmcpc_listed (const char *name);

/* The entry of name once it is no longer starting (waits up to 60 s). */
json_t *rtmcpc_settled (const char *name);

/* `caisson tool call name args --json`: its exit status, *result decoded. */
int rtmcpc_tool_call (const char *name, const char *args, json_t **result);

/* Asserts the call of name fails with code and a message holding want. */
void rtmcpc_expect_error (const char *name, const char *code, const char *want);

/* The text of a successful call of name with args (static storage). */
const char *rtmcpc_call_text (const char *name, const char *args);

/* How many entries of `caisson tool list --json` are named name, or
 * (prefix) start with it. */
size_t rtmcpc_tools_named (const char *name, bool prefix);

#endif
