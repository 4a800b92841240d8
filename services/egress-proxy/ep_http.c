/* ep_http: the proxy's HTTP/1.x request heads. A forward request names its
 * target as an absolute http:// URI and is rewritten to origin form for
 * the one upstream connection it gets (hence `Connection: close`); an
 * HTTPS client asks for a tunnel with CONNECT host:port. The parser is
 * strict where laxness would let a request mean one thing to the proxy and
 * another to the server: lone CRs, control characters, folded headers and
 * whitespace before a header's colon are refused. */
#include "ep_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 100
#define REASON_MAX  512
#define REFUSAL_FMT "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nX-Caisson-Reason: %s\r\n" \
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n"

const char ep_http_established[] = "HTTP/1.1 200 Connection established\r\n\r\n";

/* Lines of a complete head, without their CRLF or LF. */
typedef struct {
    const char *buf;
    size_t len, off;
} lines_t;

static bool
next_line (lines_t *it, const char **s, size_t *n)
{
    if (it->off >= it->len)
        return false;
    const char *start = it->buf + it->off;
    const char *nl = memchr (start, '\n', it->len - it->off);
    size_t end = nl ? (size_t) (nl - it->buf) : it->len;
    *s = start;
    *n = end - it->off;
    /* cppcheck-suppress knownConditionTrueFalse ; false positive, *n > 0 on a non-empty line */
    if (*n > 0 && start[*n - 1] == '\r')
        (*n)--;
    it->off = end + 1;
    return true;
}

static int
fail (char *why, size_t wn, const char *msg)
{
    if (why && wn > 0)
        snprintf (why, wn, "%s", msg);
    return -1;
}

static bool
is_tchar (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || (c != '\0' && strchr ("!#$%&'*+-.^_`|~", c));
}

static bool
is_hex (char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Scans for the blank line that ends the head, refusing characters no
 * head may hold as soon as they arrive. The head's length, 0 when it is
 * not complete, -1 (why set) or -2 when too long. */
static long
head_end (const char *buf, size_t len, char *why, size_t wn)
{
    size_t line_start = 0;
    for (size_t i = 0; i < len; i++) {
        if (i >= EP_HTTP_HEAD_MAX)
            return -2;
        unsigned char c = (unsigned char) buf[i];
        if (c == '\r') {
            if (i + 1 == len)
                return 0;
            if (buf[i + 1] != '\n')
                return fail (why, wn, "a carriage return not followed by a line feed");
        }
        else if (c == '\n') {
            size_t n = i - line_start;
            if (n > 0 && buf[i - 1] == '\r')
                n--;
            if (n == 0)
                return line_start == 0 ? fail (why, wn, "an empty request line") : (long) i + 1;
            line_start = i + 1;
        }
        else if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail (why, wn, "a control character in the request head");
    }
    return len > EP_HTTP_HEAD_MAX ? -2 : 0;
}

/* host[:port] or [v6][:port] (brackets removed from host). need_port for
 * CONNECT; otherwise the port defaults to 80. */
static int
parse_authority (const char *a, size_t n, bool need_port, ep_http_req_t *out, char *why,
                 size_t wn)
{
    if (memchr (a, '@', n))
        return fail (why, wn, "user credentials in the URI are not accepted by the proxy");
    const char *h = a, *colon = NULL;
    size_t hn;
    if (n > 0 && a[0] == '[') {
        const char *close = memchr (a, ']', n);
        if (!close || close == a + 1)
            return fail (why, wn, "a malformed IPv6 address in the request target");
        h = a + 1;
        hn = (size_t) (close - h);
        for (size_t i = 0; i < hn; i++)
            if (!is_hex (h[i]) && h[i] != ':' && h[i] != '.')
                return fail (why, wn, "a malformed IPv6 address in the request target");
        size_t rest = n - (size_t) (close + 1 - a);
        if (rest > 0) {
            if (close[1] != ':')
                return fail (why, wn, "a malformed IPv6 address in the request target");
            colon = close + 1;
        }
    }
    else {
        colon = memchr (a, ':', n);
        hn = colon ? (size_t) (colon - a) : n;
        for (size_t i = 0; i < hn; i++) {
            char c = h[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || c == '-' || c == '.'))
                return fail (why, wn, "a host name with characters a host name cannot have");
        }
    }
    if (hn == 0)
        return fail (why, wn, "no host in the request target");
    if (hn >= sizeof out->host)
        return fail (why, wn, "a host name longer than 255 bytes");
    memcpy (out->host, h, hn);
    out->host[hn] = '\0';

    if (!colon) {
        if (need_port)
            return fail (why, wn, "CONNECT needs host:port");
        out->port = 80;
        return 0;
    }
    const char *p = colon + 1;
    size_t pn = n - (size_t) (p - a);
    unsigned long port = 0;
    if (pn == 0 || pn > 5)
        return fail (why, wn, "a bad port in the request target");
    for (size_t i = 0; i < pn; i++) {
        if (p[i] < '0' || p[i] > '9')
            return fail (why, wn, "a bad port in the request target");
        port = port * 10 + (unsigned long) (p[i] - '0');
    }
    if (port == 0 || port > 65535)
        return fail (why, wn, "a bad port in the request target");
    out->port = (uint16_t) port;
    return 0;
}

