# Versioned profiles through the real stack (bus, event-log, orchestrator,
# scripted and capturing models, a stand-in tool-runner), then the CLI's
# `caisson profile` and `caisson run --profile` against it.
caisson_test(test_profile_run test_profile_run.c)
add_dependencies(test_profile_run caisson-orchestrator caisson-event-log caisson-llm-replay
                 caisson-bus caisson)
set_tests_properties(test_profile_run PROPERTIES TIMEOUT 600)
