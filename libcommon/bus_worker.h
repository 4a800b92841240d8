/* bus_worker: serves one service's requests from the broker.
 *
 * A worker registers `service` (and so `service.instance`) with the broker,
 * exchanges heartbeats, reconnects and re-registers when the broker goes
 * quiet (a broker restart), and hands each request to the service's
 * handler, or by a table of routes to one handler per type. It answers
 * `health.req` and `ping` itself, replies with an `error` naming the fault
 * to anything it cannot decode, answers a type with no route
 * `unknown_type`, replaces a reply of a type other than the one proto/
 * declares for the request (or `error`) with an `internal` error, and keeps the
 * last replies by request id so that a client's retry of a request already
 * answered gets the same reply again without the handler running twice.
 *
 * The worker lives in a czmq zloop, so a service can drive other sockets
 * and timers in the same loop. */
#ifndef CAISSON_BUS_WORKER_H
#define CAISSON_BUS_WORKER_H

#include <czmq.h>
#include "proto.h"

typedef struct _bus_worker_t bus_worker_t;

/* Handles one decoded request and returns its reply (which the worker
 * sends and destroys), NULL for an `internal` error reply, or
 * BUS_DEFERRED after taking the request's slot with bus_worker_defer. */
typedef proto_msg_t *(bus_handler_fn) (const proto_msg_t *req, void *arg);

/* One row of a service's dispatch table: requests of type go to handler,
 * which reads only its own body member (req->body.<type>). A table ends
 * with BUS_ROUTES_END. */
typedef struct {
    proto_type_t type;
    bus_handler_fn *handler;
} bus_route_t;

#define BUS_ROUTES_END { PROTO_TYPE_COUNT, NULL }

/* A request whose reply comes later (a long command, a batched commit). */
typedef struct _bus_pending_t bus_pending_t;

extern proto_msg_t bus_deferred;
#define BUS_DEFERRED (&bus_deferred)

/* A worker for service at the broker's endpoint. instance NULL or empty
 * takes CAISSON_INSTANCE, else a random token. version is reported in
 * health replies. Returns NULL on a bad endpoint or name. */
bus_worker_t *bus_worker_new (const char *endpoint, const char *service,
                              const char *instance, const char *version,
                              bus_handler_fn *handler, void *arg);
void bus_worker_destroy (bus_worker_t **self_p);

/* Dispatches by routes (borrowed: it must outlive the worker) instead of
 * the handler given to bus_worker_new; each handler gets that arg. Every
 * row must name a request (proto_reply_of) once, and not `health.req` or
 * `ping`, which the worker answers itself. Returns 0, or -1 naming the
 * bad row in the log. */
int bus_worker_set_routes (bus_worker_t *self, const bus_route_t *routes);

/* Registers with the broker and adds the worker's reader and heartbeat
 * timer to loop. A worker for one of the stack's services connects with
 * that service's bus key (buskey.h), any other with the process's. Returns
 * 0, or -1 (a missing key is logged, naming its file). */
int bus_worker_start (bus_worker_t *self, zloop_t *loop);

/* Tells the broker this worker is leaving, so no more requests come, and
 * takes it off its loop (it sends no heartbeat and reads nothing more).
 * Inside the loop, destroy it only once the loop has ended: zloop may
 * still call it in the pass that stopped it. */
void bus_worker_stop (bus_worker_t *self);

/* Inside a handler only: takes the current request's reply slot, so the
 * handler can return BUS_DEFERRED and answer later with bus_worker_answer.
 * A resend of a deferred request that arrives meanwhile (from any client)
 * waits for that answer and gets it too. Returns NULL only when the client's
 * address cannot be kept (zmq_msg_copy fails). */
bus_pending_t *bus_worker_defer (bus_worker_t *self);

/* Sends rep (NULL: an `internal` error) as the answer to *pending_p,
 * keeps it for retries, and destroys rep and the slot. Returns 0 or -1. */
int bus_worker_answer (bus_worker_t *self, bus_pending_t **pending_p, proto_msg_t *rep);

/* True while self's handler runs a request: which of a process's workers
 * (one per instance it serves) a handler is answering for. */
bool bus_worker_dispatching (const bus_worker_t *self);

/* The deferred request's envelope (borrowed, body empty): the cause to
 * build its reply from with proto_msg_new. */
const proto_msg_t *bus_pending_request (const bus_pending_t *pending);

/* The instance id in use (borrowed). */
const char *bus_worker_instance (bus_worker_t *self);

#endif
