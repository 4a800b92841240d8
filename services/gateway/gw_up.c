/* gw_up: see gw_up.h. */
#include "gw_up.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static CURLSH *s_share;
static pthread_mutex_t s_locks[CURL_LOCK_DATA_LAST];

struct _gw_up_t {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char *buf;                  /* body bytes in, [head, len) not taken */
    size_t cap, head, len;
    char **hdr;                 /* "name\0value" of the final answer */
    size_t nhdr;
    int status;
    bool head_done, ended;
    gw_up_err_t err;
};

static void
share_lock (CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
    (void) h;
    (void) access;
    (void) arg;
    pthread_mutex_lock (&s_locks[data]);
}

static void
share_unlock (CURL *h, curl_lock_data data, void *arg)
{
    (void) h;
    (void) arg;
    pthread_mutex_unlock (&s_locks[data]);
}

int
gw_up_global_init (void)
{
    if (curl_global_init (CURL_GLOBAL_DEFAULT))
        return -1;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init (&s_locks[i], NULL);
    if (!(s_share = curl_share_init ()))
        return -1;
    curl_share_setopt (s_share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt (s_share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt (s_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt (s_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt (s_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return 0;
}

void
gw_up_global_cleanup (void)
{
    curl_share_cleanup (s_share);
    s_share = NULL;
    curl_global_cleanup ();
}

static size_t
on_body (char *data, size_t size, size_t n, void *arg)
{
    gw_up_t *self = arg;
    size_t bytes = size * n;
    if (self->head && self->head == self->len)
        self->head = self->len = 0;
    if (self->len + bytes > self->cap) {
        size_t cap = self->cap ? self->cap : 16384;
        while (cap < self->len + bytes)
            cap *= 2;
        char *b = realloc (self->buf, cap);
        if (!b)
            return 0;
        self->buf = b;
        self->cap = cap;
    }
    memcpy (self->buf + self->len, data, bytes);
    self->len += bytes;
    return bytes;
}

static void
clear_headers (gw_up_t *self)
{
    for (size_t i = 0; i < self->nhdr; i++)
        free (self->hdr[i]);
    free (self->hdr);
    self->hdr = NULL;
    self->nhdr = 0;
}

/* Keeps the final answer's headers (a 100 Continue's are dropped). */
static size_t
on_header (char *data, size_t size, size_t n, void *arg)
{
    gw_up_t *self = arg;
    size_t len = size * n, end = len;
    while (end && (data[end - 1] == '\r' || data[end - 1] == '\n'))
        end--;
    if (len >= 5 && !memcmp (data, "HTTP/", 5)) {
        clear_headers (self);
        const char *sp = memchr (data, ' ', end);
        self->status = sp ? atoi (sp + 1) : 0;
        return len;
    }
    if (!end) {
        self->head_done = self->status >= 200;
        return len;
    }
    const char *colon = memchr (data, ':', end);
    if (!colon)
        return len;
    size_t nl = (size_t) (colon - data), v = nl + 1;
    while (v < end && (data[v] == ' ' || data[v] == '\t'))
        v++;
    char **h = realloc (self->hdr, (self->nhdr + 1) * sizeof *h);
    char *e = malloc (end + 2);
    if (!h || !e) {
        free (e);
        if (h)
            self->hdr = h;
        return 0;
    }
    self->hdr = h;
    memcpy (e, data, nl);
    e[nl] = '\0';
    memcpy (e + nl + 1, data + v, end - v);
    e[nl + 1 + end - v] = '\0';
    self->hdr[self->nhdr++] = e;
    return len;
}

gw_up_t *
gw_up_new (const char *url, struct curl_slist *headers, char *body, long timeout_s)
{
    gw_up_t *self = calloc (1, sizeof *self);
    if (!self || !(self->multi = curl_multi_init ()) || !(self->easy = curl_easy_init ())) {
        curl_slist_free_all (headers);
        free (body);
        gw_up_destroy (&self);
        return NULL;
    }
    self->headers = headers;
    self->body = body;
    CURL *e = self->easy;
    curl_easy_setopt (e, CURLOPT_SHARE, s_share);
    curl_easy_setopt (e, CURLOPT_URL, url);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen (body));
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, self);
    curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt (e, CURLOPT_HEADERDATA, self);
    curl_easy_setopt (e, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt (e, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt (e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_multi_add_handle (self->multi, e);
    return self;
}

void
gw_up_destroy (gw_up_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_up_t *self = *self_p;
    if (self->easy) {
        if (self->multi)
            curl_multi_remove_handle (self->multi, self->easy);
        curl_easy_cleanup (self->easy);
    }
    if (self->multi)
        curl_multi_cleanup (self->multi);
    curl_slist_free_all (self->headers);
    clear_headers (self);
    free (self->body);
    free (self->buf);
    free (self);
    *self_p = NULL;
}

/* Runs the transfer as far as it goes without waiting. */
static void
perform (gw_up_t *self)
{
    int running = 0;
    curl_multi_perform (self->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read (self->multi, &left)))
        if (m->msg == CURLMSG_DONE) {
            self->ended = true;
            CURLcode rc = m->data.result;
            if (rc == CURLE_OPERATION_TIMEDOUT)
                self->err = GW_UP_TIMEOUT;
            else if (rc != CURLE_OK)
                self->err = GW_UP_UNREACHABLE;
        }
}

/* One round of the transfer: what curl can do at once (it may hold bytes
 * or the end already read), else a wait of at most wait_ms for its socket. */
static void
step (gw_up_t *self, int wait_ms)
{
    size_t had = self->len - self->head;
    bool head = self->head_done;
    perform (self);
    if (self->ended || self->len - self->head > had || self->head_done != head)
        return;
    curl_multi_poll (self->multi, NULL, 0, wait_ms, NULL);
    perform (self);
}

int
gw_up_head (gw_up_t *self)
{
    while (!self->head_done && !self->ended)
        step (self, 1000);
    if (!self->head_done && !self->err)
        self->err = GW_UP_UNREACHABLE;
    return self->head_done ? self->status : 0;
}

const char *
gw_up_header (gw_up_t *self, const char *name)
{
    for (size_t i = 0; i < self->nhdr; i++)
        if (!strcasecmp (self->hdr[i], name))
            return self->hdr[i] + strlen (self->hdr[i]) + 1;
    return NULL;
}

int
gw_up_pull (gw_up_t *self, int wait_ms)
{
    if (self->len > self->head)
        return 1;
    if (!self->ended)
        step (self, wait_ms);
    if (self->len > self->head)
        return 1;
    return self->ended ? (self->err ? -1 : 0) : 2;
}

const char *
gw_up_data (gw_up_t *self, size_t *len)
{
    *len = self->len - self->head;
    return self->buf ? self->buf + self->head : "";
}

void
gw_up_take (gw_up_t *self, size_t n)
{
    self->head += n <= self->len - self->head ? n : self->len - self->head;
}

gw_up_err_t
gw_up_error (const gw_up_t *self)
{
    return self->err;
}
