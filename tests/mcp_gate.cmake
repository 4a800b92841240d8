# A gated tools/call over /mcp waits for approval (issue 17): the SDK client
# in both eras and raw requests (elicitation bound to user and session,
# sealed 2026 requestState, the approval timeout), over run_stack's
# orchestrator, event-log and stand-in tool-runner (test_mcp_gate).
caisson_test(test_mcp_gate test_mcp_gate.c ui_support.c run_stack.c mcp_gate_stack.c)
target_link_libraries(test_mcp_gate PRIVATE PkgConfig::CURL)
set_tests_properties(test_mcp_gate PROPERTIES TIMEOUT 240
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
