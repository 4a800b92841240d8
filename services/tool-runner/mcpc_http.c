/* mcpc_http: a remote MCP server over Streamable HTTP. See mcpc_http.h. */
#include "mcpc_http.h"

#include "mcpc_frame.h"
#include "mcpc_sse.h"
#include "mcpc_tools.h"
#include "xalloc.h"

#include <curl/curl.h>

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SESSION_MAX 256         /* longest Mcp-Session-Id taken */
#define EXCERPT 200             /* bytes of an error answer quoted */
/* Waits for what the server only acknowledges (an answer to its request,
 * the end of a session), and most of its requests answered per exchange:
 * a hostile server cannot stretch a call far past its timeout that way. */
#define ACK_MS 1000
#define ANSWERS_MAX 16

struct _mcpc_http_t {
    const mcpc_server_t *server;
    const atomic_bool *abort;
    pthread_mutex_t lock;               /* session, version, generation */
    pthread_mutex_t init_lock;          /* one initialize at a time */
    char session[SESSION_MAX + 1];      /* "" when the server gave none */
    char version[16];                   /* "" until initialized */
    unsigned generation;                /* sessions initialized so far */
    atomic_llong next_id;
};

/* One exchange: a POST (or the DELETE) and what came back. */
typedef struct {
    mcpc_http_t *self;
    CURL *curl;
    const char *method;
    long long id;                       /* the response awaited; -1: none */
    long status;
    char ctype[64];                     /* lower case, parameters included */
    char session[SESSION_MAX + 1];
    bool bad_session;
    mcpc_sse_t *sse;
    char *body;                         /* a JSON answer, or an error's start */
    size_t len;
    json_t *response;                   /* the response to id */
    int answered;                       /* requests of the server's answered */
    char fault[512];                    /* why the answer is unusable */
} xfer_t;

/* The session's view a request is sent with. */
typedef struct {
    unsigned generation;
    char session[SESSION_MAX + 1];
    char version[16];
} view_t;

static int post (mcpc_http_t *self, const char *method, long long id, const char *text,
                 const view_t *view, unsigned ms, json_t **response, xfer_t *out, char *why,
                 size_t whylen);

static void
snapshot (mcpc_http_t *self, view_t *view)
{
    pthread_mutex_lock (&self->lock);
    view->generation = self->generation;
    memcpy (view->session, self->session, sizeof view->session);
    memcpy (view->version, self->version, sizeof view->version);
    pthread_mutex_unlock (&self->lock);
}

/* Keeps why printable ASCII: it quotes the server (a body, a parse error
 * near its bytes) and must stay valid UTF-8 and one line in a result. */
static void
tame (char *why)
{
    for (; *why; why++)
        if ((unsigned char) *why < 0x20 || (unsigned char) *why > 0x7e)
            *why = (unsigned char) *why > 0x7e ? '?' : ' ';
}

static size_t
on_header (char *data, size_t size, size_t n, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * n;
    if (len >= 5 && !strncmp (data, "HTTP/", 5)) {     /* a new response: after a 1xx */
        x->ctype[0] = x->session[0] = '\0';
        x->bad_session = false;
        return len;
    }
    const char *colon = memchr (data, ':', len);
    if (!colon)
        return len;
    size_t name = (size_t) (colon - data), from = name + 1, to = len;
    while (from < to && (data[from] == ' ' || data[from] == '\t'))
        from++;
    while (to > from && isspace ((unsigned char) data[to - 1]))
        to--;
    const char *v = data + from;
    size_t vlen = to - from;
    if (name == 12 && !strncasecmp (data, "content-type", 12)) {
        size_t k = vlen < sizeof x->ctype - 1 ? vlen : sizeof x->ctype - 1;
        /* cppcheck-suppress knownConditionTrueFalse ; k follows the header's length */
        for (size_t i = 0; i < k; i++)
            x->ctype[i] = (char) tolower ((unsigned char) v[i]);
        x->ctype[k] = '\0';
    }
    else if (name == 14 && !strncasecmp (data, "mcp-session-id", 14)) {
        /* visible ASCII only (the spec's rule): it goes back as a header */
        x->bad_session = !vlen || vlen > SESSION_MAX;
        /* cppcheck-suppress knownConditionTrueFalse ; vlen is the header's length */
        for (size_t i = 0; i < vlen && !x->bad_session; i++)
            x->bad_session = v[i] < 0x21 || v[i] > 0x7e;
        if (!x->bad_session) {
            memcpy (x->session, v, vlen);
            x->session[vlen] = '\0';
        }
    }
    return len;
}

