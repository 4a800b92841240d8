/* eval_score: how an attempt is judged (docs/evals.md § Failure causes):
 * the hidden tests run in a sandbox and what their output says, the one
 * failure cause from the fixed set, and pass@k over repeats. */
#ifndef CAISSON_EVAL_SCORE_H
#define CAISSON_EVAL_SCORE_H

#include "bus_client.h"
#include "evalset.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* The most of the tests' output an attempt keeps. */
#define EVAL_TEST_OUTPUT_MAX 4096

/* Writes files ([{path, data}], paths relative to dir, a path relative
 * to the workspace or "") into sandbox: 0, or -1 with why. */
int eval_score_write (bus_client_t *c, const char *sandbox, const char *dir, const json_t *files,
                      char *why, size_t n);

/* Writes t's hidden tests into sandbox under dir (a path relative to the
 * workspace, "" for the workspace itself) and runs t's test command
 * there. Returns {exitCode, passed, failed, output, ranNone} (new;
 * passed/failed are null when the output gives no counts; ranNone true
 * when the command ran no test), or NULL with why when the harness could
 * not run them. */
json_t *eval_score_tests (bus_client_t *c, const char *sandbox, const char *dir,
                          const evaltask_t *t, char *why, size_t n);

/* What an ended run says about its attempt, from its run.get info and
 * its stored events:
 *   status      run status
 *   budget      the budget that ran out (NULL when none)
 *   last_tool_failed  the run's last tool result was an error
 *   timed_out   the harness cancelled it at its deadline */
typedef struct {
    const char *status;
    const char *budget;
    bool last_tool_failed;
    bool failed_on_tool;        /* status failed, and a tool result was its last event */
    bool timed_out;
    int64_t started_us, ended_us; /* its run_started and last events' times (0: unknown) */
} eval_outcome_t;

/* The cause of an attempt that did not pass (one of `tests_failed`,
 * `no_tests_run`, `budget_exhausted`, `tool_error`, `model_error`,
 * `refused`, `timeout`), given the tests' result (NULL when they did not
 * run). */
const char *eval_score_cause (const eval_outcome_t *o, const json_t *tests);

/* The unbiased pass@k of n attempts of which c passed (Chen et al. 2021):
 * 1 - C(n-c, k) / C(n, k); k is capped at n. */
double eval_pass_at_k (unsigned n, unsigned c, unsigned k);

#endif
