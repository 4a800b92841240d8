# Context condensation: the condenser and the run's use of it in-process
# (test_condense), and a 60-step run with large tool outputs against the
# scripted model's declared window over the bus and real HTTP
# (test_condense_run, orch_fixture standing in for tool-runner and event-log).
caisson_test(test_condense test_condense.c)
target_link_libraries(test_condense PRIVATE orchrun)
caisson_test(test_condense_run test_condense_run.c orch_fixture.c)
target_link_libraries(test_condense_run PRIVATE PkgConfig::CURL)
add_dependencies(test_condense_run caisson-orchestrator caisson-llm-replay caisson-bus)
set_tests_properties(test_condense_run PROPERTIES TIMEOUT 300)
