/* llm_client: see llm_client.h. curl's sockets go into one epoll set,
 * which is a single zloop poller (so a thousand open streams do not make
 * every loop iteration poll a thousand descriptors); curl's timer is one
 * zloop timer; completed transfers are collected after each
 * curl_multi_socket_action. */
#define _GNU_SOURCE
#include "llm_client.h"
#include "clog.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

struct _llm_client_t {
    zloop_t *loop;
    CURLM *multi;
    int timer;                  /* curl's timeout, or -1 */
    int epfd;                   /* curl's sockets */
    int retries;
    uint64_t total_ms, idle_ms;
};

struct _llm_req_t {
    llm_client_t *client;
    CURL *easy;
    struct curl_slist *headers;
    const llm_provider_t *provider;
    char *url, *body;
    llm_stream_t *stream;
    llm_delta_fn *delta;
    llm_done_fn *done;
    void *arg;
    uint64_t deadline;
    int attempts;
    int retry_timer;            /* waiting to retry, or -1 */
    long status;
    uint64_t retry_after_ms;
    bool via;                   /* to the model gateway: its budget refusals are read */
    char budget[64];            /* its x-caisson-budget of the last attempt, or "" */
    char errbody[512];
    size_t errlen;
    char curl_err[CURL_ERROR_SIZE];
};

static void check_done (llm_client_t *self);

static int
on_sockets_ready (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    llm_client_t *self = arg;
    struct epoll_event evs[64];
    int n, running;
    while ((n = epoll_wait (self->epfd, evs, 64, 0)) > 0) {
        for (int i = 0; i < n; i++) {
            int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0)
                      | (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0)
                      | (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action (self->multi, evs[i].data.fd, flags, &running);
        }
        check_done (self);
        if (n < 64)
            break;
    }
    return 0;
}

static int
on_socket (CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void) easy;
    llm_client_t *self = userp;
    if (what == CURL_POLL_REMOVE) {
        if (socketp)
            epoll_ctl (self->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign (self->multi, s, NULL);
        return 0;
    }
    struct epoll_event ev = { .events = (what & CURL_POLL_IN ? EPOLLIN : 0)
                                      | (what & CURL_POLL_OUT ? EPOLLOUT : 0) };
    ev.data.fd = s;
    if (epoll_ctl (self->epfd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev))
        return -1;
    curl_multi_assign (self->multi, s, self);
    return 0;
}

static int
on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    llm_client_t *self = arg;
    self->timer = -1;
    int running;
    curl_multi_socket_action (self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done (self);
    return 0;
}

static int
on_curl_timer (CURLM *multi, long timeout_ms, void *userp)
{
    (void) multi;
    llm_client_t *self = userp;
    if (self->timer >= 0)
        zloop_timer_end (self->loop, self->timer);
    self->timer = timeout_ms < 0 ? -1
                                 : zloop_timer (self->loop, (size_t) timeout_ms, 1, on_timer, self);
    return 0;
}

llm_client_t *
llm_client_new (zloop_t *loop)
{
    llm_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    curl_global_init (CURL_GLOBAL_DEFAULT);
    self->loop = loop;
    self->timer = -1;
    self->retries = 4;
    self->total_ms = 120000;
    self->idle_ms = 12000;
    self->multi = curl_multi_init ();
    self->epfd = epoll_create1 (EPOLL_CLOEXEC);
    zmq_pollitem_t item = { NULL, self->epfd, ZMQ_POLLIN, 0 };
    if (!self->multi || self->epfd < 0 || zloop_poller (loop, &item, on_sockets_ready, self)) {
        if (self->multi)
            curl_multi_cleanup (self->multi);
        if (self->epfd >= 0)
            close (self->epfd);
        free (self);
        return NULL;
    }
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 2048L);
    /* idle connections kept for reuse: enough for steady traffic, without
     * a thousand-run burst leaving a thousand open behind it */
    curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS, 128L);
    return self;
}

