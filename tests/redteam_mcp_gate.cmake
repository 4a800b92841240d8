# Attacks on /mcp's gated calls (test_redteam_mcp_gate): decline reasons
# past run.decline's limit, JSON-RPC error answers, a 2026 retry with other
# arguments, cancel ids past 128 bytes, Accept without text/event-stream;
# over run_stack's orchestrator, event-log and stand-in tool-runner.
caisson_test(test_redteam_mcp_gate test_redteam_mcp_gate.c ui_support.c run_stack.c mcp_gate_stack.c)
target_link_libraries(test_redteam_mcp_gate PRIVATE PkgConfig::CURL)
set_tests_properties(test_redteam_mcp_gate PROPERTIES TIMEOUT 240
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
