/* profiles: versioned profiles (family proto/profiles.def): profile.create,
 * list, get, activate, rollback, diff and resolve. A version, once
 * written, never changes (`P` name NUL be64 version -> {name, version,
 * body, note?, by, created} JSON); each profile has one state record (`S`
 * name -> {active, candidate?, canaryPercent?, previous: [newest first],
 * versions: [{version, note?, by, created}]} JSON, active 0: none yet), so
 * listing never reads a body. Both live in the `memory` database under
 * their own key bytes (DB_PROFILES, elog.h). Every change is one write
 * transaction that reads the state and writes it back, so two operators'
 * changes cannot interleave. Operators (envelope `op`) change profiles;
 * anyone reads them (they are not secrets of one user: every run uses
 * one). */
#include "elog.h"
#include "clog.h"
#include "mpjson.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 64
#define PREVIOUS_MAX 32         /* versions a rollback can go back through */
#define BODY_DEPTH 32           /* the bus's own limit: the checks name what is too deep */

typedef struct {
    elog_t *el;
    const proto_msg_t *req;
    const char *name;
    json_t *state;              /* the profile's state, NULL when there is none */
    json_t *version;            /* a version record read or written */
    uint64_t want;              /* the version asked for */
    proto_ecode_t ecode;        /* PROTO_ERR_COUNT: none */
    char why[256];
} job_t;

/* The version's key: 'P' name NUL be64 version; its length. */
static size_t
version_key (uint8_t *key, const char *name, uint64_t version)
{
    size_t n = strlen (name);
    key[0] = 'P';
    memcpy (key + 1, name, n);
    key[n + 1] = '\0';
    elog_be64 (key + n + 2, version);
    return n + 10;
}

static size_t
state_key (uint8_t *key, const char *name)
{
    size_t n = strlen (name);
    key[0] = 'S';
    memcpy (key + 1, name, n);
    return n + 1;
}

static json_t *
get_json (MDB_txn *txn, elog_t *el, const uint8_t *key, size_t len, int *rc)
{
    MDB_val k = { len, (void *) key }, v;
    *rc = mdb_get (txn, store_dbi (el->store, DB_PROFILES), &k, &v);
    if (*rc)
        return NULL;
    /* one that does not parse answers store_failed, not a reply without its body */
    json_t *value = json_loadb (v.mv_data, v.mv_size, 0, NULL);
    if (!value)
        *rc = MDB_CORRUPTED;
    return value;
}

