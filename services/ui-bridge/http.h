/* http: the HTTP server of ui-bridge, on libmicrohttpd.
 *
 * Threading: libmicrohttpd runs one thread per connection (plus its
 * listening thread), bounded by CAISSON_HTTP_MAX_CONNECTIONS. A handler
 * may block (a bus request, an SSE stream waiting for events) without
 * holding up any other connection, and a client that stalls while sending
 * or reading is cut off after CAISSON_HTTP_IDLE_S of no progress. Handlers
 * never touch the service's zloop or its worker socket: bus clients come
 * from a pool (buspool.h), each used by one thread at a time.
 *
 * Limits: the request line and headers must fit CAISSON_HTTP_MAX_HEADER
 * bytes (else 431, from libmicrohttpd), a body CAISSON_HTTP_MAX_BODY bytes
 * (else 413, checked on Content-Length before reading and again while
 * reading). Every response carries X-Request-Id (the client's when it sent
 * a sane one) and X-Correlation-Id (the bus correlation id of the work).
 *
 * Shares: one client address holds at most CAISSON_HTTP_MAX_PER_IP
 * connections, and connections not yet authenticated (http_req_
 * authenticated was not called for any request on them) at most
 * CAISSON_HTTP_MAX_ANON together: past that, accepting one closes the
 * oldest such connection, so stalled anonymous clients cannot take the
 * slots of those who authenticate. */
#ifndef CAISSON_HTTP_H
#define CAISSON_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cid.h"
#include "tokens.h"

#define HTTP_MAX_PARAMS 4

typedef struct {
    const char *method;
    const char *path;               /* without the query string */
    struct MHD_Connection *conn;
    const char *body;               /* NUL-terminated; NULL when empty */
    size_t body_len;
    char request_id[129];           /* echoed as X-Request-Id */
    char corr[CID_SIZE];            /* bus correlation id */
    char user[TOKENS_USER_MAX + 1]; /* set by auth; "" when anonymous */
    bool operator_;
    const char *route;              /* the matched route, for metrics */
    char *params[HTTP_MAX_PARAMS];  /* the route's {} segments, decoded */
    int nparams;
    uint64_t started_us;
    char addr[64];                  /* the client's address (IPv6: its /64) */
    bool counted;                   /* auth counts it in flight */
    /* private to http.c */
    void *sock;
    char *buf;
    size_t cap;
    bool too_big;
    bool answered;
} http_req_t;

typedef struct _http_res_t http_res_t;

/* Reads the next bytes of a streamed response into buf (at most max).
 * Returns how many, or MHD_CONTENT_READER_END_OF_STREAM. May block. */
typedef ssize_t (http_stream_fn) (void *arg, uint64_t pos, char *buf, size_t max);
typedef void (http_stream_free_fn) (void *arg);

typedef http_res_t *(http_handler_fn) (http_req_t *req, void *arg);

/* Called once each request is done (status 0 when none was sent), for
 * metrics and accounting. */
typedef void (http_done_fn) (const http_req_t *req, int status, void *arg);

typedef struct _http_t http_t;

/* Starts serving on addr ("host:port") with handler. Returns NULL with
 * the reason logged. */
http_t *http_new (const char *addr, http_handler_fn *handler, http_done_fn *done, void *arg);
void http_destroy (http_t **self_p);

/* The port actually bound (useful with port 0). */
int http_port (http_t *self);

/* The request's client proved it is user: its connection no longer counts
 * against the anonymous share, and is user's from now on (the first user
 * to authenticate on it keeps it). Returns 0, or -1 when user already
 * holds CAISSON_HTTP_MAX_CONN_PER_USER connections: this one is refused, so
 * one tenant cannot take every connection. */
int http_req_authenticated (http_req_t *req, const char *user);

/* A header's value (borrowed), or NULL. */
const char *http_header (http_req_t *req, const char *name);
/* A query parameter's value (borrowed, decoded), or NULL. */
const char *http_query (http_req_t *req, const char *name);

/* Responses. Each returns a new response, or NULL when out of memory (the
 * server then answers 500). */
http_res_t *http_res_json (int status, json_t *doc);          /* takes doc */
http_res_t *http_res_error (int status, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
http_res_t *http_res_bytes (int status, const char *ctype, const void *data, size_t len,
                            bool copy);
http_res_t *http_res_stream (const char *ctype, http_stream_fn *fn, void *arg,
                             http_stream_free_fn *free_fn);
/* Adds a header to a response (both strings copied). Returns 0 or -1. */
int http_res_header (http_res_t *res, const char *name, const char *value);
int http_res_status (const http_res_t *res);
void http_res_destroy (http_res_t **self_p);

#endif
