/* gk_keys: key requests of gateway-keys. See gk_keys.h. */
#include "gk_keys_int.h"
#include "gk_resv.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"
#include "vkey.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

#define MODELS_MAX 64

const char *
gk_who (const proto_msg_t *req)
{
    return req->env.user ? req->env.user : "";
}

bool
gk_mine (const proto_msg_t *req, const json_t *key)
{
    return req->env.op || !strcmp (json_string_value (json_object_get (key, "user")) ?: "",
                                   gk_who (req));
}

bool
gk_live (const json_t *key, uint64_t now)
{
    uint64_t exp = gk_jnum (key, "expiresAt");
    return !json_is_true (json_object_get (key, "revoked")) && !(exp && now >= exp);
}

proto_msg_t *
gk_fail (job_t *j)
{
    return proto_error_new (j->req, j->code, "%s", j->why);
}

int
gk_deny (job_t *j, proto_ecode_t code, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (j->why, sizeof j->why, fmt, ap);
    va_end (ap);
    j->code = code;
    return 0;
}

int
gk_each_key (MDB_txn *txn, gk_t *gk, int db, const char *name,
             int (*fn) (MDB_txn *, job_t *, json_t *key), job_t *j)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, gk_dbi (gk, db), &cur);
    if (rc)
        return rc;
    size_t pn = name ? strlen (name) + 1 : 0;
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (zlistx_destructor_fn *) zstr_free);
    MDB_val k = { pn, (void *) name }, v;
    int op = pn ? MDB_SET_RANGE : MDB_FIRST;
    for (; !mdb_cursor_get (cur, &k, &v, (MDB_cursor_op) op); op = MDB_NEXT) {
        if (pn && (k.mv_size <= pn || memcmp (k.mv_data, name, pn)))
            break;
        zlistx_add_end (ids, strndup ((const char *) k.mv_data + pn, k.mv_size - pn));
    }
    mdb_cursor_close (cur);
    for (char *id = zlistx_first (ids); id && !rc; id = zlistx_next (ids)) {
        json_t *key = gk_json_get (txn, gk, GK_DB_KEYS, id, strlen (id));
        if (key)
            rc = fn (txn, j, key);
        json_decref (key);
    }
    zlistx_destroy (&ids);
    return rc;
}

json_t *
gk_scope_json (MDB_txn *txn, gk_t *gk, const gk_scope_t *s)
{
    gk_usage_t u;
    gk_usage_get (txn, gk, s->ukey, s->ukn, &u);
    return json_pack ("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                      "scope", s->label, "window", gk_win_name (s->win), "start",
                      (json_int_t) s->start, "reset", (json_int_t) s->reset, "spentTokens",
                      (json_int_t) u.spent_tok, "spentNusd", (json_int_t) u.spent_nusd,
                      "reservedTokens", (json_int_t) u.resv_tok, "reservedNusd",
                      (json_int_t) u.resv_nusd, "limitTokens", (json_int_t) s->lim_tok,
                      "limitNusd", (json_int_t) s->lim_nusd, "calls", (json_int_t) u.calls,
                      "refused", (json_int_t) u.refused);
}

/* ---- create ------------------------------------------------------------- */

typedef struct {
    const char *user, *kind;
    char id[VKEY_ID_SIZE];
    uint8_t hash[32];
    json_t *models;
    uint64_t rpm, tpm;
    gk_win_t win;
} made_t;

static int
count_live (MDB_txn *txn, job_t *j, json_t *key)
{
    (void) txn;
    const char *kind = json_string_value (json_object_get (key, "kind"));
    if (kind && !strcmp (kind, "user") && gk_live (key, gk_now_ms ()))
        j->count++;
    return 0;
}

