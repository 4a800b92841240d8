/* gk_out: the background work of gateway-keys, on its loop.
 *
 * The outbox drain: spend records committed with their settle (or orphan
 * charge) go to event-log as `spend.append`, up to 32 at a time; a row
 * is deleted only when event-log answers `spend.ack`, so none is lost.
 * While event-log is absent or answers an error (an older event-log that
 * does not take spend records), the rows stay and the drain retries with
 * a growing back-off (0.5 s to 8 s), logging once. A request unanswered
 * after twice the bus timeout is sent again later; the broker drops a
 * queued request after one bus timeout, so a record is not delivered
 * twice unless event-log answers later than that (it deduplicates by
 * call).
 *
 * The sweeps: every CAISSON_GATEWAY_ORPHAN_S / 3 it asks the broker which
 * `gateway` instances are registered and charges in full the reservations
 * of an instance gone longer than CAISSON_GATEWAY_ORPHAN_S, and those past
 * their deadline; every CAISSON_GATEWAY_GC_S it marks expired keys. */
#ifndef GK_OUT_H
#define GK_OUT_H

#include "gk_store.h"
#include <czmq.h>

typedef struct gk_out_t gk_out_t;

/* Starts the drain and sweeps on loop, talking to the broker at endpoint.
 * sync: flush the store after charging orphans. NULL on failure. */
gk_out_t *gk_out_new (gk_t *gk, zloop_t *loop, const char *endpoint, bool sync);
void gk_out_destroy (gk_out_t **self_p);

/* Rows were added to the outbox: drain them now unless a round is under
 * way or backing off. */
void gk_out_kick (gk_out_t *self);

#endif
