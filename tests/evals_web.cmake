# The evals and profiles HTTP API (/api/evals, /api/profiles) and the web
# UI's Evals view (headless Chromium: tests/agui/evals_browser.mjs), on the
# real broker, event-log and ui-bridge (test_api_evals).
caisson_test(test_api_evals test_api_evals.c ui_support.c)
target_link_libraries(test_api_evals PRIVATE PkgConfig::CURL)
add_dependencies(test_api_evals caisson caisson-bus caisson-event-log caisson-ui-bridge)
set_tests_properties(test_api_evals PROPERTIES TIMEOUT 180
                     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
