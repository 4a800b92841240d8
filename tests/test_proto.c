/* test_proto: the catalogue's codec, driven by its own tables.
 *
 * Round trips fill every field of every message type through the field
 * offsets, so a new family is covered the day it is declared and a field
 * the codec forgot fails here. Rejections are built by hand with msgpack-c's
 * packer and must fail with one exact code and a text naming the field (or
 * "frame" for faults found before any field is read). */
#include "support.h"
#include "cid.h"
#include "proto.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID "01J00000000000000000000000"

/* ---- messages through the tables ---------------------------------------- */

static const proto_field_t *
envelope (void)
{
    size_t n;
    return proto_envelope_fields (&n);
}

/* Packs [seed, "any", {"k": nil}, -1, 1.5] into an ANY slot. */
static void
set_any (proto_bytes_t *slot, unsigned seed)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 5);
    msgpack_pack_unsigned_int (&pk, seed);
    msgpack_pack_str_with_body (&pk, "any", 3);
    msgpack_pack_map (&pk, 1);
    msgpack_pack_str_with_body (&pk, "k", 1);
    msgpack_pack_nil (&pk);
    msgpack_pack_int (&pk, -1);
    msgpack_pack_double (&pk, 1.5);
    assert_int_equal (proto_set_bytes (slot, sb.data, sb.size), 0);
    msgpack_sbuffer_destroy (&sb);
}

/* Gives a field a value no decoder default could match: at its limit when
 * it has one (len bytes past it when over is set), else something large. */