void
llm_client_destroy (llm_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    llm_client_t *self = *self_p;
    if (self->timer >= 0)
        zloop_timer_end (self->loop, self->timer);
    zmq_pollitem_t item = { NULL, self->epfd, ZMQ_POLLIN, 0 };
    zloop_poller_end (self->loop, &item);
    curl_multi_cleanup (self->multi);
    close (self->epfd);
    free (self);
    *self_p = NULL;
}

void
llm_client_set_limits (llm_client_t *self, int retries, uint64_t total_ms, uint64_t idle_ms)
{
    self->retries = retries;
    self->total_ms = total_ms;
    self->idle_ms = idle_ms;
}

static void
on_delta (const char *text, size_t len, void *arg)
{
    llm_req_t *req = arg;
    if (req->delta)
        req->delta (text, len, req->arg);
}

static size_t
on_body (char *data, size_t size, size_t n, void *arg)
{
    llm_req_t *req = arg;
    size_t len = size * n;
    if (!req->status)
        curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &req->status);
    if (req->status != 200) {
        size_t room = sizeof req->errbody - 1 - req->errlen;
        size_t k = len < room ? len : room;
        memcpy (req->errbody + req->errlen, data, k);
        req->errlen += k;
        req->errbody[req->errlen] = '\0';
        return len;
    }
    return llm_stream_feed (req->stream, data, len) == 0 ? len : 0;
}

static size_t
on_header (char *data, size_t size, size_t n, void *arg)
{
    llm_req_t *req = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp (data, "retry-after:", 12) == 0) {
        char *end;
        double secs = strtod (data + 12, &end);
        if (end != data + 12 && secs >= 0 && secs < 3600)
            req->retry_after_ms = (uint64_t) (secs * 1000);
    }
    else if (req->via && len > 17 && strncasecmp (data, "x-caisson-budget:", 17) == 0) {
        const char *v = data + 17;
        size_t vn = len - 17;
        for (; vn && (*v == ' ' || *v == '\t'); v++, vn--) {}
        while (vn && strchr (" \t\r\n", v[vn - 1]))
            vn--;
        snprintf (req->budget, sizeof req->budget, "%.*s", (int) vn, v);
    }
    return len;
}

static void
free_req (llm_req_t *req)
{
    if (req->easy) {
        curl_multi_remove_handle (req->client->multi, req->easy);
        curl_easy_cleanup (req->easy);
    }
    if (req->retry_timer >= 0)
        zloop_timer_end (req->client->loop, req->retry_timer);
    curl_slist_free_all (req->headers);
    llm_stream_destroy (&req->stream);
    free (req->url);
    free (req->body);
    free (req);
}

