/* bus_client: sends requests to a service through the broker.
 *
 * A client is one DEALER socket. bus_client_request is the simple path:
 * send, wait, resend the very same frame (same message id and correlation
 * id) when no reply comes in time, so workers can recognise the retry and
 * not redo the work, and take the first reply whose cause is the request's
 * id; late duplicates are dropped. send/recv are the pipelined path. */
#ifndef CAISSON_BUS_CLIENT_H
#define CAISSON_BUS_CLIENT_H

#include <czmq.h>
#include <stdatomic.h>
#include "proto.h"

typedef struct _bus_client_t bus_client_t;

/* Connects to the broker at endpoint. Timeout and retries default to
 * CAISSON_REQUEST_TIMEOUT_MS and CAISSON_REQUEST_RETRIES. Returns NULL on
 * a bad endpoint. */
bus_client_t *bus_client_new (const char *endpoint);
void bus_client_destroy (bus_client_t **self_p);

/* How long a request waits for its reply (and a send for room) before it
 * is resent, and how many times. */
void bus_client_set_timeout (bus_client_t *self, int timeout_ms, int retries);

/* Gives the client a flag (borrowed, may be NULL) that a process sets when
 * it stops: while it is true, bus_client_request gives up within about
 * 100 ms with NULL and errno ECANCELED, so a thread waiting on a silent
 * service does not hold up the shutdown. */
void bus_client_set_abort (bus_client_t *self, const atomic_bool *abort);

/* Sends req to service (`name` or `name.instance`) and returns the reply,
 * or NULL when every try timed out (errno ETIMEDOUT) or the process was
 * interrupted (EINTR). The reply to a request is of the type proto/
 * declares for it (proto_reply_of) or an `error`: a reply of any other
 * type comes back as an `internal` error naming it, so a caller tells
 * apart only `error` and the declared reply. */
proto_msg_t *bus_client_request (bus_client_t *self, const char *service,
                                 const proto_msg_t *req);

/* Pipelined path: sends one already-encoded request. Returns 0 or -1. */
int bus_client_send (bus_client_t *self, const char *service,
                     const uint8_t *data, size_t size);

/* Receives the next reply, whatever request it answers, waiting at most
 * timeout_ms (-1: forever). Returns a message, or NULL on timeout or an
 * undecodable reply (err filled in when err is not NULL). */
proto_msg_t *bus_client_recv (bus_client_t *self, int timeout_ms, proto_err_t *err);

/* The client's DEALER socket (borrowed), for a zloop reader that calls
 * bus_client_recv when replies arrive: requests from an event loop. */
zsock_t *bus_client_socket (bus_client_t *self);

#endif
