/* run_stack: the stack the run tests over HTTP share (test_ui_e2e,
 * test_mcp_run): ui-bridge in front of the real orchestrator, driven by
 * the scripted model (caisson-llm-replay, its cassettes) with the real
 * event-log (committing 150 ms apart, as under load), and a stand-in
 * tool-runner: the test program itself re-run as a bus worker answering
 * createSandbox, repo.clone, writeFiles, runCommand and git.openPR (gated)
 * with canned results, so no sandbox is needed. */
#ifndef CAISSON_TEST_RUN_STACK_H
#define CAISSON_TEST_RUN_STACK_H

#include <stdbool.h>

/* In main, first: when argv asks for the stand-in tool-runner, serves it
 * and returns its exit status; else -1. self is argv[0], kept. */
int run_stack_child (int argc, char **argv);

/* Starts the stack in a fresh data dir named after name and waits until
 * every service answers /healthz through the bridge. false, starting
 * nothing, when this build has no `run.start`. */
bool run_stack_up (const char *name);
/* Stops it (ui-bridge must exit cleanly); nothing when not up. */
void run_stack_down (void);
/* Whether it is up. */
bool run_stack_is_up (void);

#endif
