/* recall_bus: event-log's `recall.search` and `recall.vectors` handlers.
 * They check what the wire's codec cannot (a vector's numbers, the
 * items' shape), then run recall.h's calls in one transaction. The user
 * is always the envelope's: a search sees only its sender's messages and
 * vectors attach only to them, whatever the operator flag says. */
#include "elog.h"
#include "mpr.h"
#include "mpjson.h"
#include "recall.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEMS_MAX 64
#define DEFAULT_K 5
#define DEFAULT_WINDOW 1

/* Reads one vector (an array of finite numbers) at r into out (room for
 * RECALL_DIMS_MAX). Returns its dimensions, or 0 with why. */
static size_t
vec_read (mpr_t *r, float *out, const char *what, char *why, size_t whylen)
{
    mpr_item_t it;
    if (mpr_next (r, &it) || it.kind != MPR_ARRAY) {
        snprintf (why, whylen, "%s must be an array of numbers", what);
        return 0;
    }
    if (!it.v.count || it.v.count > RECALL_DIMS_MAX) {
        snprintf (why, whylen, "%s has %u dimensions: 1 to %d are accepted", what,
                  it.v.count, RECALL_DIMS_MAX);
        return 0;
    }
    for (uint32_t i = 0; i < it.v.count; i++) {
        mpr_item_t x;
        double d;
        if (mpr_next (r, &x)) {
            snprintf (why, whylen, "%s[%u] is malformed", what, i);
            return 0;
        }
        if (x.kind == MPR_FLOAT) d = x.v.f;
        else if (x.kind == MPR_UINT) d = (double) x.v.u;
        else if (x.kind == MPR_INT) d = (double) x.v.i;
        else {
            snprintf (why, whylen, "%s[%u] is a%s %s, not a number", what, i,
                      x.kind == MPR_ARRAY ? "n" : "", mpr_kind_name (x.kind));
            return 0;
        }
        if (!isfinite (d) || fabs (d) > 1e30) {
            snprintf (why, whylen, "%s[%u] is not a finite number", what, i);
            return 0;
        }
        out[i] = (float) d;
    }
    return it.v.count;
}

/* ---- recall.search ------------------------------------------------------------ */

typedef struct {
    MDB_dbi dbi;
    const char *user;
    recall_query_t q;
    recall_found_t found;
    int result;
    char why[256];
} search_t;

static int
do_search (MDB_txn *txn, void *arg)
{
    search_t *s = arg;
    s->result = recall_search (txn, s->dbi, s->user, &s->q, &s->found, s->why, sizeof s->why);
    return RECALL_REFUSED (s->result) ? 0 : s->result;
}

proto_msg_t *
recall_bus_search (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const proto_recall_search_t *b = &req->body.recall_search;
    search_t s = { .dbi = store_dbi (el->store, DB_RECALL), .user = req->env.user ?: "" };
    char why[256];
    float *vec = NULL;
    if (b->vector.data) {
        mpr_t r;
        mpr_init (&r, b->vector.data, b->vector.size);
        if (!(vec = malloc (RECALL_DIMS_MAX * sizeof *vec)))
            return NULL;
        if (!(s.q.dims = vec_read (&r, vec, "vector", why, sizeof why))) {
            free (vec);
            return proto_error_new (req, PROTO_ERR_bad_value, "recall.search: %s", why);
        }
    }
    int mode = b->mode ? recall_mode_lookup (b->mode) : vec ? RECALL_HYBRID : RECALL_LEXICAL;
    if (mode < 0) {
        free (vec);
        return proto_error_new (req, PROTO_ERR_bad_value, "recall.search: field mode must be "
                                "lexical, semantic or hybrid");
    }
    s.q = (recall_query_t) { .text = b->query, .vec = vec, .dims = s.q.dims, .model = b->model,
                             .mode = (recall_mode_t) mode, .k = b->k ? b->k : DEFAULT_K,
                             .window = b->window ? b->window : DEFAULT_WINDOW,
                             .exclude_thread = b->exclude_thread };
    int rc = store_read (el->store, do_search, &s) ? store_error (el->store) : 0;
    free (vec);
    proto_msg_t *rep = NULL;
    if (rc)
        rep = proto_error_new (req, PROTO_ERR_store_failed, "recall.search: %s",
                               mdb_strerror (rc));
    else if (s.result == RECALL_E_VALUE)
        rep = proto_error_new (req, PROTO_ERR_bad_value, "recall.search: %s", s.why);
    else {
        rep = proto_msg_new (PROTO_recall_results, req);
        proto_set_str (&rep->body.recall_results.mode, recall_mode_name (s.found.mode));
        rep->body.recall_results.approximate = s.found.approximate;
        if (mpjson_set (&rep->body.recall_results.hits, s.found.hits, 8))
            proto_msg_destroy (&rep);
    }
    json_decref (s.found.hits);
    return rep;
}

