/* sbx_netreq: the requests of a policy sandbox that are answered only once
 * egress-proxy has its policy: a create (which fails closed, destroying
 * the sandbox, when the proxy does not answer or refuses) and
 * sandbox.net.update (rules changed at run time). */
#ifndef CAISSON_SBX_NETREQ_H
#define CAISSON_SBX_NETREQ_H

#include "sbx_mgr.h"

/* Inside a handler: sends box's policy and answers req (deferred) with
 * box's sandbox.info once the proxy has it, or `unavailable` when it does
 * not answer or refuses; fresh (a create) then destroys box: fail closed.
 * Returns BUS_DEFERRED, or an error reply. */
proto_msg_t *sbx_netreq_await (box_t *box, const proto_msg_t *req, bool fresh);
/* The same outside a handler, with a reply slot already taken (pending,
 * consumed; NULL: none could be) through worker: a create that waited for
 * its model key (sbx_create.c). Returns BUS_DEFERRED, or an error reply
 * when pending is NULL. */
proto_msg_t *sbx_netreq_await_slot (box_t *box, const proto_msg_t *req, bool fresh,
                                    bus_worker_t *worker, bus_pending_t *pending);
/* sandbox.net.update for box (its owner's or an operator's request): the
 * changes checked against the ceiling, the record resealed, then the
 * policy sent; answered as sbx_netreq_await does. */
proto_msg_t *sbx_netreq_update (box_t *box, const proto_msg_t *req);

#endif
