# ui-bridge through HTTP: the server core, tokens, limits, isolation,
# health and metrics (test_ui).
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
caisson_test(test_ui test_ui.c ui_support.c)
target_link_libraries(test_ui PRIVATE PkgConfig::CURL)
# The AG-UI translation on its own (test_agui).
caisson_test(test_agui test_agui.c ${PROJECT_SOURCE_DIR}/services/ui-bridge/agui.c)
target_include_directories(test_agui PRIVATE ${PROJECT_SOURCE_DIR}/services/ui-bridge)
# The runs API over the real event-log (test_ui_runs).
caisson_test(test_ui_runs test_ui_runs.c ui_support.c)
target_link_libraries(test_ui_runs PRIVATE PkgConfig::CURL)
# ui-bridge in front of the real orchestrator and event-log with the
# scripted model: AG-UI conformance and the browser test (test_ui_e2e).
caisson_test(test_ui_e2e test_ui_e2e.c ui_support.c)
target_link_libraries(test_ui_e2e PRIVATE PkgConfig::CURL)
set_tests_properties(test_ui_e2e PROPERTIES SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
