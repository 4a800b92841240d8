/* evals: the records of `caisson eval run` (family proto/evals.def):
 * eval.put, eval.list, eval.get. An id names one eval across users (so an
 * operator's eval.get needs no user): `E` id -> owner NUL be64 updated
 * msgpack (the record as received), and per owner an index `e` owner NUL
 * id -> {id, user, updated, bytes, set, model, profile?, status, started,
 * summary} JSON, which eval.list reads and CAISSON_EVALS_MAX_PER_USER
 * counts, so a listing never decodes a record. Both live in the `memory`
 * database under their own key bytes (DB_EVALS, elog.h). An eval is its
 * owner's: another user's id answers not_found to eval.get and forbidden
 * to eval.put (reported alike), unless the sender is an operator. */
#include "elog.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"
#include "mpr.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_MAX 256
#define RECORD_DEPTH 16
#define RECORD_ITEMS (2u << 20)   /* values in a record: 1000 tasks x 10 attempts is ~400k */
#define LIST_DEFAULT 100
#define SUMMARY_MAX 65536       /* an index entry keeps a summary up to this size */
#define STARTED_MAX 64

typedef struct {
    elog_t *el;
    const proto_msg_t *req;
    const char *id;
    char owner[130];
    uint64_t updated;
    json_t *index;              /* put: the index entry to write */
    MDB_val found;              /* get: the stored value (valid in the transaction) */
    proto_msg_t *rep;           /* get: made inside the transaction */
    size_t bytes;               /* delete: the record's size */
    proto_ecode_t ecode;
    char why[256];
} job_t;

/* True when id is an eval id: ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$. */
static bool
id_ok (const char *id)
{
    size_t n = strlen (id);
    if (n < 1 || n > 64 || id[0] == '.' || id[0] == '_' || id[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z')
              || (id[i] >= '0' && id[i] <= '9') || id[i] == '.' || id[i] == '_' || id[i] == '-'))
            return false;
    return true;
}

static const char *
who (const proto_msg_t *req)
{
    return req->env.user ? req->env.user : "";
}

static size_t
record_key (uint8_t *key, const char *id)
{
    return (size_t) snprintf ((char *) key, KEY_MAX, "E%s", id);
}

/* The index key: 'e' owner NUL id (id NULL: the owner's prefix). */
static size_t
index_key (uint8_t *key, const char *owner, const char *id)
{
    size_t n = (size_t) snprintf ((char *) key, KEY_MAX, "e%s", owner) + 1;
    key[n - 1] = '\0';
    if (id)
        n += (size_t) snprintf ((char *) key + n, KEY_MAX - n, "%s", id);
    return n;
}

