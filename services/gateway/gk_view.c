/* gk_view: gkey.list and gkey.usage.get. See gk_keys.h. */
#include "gk_keys_int.h"
#include "gk_resv.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"
#include "vkey.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

/* ---- list and usage ----------------------------------------------------- */

/* key with its own scope's counters of this window, as gkey.page lists. */
static json_t *
listed (MDB_txn *txn, gk_t *gk, const json_t *key)
{
    gk_scope_t sc[GK_SCOPES];
    gk_chain (txn, gk, key, gk_now_ms (), sc);
    json_t *k = json_deep_copy (key);
    json_object_set_new (k, "usage", gk_scope_json (txn, gk, &sc[0]));
    return k;
}

static int
list_one (MDB_txn *txn, job_t *j, json_t *key)
{
    const proto_gkey_list_t *l = &j->req->body.gkey_list;
    const char *kind = json_string_value (json_object_get (key, "kind"));
    if (!gk_mine (j->req, key) || (l->kind && *l->kind && strcmp (kind ?: "", l->kind))
        || (!l->revoked && !gk_live (key, gk_now_ms ())))
        return 0;
    json_array_append_new (j->out, listed (txn, j->gk, key));
    return 0;
}

static int
list_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    const char *user = j->extra;
    return user ? gk_each_key (txn, j->gk, GK_DB_BY_USER, user, list_one, j)
                : gk_each_key (txn, j->gk, GK_DB_KEYS, NULL, list_one, j);
}

proto_msg_t *
gk_keys_list (gk_t *gk, const proto_msg_t *req)
{
    const proto_gkey_list_t *l = &req->body.gkey_list;
    const char *user = l->user && *l->user ? l->user : req->env.op ? NULL : gk_who (req);
    if (!req->env.op && strcmp (user, gk_who (req)))
        return proto_error_new (req, PROTO_ERR_forbidden, "only operators list others' keys");
    job_t j = { gk, req, json_array (), 0, PROTO_ERR_COUNT, "", user };
    proto_msg_t *rep;
    if (store_read (gk->store, list_txn, &j))
        rep = gk_store_failure (gk, req);
    else {
        rep = proto_msg_new (PROTO_gkey_page, req);
        mpjson_set (&rep->body.gkey_page.keys, j.out, 8);
    }
    json_decref (j.out);
    return rep;
}

static int
usage_key (MDB_txn *txn, job_t *j, json_t *key)
{
    gk_scope_t sc[GK_SCOPES];
    gk_chain (txn, j->gk, key, gk_now_ms (), sc);
    if (gk_live (key, gk_now_ms ()))
        json_array_append_new (j->out, gk_scope_json (txn, j->gk, &sc[0]));
    return 0;
}

static int
usage_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    const proto_gkey_usage_get_t *u = &j->req->body.gkey_usage_get;
    const char *user = j->extra;
    gk_scope_t sc[GK_SCOPES];
    if (u->key_id && *u->key_id) {
        json_t *key = gk_json_get (txn, j->gk, GK_DB_KEYS, u->key_id, strlen (u->key_id));
        if (!key || !gk_mine (j->req, key)) {
            json_decref (key);
            return gk_deny (j, PROTO_ERR_not_found, "no key %s", u->key_id);
        }
        int n = gk_chain (txn, j->gk, key, gk_now_ms (), sc);
        for (int i = 0; i < n; i++)
            json_array_append_new (j->out, gk_scope_json (txn, j->gk, &sc[i]));
        json_decref (key);
        return 0;
    }
    /* The user's own budget first, then each live key's. */
    json_t *probe = json_pack ("{s:s, s:s, s:s}", "id", "", "user", user, "kind", "user");
    int n = gk_chain (txn, j->gk, probe, gk_now_ms (), sc);
    json_decref (probe);
    json_array_append_new (j->out, gk_scope_json (txn, j->gk, &sc[n - 1]));
    return gk_each_key (txn, j->gk, GK_DB_BY_USER, user, usage_key, j);
}

proto_msg_t *
gk_keys_usage (gk_t *gk, const proto_msg_t *req)
{
    const proto_gkey_usage_get_t *u = &req->body.gkey_usage_get;
    const char *user = u->user && *u->user ? u->user : gk_who (req);
    if (!req->env.op && strcmp (user, gk_who (req)))
        return proto_error_new (req, PROTO_ERR_forbidden, "only operators see others' usage");
    job_t j = { gk, req, json_array (), 0, PROTO_ERR_COUNT, "", user };
    proto_msg_t *rep;
    if (store_read (gk->store, usage_txn, &j))
        rep = gk_store_failure (gk, req);
    else if (j.code != PROTO_ERR_COUNT)
        rep = gk_fail (&j);
    else {
        rep = proto_msg_new (PROTO_gkey_usage, req);
        json_t *o = json_pack ("{s:O}", "scopes", j.out);
        mpjson_set (&rep->body.gkey_usage.usage, o, 8);
        json_decref (o);
    }
    json_decref (j.out);
    return rep;
}

