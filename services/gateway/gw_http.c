/* gw_http: see gw_http.h. */
#include "gw_http.h"
#include "gw_err.h"
#include "cfg.h"
#include "clog.h"
#include "listen_addr.h"
#include "vkey.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUSY_RETRY_S 5          /* Retry-After past the buffer cap */

/* A connection reading its request: by until_us (0: not reading, its
 * call forwarded) it has sent the whole request, or the watchdog shuts
 * its socket. */
typedef struct _gw_conn_t {
    int fd;
    atomic_int_least64_t until_us;
    struct _gw_conn_t *prev, *next;
} gw_conn_t;

struct _gw_http_t {
    struct MHD_Daemon *daemon;
    const gw_ctx_t *ctx;
    uint64_t max_body, buffer_max;
    atomic_uint_least64_t buffered;     /* body bytes held across connections */
    int64_t request_us;                 /* CAISSON_GATEWAY_REQUEST_TIMEOUT_S */
    pthread_mutex_t lock;               /* conns */
    gw_conn_t *conns;
    pthread_t watchdog;
    bool watching;
    atomic_bool stop;
};

/* One request on a connection: its body as it comes, then its call. */
typedef struct {
    char *buf;
    size_t len;
    uint64_t held;              /* bytes counted in buffered */
    bool too_big, over_cap;
    int64_t arrived_us;
    gw_call_t *call;
} gw_req_state_t;

/* The virtual key the client presented (borrowed), or NULL. */
static const char *
presented_key (struct MHD_Connection *con)
{
    const char *a = MHD_lookup_connection_value (con, MHD_HEADER_KIND, "Authorization");
    if (a && !strncasecmp (a, "Bearer ", 7))
        return a + 7;
    return MHD_lookup_connection_value (con, MHD_HEADER_KIND, "x-api-key");
}

static enum MHD_Result
answer_json (struct MHD_Connection *con, int status, char *body)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *rsp = MHD_create_response_from_buffer (strlen (body), body,
                                                                MHD_RESPMEM_MUST_FREE);
    if (!rsp) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (rsp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response (con, (unsigned) status, rsp);
    MHD_destroy_response (rsp);
    return rc;
}

static void
add_model (json_t *data, const char *id, bool anthropic)
{
    size_t i;
    json_t *m;
    json_array_foreach (data, i, m)
        if (!strcmp (json_string_value (json_object_get (m, "id")), id))
            return;
    const char *slash = strchr (id, '/');
    char owner[64];
    snprintf (owner, sizeof owner, "%.*s", slash ? (int) (slash - id) : 0, id);
    if (anthropic)
        json_array_append_new (data, json_pack ("{s:s, s:s, s:s, s:s}", "type", "model", "id", id,
                                                "display_name", id, "created_at",
                                                "1970-01-01T00:00:00Z"));
    else
        json_array_append_new (data, json_pack ("{s:s, s:s, s:i, s:s}", "id", id, "object",
                                                "model", "created", 0, "owned_by",
                                                *owner ? owner : "caisson"));
}

/* GET /v1/models: what CAISSON_GATEWAY_MODELS names exactly, the aliases,
 * and the default model of every provider this gateway is set up for (by
 * key or URL) that CAISSON_GATEWAY_MODELS does not leave out. The key's
 * own allow-list is gateway-keys' and is applied when it is used. In
 * Anthropic's list shape when the client speaks it (anthropic-version). */
static char *
models_body (const gw_ctx_t *ctx, bool anthropic)
{
    json_t *data = json_array ();
    const char *allowed = cfg_str ("CAISSON_GATEWAY_MODELS");
    char *list = strdup (allowed), *save = NULL;
    for (char *t = list ? strtok_r (list, ", ", &save) : NULL; t; t = strtok_r (NULL, ", ", &save))
        if (strchr (t, '/') && !strchr (t, '*'))
            add_model (data, t, anthropic);
    free (list);
    list = strdup (ctx->body.aliases);
    for (char *t = list ? strtok_r (list, ",", &save) : NULL; t; t = strtok_r (NULL, ",", &save)) {
        t[strcspn (t, "=")] = '\0';
        if (*t)
            add_model (data, t + strspn (t, " "), anthropic);
    }
    free (list);
    const llm_provider_t *p;
    for (size_t i = 0; (p = llm_provider_at (i)); i++) {
        if (!p->default_model || !llm_provider_set_up (p))
            continue;
        char star[80];
        snprintf (star, sizeof star, "%s/*", p->name);
        if (!strcmp (allowed, "*") || strstr (allowed, star) || strstr (allowed, p->default_model))
            add_model (data, p->default_model, anthropic);
    }
    size_t n = json_array_size (data);
    json_t *doc = anthropic
        ? json_pack ("{s:o, s:b, s:O, s:O}", "data", data, "has_more", 0, "first_id",
                     n ? json_object_get (json_array_get (data, 0), "id") : json_null (),
                     "last_id", n ? json_object_get (json_array_get (data, n - 1), "id")
                                  : json_null ())
        : json_pack ("{s:s, s:o}", "object", "list", "data", data);
    char *out = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    return out;
}

