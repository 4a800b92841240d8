# Tool runs (run.start.tool_call): a run with no model that makes one call,
# gated by the policy, over the bus with orch_fixture standing in for
# tool-runner and event-log.
caisson_test(test_tool_run test_tool_run.c orch_fixture.c)
add_dependencies(test_tool_run caisson-orchestrator caisson-bus)
set_tests_properties(test_tool_run PROPERTIES TIMEOUT 120)
