# Issue 15: sandboxes in network mode `policy` through the real egress-proxy
# against origins the tests start on 127.0.0.2 (tests/egress_fixture.c).
set(egress_services caisson caisson-bus caisson-sandbox-manager caisson-sandbox-init)
if(TARGET caisson-egress-proxy)
    list(APPEND egress_services caisson-egress-proxy)
endif()
caisson_test(test_egress test_egress.c egress_fixture.c sbx_client.c)
add_dependencies(test_egress ${egress_services})
set_tests_properties(test_egress PROPERTIES TIMEOUT 600)
# R1: the bus (on TCP here) through every protocol, sockets seen from
# inside, another uid on a sandbox's socket.
caisson_test(test_redteam_egress test_redteam_egress.c egress_fixture.c sbx_client.c)
add_dependencies(test_redteam_egress ${egress_services})
set_tests_properties(test_redteam_egress PROPERTIES TIMEOUT 300)
# D1 (issue 15's done-when: the seed task plus installing requests from the
# local index) and S10 (requestNetworkAccess approved and declined), through
# the whole stack with the scripted model.
caisson_test(test_egress_run test_egress_run.c egress_fixture.c sbx_client.c)
add_dependencies(test_egress_run ${egress_services} caisson-event-log caisson-tool-runner
                 caisson-orchestrator caisson-ui-bridge caisson-llm-replay)
set_tests_properties(test_egress_run PROPERTIES TIMEOUT 300)
# R2 and R3: runtime updates and revocation, restarts, limits.
caisson_test(test_egress_update test_egress_update.c egress_fixture.c sbx_client.c)
add_dependencies(test_egress_update ${egress_services})
set_tests_properties(test_egress_update PROPERTIES TIMEOUT 300)
