# sandbox-manager through the bus: lifecycle, files, exec, the seed example,
# restart, TTL, healing, pause/resume, and the attack suite.
caisson_test(test_sandbox test_sandbox.c sbx_client.c)
caisson_test(test_sandbox_attack test_sandbox_attack.c sbx_client.c)