static int
put_json (MDB_txn *txn, elog_t *el, const uint8_t *key, size_t len, json_t *value)
{
    char *text = json_dumps (value, JSON_COMPACT);
    MDB_val k = { len, (void *) key }, v = { strlen (text), text };
    int rc = mdb_put (txn, store_dbi (el->store, DB_PROFILES), &k, &v, 0);
    free (text);
    return rc;
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

/* Loads j's state (NULL when the profile does not exist); 0 or an LMDB code. */
static int
load_state (MDB_txn *txn, job_t *j)
{
    uint8_t key[KEY_MAX];
    int rc;
    json_decref (j->state);
    j->state = get_json (txn, j->el, key, state_key (key, j->name), &rc);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Loads version v of j's profile into j->version; not_found in j when
 * absent. 0 or an LMDB code. */
static int
load_version (MDB_txn *txn, job_t *j, uint64_t v)
{
    uint8_t key[KEY_MAX];
    int rc;
    json_decref (j->version);
    j->version = get_json (txn, j->el, key, version_key (key, j->name, v), &rc);
    if (rc == MDB_NOTFOUND)
        fail (j, PROTO_ERR_not_found, "profile '%s' has no version %llu", j->name,
              (unsigned long long) v);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static uint64_t
num (const json_t *obj, const char *key)
{
    return (uint64_t) json_integer_value (json_object_get (obj, key));
}

/* What version v is to the profile whose state is state. */
static const char *
role_of (const json_t *state, uint64_t v)
{
    if (v == num (state, "active"))
        return "active";
    if (v == num (state, "candidate"))
        return "candidate";
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get (state, "previous"), i, p)
        if ((uint64_t) json_integer_value (p) == v)
            return "previous";
    return "inactive";
}

/* ---- replies ------------------------------------------------------------------ */

static proto_msg_t *
profile_reply (job_t *j)
{
    proto_msg_t *rep = proto_msg_new (PROTO_profile, j->req);
    proto_profile_t *p = &rep->body.profile;
    json_t *v = j->version;
    proto_set_str (&p->name, j->name);
    p->version = num (v, "version");
    mpjson_set (&p->body, json_object_get (v, "body"), BODY_DEPTH);
    proto_set_str (&p->note, json_string_value (json_object_get (v, "note")));
    proto_set_str (&p->by, json_string_value (json_object_get (v, "by")));
    p->created = num (v, "created");
    proto_set_str (&p->role, role_of (j->state, p->version));
    return rep;
}

/* profile.state with the profiles (a JSON array, consumed). */
static proto_msg_t *
state_reply (const proto_msg_t *req, json_t *profiles)
{
    proto_msg_t *rep = proto_msg_new (PROTO_profile_state, req);
    mpjson_set (&rep->body.profile_state.profiles, profiles, 8);
    json_decref (profiles);
    return rep;
}

/* The listing entry of one profile (a new reference). */
static json_t *
entry (const char *name, const json_t *state)
{
    json_t *e = json_deep_copy (state);
    json_object_set_new (e, "name", json_string (name));
    return e;
}

static proto_msg_t *
one_state (job_t *j)
{
    return state_reply (j->req, json_pack ("[o]", entry (j->name, j->state)));
}

static proto_msg_t *
finish (job_t *j, int failed, proto_msg_t *(*ok) (job_t *))
{
    proto_msg_t *rep;
    if (failed) {
        int code = store_error (j->el->store);
        rep = proto_error_new (j->req, code == MDB_MAP_FULL ? PROTO_ERR_store_full
                               : PROTO_ERR_store_failed, "%s: %s%s", proto_type_name (j->req->type),
                               mdb_strerror (code),
                               code == MDB_MAP_FULL ? " (CAISSON_LMDB_MAX_MB reached)" : "");
    }
    else if (j->ecode != PROTO_ERR_COUNT)
        rep = proto_error_new (j->req, j->ecode, "%s: %s", proto_type_name (j->req->type), j->why);
    else
        rep = ok (j);
    json_decref (j->state);
    json_decref (j->version);
    return rep;
}

/* Starts j for req naming name; NULL, or an error reply when the name is
 * bad or the request changes profiles and the sender is not an operator. */
static proto_msg_t *
start (job_t *j, const proto_msg_t *req, void *arg, const char *name, bool change)
{
    memset (j, 0, sizeof *j);
    j->el = svc_state (arg);
    j->req = req;
    j->name = name && *name ? name : "default";
    j->ecode = PROTO_ERR_COUNT;
    if (!profile_name_ok (j->name))
        return proto_error_new (req, PROTO_ERR_bad_value, "%s: name: a profile name is 1 to 32 "
                                "lower-case letters, digits or '-', starting with a letter",
                                proto_type_name (req->type));
    if (change && !req->env.op)
        return proto_error_new (req, PROTO_ERR_forbidden, "%s: operators only",
                                proto_type_name (req->type));
    return NULL;
}

/* ---- create ------------------------------------------------------------------ */

static int
create_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    int rc = load_state (txn, j);
    if (rc)
        return rc;
    if (!j->state)
        j->state = json_pack ("{s:i, s:[], s:[]}", "active", 0, "previous", "versions");
    json_t *versions = json_object_get (j->state, "versions");
    uint64_t v = json_array_size (versions) + 1;
    json_t *meta = json_pack ("{s:I, s:s, s:I}", "version", (json_int_t) v, "by",
                              j->req->env.user ? j->req->env.user : "",
                              "created", (json_int_t) zclock_time () * 1000);
    const char *note = j->req->body.profile_create.note;
    if (note)
        json_object_set_new (meta, "note", json_string (note));
    json_object_update (j->version, meta);
    json_array_append_new (versions, meta);
    uint8_t key[KEY_MAX];
    size_t kl = version_key (key, j->name, v);
    char *text = json_dumps (j->version, JSON_COMPACT);
    MDB_val k = { kl, key }, val = { strlen (text), text };
    rc = mdb_put (txn, store_dbi (j->el->store, DB_PROFILES), &k, &val, MDB_NOOVERWRITE);
    free (text);
    return rc ? rc : put_json (txn, j->el, key, state_key (key, j->name), j->state);
}

proto_msg_t *
profiles_create (const proto_msg_t *req, void *arg)
{
    const proto_profile_create_t *b = &req->body.profile_create;
    job_t j;
    proto_msg_t *rep = start (&j, req, arg, b->name ? b->name : "", true);
    if (rep)
        return rep;
    char why[256];
    json_t *body = mpjson_decode (b->body.data, b->body.size, BODY_DEPTH, why, sizeof why);
    if (!body)
        return proto_error_new (req, PROTO_ERR_bad_value, "profile.create: body: %s", why);
    if (profile_body_check (body, why, sizeof why)) {
        json_decref (body);
        return proto_error_new (req, PROTO_ERR_bad_value, "profile.create: %s", why);
    }
    j.version = json_pack ("{s:s, s:o}", "name", j.name, "body", body);
    rep = finish (&j, store_write (j.el->store, create_txn, &j), profile_reply);
    if (rep->type == PROTO_profile)
        clog_info (req->env.corr, "profile %s version %llu created by %s", j.name,
                   (unsigned long long) rep->body.profile.version, req->env.user ?: "?");
    /* cppcheck-suppress returnDanglingLifetime ; the reply is a new message that keeps no pointer into the job */
    return rep;
}

/* ---- list, get ---------------------------------------------------------------- */

typedef struct {
    elog_t *el;
    const char *only;
    json_t *list;
} list_t;

static int
list_txn (MDB_txn *txn, void *arg)
{
    list_t *l = arg;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (l->el->store, DB_PROFILES), &cur);
    if (rc)
        return rc;
    MDB_val k = { 1, "S" }, v;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE); !rc;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 2 || ((char *) k.mv_data)[0] != 'S' || k.mv_size > 33)
            break;
        char name[33];
        memcpy (name, (char *) k.mv_data + 1, k.mv_size - 1);
        name[k.mv_size - 1] = '\0';
        if (l->only && strcmp (l->only, name))
            continue;
        json_t *state = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        if (state)
            json_array_append_new (l->list, entry (name, state));
        json_decref (state);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

