# `caisson eval` end to end (issue 18): the golden set through the whole
# stack (`caisson up`, real sandboxes) with the scripted model's oracle,
# give-up and mixed plans; reports, list/show, the SWE-bench export, two
# users (test_eval_e2e; root, skipped otherwise).
caisson_test(test_eval_e2e test_eval_e2e.c ${PROJECT_SOURCE_DIR}/services/caisson/eval_score.c
             ${PROJECT_SOURCE_DIR}/services/caisson/eval_bus.c
             ${PROJECT_SOURCE_DIR}/services/caisson/eval_report.c)
# eval_score's pass@k and eval_report's fitting are also tested directly
# (toolrunner: its testlog)
target_include_directories(test_eval_e2e PRIVATE ${PROJECT_SOURCE_DIR}/services/caisson)
target_link_libraries(test_eval_e2e PRIVATE toolrunner)
add_dependencies(test_eval_e2e caisson caisson-bus caisson-sandbox-manager caisson-sandbox-init
                 caisson-tool-runner caisson-ui-bridge caisson-orchestrator caisson-event-log
                 caisson-llm-replay caisson-gateway caisson-gateway-keys caisson-egress-proxy)
set_tests_properties(test_eval_e2e PROPERTIES TIMEOUT 900
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
