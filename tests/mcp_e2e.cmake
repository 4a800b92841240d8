# An MCP client runs coding tasks through the whole stack (`caisson up`):
# the SDK client over /mcp, real sandboxes, the scripted model (root;
# skipped otherwise). Issue 17's done-when, server side (test_mcp_e2e).
caisson_test(test_mcp_e2e test_mcp_e2e.c)
add_dependencies(test_mcp_e2e caisson caisson-bus caisson-sandbox-manager caisson-sandbox-init
                 caisson-tool-runner caisson-ui-bridge caisson-orchestrator caisson-event-log
                 caisson-llm-replay)
set_tests_properties(test_mcp_e2e PROPERTIES TIMEOUT 400
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