proto_msg_t *
profiles_list (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    list_t l = { el, req->body.profile_list.name, json_array () };
    if (store_read (el->store, list_txn, &l)) {
        json_decref (l.list);
        return proto_error_new (req, PROTO_ERR_store_failed, "profile.list: %s",
                                mdb_strerror (store_error (el->store)));
    }
    return state_reply (req, l.list);
}

/* Reads j->want (0: the active version) with the state. */
static int
get_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    int rc = load_state (txn, j);
    if (rc || !j->state) {
        if (!rc)
            fail (j, PROTO_ERR_not_found, "no profile '%s'", j->name);
        return rc;
    }
    uint64_t v = j->want ? j->want : num (j->state, "active");
    if (!v) {
        fail (j, PROTO_ERR_not_found, "profile '%s' has no active version", j->name);
        return 0;
    }
    return load_version (txn, j, v);
}

proto_msg_t *
profiles_get (const proto_msg_t *req, void *arg)
{
    job_t j;
    proto_msg_t *rep = start (&j, req, arg, req->body.profile_get.name, false);
    if (rep)
        return rep;
    j.want = req->body.profile_get.version;
    /* cppcheck-suppress returnDanglingLifetime ; the reply is a new message that keeps no pointer into the job */
    return finish (&j, store_read (j.el->store, get_txn, &j), profile_reply);
}

/* ---- activate, rollback ------------------------------------------------------- */

static int
activate_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    const proto_profile_activate_t *b = &j->req->body.profile_activate;
    int rc = get_txn (txn, j);
    if (rc || j->ecode != PROTO_ERR_COUNT)
        return rc;
    json_t *st = j->state;
    uint64_t active = num (st, "active");
    json_object_del (st, "candidate");
    json_object_del (st, "canaryPercent");
    if (b->canary_percent > 0 && b->canary_percent < 100) {
        if (!active || active == j->want) {
            fail (j, PROTO_ERR_bad_state, "profile '%s': a canary needs an active version "
                  "other than %llu to share new runs with", j->name,
                  (unsigned long long) j->want);
            return 0;
        }
        json_object_set_new (st, "candidate", json_integer ((json_int_t) j->want));
        json_object_set_new (st, "canaryPercent", json_integer ((json_int_t) b->canary_percent));
    }
    else if (active != j->want) {
        json_t *prev = json_object_get (st, "previous");
        if (active)
            json_array_insert_new (prev, 0, json_integer ((json_int_t) active));
        while (json_array_size (prev) > PREVIOUS_MAX)
            json_array_remove (prev, PREVIOUS_MAX);
        json_object_set_new (st, "active", json_integer ((json_int_t) j->want));
    }
    uint8_t key[KEY_MAX];
    return put_json (txn, j->el, key, state_key (key, j->name), st);
}

proto_msg_t *
profiles_activate (const proto_msg_t *req, void *arg)
{
    const proto_profile_activate_t *b = &req->body.profile_activate;
    job_t j;
    proto_msg_t *rep = start (&j, req, arg, b->name, true);
    if (rep)
        return rep;
    if (!b->version)
        return proto_error_new (req, PROTO_ERR_bad_value, "profile.activate: version: 1 or more");
    j.want = b->version;
    rep = finish (&j, store_write (j.el->store, activate_txn, &j), one_state);
    if (rep->type == PROTO_profile_state)
        clog_info (req->env.corr, "profile %s version %llu activated for %llu%% by %s", j.name,
                   (unsigned long long) b->version, (unsigned long long) (b->canary_percent
                   && b->canary_percent < 100 ? b->canary_percent : 100), req->env.user ?: "?");
    /* cppcheck-suppress returnDanglingLifetime ; the reply is a new message that keeps no pointer into the job */
    return rep;
}

