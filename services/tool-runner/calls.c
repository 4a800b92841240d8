/* calls: call records with leases in a shared LMDB. See calls.h. */
#include "calls.h"
#include "cfg.h"
#include "clog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _calls_t {
    store_t *store;
    char instance[64];
    uint64_t lease_ms;
};

static const char *const dbnames[] = { "calls", "prs", "meta" };

uint64_t
calls_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

calls_t *
calls_new (const char *dir, const char *instance, uint64_t lease_ms)
{
    calls_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store_new (dir, dbnames, 3, 64ull << 20, cfg_u64 ("CAISSON_LMDB_MAX_MB") << 20,
                             MDB_NOTLS | MDB_NOMETASYNC);
    if (!self->store) {
        free (self);
        return NULL;
    }
    snprintf (self->instance, sizeof self->instance, "%s", instance);
    self->lease_ms = lease_ms;
    return self;
}

void
calls_destroy (calls_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_destroy (&(*self_p)->store);
    free (*self_p);
    *self_p = NULL;
}

store_t *calls_store (calls_t *self) { return self->store; }

static json_t *
get_record (calls_t *self, MDB_txn *txn, const char *id)
{
    MDB_val key = { strlen (id), (void *) id }, val;
    if (mdb_get (txn, store_dbi (self->store, 0), &key, &val))
        return NULL;
    return json_loadb (val.mv_data, val.mv_size, 0, NULL);
}

static int
put_record (calls_t *self, MDB_txn *txn, const char *id, const json_t *rec)
{
    char *text = json_dumps (rec, JSON_COMPACT);
    if (!text)
        return MDB_PANIC;
    MDB_val key = { strlen (id), (void *) id }, val = { strlen (text), text };
    int rc = mdb_put (txn, store_dbi (self->store, 0), &key, &val, 0);
    free (text);
    return rc;
}

typedef struct {
    calls_t *self;
    const char *id;
    const char *fp;
    calls_state_t state;
    json_t *result;
    bool ok;
} claim_t;

static int
claim_txn (MDB_txn *txn, void *arg)
{
    claim_t *c = arg;
    calls_t *self = c->self;
    json_decref (c->result);
    c->result = NULL;
    json_t *rec = get_record (self, txn, c->id);
    uint64_t now = calls_now_ms ();
    if (rec) {
        const char *fp = json_string_value (json_object_get (rec, "fp"));
        const char *owner = json_string_value (json_object_get (rec, "owner"));
        uint64_t lease = (uint64_t) json_integer_value (json_object_get (rec, "lease"));
        if (!fp || strcmp (fp, c->fp))
            c->state = CALLS_CONFLICT;
        else if (json_is_true (json_object_get (rec, "done"))) {
            c->state = CALLS_DONE;
            c->result = json_incref (json_object_get (rec, "result"));
            c->ok = json_is_true (json_object_get (rec, "ok"));
        }
        else if (lease > now && owner && strcmp (owner, self->instance))
            c->state = CALLS_BUSY;
        else
            c->state = CALLS_MINE;
        if (c->state != CALLS_MINE) {
            json_decref (rec);
            return 0;
        }
        if (owner && strcmp (owner, self->instance))
            clog_warn (NULL, "call %s: lease of %s lapsed; taking it over", c->id, owner);
        json_decref (rec);
    }
    c->state = CALLS_MINE;
    rec = json_pack ("{s:s, s:s, s:I, s:b, s:I}", "fp", c->fp, "owner", self->instance,
                     "lease", (json_int_t) (now + self->lease_ms), "done", 0,
                     "started", (json_int_t) now);
    int rc = rec ? put_record (self, txn, c->id, rec) : MDB_PANIC;
    json_decref (rec);
    return rc;
}

calls_state_t
calls_claim (calls_t *self, const char *call_id, const char *fp, json_t **result, bool *ok)
{
    claim_t c = { self, call_id, fp, CALLS_ERROR, NULL, false };
    if (store_write (self->store, claim_txn, &c)) {
        json_decref (c.result);
        return CALLS_ERROR;
    }
    *result = c.result;
    *ok = c.ok;
    return c.state;
}

typedef struct {
    calls_t *self;
    const char *id;
    json_t *result;
    bool ok;
} lookup_t;