static void
fill_field (void *base, const proto_field_t *f, unsigned seed, bool over)
{
    void *slot = (char *) base + f->offset;
    size_t len = (f->max ? (size_t) f->max : 300) + over;
    uint8_t *buf = malloc (len + 1);
    assert_non_null (buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = f->type == PROTO_T_STR ? (uint8_t) ('a' + (seed + i) % 26)
                                        : (uint8_t) (seed + i);
    buf[len] = 0;
    switch (f->type) {
    case PROTO_T_STR: assert_int_equal (proto_set_str (slot, (char *) buf), 0); break;
    case PROTO_T_BIN: assert_int_equal (proto_set_bytes (slot, buf, len), 0); break;
    case PROTO_T_U64: *(uint64_t *) slot = f->max ? f->max + over : UINT64_MAX - seed; break;
    case PROTO_T_I64:
        *(int64_t *) slot = f->max ? -(int64_t) (f->max + over) : INT64_MIN + seed;
        break;
    case PROTO_T_BOOL: *(bool *) slot = true; break;
    case PROTO_T_ANY:
        if (!over) {
            set_any (slot, seed);
            break;
        }
        /* One bin item whose whole encoding is one byte past the limit. */
        for (size_t head = 2; head <= 5; head++) {
            size_t n = len - head;
            if ((n < 256 ? 2 : n < 65536 ? 3 : 5) == head) {
                buf[0] = head == 2 ? 0xc4 : head == 3 ? 0xc5 : 0xc6;
                for (size_t b = 1; b < head; b++)
                    buf[b] = (uint8_t) (n >> (8 * (head - 1 - b)));
                break;
            }
        }
        assert_int_equal (proto_set_bytes (slot, buf, len), 0);
        break;
    }
    free (buf);
}

/* A message of type t: with full, every optional field too. */
static proto_msg_t *
make_msg (proto_type_t t, bool full)
{
    proto_msg_t *m = proto_msg_new (t, NULL);
    assert_non_null (m);
    m->env.ts = UINT64_C (1700000000000000) + t;
    if (full) {
        char id[CID_SIZE];
        cid_new (id);
        assert_int_equal (proto_set_str (&m->env.cause, id), 0);
        cid_new (id);
        assert_int_equal (proto_set_str (&m->env.run, id), 0);
        assert_int_equal (proto_set_str (&m->env.user, "someone"), 0);
    }
    unsigned seed = 0;
    for (const proto_field_t *f = proto_def (t)->fields; f->name; f++, seed++)
        if (full || f->required)
            fill_field (&m->body, f, seed + 7 * t, false);
    return m;
}

static void
expect_same (const void *a, const void *b, const proto_field_t *fields, const char *scope)
{
    for (const proto_field_t *f = fields; f->name; f++) {
        const void *x = (const char *) a + f->offset, *y = (const char *) b + f->offset;
        bool same = false;
        switch (f->type) {
        case PROTO_T_STR: {
            const char *s = *(char *const *) x, *u = *(char *const *) y;
            same = s && u ? strcmp (s, u) == 0 : s == u;
            break;
        }
        case PROTO_T_BIN:
        case PROTO_T_ANY: {
            const proto_bytes_t *p = x, *q = y;
            same = p->size == q->size && !p->data == !q->data
                   && (p->size == 0 || memcmp (p->data, q->data, p->size) == 0);
            break;
        }
        case PROTO_T_U64: same = *(const uint64_t *) x == *(const uint64_t *) y; break;
        case PROTO_T_I64: same = *(const int64_t *) x == *(const int64_t *) y; break;
        case PROTO_T_BOOL: same = *(const bool *) x == *(const bool *) y; break;
        }
        if (!same)
            fail_msg ("%s.%s differs after a round trip", scope, f->name);
    }
}

static void
test_round_trip_every_type (void **state)
{
    (void) state;
    for (int t = 0; t < PROTO_TYPE_COUNT; t++)
        for (int full = 0; full < 2; full++) {
            proto_msg_t *m = make_msg ((proto_type_t) t, full);
            uint8_t *buf;
            size_t len;
            assert_int_equal (proto_encode (m, &buf, &len), 0);
            proto_err_t err;
            proto_msg_t *d = proto_decode (buf, len, &err);
            if (!d)
                fail_msg ("%s: %s", proto_type_name ((proto_type_t) t), err.text);
            assert_int_equal (d->type, t);
            expect_same (&m->env, &d->env, envelope (), "envelope");
            expect_same (&m->body, &d->body, proto_def ((proto_type_t) t)->fields,
                         proto_type_name ((proto_type_t) t));
            free (buf);
            proto_msg_destroy (&m);
            proto_msg_destroy (&d);
            proto_msg_destroy (&d);         /* twice is harmless */
        }
}

static void
test_tables (void **state)
{
    (void) state;
    for (int t = 0; t < PROTO_TYPE_COUNT; t++) {
        const char *wire = proto_def ((proto_type_t) t)->wire;
        assert_int_equal (proto_type_lookup (wire, strlen (wire)), t);
        assert_string_equal (proto_type_name ((proto_type_t) t), wire);
    }
    assert_int_equal (proto_type_lookup ("health.re", 9), PROTO_TYPE_COUNT);
    assert_int_equal (proto_type_lookup ("health.reqs", 11), PROTO_TYPE_COUNT);
    assert_null (proto_def (PROTO_TYPE_COUNT));
    assert_string_equal (proto_type_name (PROTO_TYPE_COUNT), "?");
    for (int c = PROTO_E_TOO_BIG; c <= PROTO_E_NOMEM; c++) {
        assert_string_not_equal (proto_errcode_name ((proto_errcode_t) c), "unknown");
        for (int d = PROTO_E_TOO_BIG; d < c; d++)
            assert_string_not_equal (proto_errcode_name ((proto_errcode_t) c),
                                     proto_errcode_name ((proto_errcode_t) d));
    }
    assert_string_equal (proto_errcode_name (PROTO_E_ALLOC_BOMB), "alloc_bomb");
    assert_string_equal (proto_errcode_name ((proto_errcode_t) 99), "unknown");
}

static void
test_msg_new_with_cause (void **state)
{
    (void) state;
    proto_msg_t *a = proto_msg_new (PROTO_health_req, NULL);
    assert_true (cid_valid (a->env.id));
    assert_string_equal (a->env.corr, a->env.id);
    assert_null (a->env.cause);
    assert_int_equal (a->env.v, PROTO_VERSION);
    assert_string_equal (a->env.type, "health.req");
    assert_true (a->env.ts > UINT64_C (1600000000000000));
    proto_set_str (&a->env.run, ID);
    proto_set_str (&a->env.user, "alice");

    proto_msg_t *b = proto_msg_new (PROTO_health_rep, a);
    proto_msg_t *c = proto_msg_new (PROTO_ping, b);
    assert_string_not_equal (b->env.id, a->env.id);
    assert_string_equal (b->env.corr, a->env.id);
    assert_string_equal (b->env.cause, a->env.id);
    assert_string_equal (c->env.corr, a->env.id);   /* carried to the last one */
    assert_string_equal (c->env.cause, b->env.id);
    assert_string_equal (c->env.run, ID);
    assert_string_equal (c->env.user, "alice");
    assert_ptr_not_equal (c->env.user, a->env.user);
    proto_msg_destroy (&a);
    proto_msg_destroy (&b);
    proto_msg_destroy (&c);
}

static void
test_error_new (void **state)
{
    (void) state;
    proto_msg_t *req = proto_msg_new (PROTO_ping, NULL);
    proto_set_str (&req->env.user, "bob");
    proto_msg_t *e = proto_error_new (req, "bad_type", "body.%s: got %d", "pid", 7);
    assert_int_equal (e->type, PROTO_error);
    assert_string_equal (e->env.type, "error");
    assert_string_equal (e->env.corr, req->env.corr);
    assert_string_equal (e->env.cause, req->env.id);
    assert_string_equal (e->env.user, "bob");
    assert_string_equal (e->body.error.code, "bad_type");
    assert_string_equal (e->body.error.message, "body.pid: got 7");
    assert_int_equal (e->body.error.detail.size, 0);

    uint8_t *buf;
    size_t len;
    assert_int_equal (proto_encode (e, &buf, &len), 0);
    proto_err_t err;
    proto_msg_t *d = proto_decode (buf, len, &err);
    assert_non_null (d);
    assert_string_equal (d->body.error.message, "body.pid: got 7");
    free (buf);
    proto_msg_destroy (&d);
    proto_msg_destroy (&e);

    e = proto_error_new (NULL, "x", "no request");
    assert_string_equal (e->env.corr, e->env.id);
    assert_null (e->env.cause);
    proto_msg_destroy (&e);
    proto_msg_destroy (&req);
}

static void
test_any_holds_exactly_one_item (void **state)
{
    (void) state;
    static const struct { const char *what; uint8_t bytes[8]; size_t len; } bad[] = {
        { "two items", { 0x01, 0x02 }, 2 },
        { "a cut array", { 0x92, 0x01 }, 2 },
        { "a cut string", { 0xa3, 'a' }, 2 },
        { "the reserved byte", { 0xc1 }, 1 },
        { "a bomb", { 0xdd, 0xff, 0xff, 0xff, 0xff }, 5 },
    };
    proto_msg_t *m = proto_error_new (NULL, "c", "m");
    uint8_t *buf;
    size_t len;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proto_set_bytes (&m->body.error.detail, bad[i].bytes, bad[i].len);
        if (proto_encode (m, &buf, &len) != -1)
            fail_msg ("encoded an ANY holding %s", bad[i].what);
    }
    uint8_t deep[40];
    memset (deep, 0x91, sizeof deep);
    deep[sizeof deep - 1] = 0x90;
    proto_set_bytes (&m->body.error.detail, deep, sizeof deep);
    assert_int_equal (proto_encode (m, &buf, &len), -1);
    proto_set_bytes (&m->body.error.detail, deep + 20, 20);
    assert_int_equal (proto_encode (m, &buf, &len), 0);
    free (buf);
    proto_msg_destroy (&m);
}

