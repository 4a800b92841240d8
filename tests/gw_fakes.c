/* gw_fakes: see gw_fakes.h. */
#include "gw_fakes.h"
#include "support.h"
#include "vkey.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the stand-in gateway-keys ---- */

static void
log_line (json_t *line)
{
    const char *path = getenv ("GW_FAKE_LOG");
    char *text = json_dumps (line, JSON_COMPACT);
    json_decref (line);
    if (!path || !text) {
        free (text);
        return;
    }
    size_t n = strlen (text);
    text[n] = '\n';             /* json_dumps' NUL becomes the line end */
    int fd = open (path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        if (write (fd, text, n + 1) < 0)
            perror ("gw_fakes: log");
        close (fd);
    }
    free (text);
}

static bool
is_key (const proto_bytes_t *h, const char *key)
{
    uint8_t want[32];
    vkey_hash (key, want);
    return h->size == 32 && !memcmp (h->data, want, 32);
}

static proto_msg_t *
grant (const proto_msg_t *req)
{
    const proto_gkey_reserve_t *r = &req->body.gkey_reserve;
    log_line (json_pack ("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s}", "type", "reserve",
                         "call", r->call, "model", r->model, "route", r->route, "input_bound",
                         (json_int_t) r->input_bound, "output_max", (json_int_t) r->output_max,
                         "capped", r->capped, "gateway", r->gateway));
    proto_msg_t *rep = proto_msg_new (PROTO_gkey_grant, req);
    proto_gkey_grant_t *g = &rep->body.gkey_grant;
    struct { const char *key; uint64_t status; const char *code, *reason; } refusals[] = {
        { GW_KEY_BUDGET, 402, "budget_exceeded", "budget of key aaaaaaaaaaaa exhausted: $4.98 "
          "of $5.00 per day spent; resets 2025-12-08T00:00:00Z" },
        { GW_KEY_RATE, 429, "rate_limit_requests", "key aaaaaaaaaaaa: 2 requests per minute" },
        { GW_KEY_REVOKED, 401, "key_revoked", "this key was revoked" },
        { GW_KEY_MODEL, 403, "model_not_allowed", "this key may not call that model" },
    };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        if (is_key (&r->key_hash, refusals[i].key)) {
            g->ok = false;
            g->status = refusals[i].status;
            proto_set_str (&g->code, refusals[i].code);
            proto_set_str (&g->reason, refusals[i].reason);
            if (g->status == 402) {
                proto_set_str (&g->budget, "key.cost.day");
                g->reset_at = GW_BUDGET_RESET_MS;
            }
            if (g->status == 429)
                g->retry_after_s = 7;
            return rep;
        }
    if (!is_key (&r->key_hash, GW_KEY_OK)) {
        g->status = 401;
        proto_set_str (&g->code, "invalid_api_key");
        proto_set_str (&g->reason, "unknown key");
        return rep;
    }
    g->ok = true;
    g->output_max = r->capped ? GW_CAPPED_MAX : r->output_max;
    proto_set_str (&g->key_id, "aaaaaaaaaaaa");
    proto_set_str (&g->user, "alice");
    proto_set_str (&g->kind, "user");
    g->rl_limit_req = 60;
    g->rl_left_req = 59;
    g->rl_limit_tok = 100000;
    g->rl_left_tok = 90000;
    return rep;
}

proto_msg_t *
gw_fake_keys (const proto_msg_t *req, void *arg)
{
    (void) arg;
    if (req->type == PROTO_gkey_reserve)
        return grant (req);
    if (req->type == PROTO_gkey_settle) {
        const proto_gkey_settle_t *s = &req->body.gkey_settle;
        log_line (json_pack ("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:b, s:I}",
                             "type", "settle", "call", s->call, "model", s->model, "input",
                             (json_int_t) s->input, "output", (json_int_t) s->output, "cached",
                             (json_int_t) s->cached, "cache_write", (json_int_t) s->cache_write,
                             "status", (json_int_t) s->status, "outcome", s->outcome,
                             "estimated", s->estimated, "stream", s->stream, "ttfb_us",
                             (json_int_t) s->ttfb_us));
        proto_msg_t *rep = proto_msg_new (PROTO_gkey_settled, req);
        rep->body.gkey_settled.tokens = s->input + s->output;
        return rep;
    }
    if (req->type == PROTO_gkey_release_instance) {
        log_line (json_pack ("{s:s, s:s}", "type", "release", "gateway",
                             req->body.gkey_release_instance.gateway));
        return proto_msg_new (PROTO_gkey_ack, req);
    }
    return proto_error_new (req, PROTO_ERR_unknown_type, "not a gkey request here");
}

