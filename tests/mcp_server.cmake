# Caisson as an MCP server at ui-bridge /mcp (issue 17): the transport in
# both eras and the official SDK client, through the real sandbox-manager
# (root; skipped otherwise), tool-runner and ui-bridge (test_mcp_server).
caisson_test(test_mcp_server test_mcp_server.c ui_support.c sbx_client.c mcpc_support.c
             mcp_bridge_stack.c)
target_link_libraries(test_mcp_server PRIVATE PkgConfig::CURL)
add_dependencies(test_mcp_server caisson caisson-bus caisson-sandbox-manager caisson-sandbox-init
                 caisson-tool-runner caisson-ui-bridge caisson-orchestrator caisson-event-log)
set_tests_properties(test_mcp_server PROPERTIES TIMEOUT 240
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")

# caisson_run over /mcp with the SDK client, on the scripted model's tasks
# (test_mcp_run: orchestrator, event-log, llm-replay, a stand-in tool-runner).
caisson_test(test_mcp_run test_mcp_run.c ui_support.c run_stack.c)
target_link_libraries(test_mcp_run PRIVATE PkgConfig::CURL)
set_tests_properties(test_mcp_run PROPERTIES TIMEOUT 240
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
