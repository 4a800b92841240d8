/* artifact: content-addressed blobs and retention. An artifact's address
 * is the sha256 of its bytes (OpenSSL's libcrypto), so the same bytes put
 * twice are stored once; the bytes live in 1 MiB chunks so no single LMDB
 * value is huge and a download is read a few chunks at a time. Runs
 * reference artifacts through `artifact` events (journal.c records the
 * reference); retention deletes old runs and then every artifact no
 * remaining run references. */
#include "elog.h"
#include "clog.h"
#include "recall.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define GET_MAX (4u << 20)

static void
chunk_key (const char *hash, uint32_t index, uint8_t key[ELOG_HASH_HEX + 4])
{
    memcpy (key, hash, ELOG_HASH_HEX);
    for (int i = 0; i < 4; i++)
        key[ELOG_HASH_HEX + i] = (uint8_t) (index >> (24 - 8 * i));
}

static bool
hash_valid (const char *h)
{
    if (strlen (h) != ELOG_HASH_HEX)
        return false;
    for (; *h; h++)
        if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
            return false;
    return true;
}

/* ---- put ------------------------------------------------------------------ */

typedef struct {
    elog_t *el;
    const proto_artifact_put_t *b;
    const char *user;           /* the putter: the envelope's user, or "" */
    char hash[ELOG_HASH_HEX + 1];
    uint64_t ts;
    bool duplicate;
} put_t;

/* Adds user to the putters of the artifact whose meta is v (key k): who
 * has put the bytes has them, and may reference them from a run. */
static int
add_putter (MDB_txn *txn, store_t *st, MDB_val *k, const MDB_val *v, const char *user)
{
    json_t *meta = json_loadb (v->mv_data, v->mv_size, 0, NULL);
    if (!meta)
        return MDB_CORRUPTED;
    if (elog_artifact_put_by (meta, user)) {
        json_decref (meta);
        return 0;
    }
    json_t *users = json_object_get (meta, "users");
    if (!json_is_array (users))
        json_object_set_new (meta, "users", users = json_array ());
    json_array_append_new (users, json_string (user));
    char *text = json_dumps (meta, JSON_COMPACT);
    json_decref (meta);
    if (!text)
        return ENOMEM;
    MDB_val nv = { strlen (text), text };
    int rc = mdb_put (txn, store_dbi (st, DB_ARTIFACTS), k, &nv, 0);
    free (text);
    return rc;
}

bool
elog_artifact_put_by (const json_t *meta, const char *user)
{
    size_t i;
    json_t *u;
    json_array_foreach (json_object_get (meta, "users"), i, u)
        if (json_is_string (u) && !strcmp (json_string_value (u), user))
            return true;
    return false;
}

static int
put_blob (MDB_txn *txn, void *arg)
{
    put_t *p = arg;
    store_t *st = p->el->store;
    MDB_val k = { ELOG_HASH_HEX, p->hash }, v;
    int rc = mdb_get (txn, store_dbi (st, DB_ARTIFACTS), &k, &v);
    p->duplicate = rc == 0;
    if (p->duplicate)
        return add_putter (txn, st, &k, &v, p->user);
    if (rc != MDB_NOTFOUND)
        return rc;
    size_t size = p->b->data.size;
    uint32_t chunks = (uint32_t) ((size + ELOG_CHUNK - 1) / ELOG_CHUNK);
    for (uint32_t i = 0; i < chunks; i++) {
        uint8_t ck[ELOG_HASH_HEX + 4];
        chunk_key (p->hash, i, ck);
        size_t off = (size_t) i * ELOG_CHUNK, len = size - off < ELOG_CHUNK ? size - off : ELOG_CHUNK;
        MDB_val key = { sizeof ck, ck }, val = { len, p->b->data.data + off };
        if ((rc = mdb_put (txn, store_dbi (st, DB_CHUNKS), &key, &val, 0)))
            return rc;
    }
    json_t *meta = json_pack ("{s:I, s:I, s:s, s:s, s:I, s:[s]}", "size", (json_int_t) size,
                              "chunks", (json_int_t) chunks, "kind",
                              p->b->kind ? p->b->kind : "file", "name",
                              p->b->name ? p->b->name : "", "created", (json_int_t) p->ts,
                              "users", p->user);
    char *text = meta ? json_dumps (meta, JSON_COMPACT) : NULL;
    json_decref (meta);
    if (!text)
        return ENOMEM;
    v = (MDB_val) { strlen (text), text };
    rc = mdb_put (txn, store_dbi (st, DB_ARTIFACTS), &k, &v, 0);
    free (text);
    return rc;
}