static void
fail (job_t *j, proto_ecode_t code, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
static void
fail (job_t *j, proto_ecode_t code, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (j->why, sizeof j->why, fmt, ap);
    va_end (ap);
    j->ecode = code;
}

/* Looks id up: 0 with j->found and j->owner set, MDB_NOTFOUND, or a code. */
static int
lookup (MDB_txn *txn, job_t *j)
{
    uint8_t key[KEY_MAX];
    MDB_val k = { record_key (key, j->id), key };
    int rc = mdb_get (txn, store_dbi (j->el->store, DB_EVALS), &k, &j->found);
    if (rc)
        return rc;
    const char *v = j->found.mv_data;
    size_t olen = strnlen (v, j->found.mv_size);
    if (olen + 9 > j->found.mv_size || olen >= sizeof j->owner)
        return MDB_CORRUPTED;
    memcpy (j->owner, v, olen + 1);
    j->updated = elog_get64 ((const uint8_t *) v + olen + 1);
    return 0;
}

/* lookup of an eval the caller may see (their own; any, for an operator):
 * 0 with j->found and j->owner set, 0 with j failed `not_found`, or a code. */
static int
lookup_visible (MDB_txn *txn, job_t *j)
{
    int rc = lookup (txn, j);
    if (rc == MDB_NOTFOUND || (!rc && strcmp (j->owner, who (j->req)) && !j->req->env.op)) {
        fail (j, PROTO_ERR_not_found, "no eval '%s'", j->id);
        return 0;
    }
    return rc;
}

/* How many evals owner keeps (count) and their records' bytes, that of
 * the eval except (being replaced; NULL: none) left out. */
static int
owned (MDB_txn *txn, elog_t *el, const char *owner, const char *except, uint64_t *count,
       uint64_t *bytes)
{
    uint8_t key[KEY_MAX], rkey[KEY_MAX];
    size_t plen = index_key (key, owner, NULL);
    MDB_cursor *cur;
    MDB_dbi dbi = store_dbi (el->store, DB_EVALS);
    int rc = mdb_cursor_open (txn, dbi, &cur);
    if (rc)
        return rc;
    MDB_val k = { plen, key }, v, rv;
    *count = *bytes = 0;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
         !rc && k.mv_size >= plen && !memcmp (k.mv_data, key, plen);
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        (*count)++;
        char id[KEY_MAX];
        snprintf (id, sizeof id, "%.*s", (int) (k.mv_size - plen), (char *) k.mv_data + plen);
        MDB_val rk = { record_key (rkey, id), rkey };
        if ((!except || strcmp (id, except)) && !mdb_get (txn, dbi, &rk, &rv))
            *bytes += rv.mv_size;
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- put ---------------------------------------------------------------------- */

static int
put_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    const proto_eval_put_t *b = &j->req->body.eval_put;
    int rc = lookup (txn, j);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (!rc && strcmp (j->owner, who (j->req)) && !j->req->env.op) {
        fail (j, PROTO_ERR_forbidden, "eval '%s' is another user's: choose another id", j->id);
        return 0;
    }
    bool replacing = rc == 0;
    if (!replacing)
        snprintf (j->owner, sizeof j->owner, "%s", who (j->req));
    uint64_t max = cfg_u64 ("CAISSON_EVALS_MAX_PER_USER"), n, bytes;
    uint64_t quota = cfg_u64 ("CAISSON_EVALS_MAX_MB_PER_USER") << 20;
    if ((rc = owned (txn, j->el, j->owner, replacing ? j->id : NULL, &n, &bytes)))
        return rc;
    if (!replacing && n >= max) {
        fail (j, PROTO_ERR_limit, "%s keeps %llu evals, as many as "
              "CAISSON_EVALS_MAX_PER_USER allows", j->owner, (unsigned long long) max);
        return 0;
    }
    if (bytes + b->record.size > quota) {
        fail (j, PROTO_ERR_limit, "%s's evals would take %llu MiB, more than "
              "CAISSON_EVALS_MAX_MB_PER_USER (%llu) allows: delete some or store less",
              j->owner, (unsigned long long) ((bytes + b->record.size) >> 20) + 1,
              (unsigned long long) (quota >> 20));
        return 0;
    }
    /* microseconds, so puts in one millisecond still list in their order */
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    j->updated = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
    size_t olen = strlen (j->owner);
    uint8_t key[KEY_MAX];
    MDB_val k = { record_key (key, j->id), key }, v = { olen + 9 + b->record.size, NULL };
    if ((rc = mdb_put (txn, store_dbi (j->el->store, DB_EVALS), &k, &v, MDB_RESERVE)))
        return rc;
    memcpy (v.mv_data, j->owner, olen + 1);
    elog_be64 ((uint8_t *) v.mv_data + olen + 1, j->updated);
    memcpy ((uint8_t *) v.mv_data + olen + 9, b->record.data, b->record.size);
    json_object_set_new (j->index, "user", json_string (j->owner));
    json_object_set_new (j->index, "updated", json_integer ((json_int_t) j->updated));
    char *text = json_dumps (j->index, JSON_COMPACT);
    k = (MDB_val) { index_key (key, j->owner, j->id), key };
    v = (MDB_val) { strlen (text), text };
    rc = mdb_put (txn, store_dbi (j->el->store, DB_EVALS), &k, &v, 0);
    free (text);
    return rc;
}

/* The index entry of record (what eval.list shows), or NULL with why set
 * when an indexed key has the wrong type. */
static json_t *
index_of (const json_t *record, const char *id, size_t bytes, char *why, size_t len)
{
    if (!json_is_object (record)) {
        snprintf (why, len, "record: a map");
        return NULL;
    }
    json_t *e = json_pack ("{s:s, s:I}", "id", id, "bytes", (json_int_t) bytes);
    static const char *const strings[] = { "set", "model", "profile", "status" };
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get (record, strings[i]);
        if (v && (!json_is_string (v) || json_string_length (v) > 256)) {
            snprintf (why, len, "record.%s: a string of at most 256 bytes", strings[i]);
            json_decref (e);
            return NULL;
        }
        if (v)
            json_object_set (e, strings[i], v);
    }
    /* a string may be a timestamp, not a payload: a listing holds 100 */
    json_t *started = json_object_get (record, "started");
    if (json_is_string (started) && json_string_length (started) > STARTED_MAX) {
        snprintf (why, len, "record.started: microseconds, or a string of at most %d bytes",
                  STARTED_MAX);
        json_decref (e);
        return NULL;
    }
    if (json_is_integer (started) || json_is_string (started))
        json_object_set (e, "started", started);
    json_t *summary = json_object_get (record, "summary");
    if (summary && !json_is_object (summary)) {
        snprintf (why, len, "record.summary: a map");
        json_decref (e);
        return NULL;
    }
    char *text = summary ? json_dumps (summary, JSON_COMPACT) : NULL;
    if (text && strlen (text) <= SUMMARY_MAX)
        json_object_set (e, "summary", summary);
    free (text);
    return e;
}

