/* eval_run: one attempt of one task through the whole stack (docs/evals.md
 * § What an attempt does): a sandbox with the task's starting files (or a
 * clone of its repository), a run on the task's prompt, its approvals
 * answered as the manifest says, then the hidden tests, the patch and the
 * failure cause; the sandboxes are ended whatever happens. */
#ifndef CAISSON_EVAL_RUN_H
#define CAISSON_EVAL_RUN_H

#include "evalset.h"
#include "mprice.h"
#include <jansson.h>
#include <stdatomic.h>

/* The most of a patch an attempt keeps. */
#define EVAL_PATCH_MAX (256 * 1024)

typedef struct {
    const char *eval_id;        /* names the attempt's repositories */
    const char *model;          /* NULL: the deployment's */
    const char *profile;        /* NULL: the deployment's */
    unsigned time_limit_s;      /* 0: each task's own */
    unsigned grace_s;           /* past the limit before the harness cancels */
    const char *data;           /* the stack's data directory (eval-repos/) */
    const char *user;           /* whose eval: its repositories are in eval-repos/<user>/ */
    const mprices_t *prices;    /* NULL: costs are 0 */
    const atomic_bool *stop;    /* set on an interrupt */
} eval_opts_t;

/* Runs attempt number `attempt` (from 0) of task t with its own bus
 * connection. Returns the attempt's record (new, docs/evals.md § The
 * record): with `error` (why the harness could not do its part) when it
 * failed, or NULL when *o->stop was set before the attempt ended. */
json_t *eval_run_attempt (const eval_opts_t *o, const evaltask_t *t, unsigned attempt);

#endif
