/* verify: the checks a run must pass before it may complete. A failing
 * check goes back to the model as feedback; after the feedback rounds the
 * run ends `checks_failed`.
 *
 * Which checks: the policy's `verify`; when it names none and the run
 * changed something, the deployment's `verifyOnChange` (orch sets it from
 * CAISSON_RUN_VERIFY_DEFAULT). Only the run's own tool calls count, never
 * an earlier run's on the same thread.
 *
 * `tests_passed`: the run's last test run succeeded, found at least one
 * test, and nothing changed after it. A test run is a call of a tool the
 * catalogue marks `runsTests` without a `command` argument (ci.runTests),
 * or with the policy's `testCommand` (CAISSON_TOOLS_TEST_COMMAND) as its
 * command; any other command is not a test run. A change is a call,
 * other than a test run, of a tool whose catalogue `effect` is `sandbox`
 * or `repository` on an existing sandbox (`sandboxId` in its arguments),
 * not a dry run, that did not fail. A result that counts tests (`passed`,
 * `failed`) must count at least one. */
#ifndef CAISSON_VERIFY_H
#define CAISSON_VERIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* True when name is a check verify knows. */
bool verify_known (const char *name);
/* The checks verify knows, for messages: "tests_passed". */
const char *verify_names (void);

/* Runs the checks policy asks of a run whose own messages start at
 * messages[from], with catalogue ([{name, runsTests?, effect?}], may be
 * NULL) telling which tools run tests and which change things. Appends
 * one {name, ok, detail} per check run to results, stopping at the first
 * failure. Returns 0 when all pass (or none apply), else -1 with the
 * failed check's name in failed and feedback for the model. */
int verify_checks (const json_t *policy, const json_t *messages, size_t from,
                   const json_t *catalogue, json_t *results, char *failed, size_t failedlen,
                   char *feedback, size_t len);

#endif
