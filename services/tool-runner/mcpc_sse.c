/* mcpc_sse: server-sent events parsed under a size cap. See mcpc_sse.h. */
#include "mcpc_sse.h"

#include "xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct _mcpc_sse_t {
    size_t max;
    mcpc_sse_event_fn *fn;
    void *arg;
    char *line;         /* the line being read */
    size_t line_len;
    size_t line_size;
    bool after_cr;      /* the last line ended in \r: a \n next belongs to it */
    char *data;         /* the event's data so far, each line followed by \n */
    size_t data_len;
    size_t data_size;
    char type[64];
};

mcpc_sse_t *
mcpc_sse_new (size_t max, mcpc_sse_event_fn *fn, void *arg)
{
    mcpc_sse_t *self = xcalloc (1, sizeof *self);
    self->max = max;
    self->fn = fn;
    self->arg = arg;
    return self;
}

void
mcpc_sse_destroy (mcpc_sse_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->line);
    free ((*self_p)->data);
    free (*self_p);
    *self_p = NULL;
}

/* Makes room for need bytes in *buf (of *size), growing it by doubling
 * (the caps bound need). */
static void
reserve (char **buf, size_t *size, size_t need)
{
    if (need <= *size)
        return;
    size_t grown = *size ? *size : 256;
    while (grown < need)
        grown *= 2;
    *buf = xrealloc (*buf, grown);
    *size = grown;
}

/* Acts on one whole line (without its end): 0, 1 (stopped) or -1. */
static int
take_line (mcpc_sse_t *self, const char *line, size_t len)
{
    if (!len) {                 /* a blank line ends the event */
        int rc = 0;
        if (self->data_len) {
            self->data[--self->data_len] = '\0';        /* the last \n */
            rc = self->fn (self->arg, *self->type ? self->type : "message", self->data,
                           self->data_len) ? 1 : 0;
        }
        self->data_len = 0;
        self->type[0] = '\0';
        return rc;
    }
    const char *colon = memchr (line, ':', len);
    size_t name = colon ? (size_t) (colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t vlen = len - (size_t) (value - line);
    if (vlen && *value == ' ') {
        value++;
        vlen--;
    }
    if (name == 4 && !memcmp (line, "data", 4)) {
        if (self->data_len + vlen + 1 > self->max)
            return -1;
        reserve (&self->data, &self->data_size, self->data_len + vlen + 1);
        memcpy (self->data + self->data_len, value, vlen);
        self->data_len += vlen;
        self->data[self->data_len++] = '\n';
    }
    else if (name == 5 && !memcmp (line, "event", 5)) {
        size_t n = vlen < sizeof self->type - 1 ? vlen : sizeof self->type - 1;
        memcpy (self->type, value, n);
        self->type[n] = '\0';
    }
    return 0;                   /* comments, id, retry, unknown fields */
}

int
mcpc_sse_feed (mcpc_sse_t *self, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (self->after_cr) {
            self->after_cr = false;
            if (c == '\n')
                continue;
        }
        if (c == '\r' || c == '\n') {
            self->after_cr = c == '\r';
            int rc = take_line (self, self->line ? self->line : "", self->line_len);
            self->line_len = 0;
            if (rc)
                return rc;
            continue;
        }
        if (self->line_len == self->max)
            return -1;
        reserve (&self->line, &self->line_size, self->line_len + 1);
        self->line[self->line_len++] = c;
    }
    return 0;
}
