# Red-team attacks on `caisson eval` and profiles (issue 18) through the
# whole stack: a hostile agent's leftovers in the sandbox the hidden tests
# run in (a process, git configuration the harness's git would obey, a
# directory at a test's path, a python3 on PATH, code that exits 0 or forges
# the runner), the test command on the host, another user's eval id and
# repository, a harness killed mid-eval; run.start's profile specs, a
# profile's budgets above the ceilings, canary shares, a 64 KiB prompt
# (test_redteam_evals2; root, skipped otherwise).
caisson_test(test_redteam_evals2 test_redteam_evals2.c)
add_dependencies(test_redteam_evals2 caisson caisson-bus caisson-sandbox-manager
                 caisson-sandbox-init caisson-tool-runner caisson-ui-bridge caisson-orchestrator
                 caisson-event-log caisson-llm-replay caisson-gateway caisson-gateway-keys
                 caisson-egress-proxy)
# No SKIP_REGULAR_EXPRESSION: the DEFECT skips print "[  SKIPPED ]", and
# ctest would then call the suite skipped even with a test failing.
set_tests_properties(test_redteam_evals2 PROPERTIES TIMEOUT 900)
