/* orch_int: what the orchestrator service's two halves share: the service
 * state, and run.start (orch_start.c), which orch.c's dispatch answers
 * with. Private to them. */
#ifndef ORCH_INT_H
#define ORCH_INT_H

#include "budgets.h"
#include "runhost.h"
#include "runlease.h"
#include "runstore.h"
#include "svc.h"

typedef struct {
    svc_t *svc;
    runstore_t *store;
    runhost_t *runs;
    runlease_t *lease;          /* with a store per instance, else NULL */
    run_budgets_t defaults;
} orch_t;

/* run.start: checks the request's choices and starts the run (after its
 * thread's conversation is fetched, when this instance has none of it);
 * the reply is deferred until run_started is stored. */
proto_msg_t *orch_start (const proto_msg_t *req, void *arg);

#endif
