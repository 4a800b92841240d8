/* ep_sni: finds the server name a TLS client asks for in its ClientHello,
 * so the egress proxy can hold a CONNECT tunnel's first bytes to the same
 * name the client gave in CONNECT. Pure: no I/O, no allocation. */
#ifndef CAISSON_EP_SNI_H
#define CAISSON_EP_SNI_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    EP_SNI_FOUND = 1,
    EP_SNI_MORE = 0,
    EP_SNI_NOT_TLS = -1,
    EP_SNI_NONE = -2,
    EP_SNI_BAD = -3
} ep_sni_result_t;

#define EP_SNI_MAX_BYTES 16384

/* Looks at the first bytes a client sent after CONNECT for a TLS
 * ClientHello's server_name (host_name type 0). FOUND: host (lowercased,
 * NUL-terminated, hostlen bytes) set. MORE: the ClientHello is not complete
 * yet (it may span several TLS records of type 22 and arrive in pieces);
 * call again with more. NOT_TLS: the first byte is not a handshake record
 * (22) or the version is not 3.x. NONE: a complete ClientHello without SNI.
 * BAD: malformed lengths, a non-ClientHello handshake, an SNI that is not a
 * valid host name, or more than EP_SNI_MAX_BYTES needed. */
ep_sni_result_t ep_sni_parse (const uint8_t *buf, size_t len, char *host, size_t hostlen);

#endif
