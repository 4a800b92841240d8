/* mcp_headers: see mcp_headers.h. */
#include "mcp_headers.h"
#include "cfg.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int
mcp_headers_decode (const char *v, char *out, size_t outlen)
{
    size_t len = strlen (v);
    if (len < 12 || strncmp (v, "=?base64?", 9) || strcmp (v + len - 2, "?=")) {
        snprintf (out, outlen, "%s", v);
        return 0;
    }
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    const char *end = v + len - 2, *pad = end;
    while (pad > v + 9 && pad[-1] == '=' && end - pad < 2)
        pad--;
    for (const char *p = v + 9; p < end; p++) {
        if (p >= pad)
            continue;               /* the trailing padding */
        const char *d = *p ? strchr (digits, *p) : NULL;
        if (!d)
            return -1;
        acc = (acc << 6) | (unsigned) (d - digits);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= outlen || !((acc >> bits) & 0xff))
                return -1;
            out[o++] = (char) ((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return 0;
}

typedef struct {
    const char *name;
    const char *first;
    bool differ;
} dup_t;

static enum MHD_Result
s_dup_each (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    dup_t *d = cls;
    if (strcasecmp (key, d->name))
        return MHD_YES;
    if (!d->first)
        d->first = value ? value : "";
    else if (strcmp (d->first, value ? value : ""))
        d->differ = true;
    return MHD_YES;
}

const char *
mcp_headers_conflict (http_req_t *req)
{
    static const char *const names[] = { "MCP-Protocol-Version", "Mcp-Session-Id", "Mcp-Method",
                                         "Mcp-Name", NULL };
    for (size_t i = 0; names[i]; i++) {
        dup_t d = { names[i], NULL, false };
        MHD_get_connection_values (req->conn, MHD_HEADER_KIND, s_dup_each, &d);
        if (d.differ)
            return names[i];
    }
    return NULL;
}

bool
mcp_headers_takes_sse (http_req_t *req)
{
    const char *accept = http_header (req, "Accept");
    if (!accept)
        return true;                    /* no Accept: any type (RFC 9110) */
    for (const char *p = accept; *p;) {
        p += strspn (p, " \t,");
        size_t n = strcspn (p, ";,");
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if ((n == 17 && !strncasecmp (p, "text/event-stream", n))
            || (n == 6 && !strncasecmp (p, "text/*", n)) || (n == 3 && !strncmp (p, "*/*", n)))
            return true;
        p += strcspn (p, ",");
    }
    return false;
}

bool
mcp_headers_origin_ok (const char *origin)
{
    const char *listed = cfg_str ("CAISSON_MCP_ORIGINS");
    char own[600];
    if (!*listed) {
        const char *addr = cfg_str ("CAISSON_HTTP"), *colon = strrchr (addr, ':');
        const char *port = colon ? colon + 1 : "80";
        int hostlen = colon ? (int) (colon - addr) : (int) strlen (addr);
        snprintf (own, sizeof own, "http://%.*s:%s,http://localhost:%s,http://127.0.0.1:%s,"
                  "http://[::1]:%s", hostlen, addr, port, port, port, port);
        listed = own;
    }
    size_t len = strlen (origin);
    for (const char *p = listed; *p;) {
        size_t n = strcspn (p, ",");
        while (n && isspace ((unsigned char) p[n - 1]))
            n--;
        if (n == len && !strncasecmp (p, origin, n))
            return true;
        p += strcspn (p, ",");
        while (*p == ',' || isspace ((unsigned char) *p))
            p++;
    }
    return false;
}
