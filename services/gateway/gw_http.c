/* gw_http: see gw_http.h. */
#include "gw_http.h"
#include "cfg.h"
#include "clog.h"
#include "vkey.h"

#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

struct _gw_http_t {
    struct MHD_Daemon *daemon;
    const gw_ctx_t *ctx;
    uint64_t max_body;
};

/* One request on a connection: its body as it comes, then its call. */
typedef struct {
    char *buf;
    size_t len;
    bool too_big;
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
        return check_head (con, url, method, &route, &get, &rc) ? rc : MHD_YES;
    }
    if (*size) {
        if (st->too_big || st->len + *size > self->max_body) {
            st->too_big = true;
            free (st->buf);
            st->buf = NULL;
        }
        else {
            char *b = realloc (st->buf, st->len + *size + 1);
            if (!b)
                return MHD_NO;
            memcpy (b + st->len, data, *size);
            st->buf = b;
            st->len += *size;
        }
        *size = 0;
        return MHD_YES;
    }
    if (check_head (con, url, method, &route, &get, &rc))
        return rc;      /* not reached: refused at the first call */
    llm_proto_t proto = route == GW_MESSAGES ? LLM_ANTHROPIC : LLM_OPENAI;
    if (get)
        return answer_json (con, 200, models_body (self->ctx, MHD_lookup_connection_value (
                                con, MHD_HEADER_KIND, "anthropic-version") != NULL));
    if (st->too_big) {
        char msg[128];
        snprintf (msg, sizeof msg, "the body is larger than %llu bytes",
                  (unsigned long long) self->max_body);
        return gw_call_refuse (con, proto, 413, "body_too_large", msg);
    }
    return gw_call_serve (con, self->ctx, route, st->buf ? st->buf : "", st->len,
                          presented_key (con), st->arrived_us, &st->call);
}

static void
on_completed (void *cls, struct MHD_Connection *con, void **con_cls,
              enum MHD_RequestTerminationCode code)
{
    (void) cls;
    (void) con;
    gw_req_state_t *st = *con_cls;
    if (!st)
        return;
    gw_call_end (&st->call, code == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    free (st->buf);
    free (st);
    *con_cls = NULL;
}

static int
resolve (const char *addr, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr (addr, ':');
    if (!colon || (size_t) (colon - addr) >= sizeof host)
        return -1;
    snprintf (host, sizeof host, "%.*s", (int) (colon - addr), addr);
    char *h = host;
    if (*h == '[') {
        h++;
        h[strcspn (h, "]")] = '\0';
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV | AI_PASSIVE }, *ai;
    if (getaddrinfo (*h ? h : NULL, colon + 1, &hints, &ai))
        return -1;
    memcpy (ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo (ai);
    return 0;
}

gw_http_t *
gw_http_new (const char *addr, const gw_ctx_t *ctx)
{
    struct sockaddr_storage ss;
    if (resolve (addr, &ss)) {
        clog_error (NULL, "CAISSON_GATEWAY_HTTP: cannot resolve '%s' (want host:port)", addr);
        return NULL;
    }
    gw_http_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->max_body = cfg_u64 ("CAISSON_GATEWAY_MAX_BODY");
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                   | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, on_request, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) cfg_u64 ("CAISSON_GATEWAY_MAX_CONNS"),
        /* MHD counts a wait inside our callbacks (a slow provider) as idle
         * time: a shorter timeout would cut a slow answer */
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) ctx->timeout_s + 60,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, self,
        MHD_OPTION_END);
    if (!self->daemon) {
        clog_error (NULL, "cannot listen on %s", addr);
        free (self);
        return NULL;
    }
    clog_info (NULL, "model gateway on %s (port %d)", addr, gw_http_port (self));
    return self;
}

void
gw_http_destroy (gw_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    MHD_stop_daemon ((*self_p)->daemon);
    free (*self_p);
    *self_p = NULL;
}

int
gw_http_port (gw_http_t *self)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info (self->daemon,
                                                         MHD_DAEMON_INFO_BIND_PORT);
    return i ? (int) i->port : 0;
}
