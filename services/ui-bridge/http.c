/* http: libmicrohttpd glue, limits, correlation ids and CORS. See http.h. */
#include "http.h"
#include "cfg.h"
#include "clog.h"
#include "listen_addr.h"

#include <czmq.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_EXTRA_HEADERS 8
/* Connections an address may open past CAISSON_HTTP_MAX_PER_IP to be told
 * so (429); past these libmicrohttpd closes them unanswered (a flood). */
#define PER_IP_GRACE 4

struct _http_res_t {
    int status;
    const char *ctype;
    char *body;
    size_t len;
    bool owned;
    http_stream_fn *stream;
    void *stream_arg;
    http_stream_free_fn *stream_free;
    char *hname[MAX_EXTRA_HEADERS];
    char *hvalue[MAX_EXTRA_HEADERS];
    int nheaders;
};

/* One connection, in the anonymous list (oldest first) until a request on
 * it authenticates; then counted as its first authenticated user's. */
typedef struct _sock_t sock_t;
struct _sock_t {
    http_t *http;
    int fd;
    bool anon;
    sock_t *prev, *next;
    char *user;                 /* whose connection it is, once known */
    char addr[64];              /* the client's address, as limits count it */
    bool over_ip;               /* past the address's limit: answered 429 */
};

struct _http_t {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;       /* the anonymous list and users' counts */
    sock_t *anon_head, *anon_tail;
    size_t anon, max_anon;
    zhashx_t *users;            /* user -> connections held (size_t *) */
    size_t max_per_user;
    zhashx_t *ips;              /* address -> connections open (size_t *) */
    size_t max_per_ip;
    http_handler_fn *handler;
    http_done_fn *done;
    void *arg;
    size_t max_body;
    size_t max_header;
    char cors[1024];            /* comma-separated allowed origins */
};

/* ---- responses ---------------------------------------------------------- */

http_res_t *
http_res_bytes (int status, const char *ctype, const void *data, size_t len, bool copy)
{
    http_res_t *res = calloc (1, sizeof *res);
    if (!res)
        return NULL;
    res->status = status;
    res->ctype = ctype;
    res->len = len;
    res->owned = copy;
    if (copy) {
        res->body = malloc (len + 1);
        if (!res->body) {
            free (res);
            return NULL;
        }
        memcpy (res->body, data, len);
    }
    else
        res->body = (char *) data;
    return res;
}

http_res_t *
http_res_json (int status, json_t *doc)
{
    char *text = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    if (!text)
        return NULL;
    http_res_t *res = http_res_bytes (status, "application/json", NULL, 0, false);
    if (!res) {
        free (text);
        return NULL;
    }
    res->body = text;
    res->len = strlen (text);
    res->owned = true;
    return res;
}

http_res_t *
http_res_error (int status, const char *code, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    return http_res_json (status, json_pack ("{s:{s:s,s:s}}", "error", "code", code,
                                             "message", message));
}

http_res_t *
http_res_stream (const char *ctype, http_stream_fn *fn, void *arg, http_stream_free_fn *free_fn)
{
    http_res_t *res = http_res_bytes (200, ctype, NULL, 0, false);
    if (!res)
        return NULL;
    res->stream = fn;
    res->stream_arg = arg;
    res->stream_free = free_fn;
    return res;
}

int
http_res_header (http_res_t *res, const char *name, const char *value)
{
    if (res->nheaders == MAX_EXTRA_HEADERS)
        return -1;
    res->hname[res->nheaders] = strdup (name);
    res->hvalue[res->nheaders] = strdup (value);
    res->nheaders++;
    return 0;
}

int
http_res_status (const http_res_t *res)
{
    return res->status;
}

void
http_res_destroy (http_res_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_res_t *res = *self_p;
    if (res->owned)
        free (res->body);
    for (int i = 0; i < res->nheaders; i++) {
        free (res->hname[i]);
        free (res->hvalue[i]);
    }
    free (res);
    *self_p = NULL;
}

/* ---- connections -------------------------------------------------------- */

static void s_client_addr (const struct sockaddr *sa, char *out, size_t outlen);

/* Counts a connection of sock's address in (delta 1) or out (-1); true
 * when it is past the address's limit. Called with the lock held. */
static bool
s_count_ip (http_t *self, sock_t *sock, int delta)
{
    size_t *open_ = zhashx_lookup (self->ips, sock->addr);
    if (delta > 0 && !open_ && (open_ = calloc (1, sizeof *open_))
        && zhashx_insert (self->ips, sock->addr, open_)) {
        free (open_);
        open_ = NULL;
    }
    if (!open_)
        return false;
    *open_ = delta > 0 ? *open_ + 1 : *open_ - 1;
    bool over = *open_ > self->max_per_ip;
    if (!*open_)
        zhashx_delete (self->ips, sock->addr);
    return over;
}

