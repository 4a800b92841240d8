/* ep_gateway: a sandbox's path to the model gateway (docs/gateway.md).
 *
 * A box whose policy asks for it (egress.policy.set `gateway`) also gets
 * a listening socket net/gateway.sock; the sandbox's init relays its
 * 127.0.0.1:CAISSON_GATEWAY_SANDBOX_PORT there. Each connection on it,
 * from the box's uid only, is relayed byte for byte to the host and port
 * of CAISSON_GATEWAY_URL with no rule check: the gateway authenticates
 * the sandbox's virtual key itself. Bytes are counted in the box's
 * counters and each connection is told (`sandbox.net_event`, protocol
 * `gateway`: allow, then close with its bytes).
 *
 * One thread of its own (poll), apart from the policy data thread: the
 * control thread hands it boxes and drops through a locked queue. */
#ifndef CAISSON_EP_GATEWAY_H
#define CAISSON_EP_GATEWAY_H

#include <stdbool.h>
#include "ep_table.h"

#define EP_GATEWAY_SOCKET "gateway.sock"

typedef struct _ep_gateway_t ep_gateway_t;

/* Starts the thread relaying to url's host:port (http://HOST:PORT[/...]),
 * telling events on pub_ep and appending them through bus_ep. NULL when
 * url has no host or the thread cannot start. */
ep_gateway_t *ep_gateway_new (const char *url, const char *pub_ep, const char *bus_ep,
                              bool peer_uid_check);
/* Stops the thread, closing every connection and listener. */
void ep_gateway_destroy (ep_gateway_t **self_p);
/* Serves box (the thread takes the reference) on lfd (taken), or on the
 * box's current listener when lfd is -1 (a new box for the same sandbox). */
void ep_gateway_set (ep_gateway_t *self, ep_box_t *box, int lfd);
/* Forgets the box of id: closes its connections and listener. */
void ep_gateway_drop (ep_gateway_t *self, const char *id);

#endif
