# A sandbox's model access through the gateway (issue 16), on a whole
# stack run as root: minted keys, calls from inside in modes none and
# policy, and the real provider key in nothing a sandbox can read.
caisson_test(test_gateway_sandbox test_gateway_sandbox.c gw_stack.c)
add_dependencies(test_gateway_sandbox caisson caisson-bus caisson-gateway caisson-gateway-keys
                 caisson-sandbox-manager caisson-sandbox-init caisson-egress-proxy
                 caisson-llm-replay caisson-event-log caisson-orchestrator caisson-tool-runner
                 caisson-ui-bridge)
set_tests_properties(test_gateway_sandbox PROPERTIES TIMEOUT 300)
# Without gateway-keys (the broker and sandbox-manager alone): a create
# still succeeds, without model access, and sandbox.info.reason says so.
caisson_test(test_gateway_nokey test_gateway_nokey.c sbx_client.c)
add_dependencies(test_gateway_nokey caisson-bus caisson-sandbox-manager caisson-sandbox-init)
