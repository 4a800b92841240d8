# A second attack on caisson-gateway (issue 16): provider-run tools, a
# provider's usage charged once and unwrapped, a widened context's bound.
caisson_test(test_redteam_gateway2 test_redteam_gateway2.c gw_client.c gw_fakes.c)
target_link_libraries(test_redteam_gateway2 PRIVATE PkgConfig::CURL PkgConfig::MHD)
add_dependencies(test_redteam_gateway2 caisson-gateway caisson-llm-replay caisson-bus)
