# ui-bridge through HTTP: the server core, tokens, limits, isolation,
# health and metrics (test_ui).
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
caisson_test(test_ui test_ui.c ui_support.c)
target_link_libraries(test_ui PRIVATE PkgConfig::CURL)
# The AG-UI translation on its own (test_agui).
caisson_test(test_agui test_agui.c)
target_link_libraries(test_agui PRIVATE uibridge)
# An AG-UI input's messages against a stored thread, and its limits
# (test_agui_input).
caisson_test(test_agui_input test_agui_input.c)
target_link_libraries(test_agui_input PRIVATE uibridge)
# The runs API over the real event-log (test_ui_runs).
caisson_test(test_ui_runs test_ui_runs.c ui_support.c)
target_link_libraries(test_ui_runs PRIVATE PkgConfig::CURL)
# ui-bridge in front of the real orchestrator and event-log with the
# scripted model: AG-UI conformance and the browser test (test_ui_e2e).
caisson_test(test_ui_e2e test_ui_e2e.c ui_support.c run_stack.c)
target_link_libraries(test_ui_e2e PRIVATE PkgConfig::CURL)
set_tests_properties(test_ui_e2e PROPERTIES SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
# Red team, issue 11: shared capacity (tool-runner's slots, ui-bridge's
# connections), tokens (expiry, revoke, last use, guessing) and a full
# event store, through the real binaries.
caisson_test(test_redteam_capacity test_redteam_capacity.c ui_support.c eventlog_util.c
             fake_sandbox.c)
target_link_libraries(test_redteam_capacity PRIVATE PkgConfig::CURL)
add_dependencies(test_redteam_capacity caisson caisson-bus caisson-ui-bridge caisson-event-log
                 caisson-tool-runner caisson-orchestrator caisson-llm-replay)
set_tests_properties(test_redteam_capacity PROPERTIES TIMEOUT 300)
# A sandbox's background processes over HTTP, through the real
# sandbox-manager (root; skipped otherwise) (test_ui_procs).
caisson_test(test_ui_procs test_ui_procs.c ui_support.c sbx_client.c)
target_link_libraries(test_ui_procs PRIVATE PkgConfig::CURL)
add_dependencies(test_ui_procs caisson caisson-bus caisson-sandbox-manager caisson-sandbox-init
                 caisson-ui-bridge)
set_tests_properties(test_ui_procs PROPERTIES SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
# Red team, issue 12: hostile input to pjson's name conversion, jsoncap
# and svc_ident's planted instance files (test_redteam_arch).
caisson_test(test_redteam_arch test_redteam_arch.c)
target_link_libraries(test_redteam_arch PRIVATE uibridge)
add_dependencies(test_redteam_arch caisson-bus)
# Conversation threads through HTTP, the bus and the CLI over the real
# event-log, orchestrator and ui-bridge with the scripted model
# (test_threads).
caisson_test(test_threads test_threads.c ui_support.c)
target_link_libraries(test_threads PRIVATE PkgConfig::CURL)
add_dependencies(test_threads caisson caisson-bus caisson-ui-bridge caisson-event-log
                 caisson-orchestrator caisson-llm-replay)
set_tests_properties(test_threads PROPERTIES TIMEOUT 240)
# Threads with two orchestrators: ownership at event-log, routing to the
# instance holding a thread, rebuilt from event-log when it is gone.
caisson_test(test_thread_route test_thread_route.c ui_support.c)
target_link_libraries(test_thread_route PRIVATE PkgConfig::CURL)
add_dependencies(test_thread_route caisson caisson-bus caisson-ui-bridge caisson-event-log
                 caisson-orchestrator caisson-llm-replay)
set_tests_properties(test_thread_route PROPERTIES TIMEOUT 240)
# Working memory through the bus, HTTP, the CLI and runs on the scripted
# model; the fence against hostile memory text (test_memory).
caisson_test(test_memory test_memory.c ui_support.c)
target_link_libraries(test_memory PRIVATE PkgConfig::CURL)
add_dependencies(test_memory caisson caisson-bus caisson-event-log caisson-ui-bridge
                 caisson-tool-runner caisson-orchestrator caisson-llm-replay)
set_tests_properties(test_memory PROPERTIES TIMEOUT 300 SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
# What an AG-UI client sends besides its task (history, context, state)
# through POST /agui with the real client, over the real event-log,
# orchestrator and ui-bridge with the scripted model (test_agui_history).
caisson_test(test_agui_history test_agui_history.c ui_support.c)
target_link_libraries(test_agui_history PRIVATE PkgConfig::CURL)
add_dependencies(test_agui_history caisson-bus caisson-ui-bridge caisson-event-log
                 caisson-orchestrator caisson-llm-replay)
set_tests_properties(test_agui_history PROPERTIES TIMEOUT 240)