static json_t *
read_log (const char *path)
{
    json_t *all = json_array ();
    FILE *f = fopen (path, "r");
    char line[65536];
    while (f && fgets (line, sizeof line, f)) {
        json_t *v = json_loads (line, 0, NULL);
        if (v)
            json_array_append_new (all, v);
    }
    if (f)
        fclose (f);
    return all;
}

int
gw_fake_log_count (const char *path, const char *type)
{
    json_t *all = read_log (path), *v;
    size_t i;
    int n = 0;
    json_array_foreach (all, i, v)
        n += !strcmp (support_json_str (v, "type"), type);
    json_decref (all);
    return n;
}

json_t *
gw_fake_log_find (const char *path, const char *type, const char *call, int wait_ms)
{
    for (int t = 0; t <= wait_ms; t += 20) {
        json_t *all = read_log (path), *v, *hit = NULL;
        size_t i;
        json_array_foreach (all, i, v)
            if (!strcmp (support_json_str (v, "type"), type)
                && (!call || !strcmp (support_json_str (v, "call"), call)))
                hit = json_incref (v);
        json_decref (all);
        if (hit)
            return hit;
        usleep (20000);
    }
    return NULL;
}

/* ---- the fake provider ---- */

const char gw_fake_odd_usage[] =
    "data: {\"id\":\"o\",\"choices\":[],\"usage\":{\"prompt_tokens\":21,"
    "\"completion_tokens\":5,\"prompt_tokens_details\":{\"cached_tokens\":8}}}\r\n\r\n";

const char gw_fake_odd_stream[] =
    ": a comment first\r\n\r\n"
    "event: chunk\r\nid: 1\r\n"
    "data: {\"id\":\"o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"odd \"}}]}\r\n\r\n"
    "data: {\"id\":\"o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"usage\"},"
    "\"finish_reason\":\"stop\"}]}\r\n\r\n"
    "data: {\"id\":\"o\",\"choices\":[],\"usage\":{\"prompt_tokens\":21,"
    "\"completion_tokens\":5,\"prompt_tokens_details\":{\"cached_tokens\":8}}}\r\n\r\n"
    "data: [DONE]\r\n\r\n";

static const char s_slow_first[] = "data: {\"choices\":[{\"delta\":{\"content\":\"s\"}}]}\n\n";

static struct MHD_Daemon *s_up;
static atomic_bool s_cancelled;
static pthread_mutex_t s_auth_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_auth[600];        /* the key of the last call (Authorization or x-api-key) */

/* A stream quoting the key (written between pieces, so the gateway gets
 * it split), and an error quoting it JSON-escaped and percent-encoded. */
static char s_key_stream[2048], s_key_error[4096];

typedef struct {
    char *buf;
    size_t len;
} upload_t;

typedef struct {
    const char *text;
    size_t len;
    size_t piece;               /* most bytes a call */
    bool slow;
    useconds_t gap;             /* pause before each piece but the first */
} feed_t;

