/* bus_tap: event subscriber. See bus_tap.h. */
#include "bus_tap.h"
#include "busio.h"

#include <czmq.h>
#include <errno.h>
#include <string.h>

struct _bus_tap_t {
    zsock_t *sock;
    void *raw;
};

bus_tap_t *
bus_tap_new (const char *endpoint, const char *prefix)
{
    bus_tap_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = busio_socket (ZMQ_SUB, endpoint, false);
    if (!self->sock) {
        free (self);
        return NULL;
    }
    self->raw = zsock_resolve (self->sock);
    if (bus_tap_subscribe (self, prefix))
        bus_tap_destroy (&self);
    return self;
}

void
bus_tap_destroy (bus_tap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy (&(*self_p)->sock);
    free (*self_p);
    *self_p = NULL;
}

int
bus_tap_subscribe (bus_tap_t *self, const char *prefix)
{
    return zmq_setsockopt (self->raw, ZMQ_SUBSCRIBE, prefix, strlen (prefix));
}

zsock_t *
bus_tap_socket (bus_tap_t *self)
{
    return self->sock;
}

proto_msg_t *
bus_tap_recv (bus_tap_t *self, char *topic, size_t topiclen, int timeout_ms,
              proto_err_t *err)
{
    proto_err_t local;
    if (!err)
        err = &local;
    memset (err, 0, sizeof *err);
    zmq_pollitem_t item = { self->raw, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, timeout_ms) <= 0)
        return NULL;
    busio_msg_t m;
    if (busio_recv (self->raw, &m, ZMQ_DONTWAIT))
        return NULL;
    proto_msg_t *msg = NULL;
    if (m.n == 2) {
        size_t n = zmq_msg_size (&m.f[0]);
        if (topiclen) {
            n = n < topiclen - 1 ? n : topiclen - 1;
            memcpy (topic, zmq_msg_data (&m.f[0]), n);
            topic[n] = '\0';
        }
        msg = proto_decode (zmq_msg_data (&m.f[1]), zmq_msg_size (&m.f[1]), err);
    }
    else {
        err->code = PROTO_E_INVALID;
        snprintf (err->text, sizeof err->text, "event: %d frames, expected 2", m.n);
    }
    busio_close (&m);
    return msg;
}
