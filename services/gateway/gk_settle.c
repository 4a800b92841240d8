/* gk_settle: settle and orphan charges of reservations. See gk_resv.h. */
#include "gk_resv.h"
#include "clog.h"

#include <czmq.h>
#include <errno.h>
#include <string.h>

static size_t
unhex (const char *s, uint8_t *out, size_t max)
{
    size_t n = s ? strlen (s) / 2 : 0;
    if (n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf (s + 2 * i, "%2x", &v) != 1)
            return 0;
        out[i] = (uint8_t) v;
    }
    return n;
}

/* Adds (or, with neg, takes away, never below 0) tok and nusd to the
 * spent (or reserved) counters of every scope listed in r's "scopes". */
static int
apply (MDB_txn *txn, gk_t *gk, const json_t *scopes, uint64_t tok, uint64_t nusd, bool spent,
       bool neg)
{
    size_t i;
    json_t *s;
    json_array_foreach (scopes, i, s) {
        uint8_t k[GK_UKEY_MAX];
        size_t kn = unhex (json_string_value (s), k, sizeof k);
        if (!kn)
            continue;
        gk_usage_t u;
        gk_usage_get (txn, gk, k, kn, &u);
        uint64_t *t = spent ? &u.spent_tok : &u.resv_tok, *c = spent ? &u.spent_nusd : &u.resv_nusd;
        *t = neg ? gk_sub0 (*t, tok) : gk_add (*t, tok);
        *c = neg ? gk_sub0 (*c, nusd) : gk_add (*c, nusd);
        int rc = gk_usage_put (txn, gk, k, kn, &u);
        if (rc)
            return rc;
    }
    return 0;
}

/* The spend record of call r (a reservation or charge) with what the
 * settle (or the orphan sweep) says. */
static json_t *
record (const char *call, const json_t *r, const proto_gkey_settle_t *s, uint64_t tok_in,
        uint64_t tok_out, uint64_t nusd, const char *outcome, bool estimated, uint64_t now_ms)
{
    json_t *rec = json_pack ("{s:s, s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:b, s:I, "
                             "s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:I, s:I, s:I, s:s?}",
                             "call", call, "ts", (json_int_t) now_ms, "user", gk_jstr (r, "user"),
                             "key", gk_jstr (r, "keyId"), "keyKind", gk_jstr (r, "kind"), "run",
                             gk_jstr (r, "run"), "sandbox", gk_jstr (r, "sandboxId"), "model",
                             gk_jstr (r, "model"), "route", gk_jstr (r, "route"), "stream",
                             s && s->stream, "in", (json_int_t) tok_in, "out",
                             (json_int_t) tok_out, "cached",
                             (json_int_t) gk_clamp63 (s ? s->cached : 0), "cacheWrite",
                             (json_int_t) gk_clamp63 (s ? s->cache_write : 0), "nusd",
                             (json_int_t) nusd, "status", (json_int_t) (s ? s->status : 0),
                             "outcome", outcome, "estimated", estimated, "ttfbUs",
                             (json_int_t) gk_clamp63 (s ? s->ttfb_us : 0), "totalUs",
                             (json_int_t) gk_clamp63 (s ? s->total_us : 0), "overheadUs",
                             (json_int_t) gk_clamp63 (s ? s->overhead_us : 0), "gateway",
                             gk_jstr (r, "gateway"));
    return rec;
}

/* Deletes call's reservation rows. */
static int
drop_resv (MDB_txn *txn, gk_t *gk, const char *call, const json_t *r)
{
    MDB_val k = { strlen (call), (void *) call };
    int rc = mdb_del (txn, gk_dbi (gk, GK_DB_RESV), &k, NULL);
    if (!rc || rc == MDB_NOTFOUND)
        rc = gk_index (txn, gk, GK_DB_RESV_GW, gk_jstr (r, "gateway") ?: "", call, false);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Writes call's charge (r's fields, what was charged, whether in full as
 * an orphan) into `done`. */
static int
put_done (MDB_txn *txn, gk_t *gk, const char *call, const json_t *r, uint64_t tok,
          uint64_t nusd, bool orphan, uint64_t now_ms)
{
    json_t *d = json_deep_copy (r);
    if (!d)
        return ENOMEM;
    json_object_set_new (d, "charged", json_integer ((json_int_t) tok));
    json_object_set_new (d, "chargedNusd", json_integer ((json_int_t) nusd));
    json_object_set_new (d, "orphan", json_boolean (orphan));
    json_object_set_new (d, "ts", json_integer ((json_int_t) now_ms));
    int rc = gk_json_put (txn, gk, GK_DB_DONE, call, strlen (call), d);
    json_decref (d);
    return rc;
}

