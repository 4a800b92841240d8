/* mprice: model prices for the gateway's cost budgets. See mprice.h. */
#include "mprice.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 256
#define ENTRIES_MAX 4096
#define NANO 1000000000ull
#define USD_MAX 1000000ull      /* per million tokens */

typedef struct {
    char name[NAME_MAX_LEN + 1];
    mprice_t price;
} entry_t;

struct mprices_t {
    entry_t *entries;
    size_t count;
};

/* Parses a decimal amount of USD (at most 9 decimals) in [s, end) into
 * nano-USD. false when it is not one or above USD_MAX. */
static bool
parse_usd (const char *s, const char *end, uint64_t *out)
{
    uint64_t whole = 0, frac = 0;
    int digits = 0, decimals = 0;
    bool dot = false;
    for (; s < end; s++) {
        if (*s == '.' && !dot) {
            dot = true;
            continue;
        }
        if (*s < '0' || *s > '9')
            return false;
        if (dot) {
            if (++decimals > 9)
                return false;
            frac = frac * 10 + (uint64_t) (*s - '0');
        }
        else {
            if (whole > USD_MAX)
                return false;
            whole = whole * 10 + (uint64_t) (*s - '0');
        }
        digits++;
    }
    for (; decimals < 9; decimals++)
        frac *= 10;
    if (!digits || whole > USD_MAX || (whole == USD_MAX && frac))
        return false;
    *out = whole * NANO + frac;
    return true;
}

static bool
parse_count (const char *s, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (s == end || end - s > 12)
        return false;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint64_t) (*s - '0');
    }
    *out = v;
    return true;
}

/* `provider/model`, or model `*` for a wildcard: a provider of [A-Za-z0-9._-], a model
 * of printable bytes other than space, '=', ',' and ';'. */
static bool
name_ok (const char *s, size_t n)
{
    const char *slash = memchr (s, '/', n);
    if (!slash || slash == s || (size_t) (slash - s) + 1 >= n || n > NAME_MAX_LEN)
        return false;
    for (const char *p = s; p < slash; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
              || strchr ("._-", *p)))
            return false;
    for (const char *p = slash + 1; p < s + n; p++)
        if (*p <= ' ' || *p > '~' || strchr ("=,;", *p))
            return false;
    return true;
}

static const char *
trim (const char **s, const char *end)
{
    while (*s < end && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (end > *s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return end;
}

/* Parses one entry in [s, end) into e. */
static bool
parse_entry (const char *s, const char *end, entry_t *e)
{
    end = trim (&s, end);
    const char *eq = memchr (s, '=', (size_t) (end - s));
    if (!eq)
        return false;
    const char *name_end = trim (&s, eq);
    if (!name_ok (s, (size_t) (name_end - s)))
        return false;
    memcpy (e->name, s, (size_t) (name_end - s));
    e->name[name_end - s] = '\0';
    uint64_t v[4] = { 0, 0, 0, 0 };
    int n = 0;
    for (const char *p = eq + 1; n < 4; n++) {
        const char *comma = memchr (p, ',', (size_t) (end - p));
        const char *q = comma ? comma : end, *a = p;
        q = trim (&a, q);
        if (!(n < 3 ? parse_usd (a, q, &v[n]) : parse_count (a, q, &v[n])))
            return false;
        if (!comma) {
            n++;
            break;
        }
        p = comma + 1;
        if (n == 3)
            return false;       /* a fifth value */
    }
    if (n < 2)
        return false;
    e->price = (mprice_t) { v[0], v[1], n >= 3 ? v[2] : v[0], v[3] };
    return true;
}

mprices_t *
mprices_load (const char *cfg, char *why, size_t n)
{
    mprices_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    for (const char *s = cfg ? cfg : ""; *s;) {
        const char *semi = strchr (s, ';'), *end = semi ? semi : s + strlen (s), *a = s;
        if (trim (&a, end) > a) {
            entry_t e;
            if (self->count >= ENTRIES_MAX || !parse_entry (s, end, &e)) {
                snprintf (why, n, "price entry '%.*s': expected provider/model=in,out"
                          "[,cached[,max_out]] in USD per million tokens (at most %llu)",
                          (int) (end - s > 200 ? 200 : end - s), s, (unsigned long long) USD_MAX);
                mprices_destroy (&self);
                return NULL;
            }
            entry_t *grown = realloc (self->entries, (self->count + 1) * sizeof *grown);
            if (!grown) {
                mprices_destroy (&self);
                return NULL;
            }
            self->entries = grown;
            self->entries[self->count++] = e;
        }
        s = semi ? semi + 1 : end;
    }
    return self;
}

void
mprices_destroy (mprices_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->entries);
    free (*self_p);
    *self_p = NULL;
}

const mprice_t *
mprice_of (const mprices_t *self, const char *model)
{
    if (!self || !model)
        return NULL;
    const char *slash = strchr (model, '/');
    const mprice_t *wild = NULL;
    for (size_t i = 0; i < self->count; i++) {
        const char *name = self->entries[i].name;
        if (!strcmp (name, model))
            return &self->entries[i].price;
        size_t pn = strlen (name);
        if (!wild && slash && pn >= 2 && !strcmp (name + pn - 2, "/*")
            && pn - 1 == (size_t) (slash - model) + 1 && !strncmp (name, model, pn - 1))
            wild = &self->entries[i].price;
    }
    return wild;
}

uint64_t
mprice_cost (const mprice_t *p, uint64_t in, uint64_t cached, uint64_t out)
{
    if (!p)
        return 0;
    if (cached > in)
        cached = in;
    unsigned __int128 sum = (unsigned __int128) (in - cached) * p->in_pm
                          + (unsigned __int128) cached * p->cached_pm
                          + (unsigned __int128) out * p->out_pm;
    unsigned __int128 cost = (sum + 999999) / 1000000;
    return cost > UINT64_MAX ? UINT64_MAX : (uint64_t) cost;
}