/* Checks a request's head: its endpoint (into *route, *get) and a
 * virtual key's shape. 0: it may go on; else the answer (a refusal, or
 * /health) is queued into *rc. */
static int
check_head (struct MHD_Connection *con, const char *url, const char *method, gw_route_t *route,
            bool *get, enum MHD_Result *rc)
{
    bool post = !strcmp (method, "POST");
    *get = !strcmp (method, "GET");
    if (*get && !strcmp (url, "/health")) {
        *rc = answer_json (con, 200, strdup ("{\"ok\":true}"));
        return -1;
    }
    if (post && !strcmp (url, "/v1/chat/completions"))
        *route = GW_CHAT;
    else if (post && !strcmp (url, "/v1/embeddings"))
        *route = GW_EMBEDDINGS;
    else if (post && !strcmp (url, "/v1/messages"))
        *route = GW_MESSAGES;
    else if (!(*get && !strcmp (url, "/v1/models"))) {
        *rc = gw_call_refuse (con, strcmp (url, "/v1/messages") ? LLM_OPENAI : LLM_ANTHROPIC,
                              404, "not_found", "unknown endpoint: POST /v1/chat/completions, "
                              "/v1/embeddings, /v1/messages or GET /v1/models");
        return -1;
    }
    else
        *route = GW_CHAT;
    const char *key = presented_key (con);
    if (!key || !vkey_looks (key)) {
        *rc = gw_call_refuse (con, *route == GW_MESSAGES ? LLM_ANTHROPIC : LLM_OPENAI, 401,
                              "invalid_api_key", "a virtual key is needed: Authorization: "
                              "Bearer vk_... or x-api-key: vk_...");
        return -1;
    }
    return 0;
}

/* Counts n more bytes held against the cap; false (nothing counted) past it. */
static bool
hold (gw_http_t *self, gw_req_state_t *st, uint64_t n)
{
    uint_least64_t cur = atomic_load (&self->buffered);
    do {
        if (cur + n > self->buffer_max || cur + n < cur)
            return false;
    } while (!atomic_compare_exchange_weak (&self->buffered, &cur, cur + n));
    st->held += n;
    return true;
}

/* Gives back the bytes st holds, and frees them. */
static void
release (gw_http_t *self, gw_req_state_t *st)
{
    atomic_fetch_sub (&self->buffered, st->held);
    st->held = 0;
    free (st->buf);
    st->buf = NULL;
}

/* 503 past the buffer cap, with Retry-After, in proto's error shape. */
static enum MHD_Result
refuse_busy (struct MHD_Connection *con, gw_http_t *self, llm_proto_t proto)
{
    char msg[200];
    snprintf (msg, sizeof msg, "the gateway holds as many request bytes as it may "
              "(CAISSON_GATEWAY_BUFFER_MAX, %llu): retry shortly",
              (unsigned long long) self->buffer_max);
    char *body = gw_err_body (proto, 503, "gateway_busy", msg);
    struct MHD_Response *rsp = body ? MHD_create_response_from_buffer (
        strlen (body), body, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!rsp) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (rsp, "Content-Type", "application/json");
    char s[16];
    snprintf (s, sizeof s, "%d", BUSY_RETRY_S);
    MHD_add_response_header (rsp, "Retry-After", s);
    enum MHD_Result rc = MHD_queue_response (con, 503, rsp);
    MHD_destroy_response (rsp);
    return rc;
}

