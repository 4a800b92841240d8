/* budgets: a run.start's `budgets` map checked against the deployment's
 * (CAISSON_RUN_MAX_*), which are both the defaults and the ceilings. */
#ifndef CAISSON_BUDGETS_H
#define CAISSON_BUDGETS_H

#include <jansson.h>
#include "run.h"

/* A run's budgets (b, may be NULL) within ceiling, into out. Returns 0,
 * or -1 with why naming the field that is not a positive integer, is
 * unknown, or asks more than the ceiling. */
int budgets_within (const json_t *b, const run_budgets_t *ceiling, run_budgets_t *out,
                    char *why, size_t whylen);

/* As budgets_within, over defaults (a profile's budgets map, may be
 * NULL) in place of the ceiling for the budgets b leaves out; a default
 * above the ceiling is lowered to it. -1 with why naming the profile's
 * field when defaults is malformed. */
int budgets_with_defaults (const json_t *b, const json_t *defaults,
                           const run_budgets_t *ceiling, run_budgets_t *out, char *why,
                           size_t whylen);

#endif
