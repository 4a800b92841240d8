/* bus_tap: watches events on the bus by topic prefix.
 *
 * The subscriber side of bus_pub: anyone (the CLI's tap, tests, event-log)
 * connects to the proxy's XPUB endpoint with one or more prefixes. */
#ifndef CAISSON_BUS_TAP_H
#define CAISSON_BUS_TAP_H

#include <czmq.h>
#include "proto.h"

typedef struct _bus_tap_t bus_tap_t;

/* Subscribes to prefix ("" for everything) at the XPUB endpoint. */
bus_tap_t *bus_tap_new (const char *endpoint, const char *prefix);
void bus_tap_destroy (bus_tap_t **self_p);

/* Adds one more prefix. Returns 0 or -1. */
int bus_tap_subscribe (bus_tap_t *self, const char *prefix);

/* The next event within timeout_ms (-1: forever): its message, with its
 * topic copied into topic (truncated to topiclen). NULL on timeout,
 * interrupt, or an undecodable event (err says which when not NULL). */
proto_msg_t *bus_tap_recv (bus_tap_t *self, char *topic, size_t topiclen,
                           int timeout_ms, proto_err_t *err);

/* The tap's SUB socket (borrowed), for a zloop reader that calls
 * bus_tap_recv when events arrive. */
zsock_t *bus_tap_socket (bus_tap_t *self);

#endif
