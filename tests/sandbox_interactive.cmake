# issue 17: interactive processes in a sandbox (stdin kept open, fed by
# sandbox.exec.input), as an MCP stdio server needs, through the bus.
caisson_test(test_sandbox_interactive test_sandbox_interactive.c sbx_client.c)
add_dependencies(test_sandbox_interactive caisson-bus caisson-sandbox-manager caisson-sandbox-init)
