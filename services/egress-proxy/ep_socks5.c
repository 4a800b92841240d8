/* ep_socks5: SOCKS5 (RFC 1928) as the egress proxy speaks it: no
 * authentication, CONNECT only (the caller refuses BIND and UDP ASSOCIATE
 * after parsing them), names resolved by the proxy (socks5h). */
#include "ep_socks5.h"

#include <arpa/inet.h>
#include <string.h>

int
ep_socks5_greeting (const uint8_t *b, size_t n, size_t *used, uint8_t reply[2])
{
    if (n >= 1 && b[0] != 5)
        return -1;
    if (n >= 2 && b[1] == 0)
        return -1;                      /* RFC 1928: at least one method */
    if (n < 2 || n < 2 + (size_t) b[1])
        return 0;
    size_t nm = b[1];
    reply[0] = 5;
    reply[1] = 0xff;
    for (size_t i = 0; i < nm; i++)
        if (b[2 + i] == 0)
            reply[1] = 0;
    *used = 2 + nm;
    return 1;
}

int
ep_socks5_request (const uint8_t *b, size_t n, ep_socks5_req_t *out)
{
    memset (out, 0, sizeof *out);
    if ((n >= 1 && b[0] != 5) || (n >= 3 && b[2] != 0))
        return -1;
    if (n >= 4 && b[3] != 1 && b[3] != 3 && b[3] != 4)
        return -1;
    if (n < 5)
        return 0;
    size_t addr_len = b[3] == 1 ? 4 : b[3] == 4 ? 16 : b[4];
    size_t addr_off = b[3] == 3 ? 5 : 4;
    if (b[3] == 3) {
        if (addr_len == 0)
            return -1;
        for (size_t i = 0; i < addr_len && addr_off + i < n; i++) {
            uint8_t c = b[addr_off + i];
            if (c < 0x20 || c == 0x7f)
                return -1;              /* NUL or a control character in a name */
        }
    }
    size_t total = addr_off + addr_len + 2;
    if (n < total)
        return 0;
    out->cmd = b[1];
    if (b[3] == 3) {
        out->is_name = true;
        memcpy (out->host, b + addr_off, addr_len);
        out->host[addr_len] = '\0';
    }
    else if (!inet_ntop (b[3] == 1 ? AF_INET : AF_INET6, b + addr_off, out->host,
                         sizeof out->host))
        return -1;
    out->port = (uint16_t) (b[addr_off + addr_len] << 8 | b[addr_off + addr_len + 1]);
    out->used = total;
    return 1;
}

void
ep_socks5_reply (uint8_t rep, uint8_t out[10])
{
    memset (out, 0, 10);
    out[0] = 5;
    out[1] = rep;
    out[3] = 1;                         /* ATYP IPv4, BND.ADDR 0.0.0.0, BND.PORT 0 */
}