static ssize_t
feed (void *cls, uint64_t pos, char *buf, size_t max)
{
    feed_t *f = cls;
    if (f->slow && pos > 0) {
        for (int i = 0; i < 60; i++)
            usleep (50000);     /* 3 s of nothing, then more: a write the cut shows */
        memcpy (buf, ": late\n\n", 8);
        return 8;
    }
    if (pos >= f->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (f->gap && pos > 0)
        usleep (f->gap);
    size_t n = f->len - (size_t) pos;
    n = n < max ? n : max;
    n = f->piece && n > f->piece ? f->piece : n;
    memcpy (buf, f->text + pos, n);
    return (ssize_t) n;
}

static enum MHD_Result
answer (struct MHD_Connection *con, int status, const char *ctype, char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer (strlen (body), body,
                                                              MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (r, "Content-Type", ctype);
    MHD_add_response_header (r, "x-request-id", "req-fake-1");
    MHD_add_response_header (r, "x-ratelimit-limit-requests", "99999");
    enum MHD_Result rc = MHD_queue_response (con, (unsigned) status, r);
    MHD_destroy_response (r);
    return rc;
}

static enum MHD_Result
stream (struct MHD_Connection *con, feed_t f)
{
    feed_t *fp = malloc (sizeof *fp);
    *fp = f;
    struct MHD_Response *r = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 4096, feed,
                                                                fp, free);
    MHD_add_response_header (r, "Content-Type", "text/event-stream");
    MHD_add_response_header (r, "x-ratelimit-limit-requests", "99999");
    enum MHD_Result rc = MHD_queue_response (con, 200, r);
    MHD_destroy_response (r);
    return rc;
}

/* v's compact text (new); v is taken. */
static char *
dump (json_t *v)
{
    char *out = json_dumps (v, JSON_COMPACT);
    json_decref (v);
    return out;
}

static const char *
header (struct MHD_Connection *con, const char *name)
{
    const char *v = MHD_lookup_connection_value (con, MHD_HEADER_KIND, name);
    return v ? v : "";
}

static enum MHD_Result
on_up (void *cls, struct MHD_Connection *con, const char *url, const char *method,
       const char *version, const char *data, size_t *size, void **con_cls)
{
    (void) cls;
    (void) method;
    (void) version;
    upload_t *u = *con_cls;
    if (!u) {
        *con_cls = calloc (1, sizeof (upload_t));
        return MHD_YES;
    }
    if (*size) {
        u->buf = realloc (u->buf, u->len + *size + 1);
        memcpy (u->buf + u->len, data, *size);
        u->len += *size;
        u->buf[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    json_t *body = json_loads (u->buf ? u->buf : "", 0, NULL);
    const char *model = support_json_str (body, "model");
    bool anthropic = strstr (url, "/messages") != NULL;
    pthread_mutex_lock (&s_auth_lock);
    snprintf (s_auth, sizeof s_auth, "%s", header (con, anthropic ? "x-api-key"
                                                                  : "Authorization"));
    pthread_mutex_unlock (&s_auth_lock);
    enum MHD_Result rc;
    char *out = NULL;
    if (!strcmp (model, "plain"))
        rc = answer (con, 200, "application/json", strdup (anthropic
            ? "{\"id\":\"msg_fake\",\"type\":\"message\",\"role\":\"assistant\",\"content\":"
              "[{\"type\":\"text\",\"text\":\"hi\"}],\"usage\":{\"input_tokens\":7,"
              "\"output_tokens\":4}}"
            : "{\"id\":\"cmpl-fake\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
              "\"message\":{\"role\":\"assistant\",\"content\":\"plain answer\"},"
              "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,"
              "\"completion_tokens\":3,\"total_tokens\":15}}"));
    else if (!strcmp (model, "nousage"))     /* a provider that reports no usage */
        rc = answer (con, 200, "application/json", strdup (
            "{\"id\":\"cmpl-nu\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            "\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},"
            "\"finish_reason\":\"stop\"}]}"));
    else if (!strcmp (model, "usage-echo"))  /* a provider whose usage the client names */
        rc = answer (con, 200, "application/json", dump (json_pack (
            "{s:s, s:s, s:s, s:[], s:O}", "id", "msg_ue", "type", "message", "role",
            "assistant", "content", "usage", json_object_get (body, "metadata"))));
    else if (!strcmp (model, "odd"))
        rc = stream (con, (feed_t) { gw_fake_odd_stream, strlen (gw_fake_odd_stream), 7, false,
                                     0 });
    else if (!strcmp (model, "stall")) {
        sleep (3);              /* past the gateway's upstream timeout (2 s in the test) */
        rc = answer (con, 200, "application/json", strdup ("{}"));
    }
    else if (!strcmp (model, "echo-key-stream"))
        rc = stream (con, (feed_t) { s_key_stream, strlen (s_key_stream), 5, false, 2000 });
    else if (!strcmp (model, "echo-key-encoded"))
        rc = answer (con, 400, "application/json", strdup (s_key_error));
    else if (!strcmp (model, "slow"))
        rc = stream (con, (feed_t) { s_slow_first, strlen (s_slow_first), 0, true, 0 });
    else if (!strcmp (model, "echo-key-pad"))     /* the client's `user`, then the key */
        rc = answer (con, 400, "application/json", dump (json_pack ("{s:{s:s++, s:s}}", "error",
                     "message", support_json_str (body, "user"), " ",
                     header (con, "Authorization"), "type", "invalid_key")));
    else if (!strcmp (model, "echo-key")) {
        out = dump (json_pack ("{s:{s:s, s:s}}", "error", "message", header (con,
                    anthropic ? "x-api-key" : "Authorization"), "type", "invalid_key"));
        rc = answer (con, 400, "application/json", out);
    }
    else {
        out = dump (json_pack ("{s:O, s:s, s:s, s:s, s:s, s:{s:i, s:i}}", "received",
                                     body ? body : json_null (), "auth",
                                     header (con, "Authorization"), "xapikey",
                                     header (con, "x-api-key"), "org",
                                     header (con, "OpenAI-Organization"), "beta",
                                     header (con, "anthropic-beta"), "usage", "prompt_tokens", 1,
                                     "completion_tokens", 1));
        rc = answer (con, 200, "application/json", out);
    }
    json_decref (body);
    return rc;
}

static void
on_up_done (void *cls, struct MHD_Connection *con, void **con_cls,
            enum MHD_RequestTerminationCode code)
{
    (void) cls;
    (void) con;
    upload_t *u = *con_cls;
    if (code != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        atomic_store (&s_cancelled, true);
    if (u) {
        free (u->buf);
        free (u);
    }
    *con_cls = NULL;
}

/* key with every character written as \u00XX (upper: in capitals). */
static void
json_escaped (const char *key, bool upper, char *out)
{
    for (const char *k = key; *k; k++)
        out += sprintf (out, upper ? "\\u%04X" : "\\u%04x", (unsigned char) *k);
}

void
gw_fake_upstream_key (const char *key)
{
    char esc[600], escu[600], pct[400] = "";
    json_escaped (key, false, esc);
    json_escaped (key, true, escu);
    char *p = pct;
    for (const char *k = key; *k; k++)
        p += sprintf (p, "%%%02x", (unsigned char) *k);
    snprintf (s_key_stream, sizeof s_key_stream, "data: {\"choices\":[{\"delta\":{"
              "\"content\":\"you sent Bearer %s, and %.5s%s\"}}]}\n\n"
              "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
              "\"completion_tokens\":2}}\n\ndata: [DONE]\n\n", key, key, esc + 30);
    snprintf (s_key_error, sizeof s_key_error, "{\"error\":{\"message\":\"bad key %s, "
              "%s, %.20s%s, url key=%s\",\"type\":\"invalid_key\"}}", esc, escu, key,
              esc + 6 * 20, pct);
}

const char *
gw_fake_upstream_auth (char *out, size_t n)
{
    pthread_mutex_lock (&s_auth_lock);
    snprintf (out, n, "%s", s_auth);
    pthread_mutex_unlock (&s_auth_lock);
    return out;
}

int
gw_fake_upstream_start (void)
{
    int port = support_free_port ();
    s_up = MHD_start_daemon (MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                             | MHD_USE_POLL, (uint16_t) port, NULL, NULL, on_up, NULL,
                             MHD_OPTION_NOTIFY_COMPLETED, on_up_done, NULL, MHD_OPTION_END);
    return s_up ? port : -1;
}

void
gw_fake_upstream_stop (void)
{
    if (s_up)
        MHD_stop_daemon (s_up);
    s_up = NULL;
}

bool
gw_fake_upstream_cancelled (void)
{
    return atomic_load (&s_cancelled);
}
