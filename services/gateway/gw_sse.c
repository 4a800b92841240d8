/* gw_sse: see gw_sse.h. One buffer: [head, ready) is ready to forward,
 * [ev, len) the event being read, scanned up to scan. */
#define _GNU_SOURCE /* memmem */
#include "gw_sse.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct _gw_sse_t {
    llm_proto_t proto;
    bool withhold, withheld;
    char *buf;
    size_t cap, head, ready, ev, scan, len;
    bool line_empty;            /* no byte yet on the line being scanned */
    bool oversized;             /* this event is passed on unparsed */
    gw_usage_t usage;
};

gw_sse_t *
gw_sse_new (llm_proto_t proto, bool withhold)
{
    gw_sse_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->proto = proto;
    self->withhold = withhold && proto == LLM_OPENAI;
    self->line_empty = true;
    return self;
}

void
gw_sse_destroy (gw_sse_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->buf);
    free (*self_p);
    *self_p = NULL;
}

static uint64_t
u64_at (const json_t *o, const char *key)
{
    json_t *v = json_object_get (o, key);
    return json_is_integer (v) && json_integer_value (v) > 0 ? (uint64_t) json_integer_value (v)
                                                             : 0;
}

/* OpenAI (and the OpenAI-compatible providers): usage, or Groq's x_groq.usage. */
static bool
openai_usage (const json_t *doc, gw_usage_t *u)
{
    json_t *us = json_object_get (doc, "usage");
    if (!json_is_object (us))
        us = json_object_get (json_object_get (doc, "x_groq"), "usage");
    if (!json_is_object (us))
        return false;
    u->in = u64_at (us, "prompt_tokens");
    u->out = u64_at (us, "completion_tokens");
    u->cached = u64_at (json_object_get (us, "prompt_tokens_details"), "cached_tokens");
    u->seen = true;
    return true;
}

/* Anthropic's usage object: input_tokens counts neither cache reads nor
 * writes, so they are added to in. */
static void
anthropic_usage (const json_t *us, gw_usage_t *u)
{
    if (json_object_get (us, "input_tokens") || json_object_get (us, "cache_read_input_tokens")) {
        u->cached = u64_at (us, "cache_read_input_tokens");
        u->cache_write = u64_at (us, "cache_creation_input_tokens");
        /* each is below 2^63: a provider reporting enormous counts must
         * not wrap the sum round to almost nothing */
        uint64_t in = u64_at (us, "input_tokens") + u->cached, max = INT64_MAX;
        in = in > max ? max : in;
        u->in = in + u->cache_write > max ? max : in + u->cache_write;
    }
    if (json_object_get (us, "output_tokens"))
        u->out = u64_at (us, "output_tokens");  /* cumulative */
    u->seen = true;
}

/* Reads one event's data (NUL-terminated); true when the event is the
 * usage chunk to withhold. */
static bool
on_data (gw_sse_t *self, const char *data)
{
    json_t *doc = json_loads (data, 0, NULL);
    bool drop = false;
    if (!json_is_object (doc)) {
        json_decref (doc);
        return false;
    }
    if (self->proto == LLM_OPENAI) {
        json_t *choices = json_object_get (doc, "choices");
        if (openai_usage (doc, &self->usage) && self->withhold && !self->withheld
            && json_is_object (json_object_get (doc, "usage")) && json_is_array (choices)
            && json_array_size (choices) == 0)
            drop = self->withheld = true;
    }
    else {
        const char *type = json_string_value (json_object_get (doc, "type"));
        json_t *us = NULL;
        if (type && !strcmp (type, "message_start"))
            us = json_object_get (json_object_get (doc, "message"), "usage");
        else if (type && !strcmp (type, "message_delta"))
            us = json_object_get (doc, "usage");
        if (json_is_object (us))
            anthropic_usage (us, &self->usage);
    }
    json_decref (doc);
    return drop;
}

/* The event [ev, end) is complete: parse it when it may carry usage,
 * then make it ready (or drop it). */