int
gk_settle (MDB_txn *txn, gk_t *gk, const proto_gkey_settle_t *req, uint64_t now_ms,
           proto_gkey_settled_t *out)
{
    const char *call = req->call;
    json_t *r = gk_json_get (txn, gk, GK_DB_RESV, call, strlen (call));
    bool late = false;
    if (!r) {
        r = gk_json_get (txn, gk, GK_DB_DONE, call, strlen (call));
        late = r && json_is_true (json_object_get (r, "orphan"));
        if (r && !late) {
            /* Settled before: the same answer, nothing changes. */
            out->tokens = gk_jnum (r, "charged");
            out->nusd = gk_jnum (r, "chargedNusd");
            json_decref (r);
            return 0;
        }
    }
    /* input counts cached tokens (priced at the cached price); tokens
     * written to the provider's cache are priced and counted as input. */
    uint64_t in = gk_clamp63 (gk_add (req->input, req->cache_write));
    uint64_t o = gk_clamp63 (req->output);
    const mprice_t *p = mprice_of (gk->prices, r ? gk_jstr (r, "model") : req->model);
    out->tokens = gk_clamp63 (gk_add (in, o));
    out->nusd = gk_clamp63 (mprice_cost (p, in, req->cached, o));
    if (!r) {
        clog_warn (NULL, "settle of call %s, which holds no reservation: not charged", call);
        return 0;
    }
    const json_t *scopes = json_object_get (r, "scopes");
    int rc;
    if (late) {
        /* Charged in full as an orphan: the difference either way. */
        uint64_t ct = gk_jnum (r, "charged"), cn = gk_jnum (r, "chargedNusd");
        rc = apply (txn, gk, scopes, ct, cn, true, true);
        if (!rc)
            rc = apply (txn, gk, scopes, out->tokens, out->nusd, true, false);
    }
    else {
        uint64_t rt = gk_jnum (r, "tok");
        rc = apply (txn, gk, scopes, rt, gk_jnum (r, "nusd"), false, true);
        if (!rc)
            rc = apply (txn, gk, scopes, out->tokens, out->nusd, true, false);
        if (!rc)
            rc = drop_resv (txn, gk, call, r);
        if (rt > out->tokens)
            gk_rate_give (gk->rate, gk_jstr (r, "keyId") ?: "", gk_jnum (r, "at"),
                          rt - out->tokens, now_ms);
    }
    if (!rc)
        rc = put_done (txn, gk, call, r, out->tokens, out->nusd, false, now_ms);
    json_t *rec = record (call, r, req, in, o, out->nusd, req->outcome, req->estimated, now_ms);
    if (late)
        json_object_set_new (rec, "late", json_true ());
    if (!rc)
        rc = rec ? gk_outbox_add (txn, gk, rec) : ENOMEM;
    json_decref (rec);
    json_decref (r);
    return rc;
}

int
gk_orphan (MDB_txn *txn, gk_t *gk, const char *call, uint64_t now_ms)
{
    json_t *r = gk_json_get (txn, gk, GK_DB_RESV, call, strlen (call));
    if (!r)
        return 0;
    const json_t *scopes = json_object_get (r, "scopes");
    uint64_t tok = gk_jnum (r, "tok"), nusd = gk_jnum (r, "nusd");
    int rc = apply (txn, gk, scopes, tok, nusd, false, true);
    if (!rc)
        rc = apply (txn, gk, scopes, tok, nusd, true, false);
    if (!rc)
        rc = drop_resv (txn, gk, call, r);
    if (!rc)
        rc = put_done (txn, gk, call, r, tok, nusd, true, now_ms);
    uint64_t out = gk_jnum (r, "out");
    json_t *rec = record (call, r, NULL, gk_sub0 (tok, out), out, nusd, "orphaned", true, now_ms);
    if (!rc)
        rc = rec ? gk_outbox_add (txn, gk, rec) : ENOMEM;
    json_decref (rec);
    json_decref (r);
    return rc;
}

int
gk_orphan_instance (MDB_txn *txn, gk_t *gk, const char *gw, uint64_t now_ms, uint64_t *count)
{
    MDB_cursor *cur;
    size_t gn = strlen (gw) + 1;
    *count = 0;
    /* Collect first: charging deletes rows under the cursor. */
    zlistx_t *calls = zlistx_new ();
    zlistx_set_destructor (calls, (zlistx_destructor_fn *) zstr_free);
    int rc = mdb_cursor_open (txn, gk_dbi (gk, GK_DB_RESV_GW), &cur);
    MDB_val k = { gn, (void *) gw }, v;
    for (int op = MDB_SET_RANGE; !rc && !mdb_cursor_get (cur, &k, &v, (MDB_cursor_op) op);
         op = MDB_NEXT) {
        if (k.mv_size <= gn || memcmp (k.mv_data, gw, gn))
            break;
        zlistx_add_end (calls, strndup ((const char *) k.mv_data + gn, k.mv_size - gn));
    }
    if (!rc)
        mdb_cursor_close (cur);
    for (char *c = zlistx_first (calls); c && !rc; c = zlistx_next (calls)) {
        rc = gk_orphan (txn, gk, c, now_ms);
        (*count)++;
    }
    zlistx_destroy (&calls);
    return rc;
}
