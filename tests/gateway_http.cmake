# The model gateway's HTTP front (services/gateway/gw_*): its SSE reader
# in process (test_gw_sse).
caisson_test(test_gw_sse test_gw_sse.c)
target_link_libraries(test_gw_sse PRIVATE gatewayhttp)
