/* sbx_registry: see sbx_registry.h. */
#include "sbx_registry.h"
#include "cfg.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _sbx_registry_t {
    store_t *store;
};

static const char *const dbnames[] = { "sandboxes" };

sbx_registry_t *
sbx_registry_new (const char *data_dir)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/sandbox-manager", data_dir);
    sbx_registry_t *self = calloc (1, sizeof *self);
    if (self)
        self->store = store_new (dir, dbnames, 1, 16ull << 20, 1024ull << 20, 0);
    if (self && !self->store)
        sbx_registry_destroy (&self);
    return self;
}

void
sbx_registry_destroy (sbx_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_destroy (&(*self_p)->store);
    free (*self_p);
    *self_p = NULL;
}

typedef struct {
    sbx_registry_t *self;
    const char *id;
    char *text;
    void (*fn) (const char *id, json_t *rec, void *arg);
    void *arg;
} op_t;

static int
do_put (MDB_txn *txn, void *arg)
{
    op_t *op = arg;
    MDB_val k = { strlen (op->id), (void *) op->id }, v = { strlen (op->text), op->text };
    return mdb_put (txn, store_dbi (op->self->store, 0), &k, &v, 0);
}

static int
do_del (MDB_txn *txn, void *arg)
{
    op_t *op = arg;
    MDB_val k = { strlen (op->id), (void *) op->id };
    int rc = mdb_del (txn, store_dbi (op->self->store, 0), &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
do_each (MDB_txn *txn, void *arg)
{
    op_t *op = arg;
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, store_dbi (op->self->store, 0), &c);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get (c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get (c, &k, &v, MDB_NEXT)) {
        char id[128];
        if (k.mv_size >= sizeof id)
            continue;
        memcpy (id, k.mv_data, k.mv_size);
        id[k.mv_size] = 0;
        json_t *rec = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        if (rec)
            op->fn (id, rec, op->arg);
        json_decref (rec);
    }
    mdb_cursor_close (c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
sbx_registry_put (sbx_registry_t *self, const char *id, const json_t *rec)
{
    op_t op = { self, id, json_dumps (rec, JSON_COMPACT), NULL, NULL };
    int rc = op.text ? store_write (self->store, do_put, &op) : -1;
    free (op.text);
    return rc;
}

int
sbx_registry_del (sbx_registry_t *self, const char *id)
{
    op_t op = { self, id, NULL, NULL, NULL };
    return store_write (self->store, do_del, &op);
}

int
sbx_registry_each (sbx_registry_t *self, void (*fn) (const char *id, json_t *rec, void *arg),
                   void *arg)
{
    op_t op = { self, NULL, NULL, fn, arg };
    return store_read (self->store, do_each, &op);
}