proto_msg_t *
artifact_put (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    put_t p = { .el = el, .b = &req->body.artifact_put, .ts = req->env.ts,
                .user = req->env.user ? req->env.user : "" };
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest (p.b->data.data, p.b->data.size, md, &mdlen, EVP_sha256 (), NULL))
        return NULL;
    for (int i = 0; i < 32; i++)
        snprintf (p.hash + 2 * i, 3, "%02x", md[i]);
    if (store_write (el->store, put_blob, &p)) {
        int code = store_error (el->store);
        return proto_error_new (req, code == MDB_MAP_FULL ? PROTO_ERR_store_full : PROTO_ERR_store_failed,
                                "artifact not stored: %s", mdb_strerror (code));
    }
    proto_msg_t *rep = proto_msg_new (PROTO_artifact_ref, req);
    if (rep) {
        proto_set_str (&rep->body.artifact_ref.hash, p.hash);
        rep->body.artifact_ref.size = p.b->data.size;
        rep->body.artifact_ref.duplicate = p.duplicate;
    }
    return rep;
}

/* ---- get ------------------------------------------------------------------ */

typedef struct {
    elog_t *el;
    const proto_msg_t *req;
    const proto_artifact_get_t *q;
    proto_msg_t *rep;
} get_t;

/* True when a run that references hash (its `artifact` event) is one the
 * caller may read. Naming a hash is no claim to it: the bytes are someone
 * else's unless one of the caller's own runs produced them. */
static bool
referenced_for (MDB_txn *txn, elog_t *el, const proto_msg_t *req, const char *hash)
{
    if (req->env.op)
        return true;
    MDB_cursor *cur;
    if (mdb_cursor_open (txn, store_dbi (el->store, DB_REFS), &cur))
        return false;
    MDB_val k = { ELOG_HASH_HEX, (void *) hash }, v;
    bool ok = false;
    for (int rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE); !rc && !ok;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != ELOG_HASH_HEX + ELOG_RUN_KEY || memcmp (k.mv_data, hash, ELOG_HASH_HEX))
            break;
        ok = elog_may_read_key (txn, el, req, (const uint8_t *) k.mv_data + ELOG_HASH_HEX);
    }
    mdb_cursor_close (cur);
    return ok;
}

static int
get_blob (MDB_txn *txn, void *arg)
{
    get_t *g = arg;
    store_t *st = g->el->store;
    MDB_val k = { ELOG_HASH_HEX, g->q->hash }, v;
    if (!referenced_for (txn, g->el, g->req, g->q->hash))
        return MDB_NOTFOUND;
    int rc = mdb_get (txn, store_dbi (st, DB_ARTIFACTS), &k, &v);
    if (rc)
        return rc;
    json_t *meta = json_loadb (v.mv_data, v.mv_size, 0, NULL);
    proto_artifact_data_t *b = &g->rep->body.artifact_data;
    b->size = (uint64_t) json_integer_value (json_object_get (meta, "size"));
    b->offset = g->q->offset < b->size ? g->q->offset : b->size;
    proto_set_str (&b->kind, json_string_value (json_object_get (meta, "kind")));
    const char *name = json_string_value (json_object_get (meta, "name"));
    if (name && *name)
        proto_set_str (&b->name, name);
    json_decref (meta);
    uint64_t want = b->size - b->offset < GET_MAX ? b->size - b->offset : GET_MAX;
    /* cppcheck-suppress knownConditionTrueFalse ; false positive: 0 when offset = size */
    if (!want)
        return 0;
    b->data.data = malloc (want);
    if (!b->data.data)
        return ENOMEM;
    b->data.size = want;
    /* cppcheck-suppress knownConditionTrueFalse ; false positive, want > 0 here */
    for (uint64_t done = 0; done < want;) {
        uint64_t at = b->offset + done;
        uint8_t ck[ELOG_HASH_HEX + 4];
        chunk_key (g->q->hash, (uint32_t) (at / ELOG_CHUNK), ck);
        MDB_val key = { sizeof ck, ck }, val;
        if ((rc = mdb_get (txn, store_dbi (st, DB_CHUNKS), &key, &val)))
            return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
        uint64_t in = at % ELOG_CHUNK;
        if (in >= val.mv_size)
            return MDB_CORRUPTED;
        uint64_t take = val.mv_size - in < want - done ? val.mv_size - in : want - done;
        memcpy (b->data.data + done, (uint8_t *) val.mv_data + in, take);
        done += take;
    }
    return 0;
}