static int
create_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    const made_t *m = j->extra;
    const proto_gkey_create_t *c = &j->req->body.gkey_create;
    gk_t *gk = j->gk;
    j->code = PROTO_ERR_COUNT;
    j->count = 0;
    json_decref (j->out);
    j->out = NULL;
    json_t *u = gk_json_get (txn, gk, GK_DB_USERS, m->user, strlen (m->user));
    if (!j->req->env.op) {
        uint64_t kmax = u && gk_jnum (u, "keysMax") ? gk_jnum (u, "keysMax")
                                                 : cfg_u64 ("CAISSON_GATEWAY_USER_KEYS_MAX");
        uint64_t ut = u ? gk_jnum (json_object_get (u, "budget"), "tokens") : gk->user_tok;
        uint64_t un = u ? gk_jnum (json_object_get (u, "budget"), "nusd") : gk->user_nusd;
        json_decref (u);
        int rc = gk_each_key (txn, gk, GK_DB_BY_USER, m->user, count_live, j);
        if (rc)
            return rc;
        if (j->count >= kmax)
            return gk_deny (j, PROTO_ERR_limit, "user %s already holds %llu live keys "
                            "(at most %llu)", m->user, (unsigned long long) j->count,
                            (unsigned long long) kmax);
        if ((ut && c->budget_tokens > ut) || (un && c->budget_nusd > un))
            return gk_deny (j, PROTO_ERR_over_limit, "a key's budget may not exceed its owner's "
                            "(%llu tokens, %llu nano-USD per window)", (unsigned long long) ut,
                            (unsigned long long) un);
    }
    else
        json_decref (u);
    MDB_val hk = { 32, (void *) m->hash }, hv, ik = { strlen (m->id), (void *) m->id };
    if (!mdb_get (txn, gk_dbi (gk, GK_DB_HASHES), &hk, &hv)
        || !mdb_get (txn, gk_dbi (gk, GK_DB_KEYS), &ik, &hv))
        return gk_deny (j, PROTO_ERR_conflict, "key id %s is taken", m->id);
    json_t *info = json_pack ("{s:s, s:s, s:s, s:s, s:O, s:I, s:I, s:{s:I, s:I}, s:s, s:I, "
                              "s:s?, s:s?, s:I, s:s, s:b}", "id", m->id, "user", m->user,
                              "name", c->name ? c->name : "", "kind", m->kind, "models",
                              m->models, "rpm", (json_int_t) m->rpm, "tpm", (json_int_t) m->tpm,
                              "budget", "tokens", (json_int_t) gk_clamp63 (c->budget_tokens),
                              "nusd", (json_int_t) gk_clamp63 (c->budget_nusd), "window",
                              gk_win_name (m->win), "expiresAt",
                              (json_int_t) gk_clamp63 (c->expires_at), "sandboxId",
                              c->sandbox_id, "run", c->run, "created",
                              (json_int_t) gk_now_ms (), "createdBy", gk_who (j->req),
                              "revoked", 0);
    if (!info)
        return ENOMEM;
    int rc = gk_json_put (txn, gk, GK_DB_KEYS, m->id, strlen (m->id), info);
    MDB_val iv = { strlen (m->id), (void *) m->id };
    if (!rc)
        rc = mdb_put (txn, gk_dbi (gk, GK_DB_HASHES), &hk, &iv, 0);
    if (!rc)
        rc = gk_index (txn, gk, GK_DB_BY_USER, m->user, m->id, true);
    if (!rc && c->sandbox_id && *c->sandbox_id)
        rc = gk_index (txn, gk, GK_DB_BY_SANDBOX, c->sandbox_id, m->id, true);
    if (!rc && c->run && *c->run)
        rc = gk_index (txn, gk, GK_DB_BY_RUN, c->run, m->id, true);
    j->out = info;
    return rc;
}

/* Checks the request's allow-list: an array of at most MODELS_MAX
 * patterns (`provider/model`, or model `*` for all of a provider), each under the ceiling for
 * users. NULL with why set when it is not. */
