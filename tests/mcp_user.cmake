# A user's own MCP servers (issue 17): /api/mcp, limits, per-user catalogues
# and sandboxes, changes without restart, the file kept by event-log
# (real broker, sandbox-manager (root; skipped otherwise), event-log,
# tool-runner, ui-bridge and the SDK's HTTP server).
caisson_test(test_mcp_user test_mcp_user.c ui_support.c sbx_client.c mcpc_support.c
             mcp_bridge_stack.c)
target_link_libraries(test_mcp_user PRIVATE PkgConfig::CURL)
add_dependencies(test_mcp_user caisson caisson-bus caisson-sandbox-manager caisson-sandbox-init
                 caisson-event-log caisson-tool-runner caisson-ui-bridge)
set_tests_properties(test_mcp_user PROPERTIES TIMEOUT 300
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
# tool-runner's user sets: started, dropped and ended on threads of their own.
set_tests_properties(test_mcp_user PROPERTIES LABELS threaded)

# A run of alice's calls her own server's tool: the whole stack (root) and
# the scripted model (tests/cassettes/mcp_user/).
caisson_test(test_mcp_user_run test_mcp_user_run.c mcp_stack.c)
add_dependencies(test_mcp_user_run caisson caisson-bus caisson-event-log caisson-sandbox-manager
                 caisson-sandbox-init caisson-tool-runner caisson-orchestrator caisson-ui-bridge
                 caisson-llm-replay)
set_tests_properties(test_mcp_user_run PROPERTIES TIMEOUT 300
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
