# Issue 16 slice E: event-log's spend log (spend.append/read, stats spend),
# the `caisson key` CLI against the real gateway-keys, ui-bridge /api/keys.
caisson_test(test_spend test_spend.c eventlog_util.c)
caisson_test(test_spend_run test_spend_run.c eventlog_util.c)
caisson_test(test_key_cli test_key_cli.c gkeys_util.c)
# /api/keys, /api/usage, /api/spend and the spend metrics as two users.
caisson_test(test_ui_keys test_ui_keys.c ui_support.c)
target_link_libraries(test_ui_keys PRIVATE PkgConfig::CURL)
set_tests_properties(test_ui_keys PROPERTIES SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
