# tool-runner's MCP client attacked (issue 17): a hostile Streamable HTTP
# server (tests/mcp/mcpc_hostile_server.mjs) and a careless mcp.json.
caisson_test(test_redteam_mcpc test_redteam_mcpc.c)
target_link_libraries(test_redteam_mcpc PRIVATE toolrunner)
add_dependencies(test_redteam_mcpc caisson caisson-tool-runner caisson-bus)
set_tests_properties(test_redteam_mcpc PROPERTIES TIMEOUT 300 LABELS threaded)