/* A JSON-RPC message from the server's text: its kind and *msg, or
 * MCPC_MSG_INVALID with why. */
static mcpc_msg_kind_t
parse_msg (const char *text, size_t len, json_t **msg, char *why, size_t whylen)
{
    json_error_t jerr;
    *msg = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*msg) {
        snprintf (why, whylen, "not JSON: %s", jerr.text);
        return MCPC_MSG_INVALID;
    }
    mcpc_msg_kind_t kind = mcpc_msg_classify (*msg, why, whylen);
    if (kind == MCPC_MSG_INVALID) {
        json_decref (*msg);
        *msg = NULL;
    }
    return kind;
}

static bool
is_response_to (const json_t *msg, long long id)
{
    const json_t *msg_id = json_object_get (msg, "id");
    return json_is_integer (msg_id) && json_integer_value (msg_id) == id;
}

/* Answers a request the server made on a stream (ping: {}, else -32601). */
static void
answer_server (xfer_t *x, const json_t *msg)
{
    const char *method = json_string_value (json_object_get (msg, "method"));
    json_t *rep = json_pack ("{s:s, s:O}", "jsonrpc", "2.0", "id", json_object_get (msg, "id"));
    if (!strcmp (method, "ping"))
        json_object_set_new (rep, "result", json_object ());
    else
        json_object_set_new (rep, "error", json_pack ("{s:i, s:s}", "code", -32601, "message",
                                                      "Caisson's client does not offer this"));
    char *text = json_dumps (rep, JSON_COMPACT);
    json_decref (rep);
    view_t view;
    snapshot (x->self, &view);
    char why[256];
    post (x->self, method, -1, text, &view, ACK_MS, NULL, NULL, why, sizeof why);
    free (text);
}

/* One SSE event of an answer: the response awaited stops the stream. */
static int
on_event (void *arg, const char *type, const char *data, size_t len)
{
    xfer_t *x = arg;
    if (strcmp (type, "message"))
        return 0;               /* not an MCP message */
    json_t *msg;
    char why[256];
    mcpc_msg_kind_t kind = parse_msg (data, len, &msg, why, sizeof why);
    if (kind == MCPC_MSG_INVALID) {
        snprintf (x->fault, sizeof x->fault, "sent an invalid JSON-RPC frame: %s", why);
        return 1;
    }
    if (kind == MCPC_MSG_RESPONSE && is_response_to (msg, x->id)) {
        x->response = msg;
        return 1;
    }
    if (kind == MCPC_MSG_REQUEST && x->answered++ < ANSWERS_MAX)
        answer_server (x, msg);
    json_decref (msg);          /* progress, log messages, late answers */
    return 0;
}

static size_t
on_body (char *data, size_t size, size_t n, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * n;
    if (!x->status)
        curl_easy_getinfo (x->curl, CURLINFO_RESPONSE_CODE, &x->status);
    bool ok = x->status >= 200 && x->status <= 299;
    if (ok && !strncmp (x->ctype, "text/event-stream", 17)) {
        if (!x->sse)
            x->sse = mcpc_sse_new (MCPC_LINE_MAX, on_event, x);
        int rc = mcpc_sse_feed (x->sse, data, len);
        if (rc < 0)
            snprintf (x->fault, sizeof x->fault, "sent an answer larger than %zu MiB to %s "
                      "(cut off)", MCPC_LINE_MAX >> 20, x->method);
        return rc ? 0 : len;    /* 0 ends the transfer: answered, or unusable */
    }
    size_t cap = ok ? MCPC_LINE_MAX : EXCERPT;
    if (x->len + len > cap && ok) {
        snprintf (x->fault, sizeof x->fault, "sent an answer larger than %zu MiB to %s "
                  "(cut off)", MCPC_LINE_MAX >> 20, x->method);
        return 0;
    }
    size_t take = x->len + len > cap ? cap - x->len : len;
    x->body = xrealloc (x->body, x->len + take + 1);
    memcpy (x->body + x->len, data, take);
    x->len += take;
    x->body[x->len] = '\0';
    return len;
}

