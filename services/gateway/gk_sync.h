/* gk_sync: flushes gateway-keys' store on a thread of its own, so the loop
 * keeps committing and answering reserves while a settle's flush runs
 * (CAISSON_GATEWAY_KEYS_SYNC=settle).
 *
 * One flush at a time. mdb_env_sync takes no LMDB lock: it flushes what
 * was committed before it began, whatever the loop commits meanwhile. A
 * caller that needs its commit durable starts a flush after the commit
 * (or, when one is running, after that one ends) and answers in `done`. */
#ifndef GK_SYNC_H
#define GK_SYNC_H

#include "store.h"

#include <czmq.h>
#include <stdbool.h>

typedef struct gk_sync_t gk_sync_t;

/* Called on the loop when a flush ended; err is 0 or the LMDB code. */
typedef void (gk_sync_done_fn) (void *arg, int err);

/* The flusher of store (borrowed), reporting on loop. NULL on failure. */
gk_sync_t *gk_sync_new (store_t *store, zloop_t *loop, gk_sync_done_fn *done, void *arg);
/* Waits for a flush under way (its `done` is not called). */
void gk_sync_destroy (gk_sync_t **self_p);

/* Starts a flush of everything committed so far; false when one is
 * already running (start another from its `done`). */
bool gk_sync_start (gk_sync_t *self);
bool gk_sync_busy (const gk_sync_t *self);

#endif
