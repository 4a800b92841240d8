/* buspool: bus clients for HTTP handler threads.
 *
 * A ZeroMQ socket must be used by one thread at a time. Each handler
 * takes a client from the pool, makes its requests, and gives it back; the
 * pool's mutex is the memory barrier ZeroMQ asks for when a socket moves
 * between threads. Clients are made on demand, up to a bound; past it a
 * taker waits for one to come back. */
#ifndef CAISSON_BUSPOOL_H
#define CAISSON_BUSPOOL_H

#include "bus_client.h"

typedef struct _buspool_t buspool_t;

/* A pool of at most max clients connected to endpoint. Their requests
 * give up once *stopping (borrowed, may be NULL) is true, so HTTP threads
 * waiting on a silent service do not hold up the shutdown. */
buspool_t *buspool_new (const char *endpoint, size_t max, const atomic_bool *stopping);
void buspool_destroy (buspool_t **self_p);

/* A client for this thread's exclusive use until buspool_give, or NULL
 * when one cannot be made. */
bus_client_t *buspool_take (buspool_t *self);
void buspool_give (buspool_t *self, bus_client_t *client);

/* One request through a pooled client: sends req to service with the
 * given timeout (and one retry), returns the reply or NULL. */
proto_msg_t *buspool_request (buspool_t *self, const char *service, const proto_msg_t *req,
                              int timeout_ms);

#endif
