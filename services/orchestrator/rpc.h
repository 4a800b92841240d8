/* rpc: bus requests from inside a zloop, answered through callbacks.
 *
 * The orchestrator cannot wait for tool-runner or event-log: a thousand
 * runs share its one loop. rpc sends each request on one bus_client
 * socket, matches replies to requests by their cause id, resends the same
 * bytes when a reply is late (workers answer a retried id once), and
 * reports a timeout once the retries are spent. */
#ifndef CAISSON_RPC_H
#define CAISSON_RPC_H

#include <czmq.h>
#include "proto.h"

typedef struct _rpc_t rpc_t;

/* reply is borrowed for the call; NULL with error set when the request
 * timed out or could not be sent. An `error` reply arrives as a reply. */
typedef void (rpc_done_fn) (const proto_msg_t *reply, const char *error, void *arg);

rpc_t *rpc_new (zloop_t *loop, const char *endpoint);
void rpc_destroy (rpc_t **self_p);

/* Sends req (borrowed) to service. fn NULL: fire and forget (a failure
 * is logged). Returns 0 or -1. */
int rpc_call (rpc_t *self, const char *service, const proto_msg_t *req, int timeout_ms,
              int retries, rpc_done_fn *fn, void *arg);

/* Drops the pending request with this id: its callback never runs. */
void rpc_forget (rpc_t *self, const char *req_id);

#endif
