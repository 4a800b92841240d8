/* bus_pub: event publisher. See bus_pub.h.
 *
 * A PUB socket drops what it sends before its peer's subscriptions have
 * arrived, so a process's first events (its own `started`) would be lost.
 * The publisher is therefore an XPUB, and the broker's XSUB subscribes to
 * everything as soon as it connects: the first send waits, boundedly, for
 * that subscription to arrive. */
#include "bus_pub.h"
#include "busio.h"

#include <czmq.h>
#include <string.h>

/* How long the first send waits for the broker's subscription. */
#define READY_WAIT_MS 1000

struct _bus_pub_t {
    zsock_t *sock;
    void *raw;
    bool ready;
    bool waited;                /* the one wait for the first subscription is spent */
};

/* Reads the subscriptions that have arrived; the first time, waits up to
 * wait_ms for one (only the first send waits, as bus_pub.h says). */
static void
take_subscriptions (bus_pub_t *self, int wait_ms)
{
    zmq_pollitem_t item = { self->raw, 0, ZMQ_POLLIN, 0 };
    bool wait = !self->ready && !self->waited;
    self->waited = true;
    if (!self->ready && zmq_poll (&item, 1, wait ? wait_ms : 0) <= 0)
        return;
    char buf[256];
    while (zmq_recv (self->raw, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
        self->ready = true;
}

bus_pub_t *
bus_pub_new (const char *endpoint)
{
    bus_pub_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = busio_socket (ZMQ_XPUB, endpoint, false);
    if (!self->sock) {
        free (self);
        return NULL;
    }
    self->raw = zsock_resolve (self->sock);
    return self;
}

void
bus_pub_destroy (bus_pub_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy (&(*self_p)->sock);
    free (*self_p);
    *self_p = NULL;
}

int
bus_pub_send (bus_pub_t *self, const char *topic, const proto_msg_t *msg)
{
    uint8_t *data;
    size_t size;
    if (proto_encode (msg, &data, &size))
        return -1;
    take_subscriptions (self, READY_WAIT_MS);
    const void *parts[] = { topic, data };
    size_t sizes[] = { strlen (topic), size };
    int rc = busio_send (self->raw, 2, parts, sizes);
    free (data);
    return rc;
}
