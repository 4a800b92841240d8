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
# The same tests against real sandboxes from caisson-sandbox-manager.
caisson_test(test_tools_sandbox test_tools.c)
target_compile_definitions(test_tools_sandbox PRIVATE TOOLS_REAL_SANDBOX)
target_link_libraries(test_tools_sandbox PRIVATE toolrunner)
add_dependencies(test_tools_sandbox caisson caisson-tool-runner caisson-bus caisson-sandbox-manager
                 caisson-sandbox-init)
# tool-runner for a run: artifacts in event-log, pull requests' change sets,
# no tests found, the tools' shapes; against the fake and real sandboxes.
caisson_test(test_tools_run test_tools_run.c fake_sandbox.c)
target_link_libraries(test_tools_run PRIVATE toolrunner)
add_dependencies(test_tools_run caisson caisson-tool-runner caisson-bus caisson-event-log)
caisson_test(test_tools_run_sandbox test_tools_run.c)
target_compile_definitions(test_tools_run_sandbox PRIVATE TOOLS_REAL_SANDBOX)
target_link_libraries(test_tools_run_sandbox PRIVATE toolrunner)
add_dependencies(test_tools_run_sandbox caisson caisson-tool-runner caisson-bus caisson-event-log
                 caisson-sandbox-manager caisson-sandbox-init)
# requestNetworkAccess and createSandbox's network arguments (issue 15).
caisson_test(test_net_tools test_net_tools.c fake_sandbox.c)
target_link_libraries(test_net_tools PRIVATE toolrunner)
add_dependencies(test_net_tools caisson-tool-runner caisson-bus)
# `caisson sandbox create --network ...` and `caisson sandbox net` against
# stand-ins for sandbox-manager and egress-proxy.
caisson_test(test_sandbox_net_cli test_sandbox_net_cli.c)
add_dependencies(test_sandbox_net_cli caisson caisson-bus)
