/* ep_sni: the server name of a TLS ClientHello (RFC 8446 4.1.2, RFC 6066
 * 3), read from the bytes a client sends first through a CONNECT tunnel.
 * The hello may be cut into several handshake records and arrive in any
 * number of pieces, so the handshake bytes are gathered from the records
 * into a bounded stack buffer before the hello is parsed; every length is
 * checked against what is there, and the work is bounded by
 * EP_SNI_MAX_BYTES. */
#include "ep_sni.h"

#include <stdbool.h>
#include <string.h>

#define REC_HANDSHAKE   22
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define REC_MAX         16384  /* a TLSPlaintext fragment's limit */

/* A read cursor over one complete ClientHello body. */
typedef struct {
    const uint8_t *p;
    size_t left;
} cur_t;

static bool
take (cur_t *c, size_t n, const uint8_t **out)
{
    if (c->left < n)
        return false;
    if (out)
        *out = c->p;
    c->p += n;
    c->left -= n;
    return true;
}

static bool
take_u8 (cur_t *c, size_t *v)
{
    const uint8_t *b;
    if (!take (c, 1, &b))
        return false;
    *v = b[0];
    return true;
}

static bool
take_u16 (cur_t *c, size_t *v)
{
    const uint8_t *b;
    if (!take (c, 2, &b))
        return false;
    *v = (size_t) b[0] << 8 | b[1];
    return true;
}

/* A host name as RFC 6066 wants it: letters, digits and hyphens in labels
 * of 1 to 63 bytes, at most 253 bytes, no trailing dot. Lowercased into
 * host. */
static ep_sni_result_t
copy_host (const uint8_t *name, size_t n, char *host, size_t hostlen)
{
    if (n == 0 || n > 253 || n + 1 > hostlen)
        return EP_SNI_BAD;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = name[i];
        if (ch == '.') {
            if (label == 0)
                return EP_SNI_BAD;
            label = 0;
        }
        else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'
                 || (ch >= 'A' && ch <= 'Z')) {
            if (++label > 63)
                return EP_SNI_BAD;
        }
        else
            return EP_SNI_BAD;
        host[i] = (char) ((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
    }
    if (label == 0)
        return EP_SNI_BAD;
    host[n] = '\0';
    return EP_SNI_FOUND;
}

/* The server_name extension's body: one host_name entry is used; a second
 * one of the same type is refused, as RFC 6066 forbids it. */
static ep_sni_result_t
parse_server_name (cur_t ext, char *host, size_t hostlen)
{
    size_t list_len;
    if (!take_u16 (&ext, &list_len) || list_len != ext.left || list_len == 0)
        return EP_SNI_BAD;
    ep_sni_result_t rc = EP_SNI_NONE;
    while (ext.left > 0) {
        size_t type, n;
        const uint8_t *name;
        if (!take_u8 (&ext, &type) || !take_u16 (&ext, &n) || !take (&ext, n, &name))
            return EP_SNI_BAD;
        if (type != 0)
            continue;
        if (rc == EP_SNI_FOUND)
            return EP_SNI_BAD;
        rc = copy_host (name, n, host, hostlen);
        if (rc != EP_SNI_FOUND)
            return rc;
    }
    return rc;
}

/* body: the complete ClientHello after its 4-byte handshake header. */
static ep_sni_result_t
parse_hello (const uint8_t *body, size_t n, char *host, size_t hostlen)
{
    cur_t c = { body, n };
    size_t sid, suites, comp;
    if (!take (&c, 2 + 32, NULL)                        /* legacy_version, random */
        || !take_u8 (&c, &sid) || sid > 32 || !take (&c, sid, NULL)
        || !take_u16 (&c, &suites) || suites < 2 || suites % 2 || !take (&c, suites, NULL)
        || !take_u8 (&c, &comp) || comp < 1 || !take (&c, comp, NULL))
        return EP_SNI_BAD;
    if (c.left == 0)
        return EP_SNI_NONE;                             /* no extensions at all */
    size_t ext_len;
    if (!take_u16 (&c, &ext_len) || ext_len != c.left)
        return EP_SNI_BAD;
    bool seen = false;
    ep_sni_result_t rc = EP_SNI_NONE;
    while (c.left > 0) {
        size_t type, len;
        const uint8_t *data;
        if (!take_u16 (&c, &type) || !take_u16 (&c, &len) || !take (&c, len, &data))
            return EP_SNI_BAD;
        if (type != EXT_SERVER_NAME)
            continue;
        if (seen)
            return EP_SNI_BAD;                          /* one of each type only */
        seen = true;
        rc = parse_server_name ((cur_t) { data, len }, host, hostlen);
        if (rc == EP_SNI_BAD)
            return rc;
    }
    return rc;
}

ep_sni_result_t
ep_sni_parse (const uint8_t *buf, size_t len, char *host, size_t hostlen)
{
    if (host && hostlen > 0)
        host[0] = '\0';
    if (!buf || len == 0)
        return EP_SNI_MORE;
    if (buf[0] != REC_HANDSHAKE || (len >= 2 && buf[1] != 3))
        return EP_SNI_NOT_TLS;
    if (!host || hostlen == 0)
        return EP_SNI_BAD;

    /* Gather handshake bytes from successive records until the first
     * handshake message (4-byte header + body) is whole. */
    uint8_t hs[EP_SNI_MAX_BYTES];
    size_t have = 0, need = 4, off = 0;
    while (have < need) {
        if (len - off < 5)
            return EP_SNI_MORE;
        const uint8_t *rec = buf + off;
        size_t rec_len = (size_t) rec[3] << 8 | rec[4];
        if (rec[0] != REC_HANDSHAKE || rec[1] != 3 || rec_len == 0 || rec_len > REC_MAX)
            return EP_SNI_BAD;
        size_t avail = len - off - 5 < rec_len ? len - off - 5 : rec_len;
        size_t i = 0;
        while (i < avail && have < need) {
            size_t chunk = avail - i < need - have ? avail - i : need - have;
            memcpy (hs + have, rec + 5 + i, chunk);
            have += chunk;
            i += chunk;
            if (have == 4 && need == 4) {
                if (hs[0] != HS_CLIENT_HELLO)
                    return EP_SNI_BAD;
                size_t body = (size_t) hs[1] << 16 | (size_t) hs[2] << 8 | hs[3];
                if (body > EP_SNI_MAX_BYTES - 4)
                    return EP_SNI_BAD;
                need = 4 + body;
            }
        }
        if (have >= need)
            break;
        if (avail < rec_len)
            return EP_SNI_MORE;                         /* this record is still arriving */
        off += 5 + rec_len;
    }
    return parse_hello (hs + 4, need - 4, host, hostlen);
}
