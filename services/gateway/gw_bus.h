/* gw_bus: the gateway's requests to gateway-keys, from any thread.
 *
 * A zsock must not be shared between threads, and the connection threads
 * come and go, so clients are pooled: a request takes an idle client (or
 * makes one), waits for its reply, and puts the client back. Requests
 * whose answer nobody waits for go through a queue and one thread. */
#ifndef CAISSON_GW_BUS_H
#define CAISSON_GW_BUS_H

#include "proto.h"

#include <stdatomic.h>

typedef struct _gw_bus_t gw_bus_t;

/* A pool on the broker at endpoint; stop (borrowed, may be NULL) cuts
 * waits short when the process stops. */
gw_bus_t *gw_bus_new (const char *endpoint, const atomic_bool *stop);
void gw_bus_destroy (gw_bus_t **self_p);

/* Sends req to gateway-keys; its reply (new), or NULL when none came. */
proto_msg_t *gw_bus_request (gw_bus_t *self, const proto_msg_t *req);

/* Sends req (taken) to gateway-keys from the pool's own thread, off the
 * caller's path (a settle: the connection takes its next request at
 * once); a request not answered is logged. Until gw_bus_destroy, which
 * sends what is queued first. */
void gw_bus_post (gw_bus_t *self, proto_msg_t *req);

/* Waits at most timeout_ms for every posted request to be answered (a
 * gateway stopping: its settles go before it does). */
void gw_bus_drain (gw_bus_t *self, int timeout_ms);

#endif
