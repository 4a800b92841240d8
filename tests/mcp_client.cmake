# tool-runner as an MCP client (issue 17): mcp.json and stdio framing.
caisson_test(test_mcp_client test_mcp_client.c)
target_link_libraries(test_mcp_client PRIVATE toolrunner)
add_dependencies(test_mcp_client caisson caisson-tool-runner caisson-bus)
