/* fence: memory's text as labelled data in a prompt (see fence.h). */
#include "fence.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NONCE_BYTES 16

struct _fence_t {
    char nonce[NONCE_BYTES * 2 + 1];
};

fence_t *
fence_new (void)
{
    fence_t *self = xcalloc (1, sizeof *self);
    uint8_t raw[NONCE_BYTES];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom (raw + got, sizeof raw - got, 0);
        if (n <= 0) {
            /* no entropy source: a nonce anyone could guess is no nonce;
             * the escaping alone still keeps the data inside */
            free (self);
            return NULL;
        }
        got += (size_t) n;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf (self->nonce + 2 * i, 3, "%02x", raw[i]);
    return self;
}

void
fence_destroy (fence_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
fence_nonce (const fence_t *self)
{
    return self->nonce;
}

/* The code point at s (n bytes left) and its length, or -1 (length 1)
 * for a byte that does not start a valid sequence. */
static int32_t
decode (const uint8_t *s, size_t n, size_t *len)
{
    *len = 1;
    if (s[0] < 0x80)
        return s[0];
    size_t need = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? (s[0] < 0xf0 ? 3 : 0)
                : s[0] >= 0xc2 ? 2 : 0;
    if (!need || need > n)
        return -1;
    int32_t cp = s[0] & (0xff >> (need + 1));
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *len = need;
    return cp;
}

bool
fence_utf8_valid (const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *) s;
    for (size_t i = 0, l; i < len; i += l)
        if (decode (p + i, len - i, &l) <= 0)
            return false;
    return true;
}

typedef struct {
    char *buf;
    size_t len, cap;
} out_t;

static void
put (out_t *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->buf = xrealloc (o->buf, o->cap);
    }
    memcpy (o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
puts_ (out_t *o, const char *s)
{
    put (o, s, strlen (s));
}

static bool
shown_escaped (int32_t cp)
{
    return (cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp < 0xa0)
        || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e)
        || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

static bool
kind_ok (const char *kind)
{
    size_t n = kind ? strlen (kind) : 0;
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((kind[i] >= 'a' && kind[i] <= 'z') || kind[i] == '_'))
            return false;
    return true;
}

char *
fence_wrap (const fence_t *self, const char *kind, const char *data, size_t len, size_t max)
{
    out_t o = { NULL, 0, 0 };
    char line[160];
    snprintf (line, sizeof line, "<<<caisson-data nonce=%s kind=%s>>>\n", self->nonce,
              kind_ok (kind) ? kind : "data");
    puts_ (&o, line);
    const uint8_t *p = (const uint8_t *) (data ? data : "");
    size_t i = 0, l = 0;
    bool bol = true;            /* at the start of a line: "| " comes first */
    int32_t prev = 0;
    while (i < len) {
        int32_t cp = decode (p + i, len - i, &l);
        if (i + l > max)
            break;
        bool nl = cp == '\n' || cp == '\r' || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
        if (cp == '\n' && prev == '\r') {
            prev = cp;
            i += l;
            continue;
        }
        if (bol && !(nl && i + l >= len))
            puts_ (&o, "| ");
        bol = false;
        if (nl) {
            puts_ (&o, "\n");
            bol = true;
        }
        else if (cp <= 0)
            puts_ (&o, "\xef\xbf\xbd");          /* U+FFFD */
        else if (shown_escaped (cp)) {
            snprintf (line, sizeof line, "\\u{%04X}", (unsigned) cp);
            puts_ (&o, line);
        }
        else {
            /* the second of "<<", ">>", "<|" or "|>" gets a backslash:
             * no marker, nor a chat template token, survives */
            if ((cp == '<' && prev == '<') || (cp == '>' && prev == '>')
                || (cp == '|' && prev == '<') || (cp == '>' && prev == '|'))
                puts_ (&o, "\\");
            put (&o, (const char *) p + i, l);
        }
        prev = cp;
        i += l;
    }
    if (i < len) {
        snprintf (line, sizeof line, "%s| [caisson: %zu more bytes left out]\n",
                  bol ? "" : "\n", len - i);
        puts_ (&o, line);
        bol = true;
    }
    snprintf (line, sizeof line, "%s<<<end nonce=%s>>>\n", bol ? "" : "\n", self->nonce);
    puts_ (&o, line);
    return o.buf;
}
