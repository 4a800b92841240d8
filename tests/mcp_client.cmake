# tool-runner as an MCP client (issue 17): mcp.json, stdio framing, tools
# and results from server-everything's output, mcp.list and the CLI.
caisson_test(test_mcp_client test_mcp_client.c)
target_link_libraries(test_mcp_client PRIVATE toolrunner)
caisson_test(test_mcp_client_tools test_mcp_client_tools.c)
target_link_libraries(test_mcp_client_tools PRIVATE toolrunner)
add_dependencies(test_mcp_client_tools caisson caisson-tool-runner caisson-bus)