static int
on_progress (void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
             curl_off_t ulnow)
{
    (void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
    const atomic_bool *abort = arg;
    return abort && *abort;
}

/* Sets why to "MCP server <name> <what>"; returns rc. */
static int
fail (mcpc_http_t *self, int rc, char *why, size_t whylen, const char *what)
{
    snprintf (why, whylen, "MCP server %s %s", self->server->name, what);
    tame (why);
    return rc;
}

/* What an exchange that brought no response came to: why, and the code. */
static int
judge (mcpc_http_t *self, xfer_t *x, CURLcode rc, const char *errbuf, char *why, size_t whylen)
{
    char what[1024];
    const char *m = x->method;
    unsigned secs = (self->server->timeout_ms + 999) / 1000;
    curl_off_t connected = 0;
    curl_easy_getinfo (x->curl, CURLINFO_CONNECT_TIME_T, &connected);
    if (*x->fault)
        return fail (self, MCPC_HTTP_FAILED, why, whylen, x->fault);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return fail (self, MCPC_HTTP_FAILED, why, whylen, "was not asked: tool-runner is stopping");
    if (rc != CURLE_OK && !x->status && !connected) {
        snprintf (what, sizeof what, "is unreachable: %s", *errbuf ? errbuf
                                                                   : curl_easy_strerror (rc));
        return fail (self, MCPC_HTTP_UNREACHABLE, why, whylen, what);
    }
    if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf (what, sizeof what, "did not answer %s within %u s", m, secs);
    else if (rc != CURLE_OK)
        snprintf (what, sizeof what, "broke off its answer to %s: %s", m,
                  *errbuf ? errbuf : curl_easy_strerror (rc));
    else if (x->status >= 300 && x->status <= 399) {
        char *to = NULL;
        curl_easy_getinfo (x->curl, CURLINFO_REDIRECT_URL, &to);
        snprintf (what, sizeof what, "answered HTTP %ld to %s, a redirect to %.300s (not "
                  "followed: give the final URL in mcp.json)", x->status, m, to ? to : "?");
    }
    else if (x->status < 200 || x->status > 299)
        snprintf (what, sizeof what, "answered HTTP %ld to %s%s%s%s", x->status, m,
                  x->len ? ": " : "", x->len ? x->body : "",
                  x->status == 401 || x->status == 403 ? " (check the entry's `headers`, "
                                                         "e.g. its Authorization)" : "");
    else if (x->sse)
        snprintf (what, sizeof what, "closed its event stream without answering %s", m);
    else if (!strncmp (x->ctype, "application/json", 16)) {
        json_t *msg;
        char reason[512];
        mcpc_msg_kind_t kind = parse_msg (x->body ? x->body : "", x->len, &msg, reason,
                                          sizeof reason);
        if (kind == MCPC_MSG_RESPONSE && is_response_to (msg, x->id)) {
            x->response = msg;
            return 0;
        }
        json_decref (msg);
        snprintf (what, sizeof what, "sent an invalid JSON-RPC frame: %s",
                  kind == MCPC_MSG_INVALID ? reason : "it is not the response to the request");
    }
    else if (!x->len)
        snprintf (what, sizeof what, "answered %s with HTTP %ld and no response", m, x->status);
    else
        snprintf (what, sizeof what, "answered %s as %s, neither application/json nor "
                  "text/event-stream", m, *x->ctype ? x->ctype : "untyped data");
    return fail (self, MCPC_HTTP_FAILED, why, whylen, what);
}

/* POSTs text (one JSON-RPC message; NULL: DELETE the session) with view's
 * session and revision, and waits up to ms for the response to id (-1:
 * none wanted). 0 with *response (when id >= 0) a new reference, else
 * MCPC_HTTP_FAILED or _UNREACHABLE with why. out (may be NULL) gets the
 * status and the session the server gave. */
static int
post (mcpc_http_t *self, const char *method, long long id, const char *text,
      const view_t *view, unsigned ms, json_t **response, xfer_t *out, char *why,
      size_t whylen)
{
    const mcpc_server_t *s = self->server;
    CURL *curl = curl_easy_init ();
    if (!curl)
        return fail (self, MCPC_HTTP_FAILED, why, whylen, "could not be asked: no libcurl");
    xfer_t x = { .self = self, .curl = curl, .method = method, .id = id };
    struct curl_slist *headers = NULL;
    char line[4400];
    headers = curl_slist_append (headers, "Content-Type: application/json");
    headers = curl_slist_append (headers, "Accept: application/json, text/event-stream");
    headers = curl_slist_append (headers, "Expect:");
    if (*view->version) {
        snprintf (line, sizeof line, "MCP-Protocol-Version: %s", view->version);
        headers = curl_slist_append (headers, line);
    }
    if (*view->session) {
        snprintf (line, sizeof line, "Mcp-Session-Id: %s", view->session);
        headers = curl_slist_append (headers, line);
    }
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) s->headers, key, value) {
        snprintf (line, sizeof line, "%s: %s", key, json_string_value (value));
        headers = curl_slist_append (headers, line);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt (curl, CURLOPT_URL, s->url);
    if (text)
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, text);
    else
        curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, "DELETE");
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "caisson-tool-runner");
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) ms);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, (void *) self->abort);
    CURLcode rc = curl_easy_perform (curl);
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &x.status);
    int result = 0;
    if (x.bad_session)
        result = fail (self, MCPC_HTTP_FAILED, why, whylen,
                       "sent an unusable Mcp-Session-Id (1-256 visible ASCII characters)");
    else if (id >= 0 && !x.response)
        result = judge (self, &x, rc, errbuf, why, whylen);
    else if (id < 0 && (rc != CURLE_OK || x.status < 200 || x.status > 299))
        result = judge (self, &x, rc, errbuf, why, whylen);
    if (out) {
        out->status = x.status;
        memcpy (out->session, x.session, sizeof out->session);
    }
    if (response && !result)
        *response = x.response;
    else
        json_decref (x.response);
    mcpc_sse_destroy (&x.sse);
    free (x.body);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return result;
}

