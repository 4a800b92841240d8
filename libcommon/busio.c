/* busio: multipart frame I/O. See busio.h. */
#include "busio.h"
#include "buskey.h"
#include "clog.h"
#include "proto.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

int
busio_recv (void *sock, busio_msg_t *m, int flags)
{
    m->n = 0;
    int more = 1;
    bool overflow = false;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_t *dst = m->n < BUSIO_MAX_FRAMES ? &m->f[m->n] : &tmp;
        zmq_msg_init (dst);
        if (zmq_msg_recv (dst, sock, m->n ? 0 : flags) < 0) {
            zmq_msg_close (dst);
            busio_close (m);
            return -1;
        }
        more = zmq_msg_more (dst);
        if (dst == &tmp) {
            zmq_msg_close (&tmp);
            overflow = true;
        }
        else
            m->n++;
    }
    if (overflow) {
        busio_close (m);
        errno = EPROTO;
        return -1;
    }
    return 0;
}

void
busio_close (busio_msg_t *m)
{
    for (int i = 0; i < m->n; i++)
        zmq_msg_close (&m->f[i]);
    m->n = 0;
}

int
busio_send_copy (void *sock, const void *data, size_t size, bool more)
{
    return zmq_send (sock, data, size, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

int
busio_send (void *sock, int n, const void *const data[], const size_t size[])
{
    for (int i = 0; i < n; i++)
        if (busio_send_copy (sock, data[i], size[i], i + 1 < n))
            return -1;
    return 0;
}

int
busio_send_move (void *sock, zmq_msg_t *msg, bool more)
{
    if (zmq_msg_send (msg, sock, more ? ZMQ_SNDMORE : 0) < 0) {
        zmq_msg_close (msg);
        return -1;
    }
    return 0;
}

bool
busio_is (zmq_msg_t *frame, const char *s)
{
    size_t len = strlen (s);
    return zmq_msg_size (frame) == len && memcmp (zmq_msg_data (frame), s, len) == 0;
}

zsock_t *
busio_socket (int type, const char *endpoint, bool bind)
{
    return busio_socket_as (type, endpoint, bind, NULL);
}

zsock_t *
busio_socket_as (int type, const char *endpoint, bool bind, const char *role)
{
    zsock_t *sock = zsock_new (type);
    if (!sock)
        return NULL;
    char err[PATH_MAX + 160];
    if (buskey_apply (sock, bind, role, err, sizeof err)) {
        clog_error (NULL, "%s", err);
        zsock_destroy (&sock);
        return NULL;
    }
    int zero = 0;
    int64_t max = (int64_t) proto_max_frame () + 1024;
    zmq_setsockopt (zsock_resolve (sock), ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (zsock_resolve (sock), ZMQ_MAXMSGSIZE, &max, sizeof max);
    int rc = bind ? zsock_bind (sock, "%s", endpoint) : zsock_connect (sock, "%s", endpoint);
    if (rc < 0) {
        clog_error (NULL, "cannot %s %s: %s", bind ? "bind" : "connect to", endpoint,
                    zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}
