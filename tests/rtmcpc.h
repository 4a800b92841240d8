/* rtmcpc: the fixture of the red-team suites of tool-runner's MCP client
 * (test_redteam_mcpc, test_redteam_mcpc_defects): the hostile server
 * tests/mcp/mcpc_hostile_server.mjs, an mcp.json naming its modes (plus
 * ${VAR} tricks, stdio servers and 64 servers, most of them hanging), a
 * bus and tool-runner (and sandbox-manager when root), and the CLI calls
 * the suites ask tool-runner with (with mcpc_support's). */
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

/* Asserts the call of name fails with code and a message holding want. */
void rtmcpc_expect_error (const char *name, const char *code, const char *want);

/* The text of a successful call of name with args (static storage). */
const char *rtmcpc_call_text (const char *name, const char *args);

#endif
