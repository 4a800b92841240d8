/* gk_purge: deleting keys long dead. See gk_purge.h. */
#include "gk_purge.h"

#include <czmq.h>
#include <string.h>

/* the longest window (a month) after its start: a row older than this
 * plus keep is of a window long ended */
#define WINDOW_MAX_MS (31ULL * 24 * 3600 * 1000)

typedef struct {
    gk_t *gk;
    uint64_t before;            /* dead before this (ms) */
    zhashx_t *ids;              /* ids deleted in this transaction */
    int count;
} purge_t;

/* Deletes key (its row, by_* index rows) when revoked before p->before. */
static int
purge_key (MDB_txn *txn, purge_t *p, const char *id, json_t *key)
{
    uint64_t at = gk_jnum (key, "revokedAt");
    if (!json_is_true (json_object_get (key, "revoked")) || !at || at >= p->before)
        return 0;
    const char *user = gk_jstr (key, "user"), *sbx = gk_jstr (key, "sandboxId");
    const char *run = gk_jstr (key, "run");
    int rc = user ? gk_index (txn, p->gk, GK_DB_BY_USER, user, id, false) : 0;
    if (!rc && sbx && *sbx)
        rc = gk_index (txn, p->gk, GK_DB_BY_SANDBOX, sbx, id, false);
    if (!rc && run && *run)
        rc = gk_index (txn, p->gk, GK_DB_BY_RUN, run, id, false);
    if (!rc) {
        zhashx_insert (p->ids, id, (void *) "");
        p->count++;
    }
    return rc;
}

/* Deletes the rows of db for which gone(key, value) says so. */
static int
sweep_db (MDB_txn *txn, purge_t *p, int db, bool (*gone) (purge_t *, MDB_val *, MDB_val *))
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, gk_dbi (p->gk, db), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (int op = MDB_FIRST; !(rc = mdb_cursor_get (cur, &k, &v, (MDB_cursor_op) op));
         op = MDB_NEXT)
        if (gone (p, &k, &v) && (rc = mdb_cursor_del (cur, 0)))
            break;
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A hash row: sha256 -> id. */
static bool
hash_gone (purge_t *p, MDB_val *k, MDB_val *v)
{
    (void) k;
    char id[64];
    if (v->mv_size >= sizeof id)
        return false;
    memcpy (id, v->mv_data, v->mv_size);
    id[v->mv_size] = '\0';
    return zhashx_lookup (p->ids, id) != NULL;
}

/* A usage row: kind, name, NUL, be64 window start. A deleted key's ('k'),
 * or any of a window that ended before p->before. */
static bool
usage_gone (purge_t *p, MDB_val *k, MDB_val *v)
{
    (void) v;
    const uint8_t *b = k->mv_data;
    if (k->mv_size < 10)
        return false;
    uint64_t start = 0;
    for (int i = 0; i < 8; i++)
        start = start << 8 | b[k->mv_size - 8 + i];
    if (start && start + WINDOW_MAX_MS < p->before)
        return true;
    char name[GK_UKEY_MAX];
    size_t n = k->mv_size - 10;
    if (b[0] != 'k' || n >= sizeof name)
        return false;
    memcpy (name, b + 1, n);
    name[n] = '\0';
    return zhashx_lookup (p->ids, name) != NULL;
}

static int
purge_txn (MDB_txn *txn, void *arg)
{
    purge_t *p = arg;
    zhashx_purge (p->ids);      /* a transaction tried again starts afresh */
    p->count = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, gk_dbi (p->gk, GK_DB_KEYS), &cur);
    if (rc)
        return rc;
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (zlistx_destructor_fn *) zstr_free);
    MDB_val k, v;
    for (int op = MDB_FIRST; !mdb_cursor_get (cur, &k, &v, (MDB_cursor_op) op); op = MDB_NEXT)
        zlistx_add_end (ids, strndup (k.mv_data, k.mv_size));
    mdb_cursor_close (cur);
    for (char *id = zlistx_first (ids); id && !rc; id = zlistx_next (ids)) {
        json_t *key = gk_json_get (txn, p->gk, GK_DB_KEYS, id, strlen (id));
        if (key)
            rc = purge_key (txn, p, id, key);
        json_decref (key);
    }
    zlistx_destroy (&ids);
    for (void *it = zhashx_first (p->ids); it && !rc; it = zhashx_next (p->ids)) {
        const char *id = zhashx_cursor (p->ids);
        MDB_val ik = { strlen (id), (void *) id };
        rc = mdb_del (txn, gk_dbi (p->gk, GK_DB_KEYS), &ik, NULL);
    }
    if (!rc)
        rc = sweep_db (txn, p, GK_DB_HASHES, hash_gone);
    if (!rc)
        rc = sweep_db (txn, p, GK_DB_USAGE, usage_gone);
    return rc;
}

int
gk_purge (gk_t *gk, uint64_t now_ms, uint64_t keep_ms)
{
    purge_t p = { gk, now_ms > keep_ms ? now_ms - keep_ms : 0, zhashx_new (), 0 };
    if (!p.ids)
        return -1;
    int rc = p.before ? store_write (gk->store, purge_txn, &p) : 0;
    zhashx_destroy (&p.ids);
    return rc ? -1 : p.count;
}