proto_msg_t *
artifact_get (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    if (!hash_valid (req->body.artifact_get.hash))
        return proto_error_new (req, PROTO_ERR_bad_hash,
                                "artifact.get: field hash must be 64 lower-case hex digits");
    get_t g = { el, req, &req->body.artifact_get, proto_msg_new (PROTO_artifact_data, req) };
    if (!g.rep)
        return NULL;
    proto_set_str (&g.rep->body.artifact_data.hash, g.q->hash);
    if (store_read (el->store, get_blob, &g)) {
        int code = store_error (el->store);
        proto_msg_destroy (&g.rep);
        if (code == MDB_NOTFOUND)
            return proto_error_new (req, PROTO_ERR_not_found, "artifact.get: no artifact %s", g.q->hash);
        return proto_error_new (req, PROTO_ERR_store_failed, "%s", mdb_strerror (code));
    }
    return g.rep;
}

/* ---- retention ------------------------------------------------------------- */

typedef struct {
    elog_t *el;
    uint64_t cutoff;
    int gone;
} retain_t;

/* Deletes every key of dbi that starts with prefix. */
static int
del_prefix (MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t len,
            int (*each) (MDB_txn *, MDB_val *, void *), void *arg)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, dbi, &cur);
    if (rc)
        return rc;
    for (;;) {         /* seek again after each delete: simple and always right */
        MDB_val k = { len, (void *) prefix }, v;
        rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
        if (rc || k.mv_size < len || memcmp (k.mv_data, prefix, len))
            break;
        if ((each && (rc = each (txn, &v, arg))) || (rc = mdb_cursor_del (cur, 0)))
            break;
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* For each event of a deleted run: its global entry and its id. */
static int
drop_event (MDB_txn *txn, MDB_val *v, void *arg)
{
    elog_t *el = arg;
    json_t *ev = elog_event_json (v);
    uint8_t gk[8];
    elog_be64 (gk, (uint64_t) json_integer_value (json_object_get (ev, "seq")));
    const char *id = json_string_value (json_object_get (ev, "id"));
    MDB_val k = { 8, gk };
    int rc = mdb_del (txn, store_dbi (el->store, DB_GLOBAL), &k, NULL);
    if (id && (!rc || rc == MDB_NOTFOUND)) {
        k = (MDB_val) { strlen (id), (void *) id };
        rc = mdb_del (txn, store_dbi (el->store, DB_IDS), &k, NULL);
    }
    json_decref (ev);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
artifact_drop_run (MDB_txn *txn, elog_t *el, const uint8_t rk[ELOG_RUN_KEY], json_t *rec)
{
    store_t *st = el->store;
    int rc = del_prefix (txn, store_dbi (st, DB_EVENTS), rk, ELOG_RUN_KEY, drop_event, el);
    size_t i;
    json_t *a;
    json_array_foreach (json_object_get (rec, "artifacts"), i, a) {
        const char *hash = json_string_value (json_object_get (a, "hash"));
        if (rc || !hash || strlen (hash) != ELOG_HASH_HEX)
            continue;
        uint8_t ref[ELOG_HASH_HEX + ELOG_RUN_KEY];
        memcpy (ref, hash, ELOG_HASH_HEX);
        memcpy (ref + ELOG_HASH_HEX, rk, ELOG_RUN_KEY);
        MDB_val k = { sizeof ref, ref }, v;
        rc = mdb_del (txn, store_dbi (st, DB_REFS), &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
        MDB_cursor *cur;
        if (rc || (rc = mdb_cursor_open (txn, store_dbi (st, DB_REFS), &cur)))
            continue;
        k = (MDB_val) { ELOG_HASH_HEX, ref };
        int more = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
        bool used = !more && !memcmp (k.mv_data, hash, ELOG_HASH_HEX);
        mdb_cursor_close (cur);
        if (!used) {
            k = (MDB_val) { ELOG_HASH_HEX, ref };
            rc = mdb_del (txn, store_dbi (st, DB_ARTIFACTS), &k, NULL);
            if (!rc || rc == MDB_NOTFOUND)
                rc = del_prefix (txn, store_dbi (st, DB_CHUNKS), hash, ELOG_HASH_HEX, NULL, NULL);
        }
    }
    if (!rc)
        rc = recall_forget_run (txn, store_dbi (st, DB_RECALL), (const char *) rk);
    MDB_val k = { ELOG_RUN_KEY, (void *) rk };
    return rc ? rc : mdb_del (txn, store_dbi (st, DB_RUNS), &k, NULL);
}

static int
retain_txn (MDB_txn *txn, void *arg)
{
    retain_t *r = arg;
    r->gone = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (r->el->store, DB_RUNS), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    uint8_t doomed[64][ELOG_RUN_KEY];
    int n = 0;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); !rc && n < 64;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        json_t *rec = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        if (rec && k.mv_size == ELOG_RUN_KEY
            && (uint64_t) json_integer_value (json_object_get (rec, "started")) < r->cutoff)
            memcpy (doomed[n++], k.mv_data, ELOG_RUN_KEY);
        json_decref (rec);
    }
    mdb_cursor_close (cur);
    rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        MDB_val key = { ELOG_RUN_KEY, doomed[i] }, val;
        if ((rc = mdb_get (txn, store_dbi (r->el->store, DB_RUNS), &key, &val)))
            break;
        json_t *rec = json_loadb (val.mv_data, val.mv_size, 0, NULL);
        char run[ELOG_RUN_KEY + 1];
        snprintf (run, sizeof run, "%.*s", ELOG_RUN_KEY, (const char *) doomed[i]);
        /* a thread whose last run goes goes too */
        rc = threads_forget_run (txn, r->el, rec, run, (uint64_t) zclock_time () * 1000);
        if (!rc)
            rc = artifact_drop_run (txn, r->el, doomed[i], rec);
        json_decref (rec);
        r->gone++;
    }
    return rc;
}

