/* mcp_bridge_stack: see mcp_bridge_stack.h. */
#include "mcp_bridge_stack.h"

#include "mcpc_support.h"
#include "sbx_client.h"
#include "support.h"
#include "ui_support.h"

#include <signal.h>
#include <stdio.h>

static void
bridge_up (mcp_bridge_stack_t *s, const char *const env[])
{
    ui_pick_port ();
    s->bridge = support_spawn ("caisson-ui-bridge", env);
    assert_int_equal (ui_wait_ready (), 0);
    s->alice = ui_token (0, "alice", 0);
    s->bob = ui_token (1, "bob", 0);
}

void
mcp_bridge_stack_tool_run (mcp_bridge_stack_t *s, const char *const bridge_env[])
{
    s->tools = support_spawn ("caisson-tool-runner", NULL);
    support_await_service (s_c, "tool-runner");
    s->log = support_spawn ("caisson-event-log", NULL);
    s->orch = support_spawn ("caisson-orchestrator", (const char *[]) {
        "MODEL=replay/demo", "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:9/v1", NULL });
    support_await_service (s_c, "event-log");
    support_await_service (s_c, "orchestrator");
    bridge_up (s, bridge_env);
}

pid_t
mcp_bridge_stack_user_tools (const mcp_bridge_stack_t *s, const char *token, const char *idle_s)
{
    static char servers[600], allow[96], idle[64];
    char path[512];
    snprintf (path, sizeof path, "%s/mcp.json", s_dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fprintf (f, "{\"mcpServers\": {\"shared\": {\"type\": \"http\", \"url\": "
             "\"http://127.0.0.1:%d/json/mcp\", \"headers\": {\"Authorization\": "
             "\"Bearer %s\"}}}}", s->port, token);
    fclose (f);
    snprintf (servers, sizeof servers, "CAISSON_MCP_SERVERS=%s", path);
    snprintf (allow, sizeof allow, "CAISSON_MCP_USER_HTTP_ALLOW=localhost, 127.0.0.1:%d",
              s->port);
    snprintf (idle, sizeof idle, "CAISSON_MCP_USER_IDLE_S=%s", idle_s);
    pid_t pid = support_spawn ("caisson-tool-runner",
                               (const char *[]) { servers, allow, idle, NULL });
    support_await_service (s_c, "tool-runner");
    return pid;
}

void
mcp_bridge_stack_user (mcp_bridge_stack_t *s, const char *token, const char *idle_s)
{
    s->port = support_free_port ();
    s->node = mcpc_support_node_up ("mcpc_http_server.mjs", s->port, token);
    s->log = support_spawn ("caisson-event-log", NULL);
    support_await_service (s_c, "event-log");
    s->tools = mcp_bridge_stack_user_tools (s, token, idle_s);
    /* the SDK steps make well over 50 requests a second for alice on a
     * quiet machine: the per-user rate limit is not what is tested here */
    bridge_up (s, (const char *[]) { "CAISSON_HTTP_RATE=10000", "CAISSON_HTTP_BURST=10000",
                                     NULL });
}

void
mcp_bridge_stack_down (mcp_bridge_stack_t *s)
{
    support_expect_clean_exit (s->bridge);
    support_expect_clean_exit (s->tools);
    if (s->orch)
        support_stop (s->orch, SIGTERM, 5000);
    if (s->node) {
        support_expect_clean_exit (s->log);
        support_stop (s->node, SIGTERM, 5000);
    } else {
        support_stop (s->log, SIGTERM, 5000);
    }
}
