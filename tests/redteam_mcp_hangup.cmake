# /mcp's 2026-era cancellation by hang-up attacked by one user's two
# clients (test_redteam_mcp_hangup): real sandboxes, root; skipped otherwise.
caisson_test(test_redteam_mcp_hangup test_redteam_mcp_hangup.c ui_support.c sbx_client.c)
target_link_libraries(test_redteam_mcp_hangup PRIVATE PkgConfig::CURL)
add_dependencies(test_redteam_mcp_hangup caisson caisson-bus caisson-sandbox-manager
                 caisson-sandbox-init caisson-tool-runner caisson-ui-bridge)
set_tests_properties(test_redteam_mcp_hangup PROPERTIES TIMEOUT 240)