/* The authority of an http:// target: its offset in target and length. */
static void
uri_authority (const char *t, size_t tn, size_t *off, size_t *n)
{
    size_t i = 7;
    while (i < tn && t[i] != '/' && t[i] != '?' && t[i] != '#')
        i++;
    *off = 7;
    *n = i - 7;
}

static int
parse_target (const char *t, size_t tn, ep_http_req_t *out, char *why, size_t wn)
{
    if (out->connect)
        return parse_authority (t, tn, true, out, why, wn);
    if (tn >= 7 && strncasecmp (t, "http://", 7) == 0) {
        size_t off, n;
        uri_authority (t, tn, &off, &n);
        return parse_authority (t + off, n, false, out, why, wn);
    }
    if (t[0] == '/')
        return fail (why, wn, "this is a proxy: a request needs an absolute URI "
                              "(http://host/path) or CONNECT host:port");
    if (tn >= 8 && strncasecmp (t, "https://", 8) == 0)
        return fail (why, wn, "https:// goes through CONNECT (HTTPS_PROXY), not as a "
                              "forward request");
    return fail (why, wn, "only http:// URIs can be forwarded (or CONNECT host:port)");
}

static int
parse_request_line (const char *s, size_t n, ep_http_req_t *out, char *why, size_t wn)
{
    const char *sp1 = memchr (s, ' ', n);
    if (!sp1)
        return fail (why, wn, "a malformed request line");
    const char *t = sp1 + 1;
    const char *sp2 = memchr (t, ' ', n - (size_t) (t - s));
    if (!sp2 || sp2 == t)
        return fail (why, wn, "a malformed request line");
    size_t mn = (size_t) (sp1 - s), tn = (size_t) (sp2 - t);
    const char *v = sp2 + 1;
    size_t vn = n - (size_t) (v - s);
    if (mn == 0 || mn >= sizeof out->method)
        return fail (why, wn, "a malformed request method");
    for (size_t i = 0; i < mn; i++)
        if (!is_tchar (s[i]))
            return fail (why, wn, "a malformed request method");
    for (size_t i = 0; i < tn; i++)
        if ((unsigned char) t[i] <= 0x20)
            return fail (why, wn, "a malformed request target");
    if (vn != 8 || (memcmp (v, "HTTP/1.1", 8) != 0 && memcmp (v, "HTTP/1.0", 8) != 0))
        return fail (why, wn, "an HTTP version other than HTTP/1.0 or HTTP/1.1");
    memcpy (out->method, s, mn);
    out->method[mn] = '\0';
    memcpy (out->version, v, 8);
    out->version[8] = '\0';
    out->connect = strcmp (out->method, "CONNECT") == 0;
    return parse_target (t, tn, out, why, wn);
}

int
ep_http_parse (const char *buf, size_t len, ep_http_req_t *out, char *why, size_t wn)
{
    if (why && wn > 0)
        why[0] = '\0';
    memset (out, 0, sizeof *out);
    long end = head_end (buf, len, why, wn);
    if (end == -2 && why && wn > 0)
        snprintf (why, wn, "a request head longer than %d bytes", EP_HTTP_HEAD_MAX);
    if (end <= 0)
        return (int) end;
    lines_t it = { buf, (size_t) end, 0 };
    const char *s;
    size_t n;
    next_line (&it, &s, &n);
    if (parse_request_line (s, n, out, why, wn) != 0)
        return -1;
    int headers = 0;
    while (next_line (&it, &s, &n) && n > 0) {
        if (s[0] == ' ' || s[0] == '\t')
            return fail (why, wn, "a folded header line");
        const char *colon = memchr (s, ':', n);
        if (!colon || colon == s)
            return fail (why, wn, "a malformed header line");
        for (const char *c = s; c < colon; c++)
            if (!is_tchar (*c))
                return fail (why, wn, "a malformed header name");
        if (++headers > MAX_HEADERS)
            return fail (why, wn, "more than 100 header lines");
    }
    out->head_len = (size_t) end;
    return 1;
}

static bool
name_is (const char *s, size_t n, const char *name)
{
    return strlen (name) == n && strncasecmp (s, name, n) == 0;
}

/* True when a Connection or Proxy-Connection header of the head lists the
 * header name (RFC 9110 7.6.1: such headers are for this hop only). */