/* The result of a JSON-RPC response msg (consumed) to method: 0 with
 * *result a new reference, or MCPC_HTTP_FAILED with why (its error). */
static int
take_result (mcpc_http_t *self, const char *method, json_t *msg, json_t **result, char *why,
             size_t whylen)
{
    json_t *error = json_object_get (msg, "error");
    int rc = 0;
    if (error) {
        char what[512];
        snprintf (what, sizeof what, "answered %s with error %lld: %.200s", method,
                  (long long) json_integer_value (json_object_get (error, "code")),
                  json_string_value (json_object_get (error, "message")));
        rc = fail (self, MCPC_HTTP_FAILED, why, whylen, what);
    }
    else
        *result = json_incref (json_object_get (msg, "result"));
    json_decref (msg);
    return rc;
}

/* Initializes a new session, unless one newer than the generation the
 * caller saw was made meanwhile (by another thread). 0, or a failure. */
static int
initialize (mcpc_http_t *self, unsigned seen, char *why, size_t whylen)
{
    pthread_mutex_lock (&self->init_lock);
    view_t view = { 0 };
    snapshot (self, &view);
    if (view.generation != seen) {
        pthread_mutex_unlock (&self->init_lock);
        return 0;
    }
    view.session[0] = view.version[0] = '\0';
    json_t *params = mcpc_initialize_params ();
    long long id = self->next_id++;
    char *text = mcpc_frame_request (id, "initialize", params);
    json_decref (params);
    json_t *msg = NULL, *result = NULL;
    xfer_t got = { 0 };
    int rc = post (self, "initialize", id, text, &view, self->server->timeout_ms, &msg, &got,
                   why, whylen);
    free (text);
    if (!rc)
        rc = take_result (self, "initialize", msg, &result, why, whylen);
    char reason[256];
    const char *version = rc ? NULL : mcpc_initialize_version (result, reason, sizeof reason);
    if (!rc && !version) {
        char what[400];
        snprintf (what, sizeof what, "failed to start: %s", reason);
        rc = fail (self, MCPC_HTTP_FAILED, why, whylen, what);
    }
    if (!rc) {
        snprintf (view.version, sizeof view.version, "%s", version);
        memcpy (view.session, got.session, sizeof view.session);
        text = mcpc_frame_request (-1, "notifications/initialized", NULL);
        rc = post (self, "notifications/initialized", -1, text, &view, self->server->timeout_ms,
                   NULL, NULL, why, whylen);
        free (text);
    }
    json_decref (result);
    if (!rc) {
        pthread_mutex_lock (&self->lock);
        memcpy (self->session, view.session, sizeof self->session);
        memcpy (self->version, view.version, sizeof self->version);
        self->generation++;
        pthread_mutex_unlock (&self->lock);
    }
    pthread_mutex_unlock (&self->init_lock);
    return rc;
}