static int
rollback_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    int rc = load_state (txn, j);
    if (rc || !j->state) {
        if (!rc)
            fail (j, PROTO_ERR_not_found, "no profile '%s'", j->name);
        return rc;
    }
    json_t *st = j->state, *prev = json_object_get (st, "previous");
    if (json_object_get (st, "candidate")) {
        json_object_del (st, "candidate");
        json_object_del (st, "canaryPercent");
    }
    else if (json_array_size (prev)) {
        json_object_set (st, "active", json_array_get (prev, 0));
        json_array_remove (prev, 0);
    }
    else {
        fail (j, PROTO_ERR_bad_state, "profile '%s': nothing to go back to (no candidate, "
              "no previous active version)", j->name);
        return 0;
    }
    uint8_t key[KEY_MAX];
    return put_json (txn, j->el, key, state_key (key, j->name), st);
}

proto_msg_t *
profiles_rollback (const proto_msg_t *req, void *arg)
{
    job_t j;
    proto_msg_t *rep = start (&j, req, arg, req->body.profile_rollback.name, true);
    if (rep)
        return rep;
    rep = finish (&j, store_write (j.el->store, rollback_txn, &j), one_state);
    if (rep->type == PROTO_profile_state)
        clog_info (req->env.corr, "profile %s rolled back by %s", j.name, req->env.user ?: "?");
    /* cppcheck-suppress returnDanglingLifetime ; the reply is a new message that keeps no pointer into the job */
    return rep;
}

/* ---- diff, resolve ------------------------------------------------------------ */

typedef struct {
    job_t j;
    uint64_t a, b;
    json_t *va;
} diff_t;

static int
diff_txn (MDB_txn *txn, void *arg)
{
    diff_t *d = arg;
    int rc = load_version (txn, &d->j, d->a);
    if (rc || d->j.ecode != PROTO_ERR_COUNT)
        return rc;
    d->va = d->j.version;
    d->j.version = NULL;
    return load_version (txn, &d->j, d->b);
}

static proto_msg_t *
diff_reply (job_t *j)
{
    diff_t *d = (diff_t *) j;
    proto_msg_t *rep = proto_msg_new (PROTO_profile_diff_result, j->req);
    proto_profile_diff_result_t *r = &rep->body.profile_diff_result;
    proto_set_str (&r->name, j->name);
    r->a = d->a;
    r->b = d->b;
    r->diff = profile_diff (json_object_get (d->va, "body"), json_object_get (j->version, "body"),
                            d->a, d->b);
    return rep;
}

proto_msg_t *
profiles_diff (const proto_msg_t *req, void *arg)
{
    const proto_profile_diff_t *b = &req->body.profile_diff;
    diff_t d = { .a = b->a, .b = b->b };
    proto_msg_t *rep = start (&d.j, req, arg, b->name, false);
    if (rep)
        return rep;
    rep = finish (&d.j, store_read (d.j.el->store, diff_txn, &d), diff_reply);
    json_decref (d.va);
    /* cppcheck-suppress returnDanglingLifetime ; the reply is a new message that keeps no pointer into the job */
    return rep;
}

/* FNV-1a, 64 bits: stable across processes and builds, so a thread keeps
 * its share whichever orchestrator asks. */
static uint64_t
fnv1a (const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t) *s) * 0x100000001b3ull;
    return h;
}

static int
resolve_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    const proto_profile_resolve_t *b = &j->req->body.profile_resolve;
    if (!j->want && b->thread_id && *b->thread_id) {
        int rc = load_state (txn, j);
        uint64_t cand = num (j->state, "candidate"), pct = num (j->state, "canaryPercent");
        if (rc)
            return rc;
        if (cand && fnv1a (b->thread_id) % 100 < pct)
            j->want = cand;
    }
    return get_txn (txn, j);
}

proto_msg_t *
profiles_resolve (const proto_msg_t *req, void *arg)
{
    job_t j;
    proto_msg_t *rep = start (&j, req, arg, req->body.profile_resolve.name, false);
    if (rep)
        return rep;
    j.want = req->body.profile_resolve.version;
    /* cppcheck-suppress returnDanglingLifetime ; the reply is a new message that keeps no pointer into the job */
    return finish (&j, store_read (j.el->store, resolve_txn, &j), profile_reply);
}