/* ---- recall.vectors ----------------------------------------------------------- */

typedef struct {
    uint64_t seq;
    size_t dims;
    float *vec;
} item_t;

typedef struct {
    MDB_dbi dbi;
    const char *user, *run, *model;
    item_t *items;
    size_t count, stored;
    int result;
    char why[256];
} put_t;

static int
do_put (MDB_txn *txn, void *arg)
{
    put_t *p = arg;
    p->stored = 0;              /* this may run again after a map resize */
    p->result = 0;
    for (size_t i = 0; i < p->count; i++) {
        bool stored;
        int rc = recall_put_vector (txn, p->dbi, p->user, p->run, p->items[i].seq, p->model,
                                    p->items[i].vec, p->items[i].dims, &stored, p->why,
                                    sizeof p->why);
        if (RECALL_REFUSED (rc)) {
            p->result = rc;
            return MDB_NOTFOUND;        /* aborts the transaction: all or nothing */
        }
        if (rc)
            return rc;
        p->stored += stored;
    }
    return 0;
}

/* Reads the items [{seq, vector}] of b into p. Returns 0, or -1 with why. */
static int
items_read (const proto_recall_vectors_t *b, put_t *p, char *why, size_t whylen)
{
    mpr_t r;
    mpr_item_t it;
    mpr_init (&r, b->items.data, b->items.size);
    if (mpr_next (&r, &it) || it.kind != MPR_ARRAY || it.v.count > ITEMS_MAX) {
        snprintf (why, whylen, "items must be an array of at most %d {seq, vector}", ITEMS_MAX);
        return -1;
    }
    if (!(p->items = calloc (it.v.count + 1, sizeof *p->items)))
        return -1;
    for (uint32_t i = 0; i < it.v.count; i++, p->count++) {
        mpr_item_t m;
        char what[32];
        snprintf (what, sizeof what, "items[%u].vector", i);
        if (mpr_next (&r, &m) || m.kind != MPR_MAP || m.v.count != 2) {
            snprintf (why, whylen, "items[%u] must be a map {seq, vector}", i);
            return -1;
        }
        bool seq = false;
        for (uint32_t f = 0; f < 2; f++) {
            mpr_item_t key, val;
            if (mpr_next (&r, &key) || key.kind != MPR_STR) {
                snprintf (why, whylen, "items[%u] has a key that is not a string", i);
                return -1;
            }
            if (key.len == 3 && !memcmp (key.ptr, "seq", 3) && !mpr_next (&r, &val)
                && val.kind == MPR_UINT) {
                p->items[i].seq = val.v.u;
                seq = true;
            }
            else if (key.len == 6 && !memcmp (key.ptr, "vector", 6) && !p->items[i].vec) {
                if (!(p->items[i].vec = malloc (RECALL_DIMS_MAX * sizeof (float))))
                    return -1;
                if (!(p->items[i].dims = vec_read (&r, p->items[i].vec, what, why, whylen)))
                    return -1;
            }
            else {
                snprintf (why, whylen, "items[%u] must be {seq: a positive integer, vector}", i);
                return -1;
            }
        }
        if (!seq || !p->items[i].vec) {
            snprintf (why, whylen, "items[%u] must be {seq, vector}", i);
            return -1;
        }
    }
    return 0;
}

proto_msg_t *
recall_bus_vectors (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const proto_recall_vectors_t *b = &req->body.recall_vectors;
    put_t p = { .dbi = store_dbi (el->store, DB_RECALL), .user = req->env.user ?: "",
                .run = b->run, .model = b->model };
    char why[256] = "out of memory";
    proto_msg_t *rep = NULL;
    if (!elog_run_valid (b->run))
        rep = proto_error_new (req, PROTO_ERR_bad_run, "recall.vectors: field run must be a "
                               "26-character id");
    else if (items_read (b, &p, why, sizeof why))
        rep = proto_error_new (req, PROTO_ERR_bad_value, "recall.vectors: %s", why);
    else if (store_write (el->store, do_put, &p) && !p.result)
        rep = proto_error_new (req, PROTO_ERR_store_failed, "recall.vectors: %s",
                               mdb_strerror (store_error (el->store)));
    else if (p.result)
        rep = proto_error_new (req, p.result == RECALL_E_NOT_FOUND ? PROTO_ERR_not_found
                               : PROTO_ERR_bad_value, "recall.vectors: %s", p.why);
    else {
        rep = proto_msg_new (PROTO_recall_indexed, req);
        rep->body.recall_indexed.stored = p.stored;
    }
    for (size_t i = 0; p.items && i <= p.count; i++)
        free (p.items[i].vec);
    free (p.items);
    return rep;
}