/* ---- hand-built frames --------------------------------------------------- */

typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} frame_t;

static msgpack_packer *
frame_init (frame_t *f)
{
    msgpack_sbuffer_init (&f->sb);
    msgpack_packer_init (&f->pk, &f->sb, msgpack_sbuffer_write);
    return &f->pk;
}

static void
str (msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body (pk, s, strlen (s));
}

static void
raw (msgpack_packer *pk, const void *bytes, size_t len)
{
    msgpack_sbuffer_write (pk->data, bytes, len);
}

/* Opens an envelope map holding v, type, id, corr and ts except omit (may
 * be NULL), sized for extra more pairs the caller then writes. */
static void
env_begin (msgpack_packer *pk, const char *type, const char *omit, size_t extra)
{
    static const char *keys[] = { "v", "type", "id", "corr", "ts" };
    msgpack_pack_map (pk, 5 - (omit != NULL) + extra);
    for (int i = 0; i < 5; i++) {
        if (omit && strcmp (omit, keys[i]) == 0)
            continue;
        str (pk, keys[i]);
        if (i == 0 || i == 4)
            msgpack_pack_uint64 (pk, i == 0 ? 1 : UINT64_C (1700000000000000));
        else
            str (pk, i == 1 ? type : ID);
    }
}

