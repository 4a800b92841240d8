/* ep_table: boxes by sandbox id, and their specs in LMDB (ep_table.h). */
#include "ep_table.h"

#include <czmq.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "clog.h"
#include "store.h"
#include "xalloc.h"

struct _ep_table_t {
    store_t *store;
    zhashx_t *boxes;            /* id -> ep_box_t (one reference) */
};

static void
copy_str (char *out, size_t n, const json_t *spec, const char *key)
{
    const char *s = json_string_value (json_object_get (spec, key));
    snprintf (out, n, "%s", s ? s : "");
}

ep_box_t *
ep_box_new (const json_t *spec, const egress_presets_t *presets, ep_counters_t *ctr, char *why,
            size_t n)
{
    const char *id = json_string_value (json_object_get (spec, "sandbox_id"));
    if (!id || strlen (id) >= 97) {
        snprintf (why, n, "no sandbox_id");
        return NULL;
    }
    egress_rules_t *allow = egress_rules_from_json (json_object_get (spec, "allow"), presets, why,
                                                    n);
    if (!allow)
        return NULL;
    egress_rules_t *deny = egress_rules_from_json (json_object_get (spec, "deny"), presets, why, n);
    if (!deny) {
        egress_rules_destroy (&allow);
        return NULL;
    }
    ep_box_t *self = xcalloc (1, sizeof *self);
    atomic_init (&self->refs, 1);
    snprintf (self->id, sizeof self->id, "%s", id);
    self->uid = (uint64_t) json_integer_value (json_object_get (spec, "uid"));
    self->allow = allow;
    self->deny = deny;
    self->max_conns = (uint64_t) json_integer_value (json_object_get (spec, "max_conns"));
    if (!self->max_conns)
        self->max_conns = cfg_u64 ("CAISSON_EGRESS_MAX_CONNS");
    self->bytes_per_min = (uint64_t) json_integer_value (json_object_get (spec, "bytes_per_min"));
    if (!self->bytes_per_min)
        self->bytes_per_min = cfg_u64 ("CAISSON_EGRESS_BYTES_PER_MIN");
    copy_str (self->run, sizeof self->run, spec, "run");
    copy_str (self->corr, sizeof self->corr, spec, "corr");
    copy_str (self->owner, sizeof self->owner, spec, "owner");
    if (!ctr) {
        ctr = xcalloc (1, sizeof *ctr);
        atomic_init (&ctr->refs, 0);
    }
    atomic_fetch_add (&ctr->refs, 1);
    self->ctr = ctr;
    self->spec = json_deep_copy (spec);
    return self;
}

ep_box_t *
ep_box_ref (ep_box_t *self)
{
    atomic_fetch_add (&self->refs, 1);
    return self;
}

void
ep_box_unref (ep_box_t **self_p)
{
    ep_box_t *self = *self_p;
    *self_p = NULL;
    if (!self || atomic_fetch_sub (&self->refs, 1) != 1)
        return;
    egress_rules_destroy (&self->allow);
    egress_rules_destroy (&self->deny);
    if (atomic_fetch_sub (&self->ctr->refs, 1) == 1)
        free (self->ctr);
    json_decref (self->spec);
    free (self);
}

uint64_t
ep_box_rules (const ep_box_t *self)
{
    return egress_rules_count (self->allow) + egress_rules_count (self->deny);
}

static void
box_free (void **item)
{
    ep_box_unref ((ep_box_t **) item);
}

ep_table_t *
ep_table_new (const char *dir)
{
    static const char *const names[] = { "boxes" };
    store_t *store = store_new (dir, names, 1, 4ull << 20, 256ull << 20, 0);
    if (!store)
        return NULL;
    ep_table_t *self = xcalloc (1, sizeof *self);
    self->store = store;
    self->boxes = zhashx_new ();
    zhashx_set_destructor (self->boxes, box_free);
    return self;
}

void
ep_table_destroy (ep_table_t **self_p)
{
    ep_table_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->boxes);
    store_destroy (&self->store);
    free (self);
    *self_p = NULL;
}

ep_box_t *
ep_table_get (ep_table_t *self, const char *id)
{
    return zhashx_lookup (self->boxes, id);
}

typedef struct {
    ep_table_t *self;
    const char *id;
    const char *val;
    json_t *out;
} op_t;

static int
put_fn (MDB_txn *txn, void *arg)
{
    op_t *op = arg;
    MDB_val k = { strlen (op->id), (void *) op->id }, v = { strlen (op->val), (void *) op->val };
    return mdb_put (txn, store_dbi (op->self->store, 0), &k, &v, 0);
}

int
ep_table_put (ep_table_t *self, ep_box_t *box)
{
    char *val = json_dumps (box->spec, JSON_COMPACT);
    op_t op = { self, box->id, val, NULL };
    int rc = val ? store_write (self->store, put_fn, &op) : -1;
    free (val);
    if (rc) {
        clog_error (NULL, "egress box %s not stored: %s", box->id,
                    mdb_strerror (store_error (self->store)));
        ep_box_unref (&box);
        return -1;
    }
    zhashx_update (self->boxes, box->id, box);
    return 0;
}

static int
del_fn (MDB_txn *txn, void *arg)
{
    op_t *op = arg;
    MDB_val k = { strlen (op->id), (void *) op->id };
    int rc = mdb_del (txn, store_dbi (op->self->store, 0), &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

void
ep_table_drop (ep_table_t *self, const char *id)
{
    op_t op = { self, id, NULL, NULL };
    if (store_write (self->store, del_fn, &op))
        clog_error (NULL, "egress box %s not removed from the store", id);
    zhashx_delete (self->boxes, id);
}

static int
list_fn (MDB_txn *txn, void *arg)
{
    op_t *op = arg;
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, store_dbi (op->self->store, 0), &c);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get (c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (c, &k, &v, MDB_NEXT)) {
        json_t *spec = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        if (spec)
            json_array_append_new (op->out, spec);
    }
    mdb_cursor_close (c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

json_t *
ep_table_stored (ep_table_t *self)
{
    op_t op = { self, NULL, NULL, json_array () };
    if (store_read (self->store, list_fn, &op))
        clog_error (NULL, "egress boxes not read from the store");
    return op.out;
}
