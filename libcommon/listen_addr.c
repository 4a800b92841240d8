/* listen_addr: see listen_addr.h. */
#include "listen_addr.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

int
listen_addr_resolve (const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr (addr, ':');
    if (!colon || (size_t) (colon - addr) >= sizeof host)
        return -1;
    snprintf (host, sizeof host, "%.*s", (int) (colon - addr), addr);
    char *h = host;
    if (*h == '[') {            /* [::1]:8080 */
        h++;
        h[strcspn (h, "]")] = '\0';
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV | AI_PASSIVE }, *ai;
    if (getaddrinfo (*h ? h : NULL, colon + 1, &hints, &ai))
        return -1;
    memcpy (ss, ai->ai_addr, ai->ai_addrlen);
    if (len)
        *len = ai->ai_addrlen;
    freeaddrinfo (ai);
    return 0;
}
