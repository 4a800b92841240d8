/* runstream: one run's events for a stream, history first and then live,
 * with no gap and no repeat.
 *
 * It subscribes to `run.<run>.` on the event proxy before it reads
 * anything, waits until event-log's `sync.<token>` event shows the
 * subscription is live, then reads stored events from event-log
 * (`events.read`, page by page, from a run_seq) and only then takes live
 * events off the subscription, dropping stored ones already read
 * (run_seq not above the last given). Live deltas (text) have no run_seq
 * and pass through. Used by one thread: the connection's. */
#ifndef CAISSON_RUNSTREAM_H
#define CAISSON_RUNSTREAM_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"

typedef struct _runstream_t runstream_t;

/* A stream of run's events from run_seq from (1: all), for req's user.
 * NULL when the subscription cannot be made. */
runstream_t *runstream_new (app_t *app, http_req_t *req, const char *run, uint64_t from);
void runstream_destroy (runstream_t **self_p);

/* Makes the subscription live now rather than at the first
 * runstream_next: call it before acting on a run (an answer, a decision)
 * so that no live delta of what the action starts goes by unseen; they
 * are never stored, history cannot give them again. */
void runstream_sync (runstream_t *self);

/* The next event as {kind, data?, seq?, runSeq?} (a new object), waiting
 * at most timeout_ms; NULL on timeout, at shutdown, or after an error
 * (runstream_error says which), among them the revocation or expiry of
 * the bearer token req came with: nothing more goes to its holder. */
json_t *runstream_next (runstream_t *self, int timeout_ms);

/* Why the stream failed, or NULL while it is healthy. */
const char *runstream_error (runstream_t *self);

/* True for the kinds that end a run (a cancelled run ends with `failed`). */
bool runstream_terminal (const char *kind);

#endif
