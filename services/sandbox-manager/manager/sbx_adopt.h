/* sbx_adopt: the registries one manager serves, when each manager keeps
 * its own (CAISSON_STORE_PER_INSTANCE=1, DATA/sandbox-manager/<instance>).
 *
 * Each registry has its own host uid range, a 64th of the sandbox range
 * claimed once (the `uids` file in it, chosen under DATA/sandbox-manager/
 * uids.lock), so replicas on one host never hand out the same uid. Each
 * has a lease (the `lease` file: until when, in ms since the epoch) that
 * its holder renews every third of CAISSON_SANDBOX_LEASE_S. A registry no
 * process holds (its lock is free) whose lease has lapsed belongs to a
 * manager gone for good (scaled down, crashed and not restarted): a live
 * manager adopts it, keeping its lock and its instance's slot (so that
 * instance, started again, takes another id), takes back its sandboxes as
 * a restart would, and serves `sandbox-manager.<instance>` with a second
 * bus worker, so their ids keep working. A lapsed registry with no
 * sandboxes is removed instead, freeing its uid range, as is an adopted
 * one once its last sandbox is gone. */
#ifndef CAISSON_SBX_ADOPT_H
#define CAISSON_SBX_ADOPT_H

#include "sbx_mgr.h"

/* Settles m->own's uid range (and with per-instance stores, claims it and
 * writes its lease), and starts the timer that renews leases and adopts.
 * Returns 0, or -1 writing why into err. */
int sbx_adopt_setup (sbx_mgr_t *m, char *err, size_t errlen);
/* Stops the adopted registries' workers and releases them (after the loop). */
void sbx_adopt_teardown (sbx_mgr_t *m);
/* Inside a handler: the registry whose instance the current request was
 * sent to (m->own for the service's own worker). */
sbx_home_t *sbx_adopt_current (sbx_mgr_t *m);
/* Inside a handler: defers the current request on whichever of m's
 * workers is dispatching it; *worker receives that worker. */
bus_pending_t *sbx_adopt_defer (sbx_mgr_t *m, bus_worker_t **worker);
/* True when m serves sandbox ids of instance (its own or adopted). */
bool sbx_adopt_serves (sbx_mgr_t *m, const char *instance);

#endif
