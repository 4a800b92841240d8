/* mcp_seal: see mcp_seal.h. */
#include "mcp_seal.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_LEN 32
#define MAC_LEN 32

struct _mcp_seal_t {
    unsigned char key[KEY_LEN];
};

mcp_seal_t *
mcp_seal_new (void)
{
    mcp_seal_t *self = calloc (1, sizeof *self);
    if (self && gnutls_rnd (GNUTLS_RND_KEY, self->key, KEY_LEN)) {
        free (self);
        self = NULL;
    }
    return self;
}

void
mcp_seal_destroy (mcp_seal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gnutls_memset ((*self_p)->key, 0, KEY_LEN);
    free (*self_p);
    *self_p = NULL;
}

void
mcp_seal_hex (const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf (out + 2 * i, 3, "%02x", b[i]);
}

void
mcp_seal_digest (const char *name, const void *args, char *out)
{
    char *text = args ? json_dumps (args, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    size_t nlen = strlen (name), alen = text ? strlen (text) : 0;
    char *both = malloc (nlen + alen + 2);
    unsigned char sum[32] = { 0 };
    if (both) {
        /* the name ends at its newline: no name and arguments spell another pair */
        snprintf (both, nlen + alen + 2, "%s\n%s", name, text ? text : "");
        gnutls_hash_fast (GNUTLS_DIG_SHA256, both, nlen + alen + 1, sum);
    }
    mcp_seal_hex (sum, sizeof sum, out);
    free (both);
    free (text);
}

char *
mcp_seal_make (mcp_seal_t *self, const char *user, const char *run, const char *call,
               const char *what, int64_t deadline)
{
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:s, s:I}", "u", user, "r", run, "c", call, "w",
                             what, "d", (json_int_t) deadline);
    char *payload = doc ? json_dumps (doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref (doc);
    if (!payload)
        return NULL;
    size_t n = strlen (payload);
    unsigned char mac[MAC_LEN];
    char *out = malloc (2 * n + 2 * MAC_LEN + 2);
    if (out && !gnutls_hmac_fast (GNUTLS_MAC_SHA256, self->key, KEY_LEN, payload, n, mac)) {
        mcp_seal_hex ((const unsigned char *) payload, n, out);
        out[2 * n] = '.';
        mcp_seal_hex (mac, MAC_LEN, out + 2 * n + 1);
    }
    else {
        free (out);
        out = NULL;
    }
    free (payload);
    return out;
}

static int
s_nibble (char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes n bytes of lowercase hex at hex into out; -1 on a bad digit. */
static int
s_unhex (const char *hex, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = s_nibble (hex[2 * i]), lo = hi < 0 ? -1 : s_nibble (hex[2 * i + 1]);
        if (lo < 0)
            return -1;
        out[i] = (unsigned char) (hi << 4 | lo);
    }
    return 0;
}

int
mcp_seal_open (mcp_seal_t *self, const char *state, const char *user, const char *what,
               char *run, char *call, size_t len, int64_t *deadline, char *why, size_t whylen)
{
    size_t total = strlen (state);
    const char *dot = strchr (state, '.');
    size_t plen = dot ? (size_t) (dot - state) : 0;
    unsigned char raw[MCP_SEAL_MAX / 2], mac[MAC_LEN], want[MAC_LEN];
    if (total > MCP_SEAL_MAX || !plen || plen % 2 || total - plen - 1 != 2 * MAC_LEN
        || s_unhex (state, plen / 2, raw) || s_unhex (dot + 1, MAC_LEN, mac)) {
        snprintf (why, whylen, "invalid requestState: not one this server gave");
        return -1;
    }
    /* compared in constant time: a forger learns nothing from timing */
    unsigned diff = 1;
    if (!gnutls_hmac_fast (GNUTLS_MAC_SHA256, self->key, KEY_LEN, raw, plen / 2, want)) {
        diff = 0;
        for (size_t i = 0; i < MAC_LEN; i++)
            diff |= (unsigned) (mac[i] ^ want[i]);
    }
    json_t *doc = diff ? NULL : json_loadb ((const char *) raw, plen / 2, 0, NULL);
    const char *u = json_string_value (json_object_get (doc, "u"));
    const char *r = json_string_value (json_object_get (doc, "r"));
    const char *c = json_string_value (json_object_get (doc, "c"));
    const char *w = json_string_value (json_object_get (doc, "w"));
    int rc = -1;
    if (!u || !r || !c || !w)
        snprintf (why, whylen, "invalid requestState: its seal does not hold");
    else if (strcmp (u, user))
        snprintf (why, whylen, "invalid requestState: it is another user's");
    else if (strcmp (w, what))
        snprintf (why, whylen, "invalid requestState: it was given for another call (the "
                  "retry must repeat the tool's name and arguments)");
    else {
        snprintf (run, len, "%s", r);
        snprintf (call, len, "%s", c);
        *deadline = (int64_t) json_integer_value (json_object_get (doc, "d"));
        rc = 0;
    }
    json_decref (doc);
    return rc;
}
