/* runhost_sbx: the sandboxes runs leave behind.
 *
 * A run that ends hands over each sandbox it created (run_host_t's
 * sandbox_done): destroyed at once (`sandbox.destroy` to the
 * sandbox-manager that owns it, as the run's user), or kept for the
 * run's thread: then destroyed once CAISSON_RUN_SANDBOX_IDLE_S pass with
 * no run on that thread using it. A run of the thread that uses a kept
 * sandbox takes it over (and hands it back when it ends). Kept sandboxes
 * are written to the store with the time their idleness ends, so a
 * restarted (or adopting, runlease.h) orchestrator still ends them. */
#ifndef CAISSON_RUNHOST_SBX_H
#define CAISSON_RUNHOST_SBX_H

#include <czmq.h>
#include <stdbool.h>
#include "rpc.h"
#include "runstore.h"

typedef struct _runhost_sbx_t runhost_sbx_t;

/* Sandboxes on loop, destroyed through rpc, kept in store (all borrowed). */
runhost_sbx_t *runhost_sbx_new (zloop_t *loop, rpc_t *rpc, runstore_t *store);
/* Forgets the kept sandboxes in memory (not in the store; not destroyed). */
void runhost_sbx_destroy (runhost_sbx_t **self_p);

/* A run of user (op: an operator) on thread ended with sandbox id: keep
 * it for the thread, or destroy it now. */
void runhost_sbx_done (runhost_sbx_t *self, const char *id, const char *user, bool op,
                       const char *thread, bool keep);
/* Takes up the kept sandboxes the store lists and memory does not: their
 * idle clocks go on from the time stored. Returns 0, or -1 when the store
 * cannot be read. */
int runhost_sbx_restore (runhost_sbx_t *self);
/* A run on thread calls a tool on sandbox id: a kept sandbox of that
 * thread is the run's now (its idle clock stops). */
void runhost_sbx_used (runhost_sbx_t *self, const char *id, const char *thread);
/* How many sandboxes are kept. */
size_t runhost_sbx_kept (runhost_sbx_t *self);

#endif
