# The model gateway's HTTP front (services/gateway/gw_*): its SSE reader
# in process (test_gw_sse).
caisson_test(test_gw_sse test_gw_sse.c)
target_link_libraries(test_gw_sse PRIVATE gatewayhttp)
# Over real HTTP: caisson-gateway between a stand-in gateway-keys on the
# bus and llm-replay or a fake provider (gw_fakes.c) (test_gateway_http).
caisson_test(test_gateway_http test_gateway_http.c gw_fakes.c)
target_link_libraries(test_gateway_http PRIVATE PkgConfig::CURL PkgConfig::MHD)
add_dependencies(test_gateway_http caisson-gateway caisson-llm-replay caisson-bus)
