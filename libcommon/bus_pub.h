/* bus_pub: publishes events on the bus's XSUB/XPUB proxy.
 *
 * An event is two frames: a topic (`run.<id>.<kind>`, `svc.<service>.<state>`)
 * that subscribers match by prefix, and one proto message. */
#ifndef CAISSON_BUS_PUB_H
#define CAISSON_BUS_PUB_H

#include "proto.h"

typedef struct _bus_pub_t bus_pub_t;

/* Connects a publisher to the proxy's XSUB endpoint. NULL on failure. */
bus_pub_t *bus_pub_new (const char *endpoint);
void bus_pub_destroy (bus_pub_t **self_p);

/* Publishes msg under topic. Returns 0 or -1. Like any PUB socket, events
 * sent to nobody are dropped (the first send waits up to a second for the
 * broker to subscribe, so a fresh process's first events arrive): durable
 * events go to event-log by request. */
int bus_pub_send (bus_pub_t *self, const char *topic, const proto_msg_t *msg);

#endif