mcpc_http_t *
mcpc_http_new (const mcpc_server_t *server, const atomic_bool *abort)
{
    mcpc_http_t *self = xcalloc (1, sizeof *self);
    self->server = server;
    self->abort = abort;
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->init_lock, NULL);
    return self;
}

void
mcpc_http_destroy (mcpc_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcpc_http_t *self = *self_p;
    view_t view;
    snapshot (self, &view);
    char why[256];
    if (*view.session)          /* the spec asks clients to end what they began */
        post (self, "DELETE", -1, NULL, &view, ACK_MS, NULL, NULL, why, sizeof why);
    pthread_mutex_destroy (&self->lock);
    pthread_mutex_destroy (&self->init_lock);
    free (self);
    *self_p = NULL;
}

int
mcpc_http_request (mcpc_http_t *self, const char *method, const json_t *params,
                   json_t **result, char *why, size_t whylen)
{
    *result = NULL;
    view_t view;
    snapshot (self, &view);
    int rc = *view.version ? 0 : initialize (self, view.generation, why, whylen);
    for (int attempt = 0; !rc; attempt++) {
        snapshot (self, &view);
        long long id = self->next_id++;
        char *text = mcpc_frame_request (id, method, params);
        json_t *msg = NULL;
        xfer_t got = { 0 };
        rc = post (self, method, id, text, &view, self->server->timeout_ms, &msg, &got, why,
                   whylen);
        free (text);
        if (!rc)
            return take_result (self, method, msg, result, why, whylen);
        /* A 404 to a session: the server forgot it (a restart); once more
         * on a new one. */
        if (got.status != 404 || !*view.session || attempt)
            break;
        rc = initialize (self, view.generation, why, whylen);
    }
    return rc;
}

/* mcpc_request_fn over mcpc_http_request. */
static int
request_fn (void *conn, const char *method, const json_t *params, json_t **result, char *why,
            size_t whylen)
{
    return mcpc_http_request (conn, method, params, result, why, whylen);
}

json_t *
mcpc_http_tools (mcpc_http_t *self, json_t *skipped, char *why, size_t whylen)
{
    view_t view;
    snapshot (self, &view);
    if (initialize (self, view.generation, why, whylen))
        return NULL;
    return mcpc_tools_list (self->server, request_fn, self, skipped, why, whylen);
}

void
mcpc_http_version (mcpc_http_t *self, char *buf, size_t size)
{
    pthread_mutex_lock (&self->lock);
    snprintf (buf, size, "%s", self->version);
    pthread_mutex_unlock (&self->lock);
}
