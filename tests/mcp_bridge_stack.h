/* mcp_bridge_stack: the stacks of the /mcp and users'-servers suites that
 * drive ui-bridge over HTTP beside real sandboxes (sbx_setup: root):
 * test_mcp_server and test_redteam_mcp (tool-runner, event-log, an
 * orchestrator with no model: gated calls become tool runs), and
 * test_mcp_user and test_redteam_mcp_user (the SDK's HTTP test server as
 * the deployment's server `shared`, event-log and tool-runner). Tokens:
 * alice (slot 0) and bob (slot 1), neither an operator. */
#ifndef CAISSON_TEST_MCP_BRIDGE_STACK_H
#define CAISSON_TEST_MCP_BRIDGE_STACK_H

#include <sys/types.h>

typedef struct {
    pid_t bridge, tools, log, orch, node;
    int port;                   /* the test server's (user stacks) */
    const char *alice, *bob;
} mcp_bridge_stack_t;

/* tool-runner, event-log, an orchestrator whose model is unreachable,
 * then ui-bridge with bridge_env (NULL-terminated "K=V" list). */
void mcp_bridge_stack_tool_run (mcp_bridge_stack_t *s, const char *const bridge_env[]);

/* The test HTTP MCP server (bearer token), event-log, tool-runner with it
 * configured as `shared` and users allowed to reach it (idle_s:
 * CAISSON_MCP_USER_IDLE_S), then ui-bridge with a rate limit no test hits. */
void mcp_bridge_stack_user (mcp_bridge_stack_t *s, const char *token, const char *idle_s);

/* Starts tool-runner as mcp_bridge_stack_user does (again, after a test
 * stopped it) and waits for it; its pid. */
pid_t mcp_bridge_stack_user_tools (const mcp_bridge_stack_t *s, const char *token,
                                   const char *idle_s);

/* Stops what was started: ui-bridge and tool-runner must exit cleanly. */
void mcp_bridge_stack_down (mcp_bridge_stack_t *s);

#endif
