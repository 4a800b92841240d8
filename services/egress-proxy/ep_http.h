/* ep_http: the HTTP side of the egress proxy: parses a proxy request head
 * (absolute-URI forward requests and CONNECT), rewrites a forward request's
 * head into origin form for the upstream server, and builds the refusal
 * responses. No I/O; allocation only where a function says so. */
#ifndef CAISSON_EP_HTTP_H
#define CAISSON_EP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EP_HTTP_HEAD_MAX 32768

typedef struct {
    bool connect;
    char method[16];
    char host[256];
    uint16_t port;
    char version[9];
    size_t head_len;
} ep_http_req_t;

/* Parses a proxy request head in buf (len bytes so far). 1: complete, out
 * filled, head_len = bytes up to and including the blank line. 0: need more.
 * -1: malformed or unsupported (why set, a sentence for a 400): origin-form
 * requests (a proxy needs an absolute URI or CONNECT), schemes other than
 * http://, userinfo in the URI, bad ports, CONNECT without port, bare LF is
 * OK but NUL or control chars are not, too many headers (> 100); a lone CR,
 * a folded header, a space before a header's colon and versions other than
 * HTTP/1.0 and 1.1 too. -2: the head is longer than EP_HTTP_HEAD_MAX (why
 * set too, for a 431). host is as written in the URI/CONNECT
 * target with IPv6 brackets removed (not lowercased: the caller normalizes);
 * default port 80 for http://. */
int ep_http_parse (const char *buf, size_t len, ep_http_req_t *out, char *why, size_t wn);

/* For a forward request (not CONNECT): a new malloc'd head in origin form —
 * `METHOD /path?query HTTP/1.x`, one Host header right after it holding
 * the URI's authority as written (a client's Host, normally the same, is
 * replaced, RFC 9112 3.2.2, so the server sees the host the policy
 * checked), every Proxy-* header and Connection/Keep-Alive/TE/Trailer/
 * Upgrade hop-by-hop header (and any a Connection header names, except
 * Content-Length and Transfer-Encoding) dropped, `Connection: close` added
 * — NUL-terminated, *outlen set (without the NUL); NULL when out of
 * memory or req is a CONNECT. buf holds at least req->head_len bytes. */
char *ep_http_origin_head (const char *buf, const ep_http_req_t *req, size_t *outlen);

/* A complete malloc'd HTTP/1.1 response for a refusal: `HTTP/1.1 <status>
 * <phrase>` where phrase is reason itself when reason_in_status (CONNECT:
 * Python's http.client shows it to the user) else the standard phrase;
 * headers Content-Type: text/plain, X-Caisson-Reason: reason,
 * Content-Length, Connection: close; body = reason + "\n". reason is
 * sanitized to printable ASCII (CR/LF and controls become spaces, at most
 * 512 bytes) so it can never split the response. NULL when out of memory. */
char *ep_http_refusal (int status, const char *reason, bool reason_in_status, size_t *outlen);

/* "HTTP/1.1 200 Connection established\r\n\r\n" */
extern const char ep_http_established[];

#endif
