# sandbox-manager through the bus: lifecycle, files, exec, the seed example,
# restart, TTL, healing, pause/resume, and the attack suite.
caisson_test(test_sandbox test_sandbox.c sbx_client.c)
caisson_test(test_sandbox_attack test_sandbox_attack.c sbx_client.c)
# The init's watch sets as objects, in process (no sandbox, no root).
caisson_test(test_sbx_watch test_sbx_watch.c)
target_link_libraries(test_sbx_watch PRIVATE sbxinit)
# Red team (issue 11): a workspace filled to its disk and inode limits,
# what the model is told, mountinfo, and no mount or loop device left.
caisson_test(test_redteam_quota test_redteam_quota.c sbx_client.c)
add_dependencies(test_redteam_quota caisson caisson-tool-runner caisson-bus caisson-sandbox-manager
                 caisson-sandbox-init)
# issue 11's attacks on sandboxes, descriptors, records, owners and modes.
caisson_test(test_redteam_sandbox test_redteam_sandbox.c sbx_client.c fake_egress.c)
target_link_libraries(test_redteam_sandbox PRIVATE PkgConfig::LMDB)
add_dependencies(test_redteam_sandbox caisson caisson-bus caisson-event-log caisson-sandbox-manager
                 caisson-tool-runner caisson-orchestrator caisson-ui-bridge caisson-llm-replay)
# A second red-team pass over issue 11's fixes.
caisson_test(test_redteam_followup2 test_redteam_followup2.c sbx_client.c)
add_dependencies(test_redteam_followup2 caisson caisson-bus caisson-sandbox-manager
                 caisson-sandbox-init)
# issue 13: replicas on one data dir: disjoint uid ranges, leases, adoption.
caisson_test(test_sandbox_adopt test_sandbox_adopt.c sbx_client.c)
add_dependencies(test_sandbox_adopt caisson-bus caisson-sandbox-manager caisson-sandbox-init)
# issue 15: network modes none/policy through sandbox-manager, with a
# stand-in egress-proxy (fake_egress): ceilings, policy set/drop/context,
# resync, net.update, fail closed, the /run/caisson bind and the forwarder.
caisson_test(test_sandbox_net test_sandbox_net.c sbx_client.c fake_egress.c)
add_dependencies(test_sandbox_net caisson-bus caisson-sandbox-manager caisson-sandbox-init)