/* Starts one HTTP attempt. Returns 0 or -1. */
static int
attempt (llm_req_t *req)
{
    llm_client_t *c = req->client;
    llm_stream_destroy (&req->stream);
    req->stream = llm_stream_new (req->provider->proto, on_delta, req);
    req->easy = curl_easy_init ();
    if (!req->stream || !req->easy)
        return -1;
    req->attempts++;
    req->status = 0;
    req->retry_after_ms = 0;
    req->budget[0] = '\0';
    req->errlen = 0;
    req->errbody[0] = req->curl_err[0] = '\0';
    CURL *e = req->easy;
    curl_easy_setopt (e, CURLOPT_URL, req->url);
    curl_easy_setopt (e, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt (e, CURLOPT_HEADERDATA, req);
    curl_easy_setopt (e, CURLOPT_PRIVATE, req);
    curl_easy_setopt (e, CURLOPT_ERRORBUFFER, req->curl_err);
    curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, (long) c->total_ms);
    curl_easy_setopt (e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt (e, CURLOPT_LOW_SPEED_TIME, (long) (c->idle_ms < 1000 ? 1 : c->idle_ms / 1000));
    curl_easy_setopt (e, CURLOPT_TCP_NODELAY, 1L);
    /* small buffers: a thousand streams in flight at 16 KiB each add up */
    curl_easy_setopt (e, CURLOPT_BUFFERSIZE, 4096L);
    return curl_multi_add_handle (c->multi, e) == CURLM_OK ? 0 : -1;
}

static int
on_retry (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    llm_req_t *req = arg;
    req->retry_timer = -1;
    if (attempt (req)) {
        llm_result_t r = { NULL, "cannot start the model request", req->attempts, 0,
                           LLM_FINISH_ERROR, false, NULL };
        req->done (&r, req->arg);
        free_req (req);
    }
    return 0;
}

/* The backoff before retry number n (from 1): Retry-After when the
 * server gave one, else 500 ms doubling to 30 s, with +-25% jitter. */
static uint64_t
backoff_ms (const llm_req_t *req)
{
    if (req->retry_after_ms)
        return req->retry_after_ms;
    uint64_t base = 500u << (req->attempts - 1 < 6 ? req->attempts - 1 : 6);
    if (base > 30000)
        base = 30000;
    return base * 3 / 4 + (uint64_t) (random () % (long) (base / 2 + 1));
}

/* Whether an HTTP error status may succeed on another try: timeouts,
 * conflicts, rate limits and server faults; not a request the provider
 * rejected (400 bad, 401 key, 403 forbidden, 404 model, 413, 422). */
static bool
status_retryable (long status)
{
    return status == 408 || status == 409 || status == 429 || status >= 500;
}

/* An HTTP error in the provider's words: its error body's type and
 * message (OpenAI {"error":{message,type}}, Anthropic {"type":"error",
 * "error":{type,message}}, Mistral {"object":"error","message",...}),
 * else the body as it came. The gateway's budget refusal (402 or 403 with
 * its x-caisson-budget header, or code `budget_exceeded` when a proxy
 * dropped the header) is its message alone, and sets *over_budget. */
static void
http_error (llm_req_t *req, char *why, size_t whylen, bool *over_budget)
{
    json_t *body = json_loads (req->errbody, 0, NULL);
    json_t *err = json_object_get (body, "error");
    if (!json_is_object (err))
        err = body;
    const char *msg = json_string_value (json_object_get (err, "message"));
    const char *type = json_string_value (json_object_get (err, "type"));
    const char *code = json_string_value (json_object_get (err, "code"));
    *over_budget = req->via && (req->status == 402 || req->status == 403)
                && (req->budget[0] || (code && !strcmp (code, "budget_exceeded")));
    if (*over_budget && !req->budget[0])
        snprintf (req->budget, sizeof req->budget, "budget");
    if (*over_budget)
        snprintf (why, whylen, "%.600s", msg ? msg : req->errbody);
    else if (msg)
        snprintf (why, whylen, "model answered HTTP %ld: %s%s%.400s", req->status,
                  type ? type : "", type ? ": " : "", msg);
    else
        snprintf (why, whylen, "model answered HTTP %ld: %.400s", req->status, req->errbody);
    json_decref (body);
}

static void
finish (llm_req_t *req, CURLcode code)
{
    char why[700];
    llm_turn_t *turn = NULL;
    llm_turn_t *t = llm_stream_turn (req->stream);
    bool retryable = false, over_budget = false;
    if (req->status == 0)
        curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &req->status);
    if (req->status == 200 && t->error[0]) {
        /* the stream's own fault (a provider error event, a parse fault):
         * curl only saw the write callback refuse the rest */
        snprintf (why, sizeof why, "%s", t->error);
        retryable = strncmp (why, "provider error", 14) ? true : t->retryable;
    }
    else if (req->status == 200 && code == CURLE_OK) {
        if (llm_stream_finish (req->stream) == 0) {
            turn = t;
            llm_turn_estimate (turn, strlen (req->body));
        }
        else {
            snprintf (why, sizeof why, "%s", t->error);
            retryable = strncmp (why, "stream cut", 10) == 0;
        }
    }
    else if (req->status == 200 || req->status == 0) {
        snprintf (why, sizeof why, "stream cut: %s", req->curl_err[0] ? req->curl_err
                                                                      : curl_easy_strerror (code));
        retryable = true;
    }
    else {
        http_error (req, why, sizeof why, &over_budget);
        retryable = !over_budget && status_retryable (req->status);
    }
    curl_multi_remove_handle (req->client->multi, req->easy);
    curl_easy_cleanup (req->easy);
    req->easy = NULL;
    if (!turn && retryable && req->attempts <= req->client->retries) {
        uint64_t wait = backoff_ms (req);
        if (!req->deadline || zclock_mono () + (int64_t) wait < (int64_t) req->deadline) {
            clog_warn (NULL, "model call attempt %d failed (%s); retrying in %llu ms",
                       req->attempts, why, (unsigned long long) wait);
            req->retry_timer = zloop_timer (req->client->loop, wait, 1, on_retry, req);
            return;
        }
    }
    llm_result_t r = { turn, turn ? NULL : why, req->attempts, req->status,
                       turn ? turn->finish : LLM_FINISH_ERROR, !turn && retryable,
                       !turn && over_budget ? req->budget : NULL };
    req->done (&r, req->arg);
    free_req (req);
}

