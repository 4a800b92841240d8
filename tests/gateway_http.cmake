# The model gateway's HTTP front (services/gateway/gw_*): its SSE reader
# in process (test_gw_sse).
caisson_test(test_gw_sse test_gw_sse.c)
target_link_libraries(test_gw_sse PRIVATE gatewayhttp)
# Over real HTTP: caisson-gateway between a stand-in gateway-keys on the
# bus and llm-replay or a fake provider (gw_fakes.c, gw_client.c): answers
# (test_gateway_http), refusals and failures (test_gateway_refuse).
foreach(t test_gateway_http test_gateway_refuse)
    caisson_test(${t} ${t}.c gw_client.c gw_fakes.c)
    target_link_libraries(${t} PRIVATE PkgConfig::CURL PkgConfig::MHD)
    add_dependencies(${t} caisson-gateway caisson-llm-replay caisson-bus)
endforeach()
# With CAISSON_FUZZ (clang): fuzz-gw-sse, the libFuzzer target for gw_sse.
if(CAISSON_FUZZ)
    set(gw_dir ${PROJECT_SOURCE_DIR}/services/gateway)
    add_executable(fuzz-gw-sse fuzz_gw_sse.c ${gw_dir}/gw_sse.c)
    target_include_directories(fuzz-gw-sse PRIVATE ${gw_dir}
                               ${PROJECT_SOURCE_DIR}/services/orchestrator)
    target_compile_options(fuzz-gw-sse PRIVATE ${fuzz_flags})
    target_link_options(fuzz-gw-sse PRIVATE ${fuzz_flags})
    target_link_libraries(fuzz-gw-sse PRIVATE PkgConfig::JANSSON)
    set_target_properties(fuzz-gw-sse PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endif()
# With the real gateway-keys (gkeys_util's stack) and llm-replay: spend
# and a budget's refusal through the gateway (test_gateway_live).
caisson_test(test_gateway_live test_gateway_live.c gkeys_util.c)
target_link_libraries(test_gateway_live PRIVATE PkgConfig::CURL)
add_dependencies(test_gateway_live caisson-gateway caisson-gateway-keys caisson-llm-replay
                 caisson-bus)
# kill -9 of caisson-gateway mid-stream and of caisson-gateway-keys mid-reserve,
# with both real and the fake provider's stalled stream (test_gateway_kill).
caisson_test(test_gateway_kill test_gateway_kill.c gkeys_util.c gw_fakes.c)
target_link_libraries(test_gateway_kill PRIVATE PkgConfig::CURL PkgConfig::MHD)
add_dependencies(test_gateway_kill caisson-gateway caisson-gateway-keys caisson-bus)
