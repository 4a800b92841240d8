/* spend: the model gateway's audit log (spend.append, spend.read; family
 * gkey in proto/gateway.def, docs/gateway.md). gateway-keys hands over one
 * record per call; it is stored once per call (`spend_ids`), folded into
 * daily totals per user, key and model (`spend_agg`, which `stats.get`
 * reports) and published as `spend` on `spend.<user>`. A record marked
 * `late` corrects the one stored for its call (an orphan charged in full
 * whose settle came after all): it replaces it, totals included, under a
 * new seq so readers paging on see it. Records older than
 * CAISSON_SPEND_RETENTION_DAYS go; the daily totals stay. A call with a
 * sandbox's or a user's key naming a run also shows in that run, in the
 * same transaction (runcall.h). */
#include "elog.h"
#include "jfield.h"
#include "runcall.h"
#include "cfg.h"
#include "cid.h"
#include "clog.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000ull
#define AGG_KEY 600
#define NFIG 6              /* calls, in, out, cached, nusd, errors */
#define READ_MAX 1000
#define READ_DEFAULT 100

static const char *const fig_names[NFIG] = { "calls", "in", "out", "cached", "nusd", "errors" };

/* The `spend_agg` key of rec: user NUL be32 day NUL key NUL model. */
static size_t
agg_key (uint8_t *out, const json_t *rec)
{
    size_t n = (size_t) snprintf ((char *) out, 200, "%.128s", jfield_str (rec, "user")) + 1;
    uint32_t day = (uint32_t) (jfield_u64 (rec, "ts") / DAY_MS);
    for (int i = 3; i >= 0; i--, day >>= 8)
        out[n + (size_t) i] = (uint8_t) day;
    n += 4;
    n += (size_t) snprintf ((char *) out + n, 100, "%.64s", jfield_str (rec, "key")) + 1;
    n += (size_t) snprintf ((char *) out + n, 260, "%.256s", jfield_str (rec, "model"));
    return n;
}

/* Adds (sign 1) or takes away (sign -1) rec's figures from its day's totals. */
static int
agg_fold (MDB_txn *txn, elog_t *el, const json_t *rec, int sign)
{
    uint8_t key[AGG_KEY], val[NFIG * 8];
    MDB_val k = { agg_key (key, rec), key }, v;
    uint64_t f[NFIG] = { 0 };
    int rc = mdb_get (txn, store_dbi (el->store, DB_SPEND_AGG), &k, &v);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    for (int i = 0; !rc && i < NFIG && v.mv_size == sizeof val; i++)
        f[i] = elog_get64 ((const uint8_t *) v.mv_data + 8 * i);
    const char *outcome = jfield_str (rec, "outcome");
    const uint64_t d[NFIG] = { 1, jfield_u64 (rec, "in"), jfield_u64 (rec, "out"),
                               jfield_u64 (rec, "cached"), jfield_u64 (rec, "nusd"),
                               strcmp (outcome, "ok") != 0 };
    for (int i = 0; i < NFIG; i++) {
        f[i] = sign > 0 ? f[i] + d[i] : f[i] > d[i] ? f[i] - d[i] : 0;
        elog_be64 (val + 8 * i, f[i]);
    }
    v.mv_size = sizeof val;
    v.mv_data = val;
    return mdb_put (txn, store_dbi (el->store, DB_SPEND_AGG), &k, &v, 0);
}

typedef struct {
    elog_t *el;
    json_t *rec;            /* the record to store */
    uint64_t seq;           /* its seq (or the stored one's, when a duplicate) */
    bool duplicate;
    uint64_t run_events_max;    /* CAISSON_GATEWAY_RUN_EVENTS_MAX */
    runcall_t call;             /* the run's model_call, when one was appended */
} add_t;

/* The next spend seq, kept in meta so retention never lets one come back. */
static int
next_seq (MDB_txn *txn, elog_t *el, uint64_t *seq)
{
    MDB_val k = { 9, "spend_seq" }, v;
    uint8_t b[8];
    int rc = mdb_get (txn, store_dbi (el->store, DB_META), &k, &v);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    *seq = (!rc && v.mv_size == 8 ? elog_get64 (v.mv_data) : 0) + 1;
    elog_be64 (b, *seq);
    v.mv_size = 8;
    v.mv_data = b;
    return mdb_put (txn, store_dbi (el->store, DB_META), &k, &v, 0);
}

/* The stored record of seq (new), or NULL. */
static json_t *
load (MDB_txn *txn, elog_t *el, uint64_t seq)
{
    uint8_t sk[8];
    elog_be64 (sk, seq);
    MDB_val k = { 8, sk }, v;
    if (mdb_get (txn, store_dbi (el->store, DB_SPEND), &k, &v))
        return NULL;
    return elog_event_json (&v);
}

