# The model gateway end to end (issue 16): the official openai and
# @anthropic-ai/sdk clients (tests/gateway/sdk.cjs, from tests/agui's
# node_modules) against caisson-gateway and caisson-gateway-keys in front
# of the scripted model (gateway_fixture.c).
add_library(gatewayfixture STATIC gateway_fixture.c)
target_link_libraries(gatewayfixture PUBLIC testsupport PkgConfig::CURL)
caisson_test(test_gateway test_gateway.c)
target_link_libraries(test_gateway PRIVATE gatewayfixture)
set_tests_properties(test_gateway PROPERTIES TIMEOUT 300)
add_dependencies(test_gateway caisson-bus caisson-llm-replay)
foreach(t caisson-gateway caisson-gateway-keys caisson-event-log)
    if(TARGET ${t})
        add_dependencies(test_gateway ${t})
    endif()
endforeach()
