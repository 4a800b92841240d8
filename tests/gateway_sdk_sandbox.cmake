# The official openai and @anthropic-ai/sdk clients run inside a sandbox
# against the gateway (issue 16, S2), and their calls in the owner's spend
# (the done-when, D1); a whole stack run as root.
caisson_test(test_gateway_sdk_sandbox test_gateway_sdk_sandbox.c gw_stack.c)
add_dependencies(test_gateway_sdk_sandbox caisson caisson-bus caisson-gateway
                 caisson-gateway-keys caisson-sandbox-manager caisson-sandbox-init
                 caisson-egress-proxy caisson-llm-replay caisson-event-log
                 caisson-orchestrator caisson-tool-runner caisson-ui-bridge)
set_tests_properties(test_gateway_sdk_sandbox PROPERTIES TIMEOUT 300)
