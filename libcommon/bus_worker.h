/* bus_worker: serves one service's requests from the broker.
 *
 * A worker registers `service` (and so `service.instance`) with the broker,
 * exchanges heartbeats, reconnects and re-registers when the broker goes
 * quiet (a broker restart), and hands each request to the service's
 * handler. It answers `health.req` and `ping` itself, replies with an
 * `error` naming the fault to anything it cannot decode, and keeps the
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
 * sends and destroys), or NULL for an `internal` error reply. */
typedef proto_msg_t *(bus_handler_fn) (const proto_msg_t *req, void *arg);

/* A worker for service at the broker's endpoint. instance NULL or empty
 * takes CAISSON_INSTANCE, else a random token. version is reported in
 * health replies. Returns NULL on a bad endpoint or name. */
bus_worker_t *bus_worker_new (const char *endpoint, const char *service,
                              const char *instance, const char *version,
                              bus_handler_fn *handler, void *arg);
void bus_worker_destroy (bus_worker_t **self_p);

/* Registers with the broker and adds the worker's reader and heartbeat
 * timer to loop. Returns 0 or -1. */
int bus_worker_start (bus_worker_t *self, zloop_t *loop);

/* Tells the broker this worker is leaving, so no more requests come. */
void bus_worker_stop (bus_worker_t *self);

/* The instance id in use (borrowed). */
const char *bus_worker_instance (bus_worker_t *self);

/* How many requests the handler has run (retries answered from the reply
 * cache are not counted). */
uint64_t bus_worker_handled (bus_worker_t *self);

#endif
