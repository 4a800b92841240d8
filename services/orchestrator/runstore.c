/* runstore: snapshots, unfinished runs, threads and their owners in LMDB
 * (see runstore.h). */
#include "runstore.h"
#include "cfg.h"
#include "clog.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREAD_MAX_BYTES (256u << 10)

enum { DB_RUNS, DB_LIVE, DB_THREADS, DB_OWNERS, DB_SANDBOXES, DB_COUNT };
static const char *const dbnames[] = { "runs", "live", "threads", "owners", "sandboxes" };

struct _runstore_t {
    store_t *store;
    zhashx_t *staged;           /* run id -> staged_t, written at the flush */
};

typedef struct {
    char *text;
    bool live;
} staged_t;

static void
staged_free (void **item)
{
    staged_t *s = *item;
    if (s) {
        free (s->text);
        free (s);
        *item = NULL;
    }
}

runstore_t *
runstore_new (const char *dir)
{
    runstore_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store_new (dir, dbnames, DB_COUNT, cfg_u64 ("CAISSON_LMDB_MAP_MB") << 20,
                             cfg_u64 ("CAISSON_LMDB_MAX_MB") << 20, MDB_NOSYNC);
    self->staged = zhashx_new ();
    if (!self->store || !self->staged) {
        runstore_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->staged, staged_free);
    return self;
}

void
runstore_destroy (runstore_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    runstore_t *self = *self_p;
    if (self->store && self->staged)
        runstore_flush (self);
    zhashx_destroy (&self->staged);
    store_destroy (&self->store);
    free (self);
    *self_p = NULL;
}

typedef struct {
    runstore_t *self;
    const char *key;
    const char *val;
    bool live;
    size_t db;
} put_t;