/* Takes sock out of the anonymous list. Called with the lock held. */
static void
s_unlink (http_t *self, sock_t *sock)
{
    if (!sock->anon)
        return;
    *(sock->prev ? &sock->prev->next : &self->anon_head) = sock->next;
    *(sock->next ? &sock->next->prev : &self->anon_tail) = sock->prev;
    sock->prev = sock->next = NULL;
    sock->anon = false;
    self->anon--;
}

static void
s_connection (void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
    http_t *self = cls;
    sock_t *sock = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (sock) {
            pthread_mutex_lock (&self->lock);
            s_unlink (self, sock);
            size_t *held = sock->user ? zhashx_lookup (self->users, sock->user) : NULL;
            if (held && --*held == 0)
                zhashx_delete (self->users, sock->user);
            s_count_ip (self, sock, -1);
            pthread_mutex_unlock (&self->lock);
            free (sock->user);
            free (sock);
            *socket_context = NULL;
        }
        return;
    }
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info || !(sock = calloc (1, sizeof *sock)))
        return;
    sock->http = self;
    sock->fd = info->connect_fd;
    sock->anon = true;
    info = MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    s_client_addr (info ? info->client_addr : NULL, sock->addr, sizeof sock->addr);
    pthread_mutex_lock (&self->lock);
    sock->over_ip = s_count_ip (self, sock, 1);
    if (self->anon >= self->max_anon && self->anon_head) {
        /* the oldest anonymous connection makes room: its thread sees the
         * socket end and closes it (libmicrohttpd closes the descriptor
         * only after CLOSED, which waits for this lock) */
        sock_t *oldest = self->anon_head;
        s_unlink (self, oldest);
        shutdown (oldest->fd, SHUT_RDWR);
    }
    sock->prev = self->anon_tail;
    *(self->anon_tail ? &self->anon_tail->next : &self->anon_head) = sock;
    self->anon_tail = sock;
    self->anon++;
    pthread_mutex_unlock (&self->lock);
    *socket_context = sock;
}

static void
s_free_count (void **item)
{
    free (*item);
    *item = NULL;
}

int
http_req_authenticated (http_req_t *req, const char *user)
{
    sock_t *sock = req->sock;
    if (!sock)
        return 0;
    http_t *self = sock->http;
    int rc = 0;
    pthread_mutex_lock (&self->lock);
    if (!sock->user) {
        size_t *held = zhashx_lookup (self->users, user);
        if (held && *held >= self->max_per_user)
            rc = -1;
        else if (!held && (held = calloc (1, sizeof *held))
                 && zhashx_insert (self->users, user, held)) {
            free (held);
            held = NULL;
        }
        if (!rc && held && (sock->user = strdup (user)))
            ++*held;
    }
    if (!rc)
        s_unlink (self, sock);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

/* ---- requests ----------------------------------------------------------- */

const char *
http_header (http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, name);
}

