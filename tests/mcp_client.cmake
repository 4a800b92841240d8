# tool-runner as an MCP client (issue 17): mcp.json, stdio framing, tools
# and results from server-everything's output, mcp.list and the CLI.
caisson_test(test_mcp_client test_mcp_client.c)
target_link_libraries(test_mcp_client PRIVATE toolrunner)
caisson_test(test_mcp_client_tools test_mcp_client_tools.c mcpc_support.c)
target_link_libraries(test_mcp_client_tools PRIVATE toolrunner)
add_dependencies(test_mcp_client_tools caisson caisson-tool-runner caisson-bus)
# stdio servers in real sandboxes (root): server-everything and broken ones.
caisson_test(test_mcp_client_stdio test_mcp_client_stdio.c mcpc_support.c)
target_link_libraries(test_mcp_client_stdio PRIVATE toolrunner)
add_dependencies(test_mcp_client_stdio caisson caisson-tool-runner caisson-bus caisson-sandbox-manager
                 caisson-sandbox-init)
set_tests_properties(test_mcp_client_stdio PROPERTIES TIMEOUT 300)
# the patterns of MCP servers' schemas tool-runner runs (mcpc_schema)
caisson_test(test_mcpc_schema test_mcpc_schema.c)
target_link_libraries(test_mcpc_schema PRIVATE toolrunner)
