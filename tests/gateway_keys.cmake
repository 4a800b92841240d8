# gateway-keys (issue 16): libcommon's vkey and mprice as units, and the
# caisson-gateway-keys binary through the bus (keys, budgets, reserve and
# settle under concurrency; orphans, restart, the spend outbox).
caisson_test(test_vkey_price test_vkey_price.c)
caisson_test(test_gkeys test_gkeys.c gkeys_util.c)
target_link_libraries(test_gkeys PRIVATE gatewaykeys)
caisson_test(test_gkeys_life test_gkeys_life.c gkeys_util.c)
# gateway-keys with a 1 MiB store filled up (test_gkeys_full).
caisson_test(test_gkeys_full test_gkeys_full.c gkeys_util.c)
target_link_libraries(test_gkeys_full PRIVATE PkgConfig::CURL)
add_dependencies(test_gkeys_full caisson-gateway caisson-gateway-keys caisson-bus)
# gateway-keys revoking the keys of sandboxes gone, asking a stand-in
# sandbox-manager (test_gkeys_sbx).
caisson_test(test_gkeys_sbx test_gkeys_sbx.c gkeys_util.c)
# Keys revoked longer than CAISSON_GATEWAY_KEYS_KEEP_DAYS are deleted (test_gkeys_purge).
caisson_test(test_gkeys_purge test_gkeys_purge.c gkeys_util.c)
add_dependencies(test_gkeys_purge caisson-gateway-keys caisson-bus)
