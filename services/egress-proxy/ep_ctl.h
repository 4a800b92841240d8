/* ep_ctl: the egress proxy's control side, on the service's zloop thread.
 *
 * It answers egress.policy.set, .drop, egress.context and
 * egress.stats.get (ep_ctl_routes), keeps the boxes (ep_table.h), opens
 * each box's socket and hands boxes to the data thread (ep_loop.h), which
 * it starts with the configuration (CAISSON_EGRESS_*) and the bus
 * endpoints it must never connect to. At start it serves again every box
 * the store kept. */
#ifndef CAISSON_EP_CTL_H
#define CAISSON_EP_CTL_H

#include "svc.h"

typedef struct _ep_ctl_t ep_ctl_t;

/* The routes; each handler's arg is the svc_t whose state is the ep_ctl_t. */
extern const bus_route_t ep_ctl_routes[];

/* Starts the control side for svc (its store directory holds the boxes).
 * NULL, logged, on a configuration or store failure. */
ep_ctl_t *ep_ctl_new (svc_t *svc);
/* Stops the data thread and releases everything (sockets stay on disk). */
void ep_ctl_destroy (ep_ctl_t **self_p);

#endif
