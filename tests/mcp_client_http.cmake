# tool-runner as the client of Streamable HTTP MCP servers (issue 17): the
# SDK's server in tests/mcp/mcpc_http_server.mjs, reached through the bus.
caisson_test(test_mcp_client_http test_mcp_client_http.c mcpc_support.c)
target_link_libraries(test_mcp_client_http PRIVATE toolrunner)
add_dependencies(test_mcp_client_http caisson caisson-tool-runner caisson-bus)
set_tests_properties(test_mcp_client_http PROPERTIES TIMEOUT 300)
# tool-runner's call threads, several calls to one server at once.
set_tests_properties(test_mcp_client_http PROPERTIES LABELS threaded)
# ${VAR} in mcp.json and SSE streams, on edge cases and hostile input.
caisson_test(test_mcp_client_parse test_mcp_client_parse.c)
target_link_libraries(test_mcp_client_parse PRIVATE toolrunner)