/* The watch of con's connection, or NULL. */
static gw_conn_t *
conn_of (struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info (con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* True when con is past its request deadline. */
static bool
late (struct MHD_Connection *con)
{
    gw_conn_t *w = conn_of (con);
    int64_t until = w ? atomic_load (&w->until_us) : 0;
    return until && gw_now_us () > until;
}

/* A request's head: refused when it declares a body over the limit (413)
 * or one the buffer cap cannot hold (503), else its bytes are held. 0:
 * it may go on; else the answer is queued into *rc. */
static int
check_length (struct MHD_Connection *con, gw_http_t *self, gw_req_state_t *st,
              llm_proto_t proto, enum MHD_Result *rc)
{
    const char *cl = MHD_lookup_connection_value (con, MHD_HEADER_KIND, "Content-Length");
    if (!cl)
        return 0;       /* chunked (or none): held as it comes */
    char *end = NULL;
    unsigned long long n = strtoull (cl, &end, 10);
    if (end == cl || n > self->max_body) {
        char msg[128];
        snprintf (msg, sizeof msg, "the body is larger than %llu bytes",
                  (unsigned long long) self->max_body);
        *rc = gw_call_refuse (con, proto, 413, "body_too_large", msg);
        return -1;
    }
    if (!hold (self, st, n)) {
        *rc = refuse_busy (con, self, proto);
        return -1;
    }
    return 0;
}

/* Takes a piece of st's body; false when the connection is to be closed. */
static bool
take_piece (gw_http_t *self, struct MHD_Connection *con, gw_req_state_t *st, const char *data,
            size_t size)
{
    if (late (con))
        return false;   /* too late to answer: a trickled body is cut */
    if (st->too_big || st->over_cap)
        return true;
    if (st->len + size > self->max_body) {
        st->too_big = true;
        release (self, st);
        return true;
    }
    if (st->len + size > st->held && !hold (self, st, st->len + size - st->held)) {
        st->over_cap = true;
        release (self, st);
        return true;
    }
    char *b = realloc (st->buf, st->len + size + 1);
    if (!b)
        return false;
    memcpy (b + st->len, data, size);
    st->buf = b;
    st->len += size;
    return true;
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *con, const char *url, const char *method,
            const char *version, const char *data, size_t *size, void **con_cls)
{
    (void) version;
    gw_http_t *self = cls;
    gw_req_state_t *st = *con_cls;
    gw_route_t route;
    bool get;
    enum MHD_Result rc;
    if (!st) {
        if (!(st = *con_cls = calloc (1, sizeof *st)))
            return MHD_NO;
        st->arrived_us = gw_now_us ();
        /* refused from its head: a body the gateway will refuse is not
         * taken (up to the body limit, on every connection) */
        if (check_head (con, url, method, &route, &get, &rc)
            || check_length (con, self, st, route == GW_MESSAGES ? LLM_ANTHROPIC : LLM_OPENAI,
                             &rc))
            return rc;
        return MHD_YES;
    }
    if (*size) {
        if (!take_piece (self, con, st, data, *size))
            return MHD_NO;
        *size = 0;
        return MHD_YES;
    }
    if (check_head (con, url, method, &route, &get, &rc))
        return rc;      /* not reached: refused at the first call */
    llm_proto_t proto = route == GW_MESSAGES ? LLM_ANTHROPIC : LLM_OPENAI;
    if (late (con)) {
        release (self, st);
        return gw_call_refuse (con, proto, 408, "request_timeout", "the request did not "
                               "come in whole within CAISSON_GATEWAY_REQUEST_TIMEOUT_S");
    }
    gw_conn_t *w = conn_of (con);
    if (w)
        atomic_store (&w->until_us, 0);     /* read: the call may take its time */
    if (get)
        return answer_json (con, 200, models_body (self->ctx, MHD_lookup_connection_value (
                                con, MHD_HEADER_KIND, "anthropic-version") != NULL));
    if (st->too_big) {
        char msg[128];
        snprintf (msg, sizeof msg, "the body is larger than %llu bytes",
                  (unsigned long long) self->max_body);
        return gw_call_refuse (con, proto, 413, "body_too_large", msg);
    }
    if (st->over_cap)
        return refuse_busy (con, self, proto);
    rc = gw_call_serve (con, self->ctx, route, st->buf ? st->buf : "", st->len,
                        presented_key (con), st->arrived_us, &st->call);
    release (self, st);     /* the call has what it needs of the body */
    return rc;
}

static void
on_completed (void *cls, struct MHD_Connection *con, void **con_cls,
              enum MHD_RequestTerminationCode code)
{
    gw_http_t *self = cls;
    gw_req_state_t *st = *con_cls;
    gw_conn_t *w = conn_of (con);
    if (w)      /* the next request on a kept-alive connection has its own deadline */
        atomic_store (&w->until_us, gw_now_us () + self->request_us);
    if (!st)
        return;
    gw_call_end (&st->call, code == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    release (self, st);
    free (st);
    *con_cls = NULL;
}

/* Connections come and go: each is watched from its first byte. */
static void
on_connection (void *cls, struct MHD_Connection *con, void **socket_context,
               enum MHD_ConnectionNotificationCode code)
{
    gw_http_t *self = cls;
    gw_conn_t *w = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info (con, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(w = calloc (1, sizeof *w)))
            return;
        w->fd = ci->connect_fd;
        atomic_store (&w->until_us, gw_now_us () + self->request_us);
        pthread_mutex_lock (&self->lock);
        w->next = self->conns;
        if (w->next)
            w->next->prev = w;
        self->conns = w;
        pthread_mutex_unlock (&self->lock);
        *socket_context = w;
        return;
    }
    if (!w)
        return;
    /* before MHD closes the socket: the watchdog never shuts a reused fd */
    pthread_mutex_lock (&self->lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        self->conns = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock (&self->lock);
    free (w);
    *socket_context = NULL;
}

/* Shuts the sockets of connections past their request deadline: a client
 * trickling its head or body (its thread waits in MHD, which counts only
 * idle time) is cut off; its thread then sees the socket end. */
static void *
watchdog (void *arg)
{
    gw_http_t *self = arg;
    while (!atomic_load (&self->stop)) {
        usleep (100000);
        int64_t now = gw_now_us ();
        pthread_mutex_lock (&self->lock);
        for (gw_conn_t *w = self->conns; w; w = w->next) {
            int64_t until = atomic_load (&w->until_us);
            if (until && now > until) {
                shutdown (w->fd, SHUT_RDWR);
                atomic_store (&w->until_us, 0);
            }
        }
        pthread_mutex_unlock (&self->lock);
    }
    return NULL;
}

gw_http_t *
gw_http_new (const char *addr, const gw_ctx_t *ctx)
{
    struct sockaddr_storage ss;
    if (listen_addr_resolve (addr, &ss, NULL)) {
        clog_error (NULL, "CAISSON_GATEWAY_HTTP: cannot resolve '%s' (want host:port)", addr);
        return NULL;
    }
    gw_http_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->max_body = cfg_u64 ("CAISSON_GATEWAY_MAX_BODY");
    self->buffer_max = cfg_u64 ("CAISSON_GATEWAY_BUFFER_MAX");
    uint64_t rs = cfg_u64 ("CAISSON_GATEWAY_REQUEST_TIMEOUT_S");
    self->request_us = (int64_t) (rs ? rs : 1) * 1000000;
    pthread_mutex_init (&self->lock, NULL);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                   | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, on_request, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) cfg_u64 ("CAISSON_GATEWAY_MAX_CONNS"),
        /* MHD counts a wait inside our callbacks (a slow provider) as idle
         * time: a shorter timeout would cut a slow answer; a request's
         * own deadline is the watchdog's */
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) ctx->timeout_s + 60,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, self,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, self,
        MHD_OPTION_END);
    if (!self->daemon || pthread_create (&self->watchdog, NULL, watchdog, self)) {
        clog_error (NULL, "cannot listen on %s", addr);
        gw_http_destroy (&self);
        return NULL;
    }
    self->watching = true;
    clog_info (NULL, "model gateway on %s (port %d)", addr, gw_http_port (self));
    return self;
}

void
gw_http_destroy (gw_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_http_t *self = *self_p;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    atomic_store (&self->stop, true);
    if (self->watching)
        pthread_join (self->watchdog, NULL);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
gw_http_port (gw_http_t *self)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info (self->daemon,
                                                         MHD_DAEMON_INFO_BIND_PORT);
    return i ? (int) i->port : 0;
}