/* Artifacts put before the cutoff that no run references (a producer put
 * them and never sent the `artifact` event) go too, 256 per call. */
static int
orphans_txn (MDB_txn *txn, void *arg)
{
    retain_t *r = arg;
    store_t *st = r->el->store;
    r->gone = 0;
    MDB_cursor *cur, *refs;
    int rc = mdb_cursor_open (txn, store_dbi (st, DB_ARTIFACTS), &cur);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open (txn, store_dbi (st, DB_REFS), &refs))) {
        mdb_cursor_close (cur);
        return rc;
    }
    static char doomed[256][ELOG_HASH_HEX];
    int n = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); !rc && n < 256;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != ELOG_HASH_HEX)
            continue;
        json_t *meta = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        uint64_t created = (uint64_t) json_integer_value (json_object_get (meta, "created"));
        json_decref (meta);
        MDB_val rk = k, rv;
        int more = mdb_cursor_get (refs, &rk, &rv, MDB_SET_RANGE);
        bool used = !more && rk.mv_size >= ELOG_HASH_HEX && !memcmp (rk.mv_data, k.mv_data, ELOG_HASH_HEX);
        if (!used && created < r->cutoff)
            memcpy (doomed[n++], k.mv_data, ELOG_HASH_HEX);
    }
    mdb_cursor_close (refs);
    mdb_cursor_close (cur);
    rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        MDB_val key = { ELOG_HASH_HEX, doomed[i] };
        rc = mdb_del (txn, store_dbi (st, DB_ARTIFACTS), &key, NULL);
        if (!rc)
            rc = del_prefix (txn, store_dbi (st, DB_CHUNKS), doomed[i], ELOG_HASH_HEX, NULL, NULL);
        r->gone++;
    }
    return rc;
}

int
artifact_retain (elog_t *el, uint64_t cutoff_us)
{
    for (;;) {
        retain_t r = { el, cutoff_us, 0 };
        if (store_write (el->store, orphans_txn, &r)) {
            clog_error (NULL, "retention failed: %s", mdb_strerror (store_error (el->store)));
            return -1;
        }
        if (r.gone < 256)
            break;
    }
    int total = 0;
    for (;;) {     /* 64 runs per transaction, so a big sweep does not hold the writer long */
        retain_t r = { el, cutoff_us, 0 };
        if (store_write (el->store, retain_txn, &r)) {
            clog_error (NULL, "retention failed: %s", mdb_strerror (store_error (el->store)));
            return -1;
        }
        total += r.gone;
        if (r.gone < 64)
            return total;
    }
}
