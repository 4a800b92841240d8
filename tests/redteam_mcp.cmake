# Issue 17's /mcp server attacked as a hostile tenant and a careless client
# (test_redteam_mcp): attacks that land are skip()s naming the defect.
caisson_test(test_redteam_mcp test_redteam_mcp.c ui_support.c sbx_client.c mcpc_support.c
             mcp_bridge_stack.c)
target_link_libraries(test_redteam_mcp PRIVATE PkgConfig::CURL)
add_dependencies(test_redteam_mcp caisson caisson-bus caisson-sandbox-manager caisson-sandbox-init
                 caisson-tool-runner caisson-ui-bridge caisson-orchestrator caisson-event-log)
set_tests_properties(test_redteam_mcp PROPERTIES TIMEOUT 240)