const char *
http_query (http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* A client's request id is echoed only when it is short printable ASCII,
 * so it cannot inject into headers or logs. */
static bool
sane_request_id (const char *s)
{
    size_t n = s ? strlen (s) : 0;
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return false;
    return true;
}

static enum MHD_Result
s_count_header (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    size_t *total = cls;
    *total += strlen (key) + (value ? strlen (value) : 0) + 4;
    return MHD_YES;
}

static bool
origin_allowed (http_t *self, const char *origin)
{
    size_t n = strlen (origin);
    for (const char *p = self->cors; *p;) {
        size_t len = strcspn (p, ",");
        while (len && (*p == ' ')) {
            p++;
            len--;
        }
        size_t trimmed = len;
        while (trimmed && p[trimmed - 1] == ' ')
            trimmed--;
        if ((trimmed == n && !strncmp (p, origin, n)) || (trimmed == 1 && *p == '*'))
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

static enum MHD_Result
s_queue (http_t *self, http_req_t *req, http_res_t *res)
{
    if (!res)
        res = http_res_error (500, "internal", "out of memory");
    if (!res)
        return MHD_NO;
    struct MHD_Response *r;
    if (res->stream)
        r = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 16384, res->stream,
                                               res->stream_arg, res->stream_free);
    else {
        /* An owned body (malloc'd) is handed over, not copied again. */
        r = MHD_create_response_from_buffer (res->len, res->body,
                                             res->owned ? MHD_RESPMEM_MUST_FREE
                                                        : MHD_RESPMEM_PERSISTENT);
        if (r)
            res->owned = false;
    }
    if (!r) {
        if (res->stream_free)
            res->stream_free (res->stream_arg);
        http_res_destroy (&res);
        return MHD_NO;
    }
    if (res->ctype)
        MHD_add_response_header (r, "Content-Type", res->ctype);
    MHD_add_response_header (r, "X-Request-Id", req->request_id);
    MHD_add_response_header (r, "X-Correlation-Id", req->corr);
    MHD_add_response_header (r, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < res->nheaders; i++)
        MHD_add_response_header (r, res->hname[i], res->hvalue[i]);
    const char *origin = http_header (req, "Origin");
    if (origin && origin_allowed (self, origin)) {
        MHD_add_response_header (r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header (r, "Vary", "Origin");
        MHD_add_response_header (r, "Access-Control-Expose-Headers",
                                 "X-Request-Id, X-Correlation-Id");
    }
    enum MHD_Result rc = MHD_queue_response (req->conn, (unsigned) res->status, r);
    MHD_destroy_response (r);
    req->answered = true;
    req->route = req->route ? req->route : "other";
    http_res_destroy (&res);
    return rc;
}

/* The status is kept beside the request for the completion callback. */
typedef struct {
    http_req_t req;
    int status;
} conn_t;

static enum MHD_Result
s_answer (http_t *self, conn_t *c, http_res_t *res)
{
    c->status = res ? res->status : 500;
    return s_queue (self, &c->req, res);
}

static http_res_t *
s_preflight (http_t *self, http_req_t *req)
{
    const char *origin = http_header (req, "Origin");
    if (!origin || !origin_allowed (self, origin))
        return http_res_error (403, "origin_not_allowed",
                               "origin '%s' is not in CAISSON_HTTP_CORS", origin ? origin : "");
    http_res_t *res = http_res_bytes (204, NULL, "", 0, false);
    if (res) {
        http_res_header (res, "Access-Control-Allow-Methods",
                         "GET, POST, DELETE, PUT, PATCH, OPTIONS");
        http_res_header (res, "Access-Control-Allow-Headers",
                         "Authorization, Content-Type, X-Request-Id, Last-Event-ID, Accept");
        http_res_header (res, "Access-Control-Max-Age", "600");
    }
    return res;
}

/* The client's address as per-address limits see it: IPv4 as it is, IPv6
 * as its /64 (one host commonly holds a whole /64). */
static void
s_client_addr (const struct sockaddr *sa, char *out, size_t outlen)
{
    char text[INET6_ADDRSTRLEN] = "";
    if (sa && sa->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, text, sizeof text);
    else if (sa && sa->sa_family == AF_INET6) {
        struct in6_addr a = ((const struct sockaddr_in6 *) sa)->sin6_addr;
        if (!IN6_IS_ADDR_V4MAPPED (&a))
            memset (a.s6_addr + 8, 0, 8);
        inet_ntop (AF_INET6, &a, text, sizeof text);
        if (!IN6_IS_ADDR_V4MAPPED (&a)) {
            snprintf (out, outlen, "%s/64", text);
            return;
        }
    }
    snprintf (out, outlen, "%s", *text ? text : "unknown");
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void) version;
    http_t *self = cls;
    conn_t *c = *con_cls;
    if (!c) {
        c = calloc (1, sizeof *c);
        if (!c)
            return MHD_NO;
        *con_cls = c;
        http_req_t *req = &c->req;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->started_us = (uint64_t) zclock_usecs ();
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info (conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        req->sock = info ? info->socket_context : NULL;
        info = MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        s_client_addr (info ? info->client_addr : NULL, req->addr, sizeof req->addr);
        cid_new (req->corr);
        const char *rid = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "X-Request-Id");
        if (sane_request_id (rid)) {
            snprintf (req->request_id, sizeof req->request_id, "%s", rid);
            if (cid_valid (rid))
                snprintf (req->corr, sizeof req->corr, "%s", rid);
        }
        else
            snprintf (req->request_id, sizeof req->request_id, "%s", req->corr);
        size_t header_bytes = strlen (url) + strlen (method) + 16;
        MHD_get_connection_values (conn, MHD_HEADER_KIND, s_count_header, &header_bytes);
        const sock_t *sock = req->sock;
        if (sock && sock->over_ip) {
            http_res_t *res = http_res_error (429, "too_many_connections", "address %s holds as "
                                              "many connections as one address may "
                                              "(CAISSON_HTTP_MAX_PER_IP)", sock->addr);
            if (res) {
                http_res_header (res, "Retry-After", "1");
                http_res_header (res, "Connection", "close");
            }
            return s_answer (self, c, res);
        }
        if (header_bytes > self->max_header)
            return s_answer (self, c, http_res_error (431, "headers_too_large",
                             "request line and headers exceed %zu bytes", self->max_header));
        const char *cl = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull (cl, NULL, 10) > self->max_body)
            return s_answer (self, c, http_res_error (413, "body_too_large",
                             "body of %s bytes exceeds the limit of %zu", cl, self->max_body));
        return MHD_YES;
    }
    http_req_t *req = &c->req;
    if (req->answered) {
        *upload_size = 0;       /* an early answer: the rest is dropped */
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (req->too_big || req->cap + n > self->max_body) {
            req->too_big = true;
            return MHD_YES;
        }
        char *grown = realloc (req->buf, req->cap + n + 1);
        if (!grown)
            return MHD_NO;
        req->buf = grown;
        memcpy (req->buf + req->cap, upload, n);
        req->cap += n;
        req->buf[req->cap] = '\0';
        return MHD_YES;
    }
    if (req->too_big)
        return s_answer (self, c, http_res_error (413, "body_too_large",
                         "body exceeds the limit of %zu bytes", self->max_body));
    req->body = req->buf;
    req->body_len = req->cap;
    if (!strcmp (method, "OPTIONS")) {
        req->route = "preflight";
        return s_answer (self, c, s_preflight (self, req));
    }
    return s_answer (self, c, self->handler (req, self->arg));
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) conn, (void) toe;
    http_t *self = cls;
    conn_t *c = *con_cls;
    if (!c)
        return;
    if (self->done)
        self->done (&c->req, c->req.answered ? c->status : 0, self->arg);
    for (int i = 0; i < c->req.nparams; i++)
        free (c->req.params[i]);
    free (c->req.buf);
    free (c);
    *con_cls = NULL;
}