static bool
nominated (const char *buf, size_t head_len, const char *name, size_t nn)
{
    lines_t it = { buf, head_len, 0 };
    const char *s;
    size_t n;
    next_line (&it, &s, &n);
    while (next_line (&it, &s, &n) && n > 0) {
        const char *colon = memchr (s, ':', n);
        if (!colon)
            continue;
        size_t hn = (size_t) (colon - s);
        if (!name_is (s, hn, "connection") && !name_is (s, hn, "proxy-connection"))
            continue;
        const char *v = colon + 1, *e = s + n;
        while (v < e) {
            while (v < e && (*v == ' ' || *v == '\t' || *v == ','))
                v++;
            const char *t = v;
            while (v < e && *v != ',' && *v != ' ' && *v != '\t')
                v++;
            if (v > t && (size_t) (v - t) == nn && strncasecmp (t, name, nn) == 0)
                return true;
            while (v < e && *v != ',')
                v++;
        }
    }
    return false;
}

/* Headers that go no further than the proxy. Content-Length and
 * Transfer-Encoding stay whatever Connection says: the body is relayed as
 * it came, so its framing must reach the server unchanged. */
static bool
drop_header (const char *buf, size_t head_len, const char *s, size_t n)
{
    static const char *const hop[] = { "host", "connection", "keep-alive", "te", "trailer",
                                       "upgrade", NULL };
    if (n >= 6 && strncasecmp (s, "proxy-", 6) == 0)
        return true;
    for (int i = 0; hop[i]; i++)
        if (name_is (s, n, hop[i]))
            return true;
    if (name_is (s, n, "content-length") || name_is (s, n, "transfer-encoding"))
        return false;
    return nominated (buf, head_len, s, n);
}

static char *
put (char *p, const char *s, size_t n)
{
    memcpy (p, s, n);
    return p + n;
}

char *
ep_http_origin_head (const char *buf, const ep_http_req_t *req, size_t *outlen)
{
    lines_t it = { buf, req->head_len, 0 };
    const char *s;
    size_t n;
    if (req->connect || !next_line (&it, &s, &n))
        return NULL;
    const char *sp1 = memchr (s, ' ', n);
    const char *t = sp1 ? sp1 + 1 : NULL;
    const char *sp2 = t ? memchr (t, ' ', n - (size_t) (t - s)) : NULL;
    if (!sp2 || sp2 - t < 7)
        return NULL;
    size_t tn = (size_t) (sp2 - t), aoff, an;
    uri_authority (t, tn, &aoff, &an);
    const char *path = t + aoff + an;
    const char *frag = memchr (path, '#', (size_t) (sp2 - path));
    size_t pn = (size_t) ((frag ? frag : sp2) - path);

    /* Each kept line grows by at most one byte (LF to CRLF). */
    size_t cap = req->head_len * 2 + an + 64;
    char *out = malloc (cap);
    if (!out)
        return NULL;
    char *p = out;
    p = put (p, req->method, strlen (req->method));
    p = put (p, " ", 1);
    if (pn == 0 || path[0] != '/')
        p = put (p, "/", 1);
    p = put (p, path, pn);
    p = put (p, " ", 1);
    p = put (p, req->version, strlen (req->version));
    /* RFC 9112 3.2.2: the URI's authority replaces any Host the client
     * sent, so the server sees the host the policy was checked against. */
    p = put (p, "\r\nHost: ", 8);
    p = put (p, t + aoff, an);
    p = put (p, "\r\n", 2);
    while (next_line (&it, &s, &n) && n > 0) {
        const char *colon = memchr (s, ':', n);
        if (!colon || drop_header (buf, req->head_len, s, (size_t) (colon - s)))
            continue;
        p = put (p, s, n);
        p = put (p, "\r\n", 2);
    }
    p = put (p, "Connection: close\r\n\r\n", 21);
    *p = '\0';
    *outlen = (size_t) (p - out);
    return out;
}

static const char *
phrase (int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

char *
ep_http_refusal (int status, const char *reason, bool reason_in_status, size_t *outlen)
{
    char r[REASON_MAX + 1];
    size_t n = 0;
    for (const char *c = reason ? reason : ""; *c && n < REASON_MAX; c++)
        r[n++] = (*c >= 0x20 && *c <= 0x7e) ? *c : ' ';
    r[n] = '\0';
    if (status < 100 || status > 599)
        status = 500;
    const char *ph = reason_in_status && n > 0 ? r : phrase (status);
    int len = snprintf (NULL, 0, REFUSAL_FMT, status, ph, r, n + 1, r);
    if (len < 0)
        return NULL;
    char *out = malloc ((size_t) len + 1);
    if (!out)
        return NULL;
    snprintf (out, (size_t) len + 1, REFUSAL_FMT, status, ph, r, n + 1, r);
    *outlen = (size_t) len;
    return out;
}