/* The record's indexed keys only, decoded (a new map), or NULL with why:
 * the record is checked whole by mpjson_check first, so the rest of it,
 * which may be millions of items, is never built. A summary whose bytes
 * are more than its index could keep is only checked to be a map, and
 * left out. */
static json_t *
indexed_part (const uint8_t *data, size_t size, char *why, size_t len)
{
    static const char *const keys[] = { "set", "model", "profile", "status", "started",
                                        "summary" };
    mpr_t r;
    mpr_item_t it, k;
    mpr_init (&r, data, size);
    if (mpr_next (&r, &it) != MPR_OK || it.kind != MPR_MAP) {
        snprintf (why, len, "record: a map");
        return NULL;
    }
    json_t *part = json_object ();
    for (uint32_t i = 0; i < it.v.count && mpr_next (&r, &k) == MPR_OK; i++) {
        const uint8_t *at = r.p;
        if (mpr_skip (&r, RECORD_DEPTH) != MPR_OK)
            break;              /* not reached: mpjson_check took it */
        size_t n = (size_t) (r.p - at), which = 0;
        while (which < 6 && (k.len != strlen (keys[which])
                             || memcmp (k.ptr, keys[which], k.len)))
            which++;
        if (which == 6)
            continue;
        if (which == 5 && n > 2 * SUMMARY_MAX) {
            mpr_t peek;
            mpr_item_t top;
            mpr_init (&peek, at, n);
            if (mpr_next (&peek, &top) == MPR_OK && top.kind == MPR_MAP)
                continue;
            snprintf (why, len, "record.summary: a map");
            json_decref (part);
            return NULL;
        }
        json_t *v = mpjson_decode (at, n, RECORD_DEPTH - 1, why, len);
        if (!v) {
            json_decref (part);
            return NULL;
        }
        json_object_set_new (part, keys[which], v);
    }
    return part;
}

