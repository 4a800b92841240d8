# Issue 16 slice E: event-log's spend log (spend.append/read, stats spend),
# the `caisson key` CLI against the real gateway-keys, ui-bridge /api/keys.
caisson_test(test_spend test_spend.c eventlog_util.c)
caisson_test(test_key_cli test_key_cli.c gkeys_util.c)
