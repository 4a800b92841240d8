/* sbx_net: the forwarder of a sandbox in network mode `policy`. The
 * sandbox's only network is `lo`; its init listens on 127.0.0.1:PORT
 * (where HTTP_PROXY, HTTPS_PROXY and ALL_PROXY point), and on
 * /run/caisson/egress.sock for clients that speak to a Unix socket, and
 * relays each
 * connection, bytes unchanged, to a new connection to egress-proxy's
 * socket in the host's DIR/net, which it reaches through a descriptor it
 * kept (sbx_ns_setup): the sandbox's processes cannot reach it at all.
 * The proxy decides; the forwarder only carries. When the proxy cannot be
 * reached, an HTTP client (first byte not 0x05, SOCKS5's version) is
 * answered 502 "<what> unreachable: <why>", a SOCKS client is
 * closed: the sandbox fails closed. A second forwarder serves the model
 * gateway's port the same way, to egress-proxy's gateway.sock.
 *
 * It runs in the init's poll loop, non-blocking, with bounded buffers (two
 * of 256 KiB per connection) and at most SBX_NET_CONNS connections (more
 * wait in the listen backlog), so it never holds up the init's requests. */
#ifndef CAISSON_SBX_NET_H
#define CAISSON_SBX_NET_H

#include <poll.h>
#include <stddef.h>

#define SBX_NET_CONNS 128
/* The most descriptors sbx_net_pollfds adds. */
#define SBX_NET_POLLFDS (2 + 2 * SBX_NET_CONNS)

typedef struct _sbx_net_t sbx_net_t;

/* A forwarder not listening yet; socket_path is where the proxy listens
 * (`/proc/self/fd/N/egress.sock`), what names where it leads in a 502
 * ("egress proxy", "model gateway"). Never NULL (xalloc). */
sbx_net_t *sbx_net_new (const char *socket_path, const char *what);
void sbx_net_destroy (sbx_net_t **self_p);
/* Listens on 127.0.0.1:port; a second call is a no-op. Returns 0, or -1
 * with why set. */
int sbx_net_start (sbx_net_t *self, unsigned port, char *why, size_t whylen);
/* Relays lfd's connections too (the init's /run/caisson/egress.sock);
 * the forwarder owns it. */
void sbx_net_listen_too (sbx_net_t *self, int lfd);
/* Adds the descriptors to poll (at most max) and returns how many. */
int sbx_net_pollfds (sbx_net_t *self, struct pollfd *fds, int max);
/* Moves what poll reported on fds (as sbx_net_pollfds filled them). */
void sbx_net_service (sbx_net_t *self, const struct pollfd *fds, int nfds);
/* Connections open now. */
size_t sbx_net_count (const sbx_net_t *self);

#endif
