/* verify: the checks a run's policy names (`policy.verify`), run before
 * the run may complete. A failing check goes back to the model as
 * feedback.
 *
 * `tests_passed` requires the run's latest result of a tool that runs
 * tests (the catalogue marks it `runsTests`) to have exit code 0, or,
 * without an exit code, not to say `success: false`. Unknown checks are
 * skipped (and say so). */
#ifndef CAISSON_VERIFY_H
#define CAISSON_VERIFY_H

#include <jansson.h>
#include <stddef.h>

/* Runs checks (an array of names, may be NULL) over the conversation
 * messages, with catalogue ([{name, runsTests?}], may be NULL) telling
 * which tools run tests. Appends one {name, ok, detail} per check run to
 * results, stopping at the first failure. Returns 0 when all pass, else -1
 * with feedback for the model. */
int verify_checks (const json_t *checks, const json_t *messages, const json_t *catalogue,
                   json_t *results, char *feedback, size_t len);

#endif
