# tool-runner's MCP client attacked (issue 17): a hostile Streamable HTTP
# server (tests/mcp/mcpc_hostile_server.mjs) and a careless mcp.json, set
# up by tests/rtmcpc.c; the attacks that hold, and those that land
# (skipped, each a DEFECT).
foreach(t test_redteam_mcpc test_redteam_mcpc_defects)
    caisson_test(${t} ${t}.c rtmcpc.c mcpc_support.c)
    target_link_libraries(${t} PRIVATE toolrunner)
    add_dependencies(${t} caisson caisson-tool-runner caisson-bus caisson-sandbox-manager
                     caisson-sandbox-init)
    set_tests_properties(${t} PROPERTIES TIMEOUT 300 LABELS threaded)
endforeach()
