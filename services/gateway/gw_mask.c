/* gw_mask: see gw_mask.h. */
#include "gw_mask.h"

#include <stdlib.h>
#include <string.h>

struct _gw_mask_t {
    const char *secret;
    size_t sl;                  /* 0: nothing to mask */
    char *buf;
    size_t cap, len;
    size_t out;                 /* bytes before this went to the client */
    size_t ready;               /* bytes before this may go; the rest may begin the key */
};

static int
hexval (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Whether the avail bytes at b are the hex digits (digits of them) of
 * want: 1 all there and equal, -1 the ones there agree, 0 they do not. */
static int
hex_is (const char *b, size_t avail, unsigned want, int digits)
{
    for (int i = 0; i < digits; i++) {
        if ((size_t) i >= avail)
            return -1;
        if (hexval (b[i]) != (int) ((want >> (4 * (digits - 1 - i))) & 15))
            return 0;
    }
    return 1;
}

/* The key, written any way gw_mask.h names, at b (len bytes): its length
 * there, 0 when it is not, -1 when b ends while it may still be. */
static long
match (const char *b, size_t len, const char *s, size_t sl)
{
    size_t at = 0;
    for (size_t k = 0; k < sl; k++) {
        if (at >= len)
            return -1;
        unsigned char want = (unsigned char) s[k];
        int r = 0;
        size_t step = 0;
        if ((unsigned char) b[at] == want)
            r = 1, step = 1;
        else if (b[at] == '%')
            r = hex_is (b + at + 1, len - at - 1, want, 2), step = 3;
        else if (b[at] == '\\') {
            if (at + 1 >= len)
                return -1;
            if (b[at + 1] == '/' && want == '/')
                r = 1, step = 2;
            else if (b[at + 1] == 'u')
                r = hex_is (b + at + 2, len - at - 2, want, 4), step = 6;
        }
        if (r <= 0)
            return r;
        at += step;
    }
    return (long) at;
}

gw_mask_t *
gw_mask_new (const char *secret)
{
    gw_mask_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->secret = secret;
    self->sl = secret && strlen (secret) >= 4 ? strlen (secret) : 0;
    return self;
}

void
gw_mask_destroy (gw_mask_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->buf);
    free (*self_p);
    *self_p = NULL;
}

/* Masks what came after ready, holding back from where the key may begin. */
static void
scan (gw_mask_t *self)
{
    size_t i = self->ready;
    while (i < self->len) {
        long m = self->sl ? match (self->buf + i, self->len - i, self->secret, self->sl) : 0;
        if (m < 0)
            break;
        if (m > 0) {
            memcpy (self->buf + i, "***", 3);
            memmove (self->buf + i + 3, self->buf + i + (size_t) m, self->len - i - (size_t) m);
            self->len -= (size_t) m - 3;
            i += 3;
        }
        else
            i++;
    }
    self->ready = i;
}

int
gw_mask_feed (gw_mask_t *self, const char *data, size_t n)
{
    if (self->out == self->len)
        self->out = self->ready = self->len = 0;
    else if (self->out > self->cap / 2) {
        memmove (self->buf, self->buf + self->out, self->len - self->out);
        self->len -= self->out;
        self->ready -= self->out;
        self->out = 0;
    }
    if (self->len + n > self->cap) {
        size_t cap = self->len + n < 4096 ? 4096 : self->len + n;
        char *b = realloc (self->buf, cap);
        if (!b)
            return -1;
        self->buf = b;
        self->cap = cap;
    }
    memcpy (self->buf + self->len, data, n);
    self->len += n;
    scan (self);
    return 0;
}

void
gw_mask_finish (gw_mask_t *self, bool whole)
{
    if (whole)
        self->ready = self->len;
    else
        self->len = self->ready;
}

const char *
gw_mask_ready (gw_mask_t *self, size_t *n)
{
    *n = self->ready - self->out;
    return self->buf ? self->buf + self->out : "";
}

void
gw_mask_consume (gw_mask_t *self, size_t n)
{
    self->out += n <= self->ready - self->out ? n : self->ready - self->out;
}
