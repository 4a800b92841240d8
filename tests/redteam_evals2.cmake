# Red-team attacks on `caisson eval` (issue 18) through the whole stack: a
# hostile agent's leftovers in the sandbox the hidden tests run in (a
# process, a python3 on PATH, code that exits 0 or forges the runner), the
# test command on the host, another user's eval id, a harness killed
# mid-eval (test_redteam_evals2; root, skipped otherwise).
caisson_test(test_redteam_evals2 test_redteam_evals2.c)
add_dependencies(test_redteam_evals2 caisson caisson-bus caisson-sandbox-manager
                 caisson-sandbox-init caisson-tool-runner caisson-ui-bridge caisson-orchestrator
                 caisson-event-log caisson-llm-replay caisson-gateway caisson-gateway-keys
                 caisson-egress-proxy)
set_tests_properties(test_redteam_evals2 PROPERTIES TIMEOUT 900
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