static int
add (MDB_txn *txn, void *arg)
{
    add_t *a = arg;
    elog_t *el = a->el;
    const char *call = jfield_str (a->rec, "call");
    MDB_val ik = { strlen (call), (void *) call }, iv;
    a->duplicate = false;
    int rc = mdb_get (txn, store_dbi (el->store, DB_SPEND_IDS), &ik, &iv);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (!rc && iv.mv_size == 8) {
        uint64_t old = elog_get64 (iv.mv_data);
        json_t *prev = load (txn, el, old);
        bool replace = json_is_true (json_object_get (a->rec, "late")) && prev
                    && !json_is_true (json_object_get (prev, "late"));
        if (!replace) {
            json_decref (prev);
            a->seq = old;
            a->duplicate = true;
            return 0;
        }
        uint8_t sk[8];
        elog_be64 (sk, old);
        MDB_val k = { 8, sk };
        rc = agg_fold (txn, el, prev, -1);
        json_decref (prev);
        if (rc || (rc = mdb_del (txn, store_dbi (el->store, DB_SPEND), &k, NULL)))
            return rc;
    }
    if ((rc = next_seq (txn, el, &a->seq)))
        return rc;
    uint8_t *data, sk[8];
    size_t size;
    json_object_set_new (a->rec, "seq", json_integer ((json_int_t) a->seq));
    if (mpjson_encode (a->rec, 8, &data, &size))
        return ENOMEM;
    elog_be64 (sk, a->seq);
    MDB_val k = { 8, sk }, v = { size, data };
    rc = mdb_put (txn, store_dbi (el->store, DB_SPEND), &k, &v, 0);
    free (data);
    iv.mv_size = 8;
    iv.mv_data = sk;
    if (!rc)
        rc = mdb_put (txn, store_dbi (el->store, DB_SPEND_IDS), &ik, &iv, 0);
    if (!rc)
        rc = agg_fold (txn, el, a->rec, 1);
    return rc ? rc : runcall_add (txn, el, a->rec, a->run_events_max, &a->call);
}

proto_msg_t *
spend_append (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    if (!req->env.op)
        return proto_error_new (req, PROTO_ERR_forbidden, "spend.append: only gateway-keys "
                                "(a service) stores spend records");
    add_t a = { el, mpjson_get (&req->body.spend_append.record, 8), 0, false,
                cfg_u64 ("CAISSON_GATEWAY_RUN_EVENTS_MAX"), { 0 } };
    const char *call = jfield_str (a.rec, "call"), *user = jfield_str (a.rec, "user");
    if (!json_is_object (a.rec) || !*call || strlen (call) > 64 || !*user
        || !cid_name_ok (user, 128)) {
        json_decref (a.rec);
        return proto_error_new (req, PROTO_ERR_bad_value, "spend.append: a record needs a "
                                "`call` (at most 64 bytes) and a `user`");
    }
    if (!jfield_u64 (a.rec, "ts"))
        json_object_set_new (a.rec, "ts", json_integer (zclock_time ()));
    proto_msg_t *rep;
    if (store_write (el->store, add, &a)) {
        int code = store_error (el->store);
        free (a.call.data.data);
        rep = proto_error_new (req, code == MDB_MAP_FULL ? PROTO_ERR_store_full
                                                         : PROTO_ERR_store_failed,
                               "spend record not stored: %s", mdb_strerror (code));
    }
    else {
        rep = proto_msg_new (PROTO_spend_ack, req);
        if (rep) {
            rep->body.spend_ack.seq = a.seq;
            rep->body.spend_ack.duplicate = a.duplicate;
        }
        if (!a.duplicate) {
            proto_msg_t *ev = proto_msg_new (PROTO_spend, req);
            proto_set_str (&ev->env.user, user);
            ev->env.op = false;
            char topic[160];
            snprintf (topic, sizeof topic, "spend.%s", user);
            if (!mpjson_set (&ev->body.spend.record, a.rec, 8))
                bus_pub_send (svc_pub (el->svc), topic, ev);
            proto_msg_destroy (&ev);
        }
        runcall_publish (el, req, &a.call);
    }
    json_decref (a.rec);
    return rep;
}

typedef struct {
    elog_t *el;
    const char *user, *key;     /* NULL: any */
    uint64_t since, until, from, limit;
    json_t *records;
    uint64_t next;
} read_t;

static int
scan (MDB_txn *txn, void *arg)
{
    read_t *r = arg;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (r->el->store, DB_SPEND), &cur);
    if (rc)
        return rc;
    uint8_t sk[8];
    elog_be64 (sk, r->from);
    MDB_val k = { 8, sk }, v;
    size_t bytes = 0;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE); !rc;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        if (json_array_size (r->records) >= r->limit || bytes > ELOG_PAGE_BYTES) {
            r->next = elog_get64 (k.mv_data);
            break;
        }
        json_t *rec = elog_event_json (&v);
        uint64_t ts = jfield_u64 (rec, "ts");
        if (rec && (!r->user || !strcmp (jfield_str (rec, "user"), r->user))
            && (!r->key || !strcmp (jfield_str (rec, "key"), r->key)) && ts >= r->since
            && (!r->until || ts < r->until)) {
            bytes += v.mv_size;
            json_array_append (r->records, rec);
        }
        json_decref (rec);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

