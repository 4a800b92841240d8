/* mcp_stack: the whole stack (support_stack_up: real sandboxes, so root)
 * driven by the scripted model, as the MCP suites that run a task end to
 * end use it (test_mcp_agent, test_mcp_user_run): bring it up on one
 * cassette directory, start `caisson run` in the background and wait for
 * it to complete. */
#ifndef CAISSON_TEST_MCP_STACK_H
#define CAISSON_TEST_MCP_STACK_H

#include <sys/types.h>

/* Starts the whole stack with the scripted model replaying
 * tests/cassettes/<cassettes>, no warm sandbox pool (each sandbox is the
 * test's own), on free ports. */
void mcp_stack_up (const char *cassettes);

/* Starts `caisson run --json [--user user] [--model model] task` in the
 * background (user and model may be NULL), its standard output written to
 * path; its pid (killed should the test die). */
pid_t mcp_stack_run (const char *task, const char *user, const char *model, const char *path);

/* Waits for the `caisson run` pid and fails the test, showing the end of
 * its output (at path), unless it exited 0 (the run completed). */
void mcp_stack_expect_completed (pid_t pid, const char *path);

#endif