static int
put_fn (MDB_txn *txn, void *arg)
{
    put_t *p = arg;
    store_t *s = p->self->store;
    MDB_val k = { strlen (p->key), (void *) p->key }, v = { strlen (p->val), (void *) p->val };
    int rc = mdb_put (txn, store_dbi (s, p->db), &k, &v, 0);
    if (rc || p->db != DB_RUNS)
        return rc;
    MDB_val empty = { 0, "" };
    if (p->live)
        return mdb_put (txn, store_dbi (s, DB_LIVE), &k, &empty, 0);
    rc = mdb_del (txn, store_dbi (s, DB_LIVE), &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
runstore_put (runstore_t *self, const char *id, const json_t *snap, bool live)
{
    staged_t *s = malloc (sizeof *s);
    char *text = json_dumps (snap, JSON_COMPACT);
    if (!s || !text) {
        free (s);
        free (text);
        return -1;
    }
    *s = (staged_t) { text, live };
    zhashx_update (self->staged, id, s);
    return 0;
}

static int
flush_fn (MDB_txn *txn, void *arg)
{
    runstore_t *self = arg;
    for (staged_t *s = zhashx_first (self->staged); s; s = zhashx_next (self->staged)) {
        put_t p = { self, zhashx_cursor (self->staged), s->text, s->live, DB_RUNS };
        int rc = put_fn (txn, &p);
        if (rc)
            return rc;
    }
    return 0;
}

int
runstore_flush (runstore_t *self)
{
    if (!zhashx_size (self->staged))
        return 0;
    int rc = store_write (self->store, flush_fn, self);
    if (rc)
        clog_error (NULL, "cannot save %zu runs: %s", zhashx_size (self->staged),
                    mdb_strerror (store_error (self->store)));
    zhashx_purge (self->staged);
    return rc ? -1 : 0;
}

typedef struct {
    runstore_t *self;
    const char *key;
    size_t db;
    json_t *out;
} get_t;

static int
get_fn (MDB_txn *txn, void *arg)
{
    get_t *g = arg;
    MDB_val k = { strlen (g->key), (void *) g->key }, v;
    int rc = mdb_get (txn, store_dbi (g->self->store, g->db), &k, &v);
    if (rc == 0)
        g->out = json_loadb (v.mv_data, v.mv_size, 0, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

json_t *
runstore_load (runstore_t *self, const char *id)
{
    const staged_t *s = zhashx_lookup (self->staged, id);
    if (s)
        return json_loads (s->text, 0, NULL);
    get_t g = { self, id, DB_RUNS, NULL };
    store_read (self->store, get_fn, &g);
    return g.out;
}

typedef struct {
    runstore_t *self;
    const char *thread, *user;
    bool op, record;
    int verdict;
} claim_t;

static int
claim_fn (MDB_txn *txn, void *arg)
{
    claim_t *c = arg;
    store_t *s = c->self->store;
    MDB_val k = { strlen (c->thread), (void *) c->thread }, v;
    int rc = mdb_get (txn, store_dbi (s, DB_OWNERS), &k, &v);
    if (rc == 0) {
        bool same = v.mv_size == strlen (c->user) && memcmp (v.mv_data, c->user, v.mv_size) == 0;
        c->verdict = same || c->op ? 0 : 1;
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    /* a conversation kept before owners were recorded: nobody can say
     * whose it is, so only an operator continues it (and claims nothing) */
    rc = mdb_get (txn, store_dbi (s, DB_THREADS), &k, &v);
    if (rc == 0) {
        c->verdict = c->op ? 0 : 1;
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    c->verdict = 0;
    /* an operator's run on a thread makes it no one's: event-log knows
     * its owner (threads_admit), whose runs must not be refused here */
    if (!c->record || c->op)
        return 0;
    MDB_val owner = { strlen (c->user), (void *) c->user };
    return mdb_put (txn, store_dbi (s, DB_OWNERS), &k, &owner, 0);
}

int
runstore_claim_thread (runstore_t *self, const char *thread, const char *user, bool op)
{
    claim_t c = { self, thread, user ? user : "", op, true, 0 };
    if (store_write (self->store, claim_fn, &c))
        return -1;
    return c.verdict;
}

int
runstore_check_thread (runstore_t *self, const char *thread, const char *user, bool op)
{
    claim_t c = { self, thread, user ? user : "", op, false, 0 };
    if (store_read (self->store, claim_fn, &c))
        return -1;
    return c.verdict;
}

json_t *
runstore_thread (runstore_t *self, const char *thread)
{
    get_t g = { self, thread, DB_THREADS, NULL };
    store_read (self->store, get_fn, &g);
    return json_is_array (g.out) ? g.out : (json_decref (g.out), json_array ());
}

int
runstore_save_thread (runstore_t *self, const char *thread, const json_t *messages)
{
    json_t *kept = json_copy ((json_t *) messages);
    char *text = json_dumps (kept, JSON_COMPACT);
    /* Oldest first, drop whole exchanges until it fits: the kept part
     * starts at a user message, so no tool result loses its call. */
    while (text && strlen (text) > THREAD_MAX_BYTES && json_array_size (kept) > 1) {
        json_array_remove (kept, 0);
        while (json_array_size (kept) > 1
               && strcmp (json_string_value (json_object_get (json_array_get (kept, 0), "role"))
                          ?: "", "user") != 0)
            json_array_remove (kept, 0);
        free (text);
        text = json_dumps (kept, JSON_COMPACT);
    }
    json_decref (kept);
    if (!text)
        return -1;
    put_t p = { self, thread, text, false, DB_THREADS };
    int rc = store_write (self->store, put_fn, &p);
    free (text);
    return rc;
}

typedef struct {
    runstore_t *self;
    zlist_t *ids;
} live_t;

static int
live_fn (MDB_txn *txn, void *arg)
{
    live_t *l = arg;
    zlist_t *ids = l->ids;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (l->self->store, DB_LIVE), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        char *id = strndup (k.mv_data, k.mv_size);
        zlist_append (ids, id);
        zlist_freefn (ids, id, free, true);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

zlist_t *
runstore_live (runstore_t *self)
{
    live_t l = { self, zlist_new () };
    if (l.ids && store_read (self->store, live_fn, &l)) {
        clog_error (NULL, "cannot list unfinished runs: %s",
                    mdb_strerror (store_error (self->store)));
        zlist_destroy (&l.ids);
    }
    return l.ids;
}

typedef struct {
    runstore_t *self;
    size_t db;
    zhashx_t *out;              /* key -> value text (freed by the hash) */
} dump_t;

static void
text_free (void **item)
{
    free (*item);
    *item = NULL;
}

/* A hash of key -> value text that frees its values. */
static zhashx_t *
texts_new (void)
{
    zhashx_t *h = zhashx_new ();
    if (h)
        zhashx_set_destructor (h, text_free);
    return h;
}

static int
dump_fn (MDB_txn *txn, void *arg)
{
    dump_t *d = arg;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (d->self->store, d->db), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        char *key = strndup (k.mv_data, k.mv_size), *val = strndup (v.mv_data, v.mv_size);
        if (key && val)
            zhashx_update (d->out, key, val);
        else
            free (val);
        free (key);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
del_fn (MDB_txn *txn, void *arg)
{
    put_t *p = arg;
    MDB_val k = { strlen (p->key), (void *) p->key };
    int rc = mdb_del (txn, store_dbi (p->self->store, p->db), &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
runstore_keep_sandbox (runstore_t *self, const char *id, const json_t *info)
{
    if (info) {
        char *text = json_dumps (info, JSON_COMPACT);
        put_t p = { self, id, text, false, DB_SANDBOXES };
        int rc = text ? store_write (self->store, put_fn, &p) : -1;
        free (text);
        return rc ? -1 : 0;
    }
    put_t p = { self, id, NULL, false, DB_SANDBOXES };
    return store_write (self->store, del_fn, &p) ? -1 : 0;
}

json_t *
runstore_kept_sandboxes (runstore_t *self)
{
    dump_t d = { self, DB_SANDBOXES, texts_new () };
    json_t *out = json_object ();
    if (!d.out || !out || store_read (self->store, dump_fn, &d)) {
        zhashx_destroy (&d.out);
        json_decref (out);
        return NULL;
    }
    for (char *text = zhashx_first (d.out); text; text = zhashx_next (d.out)) {
        json_t *info = json_loads (text, 0, NULL);
        if (json_is_object (info))
            json_object_set_new (out, zhashx_cursor (d.out), info);
        else
            json_decref (info);
    }
    zhashx_destroy (&d.out);
    return out;
}

/* What one store gives another: the keys and values of a few dbs. */
typedef struct {
    runstore_t *self;
    zhashx_t *dbs[DB_COUNT];    /* key -> value text, NULL for a db not moved */
} moved_t;

static int
gather_fn (MDB_txn *txn, void *arg)
{
    moved_t *m = arg;
    for (size_t db = 0; db < DB_COUNT; db++) {
        dump_t d = { m->self, db, m->dbs[db] };
        int rc = d.out ? dump_fn (txn, &d) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* Puts what the other store had and this one lacks (MDB_NOOVERWRITE):
 * a thread continued here meanwhile keeps its own conversation. */
static int
merge_fn (MDB_txn *txn, void *arg)
{
    moved_t *m = arg;
    for (size_t db = 0; db < DB_COUNT; db++)
        for (char *v = m->dbs[db] ? zhashx_first (m->dbs[db]) : NULL; v;
             v = zhashx_next (m->dbs[db])) {
            const char *key = zhashx_cursor (m->dbs[db]);
            MDB_val k = { strlen (key), (void *) key }, val = { strlen (v), v };
            int rc = mdb_put (txn, store_dbi (m->self->store, db), &k, &val, MDB_NOOVERWRITE);
            if (rc && rc != MDB_KEYEXIST)
                return rc;
        }
    return 0;
}

/* The other store gives up its unfinished runs and kept sandboxes. */
static int
release_fn (MDB_txn *txn, void *arg)
{
    runstore_t *from = arg;
    int rc = mdb_drop (txn, store_dbi (from->store, DB_LIVE), 0);
    return rc ? rc : mdb_drop (txn, store_dbi (from->store, DB_SANDBOXES), 0);
}

int
runstore_take (runstore_t *self, runstore_t *from, const char *owner)
{
    zlist_t *ids = runstore_live (from);
    if (!ids)
        return -1;
    int moved = 0, rc = 0;
    for (char *id = zlist_first (ids); id && !rc; id = zlist_next (ids)) {
        json_t *mine = runstore_load (self, id);
        json_t *snap = mine ? NULL : runstore_load (from, id);
        /* a copy here is newer: an adopter that crashed before the
         * other store let go has resumed it since */
        if (snap) {
            json_object_set_new (snap, "owner", json_string (owner));
            rc = runstore_put (self, id, snap, true);
        }
        moved += mine || snap;
        json_decref (mine);
        json_decref (snap);
    }
    zlist_destroy (&ids);
    moved_t m = { from, { NULL } };
    m.dbs[DB_THREADS] = texts_new ();
    m.dbs[DB_OWNERS] = texts_new ();
    m.dbs[DB_SANDBOXES] = texts_new ();
    if (!m.dbs[DB_THREADS] || !m.dbs[DB_OWNERS] || !m.dbs[DB_SANDBOXES])
        rc = -1;
    /* this store first, then the other lets go: a crash between leaves
     * both holding the runs, and the next adoption only lets go */
    if (!rc)
        rc = runstore_flush (self);
    if (!rc)
        rc = store_read (from->store, gather_fn, &m);
    if (!rc) {
        m.self = self;
        rc = store_write (self->store, merge_fn, &m);
    }
    if (!rc)
        rc = store_write (from->store, release_fn, from);
    for (size_t db = 0; db < DB_COUNT; db++)
        zhashx_destroy (&m.dbs[db]);
    if (rc)
        clog_error (NULL, "cannot take over another store's runs: %s",
                    mdb_strerror (store_error (self->store) ?: store_error (from->store)));
    return rc ? -1 : moved;
}

typedef struct {
    runstore_t *self;
    const char *thread, *user;
    bool op;
    int verdict;
} drop_t;

static int
drop_fn (MDB_txn *txn, void *arg)
{
    drop_t *d = arg;
    store_t *s = d->self->store;
    MDB_val k = { strlen (d->thread), (void *) d->thread }, v;
    int rc = mdb_get (txn, store_dbi (s, DB_OWNERS), &k, &v);
    if (rc == 0 && !d->op
        && (v.mv_size != strlen (d->user) || memcmp (v.mv_data, d->user, v.mv_size))) {
        d->verdict = 2;
        return 0;
    }
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    d->verdict = 0;
    for (int db = DB_THREADS; db <= DB_OWNERS; db++) {
        rc = mdb_del (txn, store_dbi (s, (size_t) db), &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
        d->verdict |= rc == 0;
    }
    return 0;
}

int
runstore_drop_thread (runstore_t *self, const char *thread, const char *user, bool op)
{
    drop_t d = { self, thread, user ? user : "", op, 0 };
    if (store_write (self->store, drop_fn, &d))
        return -1;
    return d.verdict;
}
