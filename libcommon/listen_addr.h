/* listen_addr: a `host:port` setting (CAISSON_HTTP, CAISSON_GATEWAY_HTTP)
 * read as the address an HTTP front listens on. The host may be a name,
 * an IPv4 or a bracketed IPv6 address (`[::1]:8080`), or empty (`:8080`:
 * every address); the port is numeric. */
#ifndef CAISSON_LISTEN_ADDR_H
#define CAISSON_LISTEN_ADDR_H

#include <sys/socket.h>

/* The first address addr resolves to into *ss (and its length into *len
 * when len is not NULL). 0, or -1 when addr is no `host:port` or does not
 * resolve. */
int listen_addr_resolve (const char *addr, struct sockaddr_storage *ss, socklen_t *len);

#endif
