/* gw_bus: the gateway's requests to gateway-keys, from any thread.
 *
 * A zsock must not be shared between threads, and the connection threads
 * come and go, so clients are pooled: a request takes an idle client (or
 * makes one), waits for its reply, and puts the client back. */
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

#endif
