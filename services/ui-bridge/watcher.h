/* watcher: a thread that follows every run's events on the bus and turns
 * them into metrics (runs by outcome, steps, tool calls by tool and
 * outcome, tool latency, model tokens) and the model gateway's `spend`
 * records into gateway calls, tokens and cost per user, key and model. It
 * owns its own subscriber socket, used by that thread alone. Counts start when the instance starts; every
 * instance sees every event, so any one of them can be scraped. */
#ifndef CAISSON_WATCHER_H
#define CAISSON_WATCHER_H

#include "metrics.h"

typedef struct _watcher_t watcher_t;

/* Starts watching the event proxy at endpoint. NULL on failure. */
watcher_t *watcher_new (const char *endpoint, metrics_t *metrics);
/* Stops the thread (within half a second) and frees it. */
void watcher_destroy (watcher_t **self_p);

#endif
