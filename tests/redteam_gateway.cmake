# An attack on caisson-gateway as a hostile tenant (issue 16): what a call
# reserves against what its body lets the provider produce.
caisson_test(test_redteam_gateway test_redteam_gateway.c gw_client.c gw_fakes.c)
target_link_libraries(test_redteam_gateway PRIVATE PkgConfig::CURL PkgConfig::MHD)
add_dependencies(test_redteam_gateway caisson-gateway caisson-llm-replay caisson-bus)
# The gateway's limits on what a client may make it hold: the body limit
# from the head, the cap on bytes buffered, the request deadline.
caisson_test(test_gateway_limits test_gateway_limits.c gw_client.c gw_fakes.c)
target_link_libraries(test_gateway_limits PRIVATE PkgConfig::CURL PkgConfig::MHD)
add_dependencies(test_gateway_limits caisson-gateway caisson-llm-replay caisson-bus)