static json_t *
models_of (const proto_msg_t *req, char *why, size_t n)
{
    json_t *models = mpjson_get (&req->body.gkey_create.models, 2);
    if (!models)
        return json_array ();
    size_t i;
    json_t *m;
    if (!json_is_array (models) || json_array_size (models) > MODELS_MAX) {
        snprintf (why, n, "models: expected an array of at most %d model names", MODELS_MAX);
        json_decref (models);
        return NULL;
    }
    json_array_foreach (models, i, m) {
        const char *s = json_string_value (m);
        const char *slash = s ? strchr (s, '/') : NULL;
        if (!s || !slash || slash == s || !slash[1] || strlen (s) > 256
            || strpbrk (s, " ,;=\t\n")) {
            snprintf (why, n, "models[%zu]: expected provider/model or provider/*", i);
            json_decref (models);
            return NULL;
        }
        char probe[260];
        snprintf (probe, sizeof probe, "%.*s/x", (int) (slash - s), s);
        if (!req->env.op && !gk_model_ceiling (strcmp (slash, "/*") ? s : probe)) {
            snprintf (why, n, "models[%zu]: %s is not allowed here (CAISSON_GATEWAY_MODELS)", i, s);
            json_decref (models);
            return NULL;
        }
    }
    return models;
}

proto_msg_t *
gk_keys_create (gk_t *gk, const proto_msg_t *req, bool sync)
{
    const proto_gkey_create_t *c = &req->body.gkey_create;
    made_t m = { .user = c->user && *c->user ? c->user : gk_who (req),
                 .kind = c->kind && *c->kind ? c->kind : "user" };
    bool op = req->env.op, user_kind = !strcmp (m.kind, "user");
    if (!op && strcmp (m.user, gk_who (req)))
        return proto_error_new (req, PROTO_ERR_forbidden, "only operators make keys for others");
    if (!user_kind && strcmp (m.kind, "sandbox") && strcmp (m.kind, "run"))
        return proto_error_new (req, PROTO_ERR_bad_value, "kind: expected user, sandbox or run");
    if (!user_kind && !op)
        return proto_error_new (req, PROTO_ERR_forbidden, "kind %s: operators and services only",
                                m.kind);
    if (!strcmp (m.kind, "sandbox") && !(c->sandbox_id && *c->sandbox_id))
        return proto_error_new (req, PROTO_ERR_missing, "sandbox_id: a sandbox key names it");
    m.win = GK_WIN_MONTH;
    if (c->window && *c->window && !gk_win_parse (c->window, &m.win))
        return proto_error_new (req, PROTO_ERR_bad_value, "window: expected day, week, month "
                                "or total");
    if (c->expires_at && c->expires_at <= gk_now_ms ())
        return proto_error_new (req, PROTO_ERR_bad_value, "expires_at: in the past");
    bool sbx = !strcmp (m.kind, "sandbox");
    /* Unset limits: the sandbox defaults, a user key's ceilings, none for
     * a run's key (the orchestrator's own calls; its user's budget holds). */
    uint64_t rpm_max = cfg_u64 ("CAISSON_GATEWAY_RPM_MAX");
    uint64_t tpm_max = cfg_u64 ("CAISSON_GATEWAY_TPM_MAX");
    m.rpm = c->rpm ? c->rpm
          : sbx ? cfg_u64 ("CAISSON_GATEWAY_SANDBOX_RPM") : user_kind ? rpm_max : 0;
    m.tpm = c->tpm ? c->tpm
          : sbx ? cfg_u64 ("CAISSON_GATEWAY_SANDBOX_TPM") : user_kind ? tpm_max : 0;
    if (!op && (m.rpm > rpm_max || m.tpm > tpm_max))
        return proto_error_new (req, PROTO_ERR_over_limit, "%s: at most %llu per minute for a "
                                "key of your own", m.rpm > rpm_max ? "rpm" : "tpm",
                                (unsigned long long) (m.rpm > rpm_max ? rpm_max : tpm_max));
    char why[256], secret[VKEY_SIZE];
    if (!(m.models = models_of (req, why, sizeof why)))
        return proto_error_new (req, PROTO_ERR_bad_value, "%s", why);
    job_t j = { gk, req, NULL, 0, PROTO_ERR_COUNT, "", &m };
    int rc = -1;
    for (int tries = 0; tries < 4; tries++) {
        if (vkey_make (m.user, secret, sizeof secret)) {
            json_decref (m.models);
            return proto_error_new (req, PROTO_ERR_bad_value, "user: '%s' is not a user name",
                                    m.user);
        }
        vkey_hash (secret, m.hash);
        vkey_id (m.hash, m.id);
        rc = store_write (gk->store, create_txn, &j);
        if (rc || j.code != PROTO_ERR_conflict)
            break;
    }
    json_decref (m.models);
    if (!rc && sync)
        store_sync (gk->store);
    proto_msg_t *rep;
    if (rc)
        rep = gk_store_failure (gk, req);
    else if (j.code != PROTO_ERR_COUNT)
        rep = gk_fail (&j);
    else {
        rep = proto_msg_new (PROTO_gkey_made, req);
        proto_set_str (&rep->body.gkey_made.key, secret);
        mpjson_set (&rep->body.gkey_made.info, j.out, 8);
        clog_info (req->env.corr, "key %s made for %s (%s) by %s", m.id, m.user, m.kind,
                   gk_who (req));
    }
    explicit_bzero (secret, sizeof secret);
    json_decref (j.out);
    return rep;
}

