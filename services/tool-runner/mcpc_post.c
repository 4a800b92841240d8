/* mcpc_post: one exchange with a remote MCP server. See mcpc_post.h. */
#include "mcpc_post.h"

#include "mcpc_frame.h"
#include "mcpc_sse.h"
#include "xalloc.h"

#include <curl/curl.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EXCERPT 200             /* bytes of an error answer quoted */
/* Most of the server's requests answered per exchange (each waited for
 * MCPC_POST_ACK_MS): a hostile server cannot stretch a call far past its
 * timeout that way. */
#define ANSWERS_MAX 16

/* One exchange: a POST (or the DELETE) and what came back. */
typedef struct {
    const mcpc_post_to_t *to;
    CURL *curl;
    const char *method;
    long long id;                       /* the response awaited; -1: none */
    long status;
    char ctype[64];                     /* lower case, parameters included */
    char session[MCPC_SESSION_MAX + 1];
    bool bad_session;
    mcpc_sse_t *sse;
    char *body;                         /* a JSON answer, or an error's start */
    size_t len;
    size_t size;                        /* body's allocation */
    json_t *response;                   /* the response to id */
    bool answers;                       /* false: this is our answer to a request of the
                                         * server's, whose own answer's requests are not
                                         * answered (no chain of answers, no recursion) */
    int answered;                       /* requests of the server's answered */
    bool tools_changed;                 /* notifications/tools/list_changed came */
    char fault[512];                    /* why the answer is unusable */
} xfer_t;

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
        x->bad_session = !vlen || vlen > MCPC_SESSION_MAX;
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

static int exchange (const mcpc_post_to_t *to, const char *method, long long id,
                     const char *text, unsigned ms, bool answers, json_t **response,
                     mcpc_post_got_t *got, char *why, size_t whylen);

/* Answers a request the server made on a stream (ping: {}, else -32601).
 * Requests in the reply to this answer are not answered: a server that
 * answers each answer with a new request would otherwise nest exchanges
 * (each a curl_easy_perform on this stack) as deep as it likes. */
static void
answer_server (xfer_t *x, const json_t *msg)
{
    const char *method = json_string_value (json_object_get (msg, "method"));
    char *text = mcpc_frame_answer (msg);
    char why[256];
    exchange (x->to, method, -1, text, MCPC_POST_ACK_MS, false, NULL, NULL, why, sizeof why);
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
    if (kind == MCPC_MSG_REQUEST && x->answers && x->answered++ < ANSWERS_MAX)
        answer_server (x, msg);
    if (kind == MCPC_MSG_NOTIFICATION && !strcmp (json_string_value (json_object_get (
                                           msg, "method")), "notifications/tools/list_changed"))
        x->tools_changed = true;
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
    if (x->len + take + 1 > x->size) {  /* doubling: an 8 MiB answer is not copied per chunk */
        x->size = (x->len + take + 1) * 2;
        x->body = xrealloc (x->body, x->size);
    }
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

int
mcpc_post_fail (const mcpc_server_t *server, int rc, char *why, size_t whylen, const char *what)
{
    snprintf (why, whylen, "MCP server %s %s", server->name, what);
    tame (why);
    return rc;
}

/* What an exchange that brought no response came to: why, and the code. */
static int
judge (xfer_t *x, CURLcode rc, const char *errbuf, char *why, size_t whylen)
{
    char what[1024];
    const char *m = x->method;
    const mcpc_server_t *server = x->to->server;
    unsigned secs = (server->timeout_ms + 999) / 1000;
    curl_off_t connected = 0;
    curl_easy_getinfo (x->curl, CURLINFO_CONNECT_TIME_T, &connected);
    if (*x->fault)
        return mcpc_post_fail (server, MCPC_HTTP_FAILED, why, whylen, x->fault);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return mcpc_post_fail (server, MCPC_HTTP_FAILED, why, whylen, "was not asked: tool-runner is stopping");
    if (rc != CURLE_OK && !x->status && !connected) {
        snprintf (what, sizeof what, "is unreachable: %s", *errbuf ? errbuf
                                                                   : curl_easy_strerror (rc));
        return mcpc_post_fail (server, MCPC_HTTP_UNREACHABLE, why, whylen, what);
    }
    if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf (what, sizeof what, "did not answer %s within %u s", m, secs);
    else if (rc == CURLE_OUT_OF_MEMORY)     /* libcurl's word for a header past its cap */
        snprintf (what, sizeof what, "broke off its answer to %s: a response header was "
                  "larger than %d KB", m, CURL_MAX_HTTP_HEADER >> 10);
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
    return mcpc_post_fail (server, MCPC_HTTP_FAILED, why, whylen, what);
}

/* mcpc_post, answering the server's requests on the way only when
 * answers is true. */
static int
exchange (const mcpc_post_to_t *to, const char *method, long long id, const char *text,
          unsigned ms, bool answers, json_t **response, mcpc_post_got_t *got, char *why,
          size_t whylen)
{
    const mcpc_server_t *s = to->server;
    CURL *curl = curl_easy_init ();
    if (!curl)
        return mcpc_post_fail (s, MCPC_HTTP_FAILED, why, whylen, "could not be asked: no libcurl");
    xfer_t x = { .to = to, .curl = curl, .method = method, .id = id, .answers = answers };
    struct curl_slist *headers = NULL;
    char line[4400];
    headers = curl_slist_append (headers, "Content-Type: application/json");
    headers = curl_slist_append (headers, "Accept: application/json, text/event-stream");
    headers = curl_slist_append (headers, "Expect:");
    if (*to->version) {
        snprintf (line, sizeof line, "MCP-Protocol-Version: %s", to->version);
        headers = curl_slist_append (headers, line);
    }
    if (*to->session) {
        snprintf (line, sizeof line, "Mcp-Session-Id: %s", to->session);
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
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, (void *) to->abort);
    CURLcode rc = curl_easy_perform (curl);
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &x.status);
    int result = 0;
    if (x.bad_session)
        result = mcpc_post_fail (s, MCPC_HTTP_FAILED, why, whylen,
                                 "sent an unusable Mcp-Session-Id (1-256 visible ASCII characters)");
    else if (id >= 0 && !x.response)
        result = judge (&x, rc, errbuf, why, whylen);
    else if (id < 0 && (rc != CURLE_OK || x.status < 200 || x.status > 299))
        result = judge (&x, rc, errbuf, why, whylen);
    if (got) {
        got->status = x.status;
        got->tools_changed = x.tools_changed;
        memcpy (got->session, x.session, sizeof got->session);
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

int
mcpc_post (const mcpc_post_to_t *to, const char *method, long long id, const char *text,
           unsigned ms, json_t **response, mcpc_post_got_t *got, char *why, size_t whylen)
{
    return exchange (to, method, id, text, ms, true, response, got, why, whylen);
}
