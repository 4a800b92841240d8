# A second attack on caisson-gateway (issue 16): provider-run tools, a
# provider's usage charged once and unwrapped, a widened context's bound,
# service tiers; on a whole stack (root) a sandbox flooding its gateway
# port; with ui-bridge and the CLI, budgets that round to none.
caisson_test(test_redteam_gateway2 test_redteam_gateway2.c gw_client.c gw_fakes.c gw_stack.c
             ui_support.c)
target_link_libraries(test_redteam_gateway2 PRIVATE PkgConfig::CURL PkgConfig::MHD)
add_dependencies(test_redteam_gateway2 caisson caisson-bus caisson-gateway caisson-gateway-keys
                 caisson-sandbox-manager caisson-sandbox-init caisson-egress-proxy
                 caisson-llm-replay caisson-event-log caisson-orchestrator caisson-tool-runner
                 caisson-ui-bridge)
set_tests_properties(test_redteam_gateway2 PROPERTIES TIMEOUT 300)
