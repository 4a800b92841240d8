/* busio: multipart frame I/O on raw libzmq sockets, for the bus hot path.
 *
 * The broker, client and worker move a request through several sockets;
 * doing it with zmq_msg_t arrays (moved, not copied) keeps the broker's
 * cost per request near a raw DEALER/ROUTER hop. Sockets themselves come
 * from czmq (zsock) and are used here through zsock_resolve. */
#ifndef CAISSON_BUSIO_H
#define CAISSON_BUSIO_H

#include <stdbool.h>
#include <stddef.h>
#include <czmq.h>

#define BUSIO_MAX_FRAMES 8

typedef struct {
    zmq_msg_t f[BUSIO_MAX_FRAMES];
    int n;
} busio_msg_t;

/* Receives one whole multipart message without blocking (flags as for
 * zmq_msg_recv). Returns 0; or -1 when nothing is waiting, or when the
 * message has more than BUSIO_MAX_FRAMES parts (the rest is drained and
 * dropped, errno EPROTO). On success the frames must be released with
 * busio_close. */
int busio_recv (void *sock, busio_msg_t *m, int flags);

/* Releases every frame; safe on an empty message. */
void busio_close (busio_msg_t *m);

/* Sends frames[0..n) as one message. Frame i is a copy of data[i] (size[i]
 * bytes). Returns 0 or -1. */
int busio_send (void *sock, int n, const void *const data[], const size_t size[]);

/* Sends one frame that is moved out of msg (msg is left empty); more says
 * whether further frames follow. Returns 0 or -1. */
int busio_send_move (void *sock, zmq_msg_t *msg, bool more);

/* Sends a copy of size bytes as one frame. Returns 0 or -1. */
int busio_send_copy (void *sock, const void *data, size_t size, bool more);

/* True when frame holds exactly the NUL-terminated string s. */
bool busio_is (zmq_msg_t *frame, const char *s);

/* A new socket of type, with the options every bus socket gets (no linger
 * on close; a maximum inbound message size of the frame limit plus room for
 * routing frames, so ZeroMQ drops an oversized peer before buffering it),
 * and CURVE unless CAISSON_BUS_CURVE=0: a server when bound, a client of
 * the broker when connected) set before it is bound to or connected to
 * endpoint. NULL on a bad endpoint or a missing key, with the reason
 * logged. */
zsock_t *busio_socket (int type, const char *endpoint, bool bind);

/* The same with role's CURVE key (buskey.h); busio_socket uses the
 * process's role. NULL, with the reason logged, when the key is missing. */
zsock_t *busio_socket_as (int type, const char *endpoint, bool bind, const char *role);

#endif