static void
on_event (gw_sse_t *self, size_t end)
{
    const char *e = self->buf + self->ev;
    size_t n = end - self->ev;
    bool drop = false;
    if (!self->oversized && memmem (e, n, "usage", 5)) {
        char *data = malloc (n + 1);
        size_t dn = 0;
        for (size_t i = 0; data && i < n;) {
            size_t j = i;
            while (j < n && e[j] != '\n' && e[j] != '\r')
                j++;
            if (j - i >= 5 && !memcmp (e + i, "data:", 5)) {
                size_t k = i + 5 + (i + 5 < j && e[i + 5] == ' ');
                if (dn)
                    data[dn++] = '\n';
                memcpy (data + dn, e + k, j - k);
                dn += j - k;
            }
            i = j + (j < n && e[j] == '\r' && j + 1 < n && e[j + 1] == '\n') + 1;
        }
        if (data && dn) {
            data[dn] = '\0';
            drop = on_data (self, data);
        }
        free (data);
    }
    if (drop) {
        memmove (self->buf + self->ev, self->buf + end, self->len - end);
        self->len -= n;
        self->scan -= n;
    }
    else
        self->ready = end;
    self->ev = self->ready;
    self->oversized = false;
}

/* Scans what came since the last scan for line and event ends. */
static void
scan (gw_sse_t *self, bool at_end)
{
    while (self->scan < self->len) {
        size_t i = self->scan;
        char c = self->buf[i];
        if (c != '\r' && c != '\n') {
            const char *nl = memchr (self->buf + i, '\n', self->len - i);
            const char *cr = memchr (self->buf + i, '\r', (nl ? (size_t) (nl - self->buf)
                                                              : self->len) - i);
            const char *stop = cr ? cr : nl;
            self->scan = stop ? (size_t) (stop - self->buf) : self->len;
            self->line_empty = false;
            continue;
        }
        size_t term = 1;
        if (c == '\r') {
            if (i + 1 == self->len && !at_end)
                break;          /* a CR last: CRLF or CR alone, known next time */
            if (i + 1 < self->len && self->buf[i + 1] == '\n')
                term = 2;
        }
        self->scan = i + term;
        if (self->line_empty)
            on_event (self, self->scan);
        self->line_empty = true;
    }
    if (self->len - self->ev > GW_SSE_EVENT_MAX || (self->oversized && self->ev < self->len)) {
        self->oversized = true;         /* passed on as it comes */
        self->ready = self->ev = self->scan;
    }
}

int
gw_sse_feed (gw_sse_t *self, const char *data, size_t n)
{
    if (!n)
        return 0;
    if (self->head && self->head == self->ready) {
        /* compact: everything before ready is gone */
        memmove (self->buf, self->buf + self->head, self->len - self->head);
        self->ready -= self->head;
        self->ev -= self->head;
        self->scan -= self->head;
        self->len -= self->head;
        self->head = 0;
    }
    if (self->len + n > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap < self->len + n)
            cap *= 2;
        char *b = realloc (self->buf, cap);
        if (!b)
            return -1;
        self->buf = b;
        self->cap = cap;
    }
    memcpy (self->buf + self->len, data, n);
    self->len += n;
    scan (self, false);
    return 0;
}

const char *
gw_sse_ready (gw_sse_t *self, size_t *len)
{
    *len = self->ready - self->head;
    return self->buf ? self->buf + self->head : "";
}

void
gw_sse_consume (gw_sse_t *self, size_t n)
{
    self->head += n <= self->ready - self->head ? n : self->ready - self->head;
}

void
gw_sse_finish (gw_sse_t *self)
{
    scan (self, true);
    if (self->ev < self->len) {
        self->oversized = false;
        if (self->line_empty && self->scan > self->ev)
            on_event (self, self->len);     /* ends in one line end: try it */
        self->ready = self->ev = self->scan = self->len;
    }
}

size_t
gw_sse_held (const gw_sse_t *self)
{
    return self->len - self->ready;
}

const gw_usage_t *
gw_sse_usage (const gw_sse_t *self)
{
    return &self->usage;
}

bool
gw_sse_withheld (const gw_sse_t *self)
{
    return self->withheld;
}

bool
gw_usage_of_body (llm_proto_t proto, const char *body, size_t len, gw_usage_t *u)
{
    memset (u, 0, sizeof *u);
    json_t *doc = json_loadb (body, len, 0, NULL);
    json_t *us = json_object_get (doc, "usage");
    if (proto == LLM_OPENAI)
        openai_usage (doc, u);
    else if (json_is_object (us))
        anthropic_usage (us, u);
    json_decref (doc);
    return u->seen;
}