proto_msg_t *
evals_put (const proto_msg_t *req, void *arg)
{
    const proto_eval_put_t *b = &req->body.eval_put;
    job_t j = { .el = svc_state (arg), .req = req, .id = b->id ? b->id : "",
                .ecode = PROTO_ERR_COUNT };
    if (!id_ok (j.id))
        return proto_error_new (req, PROTO_ERR_bad_value, "eval.put: id: 1 to 64 letters, "
                                "digits, '.', '_' or '-', starting with a letter or digit");
    char why[256];
    if (mpjson_check (b->record.data, b->record.size, RECORD_DEPTH, RECORD_ITEMS, why,
                      sizeof why))
        return proto_error_new (req, PROTO_ERR_bad_value, "eval.put: record: %s", why);
    json_t *record = indexed_part (b->record.data, b->record.size, why, sizeof why);
    if (!record)
        return proto_error_new (req, PROTO_ERR_bad_value, "eval.put: %s", why);
    j.index = index_of (record, j.id, b->record.size, why, sizeof why);
    json_decref (record);
    if (!j.index)
        return proto_error_new (req, PROTO_ERR_bad_value, "eval.put: %s", why);
    proto_msg_t *rep;
    if (store_write (j.el->store, put_txn, &j)) {
        int code = store_error (j.el->store);
        rep = proto_error_new (req, code == MDB_MAP_FULL ? PROTO_ERR_store_full
                               : PROTO_ERR_store_failed, "eval.put: not stored: %s%s",
                               mdb_strerror (code),
                               code == MDB_MAP_FULL ? " (CAISSON_LMDB_MAX_MB reached)" : "");
    }
    else if (j.ecode != PROTO_ERR_COUNT)
        rep = proto_error_new (req, j.ecode, "eval.put: %s", j.why);
    else {
        rep = proto_msg_new (PROTO_eval_info, req);
        proto_eval_info_t *info = &rep->body.eval_info;
        proto_set_str (&info->id, j.id);
        proto_set_str (&info->user, j.owner);
        info->updated = j.updated;
        info->bytes = b->record.size;
        clog_info (req->env.corr, "eval %s of %s stored: %zu bytes", j.id, j.owner,
                   b->record.size);
    }
    json_decref (j.index);
    return rep;
}

/* ---- delete ------------------------------------------------------------------- */

static int
delete_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    int rc = lookup_visible (txn, j);
    if (rc || j->ecode != PROTO_ERR_COUNT)
        return rc;
    j->bytes = j->found.mv_size - strlen (j->owner) - 9;
    uint8_t key[KEY_MAX];
    MDB_dbi dbi = store_dbi (j->el->store, DB_EVALS);
    MDB_val k = { record_key (key, j->id), key };
    if ((rc = mdb_del (txn, dbi, &k, NULL)))
        return rc;
    k = (MDB_val) { index_key (key, j->owner, j->id), key };
    rc = mdb_del (txn, dbi, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

proto_msg_t *
evals_delete (const proto_msg_t *req, void *arg)
{
    job_t j = { .el = svc_state (arg), .req = req, .id = req->body.eval_delete.id,
                .ecode = PROTO_ERR_COUNT };
    if (!j.id || !id_ok (j.id))
        return proto_error_new (req, PROTO_ERR_not_found, "eval.delete: no eval '%.64s'",
                                j.id ? j.id : "");
    if (store_write (j.el->store, delete_txn, &j))
        return proto_error_new (req, PROTO_ERR_store_failed, "eval.delete: %s",
                                mdb_strerror (store_error (j.el->store)));
    if (j.ecode != PROTO_ERR_COUNT)
        return proto_error_new (req, j.ecode, "eval.delete: %s", j.why);
    proto_msg_t *rep = proto_msg_new (PROTO_eval_info, req);
    proto_eval_info_t *info = &rep->body.eval_info;
    proto_set_str (&info->id, j.id);
    proto_set_str (&info->user, j.owner);
    info->updated = j.updated;
    info->bytes = j.bytes;
    clog_info (req->env.corr, "eval %s of %s deleted by %s", j.id, j.owner, who (req));
    return rep;
}

/* ---- get ---------------------------------------------------------------------- */

static int
get_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    int rc = lookup_visible (txn, j);
    if (rc || j->ecode != PROTO_ERR_COUNT)
        return rc;
    size_t skip = strlen (j->owner) + 9;
    j->rep = proto_msg_new (PROTO_eval_record, j->req);
    proto_eval_record_t *r = &j->rep->body.eval_record;
    proto_set_str (&r->id, j->id);
    proto_set_str (&r->user, j->owner);
    r->updated = j->updated;
    proto_set_bytes (&r->record, (uint8_t *) j->found.mv_data + skip, j->found.mv_size - skip);
    return 0;
}