proto_msg_t *
spend_read (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const proto_spend_read_t *b = &req->body.spend_read;
    /* a user reads their own records only, whoever they name */
    read_t r = { el, req->env.op ? b->user : req->env.user ? req->env.user : "", b->key_id,
                 b->since, b->until, b->from_seq, b->limit ? b->limit : READ_DEFAULT,
                 json_array (), 0 };
    if (r.limit > READ_MAX)
        r.limit = READ_MAX;
    proto_msg_t *rep;
    if (store_read (el->store, scan, &r))
        rep = proto_error_new (req, PROTO_ERR_store_failed, "spend.read: %s",
                               mdb_strerror (store_error (el->store)));
    else {
        rep = proto_msg_new (PROTO_spend_page, req);
        if (rep)
            rep->body.spend_page.next = r.next;
        if (rep && mpjson_set (&rep->body.spend_page.records, r.records, 8))
            proto_msg_destroy (&rep);
    }
    json_decref (r.records);
    return rep;
}

/* Adds the figures f to out[name] (made on first use). */
static void
sum_into (json_t *out, const char *name, const uint64_t f[NFIG])
{
    json_t *o = json_object_get (out, name);
    if (!o) {
        o = json_object ();
        json_object_set_new (out, name, o);
    }
    for (int i = 0; i < NFIG; i++)
        json_object_set_new (o, fig_names[i],
                             json_integer ((json_int_t) (jfield_u64 (o, fig_names[i]) + f[i])));
}

typedef struct {
    elog_t *el;
    const char *user;
    uint32_t since_day;
    json_t *out;
} stats_t;

static int
fold_agg (MDB_txn *txn, void *arg)
{
    stats_t *s = arg;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (s->el->store, DB_SPEND_AGG), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        /* user NUL be32 day key NUL model: copy out, NUL-terminated */
        char buf[AGG_KEY + 1];
        if (k.mv_size > AGG_KEY || v.mv_size != NFIG * 8)
            continue;
        memcpy (buf, k.mv_data, k.mv_size);
        buf[k.mv_size] = '\0';
        size_t ul = strnlen (buf, k.mv_size);
        if (ul + 5 > k.mv_size)
            continue;
        const uint8_t *d = (const uint8_t *) buf + ul + 1;
        uint32_t day = (uint32_t) d[0] << 24 | (uint32_t) d[1] << 16 | (uint32_t) d[2] << 8 | d[3];
        const char *key = buf + ul + 5;
        const char *model = key + strlen (key) + 1;
        if (model > buf + k.mv_size || day < s->since_day || (s->user && strcmp (buf, s->user)))
            continue;
        uint64_t f[NFIG];
        for (int i = 0; i < NFIG; i++)
            f[i] = elog_get64 ((const uint8_t *) v.mv_data + 8 * i);
        sum_into (json_object_get (s->out, "byUser"), buf, f);
        sum_into (json_object_get (s->out, "byKey"), *key ? key : "?", f);
        sum_into (json_object_get (s->out, "byModel"), *model ? model : "?", f);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

json_t *
spend_stats (elog_t *el, const char *user, uint64_t since_us)
{
    stats_t s = { el, user, (uint32_t) (since_us / 1000 / DAY_MS),
                  json_pack ("{s:{}, s:{}, s:{}}", "byUser", "byKey", "byModel") };
    if (store_read (el->store, fold_agg, &s))
        clog_error (NULL, "spend totals unread: %s", mdb_strerror (store_error (el->store)));
    return s.out;
}

typedef struct {
    elog_t *el;
    uint64_t cutoff_ms;
    int gone;
} retain_t;

static int
drop_old (MDB_txn *txn, void *arg)
{
    retain_t *r = arg;
    r->gone = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (r->el->store, DB_SPEND), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    /* seqs follow time closely enough: stop at the first record to keep */
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        json_t *rec = elog_event_json (&v);
        if (rec && jfield_u64 (rec, "ts") >= r->cutoff_ms) {
            json_decref (rec);
            break;
        }
        const char *call = jfield_str (rec, "call");
        MDB_val ik = { strlen (call), (void *) call };
        rc = *call ? mdb_del (txn, store_dbi (r->el->store, DB_SPEND_IDS), &ik, NULL) : 0;
        json_decref (rec);
        if ((rc && rc != MDB_NOTFOUND) || (rc = mdb_cursor_del (cur, 0)))
            break;
        r->gone++;
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
spend_retain (elog_t *el, uint64_t days)
{
    retain_t r = { el, (uint64_t) zclock_time () - days * DAY_MS, 0 };
    if (!days)
        return 0;
    if (store_write (el->store, drop_old, &r)) {
        clog_error (NULL, "spend retention failed: %s", mdb_strerror (store_error (el->store)));
        return -1;
    }
    return r.gone;
}
