# Runs and the model gateway (issue 16): a sandbox's calls in its run's
# transcript (model_call), a spent gateway budget ending a run
# budget_exhausted, the titler's and recall's calls in the user's spend;
# a whole stack run as root.
caisson_test(test_gateway_run test_gateway_run.c gw_stack.c)
add_dependencies(test_gateway_run caisson caisson-bus caisson-gateway caisson-gateway-keys
                 caisson-sandbox-manager caisson-sandbox-init caisson-egress-proxy
                 caisson-llm-replay caisson-event-log caisson-orchestrator caisson-tool-runner
                 caisson-ui-bridge)
set_tests_properties(test_gateway_run PROPERTIES TIMEOUT 300)
