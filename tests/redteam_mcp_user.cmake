# A user's own mcp.json (docs/mcp.md § Your own servers) attacked by a
# hostile tenant and a careless user (test_redteam_mcp_user): attacks that
# land are skip()s naming the defect.
caisson_test(test_redteam_mcp_user test_redteam_mcp_user.c ui_support.c sbx_client.c
             mcpc_support.c mcp_bridge_stack.c)
target_link_libraries(test_redteam_mcp_user PRIVATE PkgConfig::CURL)
add_dependencies(test_redteam_mcp_user caisson caisson-bus caisson-sandbox-manager
                 caisson-sandbox-init caisson-event-log caisson-tool-runner caisson-ui-bridge)
# tool-runner's user sets run on threads of their own: the TSan suite too.
set_tests_properties(test_redteam_mcp_user PROPERTIES TIMEOUT 300 LABELS threaded)
