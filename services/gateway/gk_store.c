/* gk_store: the LMDB of gateway-keys. See gk_store.h. */
#include "gk_store.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static const char *const dbnames[GK_DB_COUNT] = {
    "keys", "hashes", "by_user", "by_sandbox", "by_run", "users", "usage", "resv", "resv_gw",
    "done", "outbox"
};

uint64_t
gk_now_ms (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000 + (uint64_t) tv.tv_usec / 1000;
}

uint64_t
gk_add (uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

uint64_t
gk_jnum (const json_t *o, const char *name)
{
    json_t *v = json_object_get (o, name);
    return json_is_integer (v) && json_integer_value (v) > 0 ? (uint64_t) json_integer_value (v)
                                                             : 0;
}

const char *
gk_jstr (const json_t *o, const char *name)
{
    return json_string_value (json_object_get (o, name));
}

/* Amounts kept in JSON stay below 2^63 (jansson's integers are signed):
 * a reservation that large is refused by any budget, and one on a key
 * with none only counts. */
uint64_t
gk_clamp63 (uint64_t v)
{
    return v > INT64_MAX ? INT64_MAX : v;
}

uint64_t
gk_sub0 (uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

bool
gk_usd_parse (const char *s, uint64_t *nusd)
{
    /* A price of s per million tokens is s USD in nano-USD per million. */
    char cfg[96];
    if (!s || strlen (s) > 40)
        return false;
    snprintf (cfg, sizeof cfg, "x/y=0,%s", s);
    mprices_t *p = mprices_load (cfg, NULL, 0);
    if (!p)
        return false;
    *nusd = mprice_of (p, "x/y")->out_pm;
    mprices_destroy (&p);
    return true;
}

void
gk_usd_fmt (uint64_t nusd, char *out, size_t n)
{
    char frac[16];
    snprintf (frac, sizeof frac, "%09llu", (unsigned long long) (nusd % 1000000000ull));
    size_t len = 9;
    while (len > 2 && frac[len - 1] == '0')
        len--;
    frac[len] = '\0';
    snprintf (out, n, "$%llu.%s", (unsigned long long) (nusd / 1000000000ull), frac);
}

/* The store, its map at most CAISSON_GATEWAY_KEYS_MAP_MB (else the
 * services' CAISSON_LMDB_MAX_MB). */
static store_t *
open_store (const char *dir, unsigned env_flags)
{
    uint64_t max = cfg_u64 ("CAISSON_GATEWAY_KEYS_MAP_MB");
    max = (max ? max : cfg_u64 ("CAISSON_LMDB_MAX_MB")) << 20;
    uint64_t map = cfg_u64 ("CAISSON_LMDB_MAP_MB") << 20;
    return store_new (dir, dbnames, GK_DB_COUNT, map < max ? map : max, max, env_flags);
}

gk_t *
gk_new (const char *dir, unsigned env_flags, char *why, size_t n)
{
    gk_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->prices = mprices_load (cfg_str ("CAISSON_GATEWAY_PRICES"), why, n);
    const char *unpriced = cfg_str ("CAISSON_GATEWAY_UNPRICED");
    self->unpriced_free = !strcmp (unpriced, "free");
    self->user_tok = cfg_u64 ("CAISSON_GATEWAY_USER_BUDGET_TOKENS");
    if (!self->prices)
        ;
    else if (!self->unpriced_free && strcmp (unpriced, "refuse"))
        snprintf (why, n, "CAISSON_GATEWAY_UNPRICED: expected refuse or free, got '%s'", unpriced);
    else if (!gk_usd_parse (cfg_str ("CAISSON_GATEWAY_USER_BUDGET_USD"), &self->user_nusd))
        snprintf (why, n, "CAISSON_GATEWAY_USER_BUDGET_USD: expected an amount of USD");
    else if (!gk_usd_parse (cfg_str ("CAISSON_GATEWAY_SANDBOX_BUDGET_USD"), &self->sandbox_nusd))
        snprintf (why, n, "CAISSON_GATEWAY_SANDBOX_BUDGET_USD: expected an amount of USD");
    else if (!gk_win_parse (cfg_str ("CAISSON_GATEWAY_USER_WINDOW"), &self->user_win))
        snprintf (why, n, "CAISSON_GATEWAY_USER_WINDOW: expected day, week, month or total");
    else if (!(self->store = open_store (dir, env_flags)))
        snprintf (why, n, "cannot open the store at %s", dir);
    else {
        self->rate = gk_rate_new ();
        return self;
    }
    gk_destroy (&self);
    return NULL;
}

void
gk_destroy (gk_t **self_p)
{
    gk_t *self = *self_p;
    if (!self)
        return;
    if (self->store)
        store_sync (self->store);
    store_destroy (&self->store);
    gk_rate_destroy (&self->rate);
    mprices_destroy (&self->prices);
    free (self);
    *self_p = NULL;
}

MDB_dbi
gk_dbi (const gk_t *self, int db)
{
    return store_dbi (self->store, (size_t) db);
}

json_t *
gk_json_get (MDB_txn *txn, const gk_t *self, int db, const void *k, size_t kn)
{
    MDB_val key = { kn, (void *) k }, val;
    if (mdb_get (txn, gk_dbi (self, db), &key, &val))
        return NULL;
    return json_loadb (val.mv_data, val.mv_size, 0, NULL);
}

int
gk_json_put (MDB_txn *txn, const gk_t *self, int db, const void *k, size_t kn, const json_t *v)
{
    char *text = json_dumps (v, JSON_COMPACT);
    if (!text)
        return ENOMEM;
    MDB_val key = { kn, (void *) k }, val = { strlen (text), text };
    int rc = mdb_put (txn, gk_dbi (self, db), &key, &val, 0);
    free (text);
    return rc;
}

int
gk_index (MDB_txn *txn, const gk_t *self, int db, const char *name, const char *id, bool put)
{
    char k[512];
    int n = snprintf (k, sizeof k, "%s%c%s", name, '\0', id);
    if (n < 0 || (size_t) n >= sizeof k)
        return EINVAL;
    MDB_val key = { (size_t) n, k }, val = { 0, "" };
    int rc = put ? mdb_put (txn, gk_dbi (self, db), &key, &val, 0)
                 : mdb_del (txn, gk_dbi (self, db), &key, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

void
gk_usage_get (MDB_txn *txn, const gk_t *self, const uint8_t *k, size_t kn, gk_usage_t *u)
{
    MDB_val key = { kn, (void *) k }, val;
    memset (u, 0, sizeof *u);
    if (!mdb_get (txn, gk_dbi (self, GK_DB_USAGE), &key, &val) && val.mv_size == sizeof *u)
        memcpy (u, val.mv_data, sizeof *u);
}

int
gk_usage_put (MDB_txn *txn, const gk_t *self, const uint8_t *k, size_t kn, const gk_usage_t *u)
{
    MDB_val key = { kn, (void *) k }, val = { sizeof *u, (void *) u };
    return mdb_put (txn, gk_dbi (self, GK_DB_USAGE), &key, &val, 0);
}

/* Fills in scope s of kind c (`k`, `s`, `u`) for name in window w at now. */
static void
scope_set (gk_scope_t *s, char c, const char *what, const char *name, gk_win_t w,
           uint64_t lim_tok, uint64_t lim_nusd, uint64_t now)
{
    snprintf (s->label, sizeof s->label, "%s.%s", what, name);
    s->what = what;
    s->win = w;
    s->lim_tok = lim_tok;
    s->lim_nusd = lim_nusd;
    s->start = gk_win_start (w, now);
    s->reset = gk_win_reset (w, s->start);
    size_t nn = strnlen (name, 128);
    s->ukey[0] = (uint8_t) c;
    memcpy (s->ukey + 1, name, nn);
    s->ukey[1 + nn] = 0;
    for (int i = 0; i < 8; i++)
        s->ukey[2 + nn + i] = (uint8_t) (s->start >> (56 - 8 * i));
    s->ukn = 2 + nn + 8;
}

static uint64_t
num (const json_t *o, const char *path_a, const char *path_b)
{
    const json_t *v = json_object_get (o, path_a);
    if (path_b)
        v = json_object_get (v, path_b);
    return json_is_integer (v) && json_integer_value (v) > 0 ? (uint64_t) json_integer_value (v)
                                                             : 0;
}

int
gk_chain (MDB_txn *txn, const gk_t *self, const json_t *key, uint64_t now_ms, gk_scope_t *scopes)
{
    int n = 0;
    gk_win_t w = GK_WIN_MONTH;
    gk_win_parse (json_string_value (json_object_get (key, "window")), &w);
    const char *id = json_string_value (json_object_get (key, "id"));
    const char *user = json_string_value (json_object_get (key, "user"));
    const char *kind = json_string_value (json_object_get (key, "kind"));
    const char *sbx = json_string_value (json_object_get (key, "sandboxId"));
    scope_set (&scopes[n++], 'k', "key", id ? id : "", w, num (key, "budget", "tokens"),
               num (key, "budget", "nusd"), now_ms);
    if (kind && !strcmp (kind, "sandbox") && sbx && *sbx && self->sandbox_nusd)
        scope_set (&scopes[n++], 's', "sandbox", sbx, GK_WIN_TOTAL, 0, self->sandbox_nusd,
                   now_ms);
    json_t *u = user ? gk_json_get (txn, self, GK_DB_USERS, user, strlen (user)) : NULL;
    gk_win_t uw = self->user_win;
    if (u)
        gk_win_parse (json_string_value (json_object_get (u, "window")), &uw);
    scope_set (&scopes[n++], 'u', "user", user ? user : "", uw,
               u ? num (u, "budget", "tokens") : self->user_tok,
               u ? num (u, "budget", "nusd") : self->user_nusd, now_ms);
    json_decref (u);
    return n;
}

int
gk_outbox_add (MDB_txn *txn, const gk_t *self, const json_t *record)
{
    MDB_cursor *cur;
    MDB_val key, val;
    uint64_t seq = 1;
    int rc = mdb_cursor_open (txn, gk_dbi (self, GK_DB_OUTBOX), &cur);
    if (rc)
        return rc;
    if (!mdb_cursor_get (cur, &key, &val, MDB_LAST) && key.mv_size == 8) {
        const uint8_t *b = key.mv_data;
        seq = 0;
        for (int i = 0; i < 8; i++)
            seq = seq << 8 | b[i];
        seq++;
    }
    mdb_cursor_close (cur);
    uint8_t k[8];
    for (int i = 0; i < 8; i++)
        k[i] = (uint8_t) (seq >> (56 - 8 * i));
    uint8_t *data;
    size_t size;
    if (mpjson_encode (record, 8, &data, &size))
        return ENOMEM;
    key = (MDB_val) { 8, k };
    val = (MDB_val) { size, data };
    rc = mdb_put (txn, gk_dbi (self, GK_DB_OUTBOX), &key, &val, 0);
    free (data);
    return rc;
}
