/* proto: one table-driven codec for every message in proto/. See proto.h.
 *
 * Decoding runs in two passes. The first walks the whole frame with mpr,
 * checking structure only (truncation, counts, depth, trailing bytes), so
 * the second can read fields knowing every length is sound, and check only
 * what the catalogue says about them. */
#include "proto.h"
#include "xalloc.h"
#include "cfg.h"
#include "cid.h"
#include "mpr.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TABLE_FIELD(S, ty, nm, req, mx, doc) \
    { #nm, PROTO_T_##ty, PROTO_IS_##req, mx, offsetof (S, nm), doc },
#define PROTO_IS_REQ true
#define PROTO_IS_OPT false

#define FIELD_TABLE(name, wire, FIELDS, doc) \
    static const proto_field_t name##_fields[] = { FIELDS (TABLE_FIELD, proto_##name##_t) { 0 } };
PROTO_MESSAGES (FIELD_TABLE)

static const proto_field_t envelope_fields[] = { PROTO_ENVELOPE (TABLE_FIELD, proto_env_t) { 0 } };
#define ENVELOPE_COUNT (sizeof envelope_fields / sizeof envelope_fields[0] - 1)

#define MSG_DEF(name, wire, FIELDS, doc) \
    { wire, name##_fields, sizeof name##_fields / sizeof name##_fields[0] - 1, doc },
static const proto_msgdef_t defs[PROTO_TYPE_COUNT] = { PROTO_MESSAGES (MSG_DEF) };

static size_t s_max_frame = 16u << 20;
static int s_max_depth = 32;

void
proto_limits_load (void)
{
    s_max_frame = (size_t) cfg_u64 ("CAISSON_MAX_FRAME");
    uint64_t depth = cfg_u64 ("CAISSON_MAX_DEPTH");
    /* The skip walk recurses once per level; below 3 not even an envelope
     * with a nested value fits. */
    s_max_depth = depth > 256 ? 256 : depth < 3 ? 3 : (int) depth;
}

size_t
proto_max_frame (void)
{
    return s_max_frame;
}

const proto_msgdef_t *
proto_def (proto_type_t type)
{
    return type < PROTO_TYPE_COUNT ? &defs[type] : NULL;
}

const proto_field_t *
proto_envelope_fields (size_t *count)
{
    *count = ENVELOPE_COUNT;
    return envelope_fields;
}

proto_type_t
proto_type_lookup (const char *name, size_t len)
{
    for (int t = 0; t < PROTO_TYPE_COUNT; t++)
        if (strlen (defs[t].wire) == len && memcmp (defs[t].wire, name, len) == 0)
            return (proto_type_t) t;
    return PROTO_TYPE_COUNT;
}

const char *
proto_type_name (proto_type_t type)
{
    return type < PROTO_TYPE_COUNT ? defs[type].wire : "?";
}

/* A switch, so that a request declared twice fails to compile. */
#define PROTO_REPLY_CASE(req, rep) case PROTO_##req: return PROTO_##rep;
#define PROTO_REPLY_SKIP(name)
proto_type_t
proto_reply_of (proto_type_t request)
{
    switch (request) {
    PROTO_REPLIES (PROTO_REPLY_CASE, PROTO_REPLY_SKIP)
    default: return PROTO_TYPE_COUNT;
    }
}

#define PROTO_PUBLISHED_SKIP(req, rep)
#define PROTO_PUBLISHED_CASE(name) case PROTO_##name: return true;
bool
proto_published_only (proto_type_t type)
{
    switch (type) {
    PROTO_REPLIES (PROTO_PUBLISHED_SKIP, PROTO_PUBLISHED_CASE)
    default: return false;
    }
}

const char *
proto_errcode_name (proto_errcode_t code)
{
    static const char *names[] = { "ok", "too_big", "truncated", "alloc_bomb",
                                   "invalid", "too_deep", "bad_type", "missing",
                                   "duplicate", "too_long", "range", "version",
                                   "unknown_type", "trailing", "no_memory" };
    return code <= PROTO_E_NOMEM ? names[code] : "unknown";
}

#define PROTO_ERROR_ROW(name, status, doc) { #name, status, doc },
static const struct {
    const char *name;
    int status;
    const char *doc;
} s_errors[] = { PROTO_ERRORS (PROTO_ERROR_ROW) };

const char *
proto_error_name (proto_ecode_t code)
{
    return (unsigned) code < PROTO_ERR_COUNT ? s_errors[code].name : NULL;
}

int
proto_error_status (proto_ecode_t code)
{
    return (unsigned) code < PROTO_ERR_COUNT ? s_errors[code].status : 0;
}

const char *
proto_error_doc (proto_ecode_t code)
{
    return (unsigned) code < PROTO_ERR_COUNT ? s_errors[code].doc : NULL;
}

proto_ecode_t
proto_error_lookup (const char *name)
{
    for (int i = 0; name && i < PROTO_ERR_COUNT; i++)
        if (!strcmp (s_errors[i].name, name))
            return (proto_ecode_t) i;
    return PROTO_ERR_COUNT;
}

static uint64_t
now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

void
proto_set_str (char **field, const char *value)
{
    char *copy = value ? xstrdup (value) : NULL;
    free (*field);
    *field = copy;
}

void
proto_set_bytes (proto_bytes_t *field, const void *data, size_t len)
{
    uint8_t *copy = xmalloc (len);
    if (len)
        memcpy (copy, data, len);
    free (field->data);
    field->data = copy;
    field->size = len;
}

static char s_user[129];
static bool s_op;

void
proto_set_identity (const char *user, bool op)
{
    snprintf (s_user, sizeof s_user, "%s", user ? user : "");
    s_op = op;
}

proto_msg_t *
proto_msg_new (proto_type_t type, const proto_msg_t *cause)
{
    proto_msg_t *self = xcalloc (1, sizeof *self);
    self->type = type;
    char id[CID_SIZE];
    cid_new (id);
    proto_env_t *env = &self->env;
    env->v = PROTO_VERSION;
    env->ts = now_us ();
    proto_set_str (&env->type, proto_type_name (type));
    proto_set_str (&env->id, id);
    proto_set_str (&env->corr, cause ? cause->env.corr : id);
    if (cause) {
        proto_set_str (&env->cause, cause->env.id);
        proto_set_str (&env->run, cause->env.run);
        proto_set_str (&env->user, cause->env.user);
        env->op = cause->env.op;
    }
    else {
        proto_set_str (&env->user, *s_user ? s_user : NULL);
        env->op = s_op;
    }
    return self;
}

static void
free_fields (void *base, const proto_field_t *fields)
{
    for (const proto_field_t *f = fields; f->name; f++) {
        void *slot = (char *) base + f->offset;
        if (f->type == PROTO_T_STR)
            free (*(char **) slot);
        else if (f->type == PROTO_T_BIN || f->type == PROTO_T_ANY)
            free (((proto_bytes_t *) slot)->data);
    }
}

void
proto_msg_destroy (proto_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_msg_t *self = *self_p;
    free_fields (&self->env, envelope_fields);
    if (self->type < PROTO_TYPE_COUNT)
        free_fields (&self->body, defs[self->type].fields);
    free (self);
    *self_p = NULL;
}

/* ---- encoding ---------------------------------------------------------- */

static bool
present (const void *base, const proto_field_t *f)
{
    const void *slot = (const char *) base + f->offset;
    switch (f->type) {
    case PROTO_T_STR: return *(char *const *) slot != NULL;
    case PROTO_T_BIN: return ((const proto_bytes_t *) slot)->data != NULL;
    case PROTO_T_ANY: return ((const proto_bytes_t *) slot)->size > 0;
    default:          return true;
    }
}

static int
pack_fields (msgpack_packer *pk, const void *base, const proto_field_t *fields,
             const proto_msg_t *msg)
{
    for (const proto_field_t *f = fields; f->name; f++) {
        if (!present (base, f))
            continue;
        const void *slot = (const char *) base + f->offset;
        size_t klen = strlen (f->name);
        msgpack_pack_str (pk, klen);
        msgpack_pack_str_body (pk, f->name, klen);
        switch (f->type) {
        case PROTO_T_STR: {
            const char *s = *(char *const *) slot;
            if (msg && slot == (const void *) &msg->env.type)
                s = proto_type_name (msg->type);
            msgpack_pack_str (pk, strlen (s));
            msgpack_pack_str_body (pk, s, strlen (s));
            break;
        }
        case PROTO_T_BIN: {
            const proto_bytes_t *b = slot;
            msgpack_pack_bin (pk, b->size);
            msgpack_pack_bin_body (pk, b->data, b->size);
            break;
        }
        case PROTO_T_ANY: {
            /* Written as is, after checking it is exactly one sound item,
             * so a bad ANY cannot corrupt the frame around it. */
            const proto_bytes_t *b = slot;
            mpr_t r;
            mpr_init (&r, b->data, b->size);
            /* The envelope and body maps take two levels of the limit. */
            if (mpr_skip (&r, s_max_depth - 2) != MPR_OK || mpr_left (&r) != 0)
                return -1;
            msgpack_sbuffer_write (pk->data, (const char *) b->data, b->size);
            break;
        }
        case PROTO_T_U64:
            msgpack_pack_uint64 (pk, msg && slot == (const void *) &msg->env.v
                                         ? PROTO_VERSION : *(const uint64_t *) slot);
            break;
        case PROTO_T_I64:
            msgpack_pack_int64 (pk, *(const int64_t *) slot);
            break;
        case PROTO_T_BOOL:
            if (*(const bool *) slot)
                msgpack_pack_true (pk);
            else
                msgpack_pack_false (pk);
            break;
        }
    }
    return 0;
}

static size_t
count_present (const void *base, const proto_field_t *fields)
{
    size_t n = 0;
    for (const proto_field_t *f = fields; f->name; f++)
        n += present (base, f);
    return n;
}

int
proto_encode (const proto_msg_t *msg, uint8_t **data, size_t *size)
{
    if (!msg || msg->type >= PROTO_TYPE_COUNT || !msg->env.id || !msg->env.corr)
        return -1;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);

    /* env.type may be unset on a hand-built message; it is always written. */
    msgpack_pack_map (&pk, count_present (&msg->env, envelope_fields)
                               + (msg->env.type == NULL) + 1);
    if (!msg->env.type) {
        const char *t = proto_type_name (msg->type);
        msgpack_pack_str (&pk, 4);
        msgpack_pack_str_body (&pk, "type", 4);
        msgpack_pack_str (&pk, strlen (t));
        msgpack_pack_str_body (&pk, t, strlen (t));
    }
    int rc = pack_fields (&pk, &msg->env, envelope_fields, msg);
    msgpack_pack_str (&pk, 4);
    msgpack_pack_str_body (&pk, "body", 4);
    const proto_field_t *fields = defs[msg->type].fields;
    msgpack_pack_map (&pk, count_present (&msg->body, fields));
    rc |= pack_fields (&pk, &msg->body, fields, NULL);
    if (rc || !sb.data) {
        msgpack_sbuffer_destroy (&sb);
        return -1;
    }
    *size = sb.size;
    *data = (uint8_t *) msgpack_sbuffer_release (&sb);
    return 0;
}

/* ---- decoding ---------------------------------------------------------- */

static int
fail (proto_err_t *err, proto_errcode_t code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
fail (proto_err_t *err, proto_errcode_t code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err->text, sizeof err->text, fmt, ap);
    va_end (ap);
    return -1;
}

static int
bad_type (proto_err_t *err, const char *scope, const char *name,
          const char *want, const mpr_item_t *it)
{
    return fail (err, PROTO_E_BAD_TYPE, "%s.%s: expected %s, got %s", scope, name,
                 want, mpr_kind_name (it->kind));
}

/* Reads one field's value into its slot. The frame's structure has been
 * checked already; this checks type, length and range. */
static int
read_field (mpr_t *r, void *base, const proto_field_t *f, const char *scope,
            proto_err_t *err)
{
    void *slot = (char *) base + f->offset;
    const uint8_t *start = r->p;
    mpr_item_t it;
    mpr_next (r, &it);

    if (f->type == PROTO_T_ANY) {
        r->p = start;
        mpr_skip (r, s_max_depth);
        size_t len = (size_t) (r->p - start);
        if (f->max && len > f->max)
            return fail (err, PROTO_E_TOO_LONG, "%s.%s: %zu bytes, more than the %llu allowed",
                         scope, f->name, len, (unsigned long long) f->max);
        proto_set_bytes (slot, start, len);
        return 0;
    }
    switch (f->type) {
    case PROTO_T_STR:
    case PROTO_T_BIN: {
        bool str = f->type == PROTO_T_STR;
        if (it.kind != (str ? MPR_STR : MPR_BIN))
            return bad_type (err, scope, f->name, str ? "string" : "binary", &it);
        if (f->max && it.len > f->max)
            return fail (err, PROTO_E_TOO_LONG, "%s.%s: %u bytes, more than the %llu allowed",
                         scope, f->name, it.len, (unsigned long long) f->max);
        if (str && memchr (it.ptr, 0, it.len))
            return fail (err, PROTO_E_INVALID, "%s.%s: string holds a NUL byte",
                         scope, f->name);
        if (!str) {
            proto_set_bytes (slot, it.ptr, it.len);
            return 0;
        }
        char *s = xmalloc ((size_t) it.len + 1);
        memcpy (s, it.ptr, it.len);
        s[it.len] = 0;
        free (*(char **) slot);
        *(char **) slot = s;
        return 0;
    }
    case PROTO_T_U64: {
        if (it.kind == MPR_INT && it.v.i >= 0)
            it.v.u = (uint64_t) it.v.i;
        else if (it.kind != MPR_UINT)
            return bad_type (err, scope, f->name, "unsigned integer", &it);
        if (f->max && it.v.u > f->max)
            return fail (err, PROTO_E_RANGE, "%s.%s: %llu is more than the %llu allowed",
                         scope, f->name, (unsigned long long) it.v.u,
                         (unsigned long long) f->max);
        *(uint64_t *) slot = it.v.u;
        return 0;
    }
    case PROTO_T_I64: {
        if (it.kind == MPR_UINT) {
            if (it.v.u > INT64_MAX)
                return fail (err, PROTO_E_RANGE, "%s.%s: %llu does not fit a signed 64-bit integer",
                             scope, f->name, (unsigned long long) it.v.u);
            it.v.i = (int64_t) it.v.u;
        }
        else if (it.kind != MPR_INT)
            return bad_type (err, scope, f->name, "integer", &it);
        uint64_t mag = it.v.i < 0 ? (uint64_t) 0 - (uint64_t) it.v.i : (uint64_t) it.v.i;
        if (f->max && mag > f->max)
            return fail (err, PROTO_E_RANGE, "%s.%s: %lld is outside ±%llu", scope,
                         f->name, (long long) it.v.i, (unsigned long long) f->max);
        *(int64_t *) slot = it.v.i;
        return 0;
    }
    case PROTO_T_BOOL:
        if (it.kind != MPR_BOOL)
            return bad_type (err, scope, f->name, "boolean", &it);
        *(bool *) slot = it.v.b;
        return 0;
    default:
        return fail (err, PROTO_E_INVALID, "%s.%s: unsupported field type", scope, f->name);
    }
}

/* Reads a map of fields described by table into base. body, when not
 * NULL, receives the position of the "body" key's value (envelope only). */
static int
read_map (mpr_t *r, void *base, const proto_field_t *table, const char *scope,
          mpr_t *body, proto_err_t *err)
{
    mpr_item_t it;
    mpr_next (r, &it);
    if (it.kind != MPR_MAP)
        return fail (err, PROTO_E_BAD_TYPE, "%s: expected map, got %s", scope,
                     mpr_kind_name (it.kind));
    uint64_t seen = 0, got = 0;    /* keys met; fields with a value */
    bool body_seen = false;
    for (uint32_t i = 0; i < it.v.count; i++) {
        mpr_item_t key;
        mpr_next (r, &key);
        if (key.kind != MPR_STR)
            return fail (err, PROTO_E_BAD_TYPE, "%s: key %u is a %s, not a string",
                         scope, i, mpr_kind_name (key.kind));
        if (body && key.len == 4 && memcmp (key.ptr, "body", 4) == 0) {
            if (body_seen)
                return fail (err, PROTO_E_DUPLICATE, "body: appears twice");
            body_seen = true;
            *body = *r;
            mpr_skip (r, s_max_depth);
            continue;
        }
        const proto_field_t *f = table;
        int idx = 0;
        while (f->name && !(strlen (f->name) == key.len
                             && memcmp (f->name, key.ptr, key.len) == 0))
            f++, idx++;
        if (!f->name) {             /* unknown keys are skipped: newer peers */
            mpr_skip (r, s_max_depth);
            continue;
        }
        if (seen & (UINT64_C (1) << idx))
            return fail (err, PROTO_E_DUPLICATE, "%s.%s: appears twice", scope, f->name);
        seen |= UINT64_C (1) << idx;
        mpr_t peek = *r;
        mpr_item_t v;
        mpr_next (&peek, &v);
        if (v.kind == MPR_NIL) {    /* null is absent, as JSON peers send it */
            *r = peek;
            continue;
        }
        if (read_field (r, base, f, scope, err))
            return -1;
        got |= UINT64_C (1) << idx;
    }
    int idx = 0;
    for (const proto_field_t *f = table; f->name; f++, idx++)
        if (f->required && !(got & (UINT64_C (1) << idx)))
            return fail (err, PROTO_E_MISSING, "%s.%s: missing", scope, f->name);
    if (body && !body_seen)
        return fail (err, PROTO_E_MISSING, "body: missing");
    return 0;
}

static int
check_ids (const proto_env_t *env, proto_err_t *err)
{
    const char *names[] = { "id", "corr", "cause", "run" };
    const char *vals[] = { env->id, env->corr, env->cause, env->run };
    for (int i = 0; i < 4; i++)
        if (vals[i] && !cid_valid (vals[i]))
            return fail (err, PROTO_E_INVALID, "envelope.%s: '%s' is not a 26-character id",
                         names[i], vals[i]);
    return 0;
}

proto_msg_t *
proto_decode (const uint8_t *data, size_t size, proto_err_t *err)
{
    memset (err, 0, sizeof *err);
    if (size > s_max_frame) {
        fail (err, PROTO_E_TOO_BIG, "frame: %zu bytes, more than the %zu allowed",
              size, s_max_frame);
        return NULL;
    }
    mpr_t r;
    mpr_init (&r, data, size);
    static const struct { proto_errcode_t code; const char *what; } structural[] = {
        [-MPR_E_TRUNCATED] = { PROTO_E_TRUNCATED, "ends inside an item" },
        [-MPR_E_BOMB] = { PROTO_E_ALLOC_BOMB, "declares a length or count larger than the bytes left" },
        [-MPR_E_INVALID] = { PROTO_E_INVALID, "holds the reserved byte 0xc1" },
        [-MPR_E_DEEP] = { PROTO_E_TOO_DEEP, "nests deeper than allowed" },
    };
    mpr_err_t mrc = mpr_skip (&r, s_max_depth);
    if (mrc) {
        fail (err, structural[-mrc].code, "frame: %s (at byte %zu, depth limit %d)",
              structural[-mrc].what, (size_t) (r.p - data), s_max_depth);
        return NULL;
    }
    if (mpr_left (&r)) {
        fail (err, PROTO_E_TRAILING, "frame: %zu bytes after the message", mpr_left (&r));
        return NULL;
    }

    proto_msg_t *msg = xcalloc (1, sizeof *msg);
    msg->type = PROTO_TYPE_COUNT;   /* no body to free yet */
    mpr_init (&r, data, size);
    mpr_t body;
    if (read_map (&r, &msg->env, envelope_fields, "envelope", &body, err))
        goto bad;
    if (msg->env.v != PROTO_VERSION) {
        fail (err, PROTO_E_VERSION, "envelope.v: version %llu, this build speaks %d",
              (unsigned long long) msg->env.v, PROTO_VERSION);
        goto bad;
    }
    if (check_ids (&msg->env, err))
        goto bad;
    proto_type_t t = proto_type_lookup (msg->env.type, strlen (msg->env.type));
    if (t == PROTO_TYPE_COUNT) {
        fail (err, PROTO_E_UNKNOWN_TYPE, "envelope.type: '%s' is not a known message type",
              msg->env.type);
        goto bad;
    }
    msg->type = t;
    if (read_map (&body, &msg->body, defs[t].fields, "body", NULL, err))
        goto bad;
    return msg;
bad:
    if (msg->env.id && cid_valid (msg->env.id))
        snprintf (err->id, sizeof err->id, "%s", msg->env.id);
    if (msg->env.corr && cid_valid (msg->env.corr))
        snprintf (err->corr, sizeof err->corr, "%s", msg->env.corr);
    proto_msg_destroy (&msg);
    return NULL;
}

proto_msg_t *
proto_error_new (const proto_msg_t *req, proto_ecode_t code, const char *fmt, ...)
{
    if (!proto_error_name (code))
        return NULL;
    proto_msg_t *msg = proto_msg_new (PROTO_error, req);
    char text[4096];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    proto_set_str (&msg->body.error.code, proto_error_name (code));
    proto_set_str (&msg->body.error.message, text);
    return msg;
}

proto_msg_t *
proto_error_from (const proto_err_t *err)
{
    proto_ecode_t code = proto_error_lookup (proto_errcode_name (err->code));
    proto_msg_t *msg = proto_error_new (NULL, code, "%s", err->text);
    if (msg && err->id[0])
        proto_set_str (&msg->env.cause, err->id);
    if (msg && err->corr[0])
        proto_set_str (&msg->env.corr, err->corr);
    return msg;
}
