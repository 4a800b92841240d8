# The whole stack end to end, with the scripted model as the only stand-in.
caisson_test(test_e2e test_e2e.c)
target_link_libraries(test_e2e PRIVATE PkgConfig::JANSSON)
add_dependencies(test_e2e caisson caisson-bus caisson-event-log caisson-sandbox-manager
                 caisson-tool-runner caisson-orchestrator caisson-ui-bridge caisson-llm-replay)
set_tests_properties(test_e2e PROPERTIES TIMEOUT 300)
# A second tenant attacks the first through HTTP, AG-UI and the bus, on
# the whole stack with the scripted model (issue 11, items 3 to 6 and 11).
caisson_test(test_redteam_tenant test_redteam_tenant.c tenant_support.c ui_support.c)
target_link_libraries(test_redteam_tenant PRIVATE PkgConfig::CURL)
add_dependencies(test_redteam_tenant caisson caisson-bus caisson-event-log caisson-sandbox-manager
                 caisson-sandbox-init caisson-tool-runner caisson-orchestrator caisson-ui-bridge
                 caisson-llm-replay)
set_tests_properties(test_redteam_tenant PROPERTIES TIMEOUT 300)
# The red team's second pass over the tenant defences: appends to another
# user's run on event-log, dot segments past a remote repository allow-list.
caisson_test(test_redteam_followup test_redteam_followup.c tenant_support.c ui_support.c)
target_link_libraries(test_redteam_followup PRIVATE PkgConfig::CURL)
add_dependencies(test_redteam_followup caisson caisson-bus caisson-event-log
                 caisson-sandbox-manager caisson-sandbox-init caisson-tool-runner
                 caisson-orchestrator caisson-ui-bridge caisson-llm-replay)
set_tests_properties(test_redteam_followup PROPERTIES TIMEOUT 300)
# The red team's pass over issue 13: tests_passed loopholes, git.openPR's
# disguised preview, hooks, local commits, approved vs committed change.
caisson_test(test_redteam_runs test_redteam_runs.c tenant_support.c ui_support.c)
target_link_libraries(test_redteam_runs PRIVATE PkgConfig::CURL)
add_dependencies(test_redteam_runs caisson caisson-bus caisson-event-log
                 caisson-sandbox-manager caisson-sandbox-init caisson-tool-runner
                 caisson-orchestrator caisson-ui-bridge caisson-llm-replay)
set_tests_properties(test_redteam_runs PROPERTIES TIMEOUT 300)
# Issue 13, item 1: instance ids, approvals and sandboxes across down/up;
# unknown instances answered at once; one sandbox-manager per registry.
caisson_test(test_restart test_restart.c)
add_dependencies(test_restart caisson caisson-bus caisson-event-log caisson-sandbox-manager
                 caisson-sandbox-init caisson-tool-runner caisson-orchestrator caisson-ui-bridge
                 caisson-llm-replay)
set_tests_properties(test_restart PROPERTIES TIMEOUT 300)
# Issue 13, stable identity: a run whose orchestrator is gone for good is
# adopted by a live one once its lease ran out; kept thread sandboxes persist.
caisson_test(test_adopt test_adopt.c)
add_dependencies(test_adopt caisson caisson-bus caisson-event-log caisson-sandbox-manager
                 caisson-sandbox-init caisson-tool-runner caisson-orchestrator caisson-ui-bridge
                 caisson-llm-replay)
set_tests_properties(test_adopt PROPERTIES TIMEOUT 300)
# The red team's pass over issue 14 (threads and memory): titles that are
# not UTF-8 on the bus, a thread title from a long multi-byte task, forged
# recall headers.
caisson_test(test_redteam_memory test_redteam_memory.c tenant_support.c ui_support.c)
target_link_libraries(test_redteam_memory PRIVATE PkgConfig::CURL orchrun)
add_dependencies(test_redteam_memory caisson caisson-bus caisson-event-log
                 caisson-sandbox-manager caisson-sandbox-init caisson-tool-runner
                 caisson-orchestrator caisson-ui-bridge caisson-llm-replay)
set_tests_properties(test_redteam_memory PROPERTIES TIMEOUT 300)