proto_msg_t *
evals_get (const proto_msg_t *req, void *arg)
{
    job_t j = { .el = svc_state (arg), .req = req, .id = req->body.eval_get.id,
                .ecode = PROTO_ERR_COUNT };
    if (!j.id || !id_ok (j.id))
        return proto_error_new (req, PROTO_ERR_not_found, "eval.get: no eval '%.64s'",
                                j.id ? j.id : "");
    if (store_read (j.el->store, get_txn, &j)) {
        proto_msg_destroy (&j.rep);
        return proto_error_new (req, PROTO_ERR_store_failed, "eval.get: %s",
                                mdb_strerror (store_error (j.el->store)));
    }
    if (j.ecode != PROTO_ERR_COUNT)
        return proto_error_new (req, j.ecode, "eval.get: %s", j.why);
    return j.rep;
}

/* ---- list --------------------------------------------------------------------- */

typedef struct {
    elog_t *el;
    const char *owner;
    json_t *list;
} list_t;

static int
list_txn (MDB_txn *txn, void *arg)
{
    list_t *l = arg;
    uint8_t key[KEY_MAX];
    size_t plen = index_key (key, l->owner, NULL);
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (l->el->store, DB_EVALS), &cur);
    if (rc)
        return rc;
    MDB_val k = { plen, key }, v;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
         !rc && k.mv_size >= plen && !memcmp (k.mv_data, key, plen);
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        /* a record's strings may hold NUL (valid msgpack and UTF-8) */
        json_t *e = json_loadb (v.mv_data, v.mv_size, JSON_ALLOW_NUL, NULL);
        if (e)
            json_array_append_new (l->list, e);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Newest first; the id breaks a tie, so the order is stable. */
static int
newest_first (const void *a, const void *b)
{
    const json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
    json_int_t ux = json_integer_value (json_object_get (x, "updated"));
    json_int_t uy = json_integer_value (json_object_get (y, "updated"));
    if (ux != uy)
        return ux < uy ? 1 : -1;
    return strcmp (json_string_value (json_object_get (x, "id")) ?: "",
                   json_string_value (json_object_get (y, "id")) ?: "");
}

proto_msg_t *
evals_list (const proto_msg_t *req, void *arg)
{
    const proto_eval_list_t *b = &req->body.eval_list;
    list_t l = { svc_state (arg), b->user && *b->user ? b->user : who (req), json_array () };
    if (strcmp (l.owner, who (req)) && !req->env.op) {
        json_decref (l.list);
        return proto_error_new (req, PROTO_ERR_forbidden, "eval.list: only operators list "
                                "another user's evals");
    }
    if (store_read (l.el->store, list_txn, &l)) {
        json_decref (l.list);
        return proto_error_new (req, PROTO_ERR_store_failed, "eval.list: %s",
                                mdb_strerror (store_error (l.el->store)));
    }
    size_t n = json_array_size (l.list);
    json_t **items = xcalloc (n + 1, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get (l.list, i);
    qsort (items, n, sizeof *items, newest_first);
    size_t limit = b->limit ? b->limit : LIST_DEFAULT, bytes = 0;
    json_t *page = json_array ();
    for (size_t i = 0; i < n && i < limit; i++) {
        char *text = json_dumps (items[i], JSON_COMPACT);
        bytes += strlen (text);
        free (text);
        if (bytes > ELOG_PAGE_BYTES)
            break;
        json_array_append (page, items[i]);
    }
    free (items);
    json_decref (l.list);
    /* the list, an entry, its summary: as deep as a record's summary may be */
    proto_msg_t *rep = proto_msg_new (PROTO_eval_listing, req);
    int rc = mpjson_set (&rep->body.eval_listing.evals, page, RECORD_DEPTH + 2);
    json_decref (page);
    if (rc) {
        proto_msg_destroy (&rep);
        return proto_error_new (req, PROTO_ERR_internal, "eval.list: the listing has no "
                                "msgpack form");
    }
    return rep;
}
