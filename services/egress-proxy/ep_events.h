/* ep_events: the egress proxy's decisions, told.
 *
 * Owned by the data thread (its sockets are its own: zsock is not
 * thread-safe). Every decision is published as `sandbox.net_event` on
 * `sandbox.<id>.net`, with the box's run and corr. When the box works for
 * a run, the decision is also appended to that run as event kind `net`
 * (event.append to event-log, sent without waiting; the envelope's user
 * is the box's owner), at most CAISSON_EGRESS_RUN_EVENTS_PER_MIN a minute
 * per box, the last quarter of which only refusals may use. */
#ifndef CAISSON_EP_EVENTS_H
#define CAISSON_EP_EVENTS_H

#include <stdbool.h>
#include <stdint.h>
#include "ep_table.h"

typedef struct {
    const char *protocol;       /* "http", "connect", "socks5" */
    const char *host;
    uint16_t port;
    const char *addr;           /* may be NULL or "" */
    const char *verdict;        /* allow deny close revoked error */
    const char *rule;           /* may be NULL or "" */
    const char *reason;         /* may be NULL or "" */
    uint64_t bytes_up, bytes_down, ms;
} ep_event_t;

/* A box's budget of run events (the data thread's, per box). */
typedef struct {
    uint64_t window_ms;
    unsigned used;
} ep_evbudget_t;

typedef struct _ep_events_t ep_events_t;

/* Publishes on pub_ep and appends through the broker at bus_ep. NULL when
 * the publisher cannot be made. */
ep_events_t *ep_events_new (const char *pub_ep, const char *bus_ep);
void ep_events_destroy (ep_events_t **self_p);
/* Tells ev about box. now_ms is the data thread's clock. */
void ep_events_emit (ep_events_t *self, const ep_box_t *box, ep_evbudget_t *budget,
                     uint64_t now_ms, const ep_event_t *ev);
/* Reads and drops event-log's answers (logging refusals). */
void ep_events_drain (ep_events_t *self);

#endif
