# The agent uses an MCP server's tools in a run (issue 17): the whole stack,
# server-everything in a sandbox (root), both model protocols, approval.
caisson_test(test_mcp_agent test_mcp_agent.c mcpc_support.c mcp_stack.c)
target_link_libraries(test_mcp_agent PRIVATE PkgConfig::CURL)
add_dependencies(test_mcp_agent caisson caisson-bus caisson-event-log caisson-sandbox-manager
                 caisson-sandbox-init caisson-tool-runner caisson-orchestrator caisson-ui-bridge
                 caisson-llm-replay)
set_tests_properties(test_mcp_agent PROPERTIES TIMEOUT 600)
