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
# sandbox-manager's side of the keys (the broker, sandbox-manager and
# gateway-keys): a slow gateway-keys blocks no other request; a revoke
# missed while it was down is made once it is back.
caisson_test(test_gateway_mgrkey test_gateway_mgrkey.c sbx_client.c)
add_dependencies(test_gateway_mgrkey caisson-bus caisson-sandbox-manager caisson-sandbox-init
                 caisson-gateway-keys)
set_tests_properties(test_gateway_mgrkey PROPERTIES TIMEOUT 120)