/* ---- revoke, context, user.set, gc -------------------------------------- */

static int
revoke_one (MDB_txn *txn, job_t *j, json_t *key)
{
    if (!gk_mine (j->req, key) || json_is_true (json_object_get (key, "revoked")))
        return 0;
    const char *why = j->extra ? j->extra : gk_who (j->req);
    json_object_set_new (key, "revoked", json_true ());
    json_object_set_new (key, "revokedAt", json_integer ((json_int_t) gk_now_ms ()));
    json_object_set_new (key, "revokedBy", json_string (why));
    const char *id = json_string_value (json_object_get (key, "id"));
    j->count++;
    return gk_json_put (txn, j->gk, GK_DB_KEYS, id, strlen (id), key);
}

static int
revoke_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    const proto_gkey_revoke_t *r = &j->req->body.gkey_revoke;
    j->count = 0;
    j->code = PROTO_ERR_COUNT;
    if (r->key_id && *r->key_id) {
        json_t *key = gk_json_get (txn, j->gk, GK_DB_KEYS, r->key_id, strlen (r->key_id));
        int rc = 0;
        if (!key || !gk_mine (j->req, key))
            gk_deny (j, PROTO_ERR_not_found, "no key %s", r->key_id);
        else
            rc = revoke_one (txn, j, key);
        json_decref (key);
        return rc;
    }
    if (r->sandbox_id && *r->sandbox_id)
        return gk_each_key (txn, j->gk, GK_DB_BY_SANDBOX, r->sandbox_id, revoke_one, j);
    if (r->run && *r->run)
        return gk_each_key (txn, j->gk, GK_DB_BY_RUN, r->run, revoke_one, j);
    return gk_deny (j, PROTO_ERR_missing, "key_id, sandbox_id or run: name what to revoke");
}

proto_msg_t *
gk_store_failure (gk_t *gk, const proto_msg_t *req)
{
    int err = store_error (gk->store);
    if (err != MDB_MAP_FULL)
        return proto_error_new (req, PROTO_ERR_store_failed, "store: %s", mdb_strerror (err));
    return proto_error_new (req, PROTO_ERR_store_full, "gateway-keys' store is full (%llu MiB, "
                            "CAISSON_GATEWAY_KEYS_MAP_MB): nothing new can be stored until "
                            "space is freed or the map is raised",
                            (unsigned long long) (store_map_size (gk->store) >> 20));
}

static proto_msg_t *
ack_of (gk_t *gk, job_t *j, int rc, bool sync)
{
    if (!rc && sync && j->count)
        store_sync (gk->store);
    if (rc)
        return gk_store_failure (gk, j->req);
    if (j->code != PROTO_ERR_COUNT)
        return gk_fail (j);
    proto_msg_t *rep = proto_msg_new (PROTO_gkey_ack, j->req);
    rep->body.gkey_ack.count = j->count;
    return rep;
}

proto_msg_t *
gk_keys_revoke (gk_t *gk, const proto_msg_t *req, bool sync)
{
    job_t j = { gk, req, NULL, 0, PROTO_ERR_COUNT, "", NULL };
    return ack_of (gk, &j, store_write (gk->store, revoke_txn, &j), sync);
}

