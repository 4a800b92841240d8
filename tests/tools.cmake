# tool-runner: its pieces without a bus (catalogue, schema validator,
# guardrails, test-log counts), and the service through the bus with the
# CLI, the local forge and a second instance taking over a killed call.
caisson_test(test_tools_unit test_tools_unit.c)
target_link_libraries(test_tools_unit PRIVATE toolrunner)
caisson_test(test_tools test_tools.c fake_sandbox.c)
target_link_libraries(test_tools PRIVATE toolrunner)
add_dependencies(test_tools caisson caisson-tool-runner caisson-bus)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
caisson_test(test_github test_github.c)
target_link_libraries(test_github PRIVATE toolrunner PkgConfig::MHD)
