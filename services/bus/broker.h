/* broker: the bus every Caisson process connects to.
 *
 * One ROUTER socket serves Majordomo clients and workers (see mdp.h):
 * workers register a service name, and the broker spreads each service's
 * requests over its ready workers by credit, round robin, queueing them
 * while none is ready. One XSUB/XPUB pair relays events. The broker is
 * infrastructure, not a domain service: it holds no state worth keeping
 * and a restart costs only the requests in flight, which clients resend. */
#ifndef CAISSON_BROKER_H
#define CAISSON_BROKER_H

typedef struct _broker_t broker_t;

/* Binds the request endpoint and the event proxy's two endpoints.
 * Returns NULL (with the reason logged) when one cannot be bound. */
broker_t *broker_new (const char *requests, const char *events_in,
                      const char *events_out, const char *instance);
void broker_destroy (broker_t **self_p);

/* Serves until SIGINT or SIGTERM. Returns 0. */
int broker_run (broker_t *self);

#endif
