# issue 15: caisson-egress-proxy alone (no sandbox): HTTP forward, CONNECT
# (SNI), SOCKS5, refusals and their reasons, limits, revocation, restart.
caisson_test(test_egress_proxy test_egress_proxy.c)
add_dependencies(test_egress_proxy caisson-bus caisson-egress-proxy caisson-event-log)