static void
check_done (llm_client_t *self)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read (self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        llm_req_t *req;
        curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
        finish (req, msg->data.result);
    }
}

/* A call to base with key; via: base is the model gateway's. */
static llm_req_t *
post (llm_client_t *self, const llm_provider_t *p, const char *base, const char *key, bool via,
      const char *body, uint64_t deadline, llm_delta_fn *delta, llm_done_fn *done, void *arg)
{
    llm_req_t *req = calloc (1, sizeof *req);
    if (!req)
        return NULL;
    req->client = self;
    req->provider = p;
    req->delta = delta;
    req->done = done;
    req->arg = arg;
    req->deadline = deadline;
    req->retry_timer = -1;
    req->via = via;
    const char *path = p->proto == LLM_ANTHROPIC ? "/messages" : "/chat/completions";
    req->url = malloc (strlen (base) + strlen (path) + 1);
    req->body = llm_provider_adapt (p, body);
    if (!req->url || !req->body) {
        free_req (req);
        return NULL;
    }
    strcpy (req->url, base);
    strcat (req->url, path);
    req->headers = curl_slist_append (NULL, "Content-Type: application/json");
    req->headers = curl_slist_append (req->headers, "Accept: text/event-stream");
    char *auth = NULL;
    if (key && p->proto == LLM_ANTHROPIC) {
        req->headers = curl_slist_append (req->headers, "anthropic-version: 2023-06-01");
        if (asprintf (&auth, "x-api-key: %s", key) < 0)
            auth = NULL;
    }
    else if (key && asprintf (&auth, "Authorization: Bearer %s", key) < 0)
        auth = NULL;
    if (auth) {
        req->headers = curl_slist_append (req->headers, auth);
        memset (auth, 0, strlen (auth));
        free (auth);
    }
    if (attempt (req)) {
        free_req (req);
        return NULL;
    }
    return req;
}

llm_req_t *
llm_client_post (llm_client_t *self, const llm_provider_t *p, const char *body,
                 uint64_t deadline, llm_delta_fn *delta, llm_done_fn *done, void *arg)
{
    return post (self, p, llm_provider_url (p), llm_provider_key (p), false, body, deadline,
                 delta, done, arg);
}

llm_req_t *
llm_client_post_via (llm_client_t *self, const llm_provider_t *p, const char *base,
                     const char *key, const char *body, uint64_t deadline, llm_delta_fn *delta,
                     llm_done_fn *done, void *arg)
{
    return post (self, p, base, key, true, body, deadline, delta, done, arg);
}

void
llm_req_cancel (llm_req_t **req_p)
{
    if (!req_p || !*req_p)
        return;
    free_req (*req_p);
    *req_p = NULL;
}