http_t *
http_new (const char *addr, http_handler_fn *handler, http_done_fn *done, void *arg)
{
    struct sockaddr_storage ss;
    if (listen_addr_resolve (addr, &ss, NULL)) {
        clog_error (NULL, "CAISSON_HTTP: cannot resolve '%s' (want host:port)", addr);
        return NULL;
    }
    http_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->handler = handler;
    self->done = done;
    self->arg = arg;
    self->max_body = cfg_u64 ("CAISSON_HTTP_MAX_BODY");
    self->max_header = cfg_u64 ("CAISSON_HTTP_MAX_HEADER");
    self->max_anon = cfg_u64 ("CAISSON_HTTP_MAX_ANON");
    self->max_per_user = cfg_u64 ("CAISSON_HTTP_MAX_CONN_PER_USER");
    self->max_per_ip = cfg_u64 ("CAISSON_HTTP_MAX_PER_IP");
    self->users = zhashx_new ();
    self->ips = zhashx_new ();
    if (!self->users || !self->ips) {
        zhashx_destroy (&self->users);
        zhashx_destroy (&self->ips);
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->users, s_free_count);
    zhashx_set_destructor (self->ips, s_free_count);
    pthread_mutex_init (&self->lock, NULL);
    snprintf (self->cors, sizeof self->cors, "%s", cfg_str ("CAISSON_HTTP_CORS"));
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                   | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* libmicrohttpd's own per-connection pool is the hard backstop behind
     * our header check: twice the limit, for its buffers. */
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_access, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) cfg_u64 ("CAISSON_HTTP_MAX_CONNECTIONS"),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) (self->max_per_ip + PER_IP_GRACE),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) cfg_u64 ("CAISSON_HTTP_IDLE_S"),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (2 * self->max_header + 8192),
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_NOTIFY_CONNECTION, s_connection, self,
        MHD_OPTION_END);
    if (!self->daemon) {
        clog_error (NULL, "cannot listen on %s", addr);
        pthread_mutex_destroy (&self->lock);
        zhashx_destroy (&self->users);
        zhashx_destroy (&self->ips);
        free (self);
        return NULL;
    }
    clog_info (NULL, "HTTP on %s (port %d)", addr, http_port (self));
    return self;
}

void
http_destroy (http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_t *self = *self_p;
    MHD_stop_daemon (self->daemon);
    pthread_mutex_destroy (&self->lock);
    zhashx_destroy (&self->users);
    zhashx_destroy (&self->ips);
    free (self);
    *self_p = NULL;
}

int
http_port (http_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : -1;
}
