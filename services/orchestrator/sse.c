/* sse: see sse.h. Lines accumulate in one buffer; a field line updates
 * the pending event; a blank line dispatches it. */
#include "sse.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _sse_t {
    size_t max;
    sse_event_fn *fn;
    void *arg;
    char *line;                 /* the incomplete line */
    size_t line_len, line_cap;
    char *data;                 /* the pending event's data */
    size_t data_len, data_cap;
    bool has_data;
    char event[64];
    bool after_cr;              /* the last byte was CR: skip a following LF */
    bool failed;
    char error[128];
};

sse_t *
sse_new (size_t max_event, sse_event_fn *fn, void *arg)
{
    sse_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max_event;
    self->fn = fn;
    self->arg = arg;
    return self;
}

void
sse_destroy (sse_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sse_t *self = *self_p;
    free (self->line);
    free (self->data);
    free (self);
    *self_p = NULL;
}

static int
fail (sse_t *self, const char *why)
{
    self->failed = true;
    snprintf (self->error, sizeof self->error, "%s", why);
    return -1;
}

/* Appends n bytes to *buf, growing it within max (plus room for a NUL). */
static int
append (sse_t *self, char **buf, size_t *len, size_t *cap, const char *src, size_t n)
{
    if (*len + n > self->max)
        return fail (self, "event larger than the limit");
    if (*len + n + 1 > *cap) {
        size_t ncap = *cap ? *cap : 256;
        while (ncap < *len + n + 1)
            ncap *= 2;
        char *nb = realloc (*buf, ncap);
        if (!nb)
            return fail (self, "out of memory");
        *buf = nb;
        *cap = ncap;
    }
    memcpy (*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

static int
dispatch (sse_t *self)
{
    int rc = 0;
    if (self->has_data) {
        const char *data = self->data ? self->data : "";
        if (self->fn (self->event, data, self->data_len, self->arg))
            rc = fail (self, "stopped by the event handler");
    }
    self->data_len = 0;
    self->has_data = false;
    self->event[0] = '\0';
    return rc;
}

static int
process_line (sse_t *self, const char *line, size_t len)
{
    if (len == 0)
        return dispatch (self);
    if (line[0] == ':')
        return 0;               /* comment: a keep-alive */
    const char *colon = memchr (line, ':', len);
    size_t nlen = colon ? (size_t) (colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t vlen = len - (size_t) (value - line);
    if (vlen && *value == ' ') {
        value++;
        vlen--;
    }
    if (nlen == 4 && memcmp (line, "data", 4) == 0) {
        if (self->has_data && append (self, &self->data, &self->data_len,
                                      &self->data_cap, "\n", 1))
            return -1;
        self->has_data = true;
        return append (self, &self->data, &self->data_len, &self->data_cap, value, vlen);
    }
    if (nlen == 5 && memcmp (line, "event", 5) == 0) {
        if (vlen >= sizeof self->event)
            vlen = sizeof self->event - 1;
        memcpy (self->event, value, vlen);
        self->event[vlen] = '\0';
    }
    return 0;                   /* id, retry and unknown fields do not matter here */
}

int
sse_feed (sse_t *self, const char *data, size_t len)
{
    if (self->failed)
        return -1;
    size_t i = 0;
    while (i < len) {
        if (self->after_cr) {
            self->after_cr = false;
            if (data[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        if (j > i && append (self, &self->line, &self->line_len, &self->line_cap,
                             data + i, j - i))
            return -1;
        if (j == len)
            break;
        self->after_cr = data[j] == '\r';
        if (process_line (self, self->line ? self->line : "", self->line_len))
            return -1;
        self->line_len = 0;
        i = j + 1;
    }
    return 0;
}

int
sse_finish (sse_t *self)
{
    if (self->failed)
        return -1;
    if (self->line_len) {
        if (process_line (self, self->line, self->line_len))
            return -1;
        self->line_len = 0;
    }
    return dispatch (self);
}

const char *
sse_error (sse_t *self)
{
    return self->error;
}