/* Writes "body" and a health.rep body without omit, sized for extra more
 * pairs; pid is written as the string pid_str when that is not NULL. */
static void
health_body (msgpack_packer *pk, const char *omit, const char *pid_str, size_t extra)
{
    static const char *keys[] = { "service", "instance", "version", "pid", "uptime_ms" };
    str (pk, "body");
    msgpack_pack_map (pk, 5 - (omit != NULL) + extra);
    for (int i = 0; i < 5; i++) {
        if (omit && strcmp (omit, keys[i]) == 0)
            continue;
        str (pk, keys[i]);
        if (i < 3 || (i == 3 && pid_str))
            str (pk, i < 3 ? "x" : pid_str);
        else
            msgpack_pack_uint64 (pk, 42);
    }
}

/* A health.rep frame whose envelope has one more pair: key and a string
 * value (a raw item instead when raw_len is not 0). */
static void
health_with (frame_t *f, const char *key, const char *value, size_t raw_len)
{
    msgpack_packer *pk = frame_init (f);
    env_begin (pk, "health.rep", strcmp (key, "v") ? NULL : "v", 2);
    str (pk, key);
    if (raw_len)
        raw (pk, value, raw_len);
    else
        str (pk, value);
    health_body (pk, NULL, NULL, 0);
}

static void
expect_reject_bytes (const void *data, size_t size, proto_errcode_t code, const char *needle)
{
    proto_err_t err;
    proto_msg_t *m = proto_decode (data, size, &err);
    if (m) {
        proto_msg_destroy (&m);
        fail_msg ("decoded; expected %s naming %s", proto_errcode_name (code), needle);
    }
    assert_string_equal (proto_errcode_name (err.code), proto_errcode_name (code));
    if (!strstr (err.text, needle))
        fail_msg ("'%s' does not name %s", err.text, needle);
}

/* Decodes the frame expecting code and a text containing needle; frees it. */
static void
expect_reject (frame_t *f, proto_errcode_t code, const char *needle)
{
    expect_reject_bytes (f->sb.data, f->sb.size, code, needle);
    msgpack_sbuffer_destroy (&f->sb);
}

/* Decodes the frame, which must be accepted, and frees it. */
static proto_msg_t *
expect_accept (frame_t *f)
{
    proto_err_t err;
    proto_msg_t *m = proto_decode ((const uint8_t *) f->sb.data, f->sb.size, &err);
    if (!m)
        fail_msg ("refused: %s", err.text);
    msgpack_sbuffer_destroy (&f->sb);
    return m;
}

