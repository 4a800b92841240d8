/* ep_socks5: the SOCKS5 side of the egress proxy (RFC 1928, no-auth only):
 * parses the greeting and the request, builds the replies. Pure: no I/O,
 * no allocation. */
#ifndef CAISSON_EP_SOCKS5_H
#define CAISSON_EP_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Greeting: 1 complete (*used set; reply = 05 00 when method 0 (no auth) is
 * offered, else 05 FF and the caller closes), 0 need more, -1 not SOCKS5 or
 * malformed. */
int ep_socks5_greeting (const uint8_t *b, size_t n, size_t *used, uint8_t reply[2]);

typedef struct {
    uint8_t cmd;
    bool is_name;
    char host[256];
    uint16_t port;
    size_t used;
} ep_socks5_req_t;

/* Request (after the greeting): 1 complete (out filled: host is the name for
 * ATYP 3, or the address as text for ATYP 1 and 4), 0 need more, -1
 * malformed (bad version, reserved byte, ATYP, zero-length or NUL in name).
 * The caller answers cmd != 1 (BIND, UDP ASSOCIATE) with
 * EP_SOCKS5_CMD_UNSUPPORTED. */
int ep_socks5_request (const uint8_t *b, size_t n, ep_socks5_req_t *out);

enum {
    EP_SOCKS5_OK = 0,
    EP_SOCKS5_FAIL = 1,
    EP_SOCKS5_RULESET = 2,
    EP_SOCKS5_NET_UNREACH = 3,
    EP_SOCKS5_HOST_UNREACH = 4,
    EP_SOCKS5_REFUSED = 5,
    EP_SOCKS5_TTL = 6,
    EP_SOCKS5_CMD_UNSUPPORTED = 7,
    EP_SOCKS5_ATYP_UNSUPPORTED = 8
};

/* Writes the 10-byte reply: 05 rep 00 01 0.0.0.0 port 0. */
void ep_socks5_reply (uint8_t rep, uint8_t out[10]);

#endif