static int
lookup_txn (MDB_txn *txn, void *arg)
{
    lookup_t *l = arg;
    json_t *rec = get_record (l->self, txn, l->id);
    if (json_is_true (json_object_get (rec, "done"))) {
        l->result = json_incref (json_object_get (rec, "result"));
        l->ok = json_is_true (json_object_get (rec, "ok"));
    }
    json_decref (rec);
    return 0;
}

json_t *
calls_result (calls_t *self, const char *call_id, bool *ok)
{
    lookup_t l = { self, call_id, NULL, false };
    if (store_read (self->store, lookup_txn, &l)) {
        json_decref (l.result);
        return NULL;
    }
    *ok = l.ok;
    return l.result;
}

typedef struct {
    calls_t *self;
    const char *const *ids;
    size_t count;
} renew_t;

static int
renew_txn (MDB_txn *txn, void *arg)
{
    renew_t *r = arg;
    uint64_t now = calls_now_ms ();
    for (size_t i = 0; i < r->count; i++) {
        json_t *rec = get_record (r->self, txn, r->ids[i]);
        const char *owner = json_string_value (json_object_get (rec, "owner"));
        int rc = 0;
        if (owner && !strcmp (owner, r->self->instance)
            && !json_is_true (json_object_get (rec, "done"))) {
            json_object_set_new (rec, "lease", json_integer ((json_int_t) (now + r->self->lease_ms)));
            rc = put_record (r->self, txn, r->ids[i], rec);
        }
        json_decref (rec);
        if (rc)
            return rc;
    }
    return 0;
}

int
calls_renew (calls_t *self, const char *const ids[], size_t count)
{
    renew_t r = { self, ids, count };
    return count ? store_write (self->store, renew_txn, &r) : 0;
}

typedef struct {
    calls_t *self;
    const char *id;
    const json_t *result;
    bool ok;
    json_t *stored;
    bool stored_ok;
} finish_t;

static int
finish_txn (MDB_txn *txn, void *arg)
{
    finish_t *f = arg;
    json_decref (f->stored);
    f->stored = NULL;
    json_t *rec = get_record (f->self, txn, f->id);
    if (!rec)
        return MDB_NOTFOUND;
    int rc = 0;
    if (json_is_true (json_object_get (rec, "done"))) {
        f->stored = json_incref (json_object_get (rec, "result"));
        f->stored_ok = json_is_true (json_object_get (rec, "ok"));
    }
    else {
        json_object_set_new (rec, "done", json_true ());
        json_object_set_new (rec, "ok", json_boolean (f->ok));
        json_object_set (rec, "result", (json_t *) f->result);
        json_object_set_new (rec, "finished", json_integer ((json_int_t) calls_now_ms ()));
        rc = put_record (f->self, txn, f->id, rec);
        f->stored = json_incref ((json_t *) f->result);
        f->stored_ok = f->ok;
    }
    json_decref (rec);
    return rc;
}

int
calls_finish (calls_t *self, const char *call_id, const json_t *result, bool ok,
              json_t **stored, bool *stored_ok)
{
    finish_t f = { self, call_id, result, ok, NULL, false };
    int rc = store_write (self->store, finish_txn, &f);
    if (rc) {
        json_decref (f.stored);
        f.stored = json_incref ((json_t *) result);
        f.stored_ok = ok;
    }
    *stored = f.stored;
    *stored_ok = f.stored_ok;
    return rc;
}

typedef struct {
    calls_t *self;
    uint64_t before;
    size_t max;
    int removed;
} expire_t;

static int
expire_txn (MDB_txn *txn, void *arg)
{
    expire_t *e = arg;
    e->removed = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (e->self->store, 0), &cur);
    if (rc)
        return rc;
    MDB_val key, val;
    for (rc = mdb_cursor_get (cur, &key, &val, MDB_FIRST); !rc && (size_t) e->removed < e->max;
         rc = mdb_cursor_get (cur, &key, &val, MDB_NEXT)) {
        json_t *rec = json_loadb (val.mv_data, val.mv_size, 0, NULL);
        json_t *fin = json_object_get (rec, "finished");
        bool old = json_is_true (json_object_get (rec, "done")) && fin
                   && (uint64_t) json_integer_value (fin) < e->before;
        json_decref (rec);
        if (old && (rc = mdb_cursor_del (cur, 0)) == 0)
            e->removed++;
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

int
calls_expire (calls_t *self, uint64_t before_ms, size_t max)
{
    expire_t e = { self, before_ms, max, 0 };
    return store_write (self->store, expire_txn, &e) ? -1 : e.removed;
}
