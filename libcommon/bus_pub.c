/* bus_pub: event publisher. See bus_pub.h. */
#include "bus_pub.h"
#include "busio.h"

#include <czmq.h>
#include <string.h>

struct _bus_pub_t {
    zsock_t *sock;
};

bus_pub_t *
bus_pub_new (const char *endpoint)
{
    bus_pub_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = busio_socket (ZMQ_PUB, endpoint, false);
    if (!self->sock) {
        free (self);
        return NULL;
    }
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
    const void *parts[] = { topic, data };
    size_t sizes[] = { strlen (topic), size };
    int rc = busio_send (zsock_resolve (self->sock), 2, parts, sizes);
    free (data);
    return rc;
}