static int
context_one (MDB_txn *txn, job_t *j, json_t *key)
{
    const proto_gkey_context_t *c = &j->req->body.gkey_context;
    const char *id = json_string_value (json_object_get (key, "id"));
    const char *old = json_string_value (json_object_get (key, "run"));
    int rc = 0;
    /* The key works for the new run only: revoking the old run's keys
     * leaves it alone. */
    if (c->run && *c->run && (!old || strcmp (old, c->run))) {
        if (old && *old)
            rc = gk_index (txn, j->gk, GK_DB_BY_RUN, old, id, false);
        if (!rc)
            rc = gk_index (txn, j->gk, GK_DB_BY_RUN, c->run, id, true);
        json_object_set_new (key, "run", json_string (c->run));
    }
    if (c->expires_at)
        json_object_set_new (key, "expiresAt",
                             json_integer ((json_int_t) gk_clamp63 (c->expires_at)));
    j->count++;
    return rc ? rc : gk_json_put (txn, j->gk, GK_DB_KEYS, id, strlen (id), key);
}

static int
context_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    j->count = 0;
    return gk_each_key (txn, j->gk, GK_DB_BY_SANDBOX, j->req->body.gkey_context.sandbox_id,
                        context_one, j);
}

proto_msg_t *
gk_keys_context (gk_t *gk, const proto_msg_t *req, bool sync)
{
    if (!req->env.op)
        return proto_error_new (req, PROTO_ERR_forbidden, "gkey.context: services only");
    job_t j = { gk, req, NULL, 0, PROTO_ERR_COUNT, "", NULL };
    return ack_of (gk, &j, store_write (gk->store, context_txn, &j), sync);
}

static int
user_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    const proto_gkey_user_set_t *u = &j->req->body.gkey_user_set;
    j->count = 1;
    return gk_json_put (txn, j->gk, GK_DB_USERS, u->user, strlen (u->user), j->extra);
}

proto_msg_t *
gk_keys_user_set (gk_t *gk, const proto_msg_t *req, bool sync)
{
    const proto_gkey_user_set_t *u = &req->body.gkey_user_set;
    gk_win_t w = gk->user_win;
    if (!req->env.op)
        return proto_error_new (req, PROTO_ERR_forbidden, "gkey.user.set: operators only");
    if (u->window && *u->window && !gk_win_parse (u->window, &w))
        return proto_error_new (req, PROTO_ERR_bad_value, "window: expected day, week, month "
                                "or total");
    json_t *v = json_pack ("{s:{s:I, s:I}, s:s, s:I}", "budget", "tokens",
                           (json_int_t) gk_clamp63 (u->budget_tokens), "nusd",
                           (json_int_t) gk_clamp63 (u->budget_nusd), "window", gk_win_name (w),
                           "keysMax", (json_int_t) gk_clamp63 (u->keys_max));
    job_t j = { gk, req, NULL, 0, PROTO_ERR_COUNT, "", v };
    proto_msg_t *rep = ack_of (gk, &j, store_write (gk->store, user_txn, &j), sync);
    json_decref (v);
    return rep;
}

static int
gc_one (MDB_txn *txn, job_t *j, json_t *key)
{
    uint64_t exp = gk_jnum (key, "expiresAt");
    if (json_is_true (json_object_get (key, "revoked")) || !exp || exp > gk_now_ms ())
        return 0;
    return revoke_one (txn, j, key);
}

static int
gc_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    j->count = 0;
    return gk_each_key (txn, j->gk, GK_DB_KEYS, NULL, gc_one, j);
}

int
gk_keys_gc (gk_t *gk, uint64_t now_ms)
{
    (void) now_ms;
    proto_msg_t *req = proto_msg_new (PROTO_gkey_revoke, NULL);
    req->env.op = true;
    job_t j = { gk, req, NULL, 0, PROTO_ERR_COUNT, "", "expired" };
    int rc = store_write (gk->store, gc_txn, &j);
    proto_msg_destroy (&req);
    return rc ? -1 : (int) j.count;
}
