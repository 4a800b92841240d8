/* runlease: an orchestrator's lease on its store, and the adoption of
 * stores whose orchestrator is gone for good.
 *
 * With CAISSON_STORE_PER_INSTANCE=1 each orchestrator has its own store,
 * DATA/orchestrator/<instance>, locked while it runs (svc_ident_lock_dir).
 * It writes DATA/orchestrator/<instance>/lease, {owner, until}, every
 * third of CAISSON_RUN_LEASE_S, and as often looks at its siblings: a
 * store whose lease ran out and whose lock it can take has no process
 * and none coming back soon (a restart takes the lock again well within
 * the lease). Holding that lock, it moves the store's unfinished runs
 * (owner: itself), threads and kept sandboxes into its own store
 * (runstore_take), marks the lease `adoptedBy` itself (later scans skip
 * it, until its own instance comes back and writes a lease again), lets
 * go, and resumes the runs: `resumed` names the adopter, and clients
 * route to it. The lock serialises two adopters: the second finds the
 * store marked, or nothing live in it. An orchestrator adopts nothing in
 * its first lease, so replicas started together after a long stop (all
 * leases run out) each take their own store back first. */
#ifndef CAISSON_RUNLEASE_H
#define CAISSON_RUNLEASE_H

#include "runhost.h"
#include "runstore.h"
#include "svc.h"

typedef struct _runlease_t runlease_t;

/* Writes svc's lease on store (svc's store dir) now and keeps it, and
 * adopts into store and host what siblings gone for good leave (all
 * borrowed). NULL when it cannot. */
runlease_t *runlease_new (svc_t *svc, runstore_t *store, runhost_t *host);
/* Stops renewing (the lease runs out on its own) and scanning. */
void runlease_destroy (runlease_t **self_p);

#endif
