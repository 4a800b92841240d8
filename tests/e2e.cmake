# The whole stack end to end, with the scripted model as the only stand-in.
caisson_test(test_e2e test_e2e.c)
target_link_libraries(test_e2e PRIVATE PkgConfig::JANSSON)
add_dependencies(test_e2e caisson caisson-bus caisson-event-log caisson-sandbox-manager
                 caisson-tool-runner caisson-orchestrator caisson-ui-bridge caisson-llm-replay)
set_tests_properties(test_e2e PROPERTIES TIMEOUT 300)
