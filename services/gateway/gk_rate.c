/* gk_rate: per-key rate limits in memory. See gk_rate.h. */
#include "gk_rate.h"

#include <czmq.h>

#define SLOTS 60

typedef struct {
    uint64_t sec[SLOTS], req[SLOTS], tok[SLOTS];     /* committed */
    uint64_t psec[SLOTS], preq[SLOTS], ptok[SLOTS];  /* tentative adds */
    uint64_t gtok[SLOTS];                            /* tentative gives */
    bool touched;
} bucket_t;

struct gk_rate_t {
    zhashx_t *keys;          /* id -> bucket_t */
    zlistx_t *touched;       /* bucket_t touched by the open transaction */
};

gk_rate_t *
gk_rate_new (void)
{
    gk_rate_t *self = zmalloc (sizeof *self);
    self->keys = zhashx_new ();
    zhashx_set_destructor (self->keys, (zhashx_destructor_fn *) zstr_free);
    self->touched = zlistx_new ();
    return self;
}

void
gk_rate_destroy (gk_rate_t **self_p)
{
    if (!*self_p)
        return;
    zhashx_destroy (&(*self_p)->keys);
    zlistx_destroy (&(*self_p)->touched);
    free (*self_p);
    *self_p = NULL;
}

static void
clear_pending (bucket_t *b)
{
    memset (b->psec, 0, sizeof b->psec);
    memset (b->preq, 0, sizeof b->preq);
    memset (b->ptok, 0, sizeof b->ptok);
    memset (b->gtok, 0, sizeof b->gtok);
    b->touched = false;
}

void
gk_rate_begin (gk_rate_t *self)
{
    for (bucket_t *b = zlistx_first (self->touched); b; b = zlistx_next (self->touched))
        clear_pending (b);
    zlistx_purge (self->touched);
}

/* Folds the slot's committed count into second sec (an older second's
 * count is stale and starts again from 0). */
static void
roll (bucket_t *b, int i, uint64_t sec)
{
    if (b->sec[i] != sec) {
        b->sec[i] = sec;
        b->req[i] = b->tok[i] = 0;
    }
}

void
gk_rate_commit (gk_rate_t *self)
{
    for (bucket_t *b = zlistx_first (self->touched); b; b = zlistx_next (self->touched)) {
        for (int i = 0; i < SLOTS; i++)
            if (b->psec[i]) {
                roll (b, i, b->psec[i]);
                b->req[i] += b->preq[i];
                b->tok[i] += b->ptok[i];
                b->tok[i] -= b->gtok[i] < b->tok[i] ? b->gtok[i] : b->tok[i];
            }
        clear_pending (b);
    }
    zlistx_purge (self->touched);
}

static bucket_t *
bucket (gk_rate_t *self, const char *id)
{
    bucket_t *b = zhashx_lookup (self->keys, id);
    if (!b) {
        b = zmalloc (sizeof *b);
        zhashx_insert (self->keys, id, b);
    }
    if (!b->touched) {
        b->touched = true;
        zlistx_add_end (self->touched, b);
    }
    return b;
}

/* Requests and tokens of slot i counted in the minute ending at sec,
 * tentative changes included (psec 0: none). */
static void
slot_use (const bucket_t *b, int i, uint64_t sec, uint64_t *req, uint64_t *tok)
{
    uint64_t s = b->sec[i], r = b->req[i], t = b->tok[i];
    if (b->psec[i]) {
        if (b->psec[i] != s)
            s = b->psec[i], r = t = 0;
        r += b->preq[i];
        t += b->ptok[i];
        t -= b->gtok[i] < t ? b->gtok[i] : t;
    }
    bool live = s && s + SLOTS > sec && s <= sec;
    *req = live ? r : 0;
    *tok = live ? t : 0;
}

/* Seconds until used + add fits under limit as old slots age out. */
static uint64_t
wait_for (const bucket_t *b, uint64_t sec, uint64_t used, uint64_t add, uint64_t limit,
          bool tokens)
{
    if (add > limit)
        return SLOTS;       /* never fits in one minute: come back in one */
    uint64_t need = used + add - limit;
    for (uint64_t age = SLOTS - 1; age > 0; age--) {
        uint64_t r, t, s = sec - age;
        slot_use (b, (int) (s % SLOTS), sec, &r, &t);
        uint64_t freed = tokens ? t : r;
        if (freed >= need)
            return SLOTS - age;
        need -= freed;
    }
    return SLOTS;
}

gk_rate_verdict_t
gk_rate_take (gk_rate_t *self, const char *id, uint64_t rpm, uint64_t tpm, uint64_t tok,
              uint64_t now_ms)
{
    gk_rate_verdict_t v = { .ok = true };
    if (!rpm && !tpm)
        return v;
    bucket_t *b = bucket (self, id);
    uint64_t sec = now_ms / 1000, req = 0, used = 0;
    for (int i = 0; i < SLOTS; i++) {
        uint64_t r, t;
        slot_use (b, i, sec, &r, &t);
        req += r;
        used = used + t < used ? UINT64_MAX : used + t;
    }
    if (rpm && req + 1 > rpm) {
        v = (gk_rate_verdict_t) { false, false, wait_for (b, sec, req, 1, rpm, false), 0, 0 };
        return v;
    }
    if (tpm && (tok > tpm || used + tok > tpm)) {
        v = (gk_rate_verdict_t) { false, true, wait_for (b, sec, used, tok, tpm, true), 0, 0 };
        v.left_req = rpm ? rpm - req : 0;
        return v;
    }
    int i = (int) (sec % SLOTS);
    if (b->psec[i] != sec) {
        b->psec[i] = sec;
        b->preq[i] = b->ptok[i] = b->gtok[i] = 0;
    }
    b->preq[i]++;
    b->ptok[i] += tok;
    v.left_req = rpm ? rpm - req - 1 : 0;
    v.left_tok = tpm ? tpm - used - tok : 0;
    return v;
}

void
gk_rate_give (gk_rate_t *self, const char *id, uint64_t at_ms, uint64_t tok, uint64_t now_ms)
{
    uint64_t sec = at_ms / 1000, now = now_ms / 1000;
    bucket_t *b = zhashx_lookup (self->keys, id);
    if (!b || sec + SLOTS <= now || sec > now)
        return;
    int i = (int) (sec % SLOTS);
    if (b->sec[i] != sec || (b->psec[i] && b->psec[i] != sec))
        return;     /* the slot holds another second by now */
    b = bucket (self, id);
    b->psec[i] = sec;
    b->gtok[i] += tok;
}

void
gk_rate_prune (gk_rate_t *self, uint64_t now_ms)
{
    uint64_t sec = now_ms / 1000;
    zlistx_t *idle = zlistx_new ();
    zlistx_set_destructor (idle, (zlistx_destructor_fn *) zstr_free);
    for (bucket_t *b = zhashx_first (self->keys); b; b = zhashx_next (self->keys)) {
        bool used = b->touched;
        for (int i = 0; i < SLOTS && !used; i++)
            used = b->sec[i] && b->sec[i] + SLOTS > sec;
        if (!used)
            zlistx_add_end (idle, strdup ((const char *) zhashx_cursor (self->keys)));
    }
    for (const char *id = zlistx_first (idle); id; id = zlistx_next (idle))
        zhashx_delete (self->keys, id);
    zlistx_destroy (&idle);
}
