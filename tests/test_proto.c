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
#include "xalloc.h"

#include <jansson.h>
#include <msgpack.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
    proto_set_bytes (slot, sb.data, sb.size);
    msgpack_sbuffer_destroy (&sb);
}

/* Gives a field a value no decoder default could match: at its limit when
 * it has one (one past it when over is set), else something large. */
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
    case PROTO_T_STR: proto_set_str (slot, (char *) buf); break;
    case PROTO_T_BIN: proto_set_bytes (slot, buf, len); break;
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
        proto_set_bytes (slot, buf, len);
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
        proto_set_str (&m->env.cause, id);
        cid_new (id);
        proto_set_str (&m->env.run, id);
        for (const proto_field_t *f = envelope (); f->name; f++)
            if (strcmp (f->name, "user") == 0)
                fill_field (&m->env, f, t, false);
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

/* True when name is snake_case: lower-case letters and digits, words
 * joined by single underscores. */
static bool
s_snake (const char *name)
{
    if (!*name || !(*name >= 'a' && *name <= 'z'))
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')
              || (*c == '_' && c[1] && c[1] != '_')))
            return false;
    return true;
}

/* One field case on the wire: every declared field, envelope and bodies,
 * is snake_case (ui-bridge alone respells them, for HTTP). */
static void
test_one_field_case (void **state)
{
    (void) state;
    size_t n;
    const proto_field_t *env = proto_envelope_fields (&n);
    for (size_t i = 0; i < n; i++)
        if (!s_snake (env[i].name))
            fail_msg ("envelope field '%s' is not snake_case", env[i].name);
    for (int t = 0; t < PROTO_TYPE_COUNT; t++) {
        const proto_msgdef_t *def = proto_def ((proto_type_t) t);
        for (size_t i = 0; i < def->nfields; i++)
            if (!s_snake (def->fields[i].name))
                fail_msg ("%s: field '%s' is not snake_case", def->wire, def->fields[i].name);
    }
    assert_false (s_snake ("sandboxId"));
    assert_true (s_snake ("sandbox_id"));
}

/* Runs fn in a child whose stderr is a pipe; returns the child's wait
 * status and what it wrote (at most len - 1 bytes). */
static int
s_child (void (*fn) (void), char *out, size_t len)
{
    int fd[2];
    assert_int_equal (pipe (fd), 0);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        dup2 (fd[1], 2);
        fn ();
        _exit (0);
    }
    close (fd[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < len && (n = read (fd[0], out + got, len - 1 - got)) > 0)
        got += (size_t) n;
    out[got] = 0;
    close (fd[0]);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    return status;
}

/* 64 TiB: more than this machine can map, within what malloc accepts. */
#define HUGE_LEN ((size_t) 1 << 46)

static void
s_set_huge (void)
{
    proto_bytes_t b = { 0 };
    static const uint8_t one = 1;
    /* Only the allocation matters: it fails before anything is copied. */
    proto_set_bytes (&b, &one, HUGE_LEN);
}

static void
s_json_huge (void)
{
    xalloc_install ();
    void *(*m) (size_t);
    void (*f) (void *);
    json_get_alloc_funcs (&m, &f);
    m (HUGE_LEN);
}

/* The one out-of-memory policy (xalloc.h): a failed allocation, by proto
 * or by jansson once installed, aborts naming where, never returns a
 * NULL the caller must carry. Under ASan, its allocator stops the child
 * first, with its own report. */
static void
test_oom_aborts (void **state)
{
    (void) state;
    char out[1024];
    void (*fns[]) (void) = { s_set_huge, s_json_huge };
    for (size_t i = 0; i < 2; i++) {
        int status = s_child (fns[i], out, sizeof out);
        assert_true (WIFSIGNALED (status) || (WIFEXITED (status) && WEXITSTATUS (status)));
#if !defined(__SANITIZE_ADDRESS__)
        assert_true (WIFSIGNALED (status));
        assert_int_equal (WTERMSIG (status), SIGABRT);
        assert_non_null (strstr (out, "FATAL: out of memory allocating 70368744177664 bytes"));
#endif
    }
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
    proto_msg_t *e = proto_error_new (req, PROTO_ERR_bad_type, "body.%s: got %d", "pid", 7);
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

    e = proto_error_new (NULL, PROTO_ERR_internal, "no request");
    assert_string_equal (e->env.corr, e->env.id);
    assert_null (e->env.cause);
    proto_msg_destroy (&e);
    proto_msg_destroy (&req);
}

/* Every code proto/errors.def declares has a distinct wire name that maps
 * back to it, an HTTP status of an error (4xx or 5xx) and a meaning, and is
 * the code an error reply made with it carries on the wire. */
static void
test_error_codes_declared (void **state)
{
    (void) state;
    for (int c = 0; c < PROTO_ERR_COUNT; c++) {
        const char *name = proto_error_name ((proto_ecode_t) c);
        assert_non_null (name);
        if (proto_error_lookup (name) != (proto_ecode_t) c)
            fail_msg ("%s does not map back to its code %d", name, c);
        int status = proto_error_status ((proto_ecode_t) c);
        if (status < 400 || status > 599)
            fail_msg ("%s declares HTTP %d, not an error status", name, status);
        assert_true (proto_error_doc ((proto_ecode_t) c)[0] != '\0');

        proto_msg_t *e = proto_error_new (NULL, (proto_ecode_t) c, "why");
        uint8_t *buf;
        size_t len;
        assert_int_equal (proto_encode (e, &buf, &len), 0);
        proto_err_t err;
        proto_msg_t *d = proto_decode (buf, len, &err);
        assert_non_null (d);
        assert_string_equal (d->body.error.code, name);
        free (buf);
        proto_msg_destroy (&d);
        proto_msg_destroy (&e);
    }
    /* the codec's own codes are bus codes too: proto_error_from sends them */
    for (int c = PROTO_E_TOO_BIG; c <= PROTO_E_NOMEM; c++)
        if (proto_error_lookup (proto_errcode_name ((proto_errcode_t) c)) == PROTO_ERR_COUNT)
            fail_msg ("the codec's %s is not declared", proto_errcode_name ((proto_errcode_t) c));
    assert_int_equal (proto_error_lookup ("unknown_request"), PROTO_ERR_COUNT);
    assert_int_equal (proto_error_lookup (NULL), PROTO_ERR_COUNT);
    assert_null (proto_error_name (PROTO_ERR_COUNT));
    assert_null (proto_error_new (NULL, PROTO_ERR_COUNT, "out of range"));
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
    proto_msg_t *m = proto_error_new (NULL, PROTO_ERR_internal, "m");
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
    /* What encodes, decodes: the envelope and body take two levels of the
     * 32, so 30 levels pass both ways and 31 neither. */
    proto_set_bytes (&m->body.error.detail, deep + 10, 30);
    assert_int_equal (proto_encode (m, &buf, &len), 0);
    proto_err_t err;
    proto_msg_t *back = proto_decode (buf, len, &err);
    assert_non_null (back);
    proto_msg_destroy (&back);
    free (buf);
    proto_set_bytes (&m->body.error.detail, deep + 9, 31);
    assert_int_equal (proto_encode (m, &buf, &len), -1);
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
 * be NULL or another key), sized for extra more pairs the caller writes. */
static void
env_begin (msgpack_packer *pk, const char *type, const char *omit, size_t extra)
{
    static const char *keys[] = { "v", "type", "id", "corr", "ts" };
    bool skip[5], skipped = false;
    for (int i = 0; i < 5; i++)
        skipped |= skip[i] = omit && strcmp (omit, keys[i]) == 0;
    msgpack_pack_map (pk, 5 - skipped + extra);
    for (int i = 0; i < 5; i++) {
        if (skip[i])
            continue;
        str (pk, keys[i]);
        if (i == 0 || i == 4)
            msgpack_pack_uint64 (pk, i == 0 ? 1 : UINT64_C (1700000000000000));
        else
            str (pk, i == 1 ? type : ID);
    }
}

/* Writes "body" and a health.rep body without omit, sized for extra more
 * pairs; pid is the raw item pid when that is not NULL. */
static void
health_body (msgpack_packer *pk, const char *omit, const char *pid, size_t pid_len,
             size_t extra)
{
    static const char *keys[] = { "service", "instance", "version", "pid", "uptime_ms" };
    str (pk, "body");
    msgpack_pack_map (pk, 5 - (omit != NULL) + extra);
    for (int i = 0; i < 5; i++) {
        if (omit && strcmp (omit, keys[i]) == 0)
            continue;
        str (pk, keys[i]);
        if (i < 3)
            str (pk, "x");
        else if (i == 3 && pid)
            raw (pk, pid, pid_len);
        else
            msgpack_pack_uint64 (pk, 42);
    }
}

/* A health.rep frame whose envelope key is set to a string value (a raw
 * item instead when raw_len is not 0), in place of its usual value. */
static void
health_with (frame_t *f, const char *key, const char *value, size_t raw_len)
{
    msgpack_packer *pk = frame_init (f);
    env_begin (pk, "health.rep", key, 2);
    str (pk, key);
    if (raw_len)
        raw (pk, value, raw_len);
    else
        str (pk, value);
    health_body (pk, NULL, NULL, 0, 0);
}

/* An error frame whose detail is the raw bytes given. */
static void
error_with_detail (frame_t *f, const void *detail, size_t len)
{
    msgpack_packer *pk = frame_init (f);
    env_begin (pk, "error", NULL, 1);
    str (pk, "body");
    msgpack_pack_map (pk, 3);
    str (pk, "code");
    str (pk, "c");
    str (pk, "message");
    str (pk, "m");
    str (pk, "detail");
    raw (pk, detail, len);
}

/* Decodes bytes expecting code and a text containing needle; line is the
 * caller's, for the failure message. Destroys owned (may be NULL), which
 * holds the bytes, before it returns or fails. */
static void
reject_at (const void *data, size_t size, proto_errcode_t code, const char *needle,
           int line, msgpack_sbuffer *owned)
{
    proto_err_t err;
    proto_msg_t *m = proto_decode (data, size, &err);
    bool decoded = m != NULL;
    proto_msg_destroy (&m);
    if (owned)
        msgpack_sbuffer_destroy (owned);
    if (decoded)
        fail_msg ("line %d: decoded; expected %s naming %s", line,
                  proto_errcode_name (code), needle);
    if (err.code != code || !strstr (err.text, needle))
        fail_msg ("line %d: got %s '%s'; expected %s naming %s", line,
                  proto_errcode_name (err.code), err.text, proto_errcode_name (code), needle);
}

#define expect_reject_bytes(data, size, code, needle) \
    reject_at (data, size, code, needle, __LINE__, NULL)
/* The same for a built frame, which it frees. */
#define expect_reject(f, code, needle) \
    reject_at ((f)->sb.data, (f)->sb.size, code, needle, __LINE__, &(f)->sb)

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

/* ---- rejections ---------------------------------------------------------- */

static int
restore_limits (void **state)
{
    (void) state;
    unsetenv ("CAISSON_MAX_FRAME");
    unsetenv ("CAISSON_MAX_DEPTH");
    proto_limits_load ();
    return 0;
}

static void
test_truncated (void **state)
{
    (void) state;
    for (int t = 0; t < PROTO_TYPE_COUNT; t++) {
        proto_msg_t *m = make_msg ((proto_type_t) t, true);
        uint8_t *buf;
        size_t len;
        assert_int_equal (proto_encode (m, &buf, &len), 0);
        /* Every cut near either end, where the headers are; inside the
         * long payloads between, every cut fails the same way, so a prime
         * stride keeps the test quick as fields grow to megabytes. */
        for (size_t cut = 0; cut < len; cut += cut < 4096 || cut + 4096 > len ? 1 : 4093) {
            proto_err_t err;
            proto_msg_t *d = proto_decode (buf, cut, &err);
            /* A cut leaves some declared length or count larger than the
             * rest (alloc_bomb), or ends inside a fixed-size item. */
            if (d || (err.code != PROTO_E_TRUNCATED && err.code != PROTO_E_ALLOC_BOMB)
                || strncmp (err.text, "frame: ", 7) != 0)
                fail_msg ("%s cut to %zu of %zu bytes: %s", proto_type_name ((proto_type_t) t),
                          cut, len, d ? "decoded" : err.text);
        }
        free (buf);
        proto_msg_destroy (&m);
    }
    /* A minimal health.req ends with ts (uint64: cf + 8 bytes), then
     * "body" (a4 + 4 bytes) and its empty map (80). */
    proto_msg_t *m = make_msg (PROTO_health_req, false);
    uint8_t *buf;
    size_t len;
    assert_int_equal (proto_encode (m, &buf, &len), 0);
    assert_int_equal (buf[len - 15], 0xcf);
    expect_reject_bytes (buf, len - 1, PROTO_E_TRUNCATED, "frame: ends inside an item");
    expect_reject_bytes (buf, len - 7, PROTO_E_TRUNCATED, "frame: ends inside an item");
    expect_reject_bytes (buf, 1, PROTO_E_ALLOC_BOMB, "frame: declares");
    expect_reject_bytes (buf, 0, PROTO_E_TRUNCATED, "frame");
    free (buf);
    proto_msg_destroy (&m);
}

static void
test_too_big (void **state)
{
    (void) state;
    proto_msg_t *m = make_msg (PROTO_health_req, false);
    uint8_t *buf;
    size_t len;
    assert_int_equal (proto_encode (m, &buf, &len), 0);
    char limit[32];
    snprintf (limit, sizeof limit, "%zu", len);
    setenv ("CAISSON_MAX_FRAME", limit, 1);
    proto_limits_load ();
    assert_int_equal (proto_max_frame (), len);
    proto_err_t err;
    proto_msg_t *d = proto_decode (buf, len, &err);
    assert_non_null (d);
    snprintf (limit, sizeof limit, "%zu", len - 1);
    setenv ("CAISSON_MAX_FRAME", limit, 1);
    proto_limits_load ();
    expect_reject_bytes (buf, len, PROTO_E_TOO_BIG, "frame");
    free (buf);
    proto_msg_destroy (&d);
    proto_msg_destroy (&m);
}

/* error.detail as count nested arrays, innermost empty. */
static void
expect_detail_depth (int count, bool accepted)
{
    uint8_t deep[64];
    memset (deep, 0x91, sizeof deep);
    deep[count - 1] = 0x90;
    frame_t f;
    error_with_detail (&f, deep, (size_t) count);
    if (accepted) {
        proto_msg_t *m = expect_accept (&f);
        assert_int_equal (m->body.error.detail.size, count);
        proto_msg_destroy (&m);
    }
    else
        expect_reject (&f, PROTO_E_TOO_DEEP, "frame: nests deeper");
}

static void
test_too_deep (void **state)
{
    (void) state;
    /* The envelope and the body take two of the 32 levels. */
    expect_detail_depth (30, true);
    expect_detail_depth (31, false);
    setenv ("CAISSON_MAX_DEPTH", "4", 1);
    proto_limits_load ();
    expect_detail_depth (2, true);
    expect_detail_depth (3, false);
    /* A limit too large for an int is capped, not wrapped to nothing. */
    setenv ("CAISSON_MAX_DEPTH", "4294967296", 1);
    proto_limits_load ();
    expect_detail_depth (30, true);
}

static void
test_bad_type (void **state)
{
    (void) state;
    frame_t f;
    static const struct { const char *pid; size_t len; } pids[] = {
        { "\xa2" "12", 3 }, { "\xff", 1 }, { "\xcb\x3f\xf8\0\0\0\0\0\0", 9 },
        { "\xc3", 1 }, { "\x90", 1 },
    };
    for (size_t i = 0; i < sizeof pids / sizeof pids[0]; i++) {
        msgpack_packer *pk = frame_init (&f);
        env_begin (pk, "health.rep", NULL, 1);
        health_body (pk, NULL, pids[i].pid, pids[i].len, 0);
        expect_reject (&f, PROTO_E_BAD_TYPE, "body.pid: expected unsigned integer");
    }
    health_with (&f, "user", "\x2a", 1);
    expect_reject (&f, PROTO_E_BAD_TYPE, "envelope.user: expected string");
    health_with (&f, "ts", "now", 0);
    expect_reject (&f, PROTO_E_BAD_TYPE, "envelope.ts");
    msgpack_packer *pk = frame_init (&f);
    env_begin (pk, "ping", NULL, 1);
    str (pk, "body");
    str (pk, "x");
    expect_reject (&f, PROTO_E_BAD_TYPE, "body: expected map, got string");
    expect_reject_bytes ("\x90", 1, PROTO_E_BAD_TYPE, "envelope: expected map");
    pk = frame_init (&f);
    env_begin (pk, "ping", NULL, 2);
    msgpack_pack_int (pk, 1);
    msgpack_pack_nil (pk);
    str (pk, "body");
    msgpack_pack_map (pk, 0);
    expect_reject (&f, PROTO_E_BAD_TYPE, "envelope: key 5");
}

static void
test_missing (void **state)
{
    (void) state;
    frame_t f;
    msgpack_packer *pk = frame_init (&f);
    env_begin (pk, "health.rep", NULL, 1);
    health_body (pk, "pid", NULL, 0, 0);
    expect_reject (&f, PROTO_E_MISSING, "body.pid: missing");
    pk = frame_init (&f);
    env_begin (pk, "health.rep", NULL, 1);
    health_body (pk, NULL, "\xc0", 1, 0);           /* null is absent */
    expect_reject (&f, PROTO_E_MISSING, "body.pid: missing");
    pk = frame_init (&f);
    env_begin (pk, "health.rep", "id", 1);
    health_body (pk, NULL, NULL, 0, 0);
    expect_reject (&f, PROTO_E_MISSING, "envelope.id: missing");
    pk = frame_init (&f);
    env_begin (pk, "health.rep", "type", 1);
    health_body (pk, NULL, NULL, 0, 0);
    expect_reject (&f, PROTO_E_MISSING, "envelope.type: missing");
    pk = frame_init (&f);
    env_begin (pk, "health.req", NULL, 0);
    expect_reject (&f, PROTO_E_MISSING, "body: missing");
}

static void
test_unknown_type (void **state)
{
    (void) state;
    frame_t f;
    health_with (&f, "type", "health.nope", 0);
    expect_reject (&f, PROTO_E_UNKNOWN_TYPE, "envelope.type: 'health.nope'");
    health_with (&f, "type", "", 0);
    expect_reject (&f, PROTO_E_UNKNOWN_TYPE, "envelope.type: ''");
}

static void
test_bad_version (void **state)
{
    (void) state;
    frame_t f;
    health_with (&f, "v", "\x00", 1);
    expect_reject (&f, PROTO_E_VERSION, "envelope.v: version 0");
    health_with (&f, "v", "\x02", 1);
    expect_reject (&f, PROTO_E_VERSION, "envelope.v");
}

static void
test_duplicate (void **state)
{
    (void) state;
    frame_t f;
    msgpack_packer *pk = frame_init (&f);
    env_begin (pk, "health.rep", NULL, 2);
    str (pk, "corr");
    str (pk, ID);
    health_body (pk, NULL, NULL, 0, 0);
    expect_reject (&f, PROTO_E_DUPLICATE, "envelope.corr: appears twice");
    pk = frame_init (&f);
    env_begin (pk, "health.rep", NULL, 1);
    health_body (pk, NULL, NULL, 0, 1);
    str (pk, "pid");
    msgpack_pack_uint64 (pk, 7);
    expect_reject (&f, PROTO_E_DUPLICATE, "body.pid: appears twice");
    pk = frame_init (&f);
    env_begin (pk, "health.rep", NULL, 2);
    health_body (pk, NULL, NULL, 0, 0);
    health_body (pk, NULL, NULL, 0, 0);
    expect_reject (&f, PROTO_E_DUPLICATE, "body: appears twice");
    /* A null first does not make room for a second value. */
    pk = frame_init (&f);
    env_begin (pk, "health.rep", NULL, 3);
    str (pk, "user");
    msgpack_pack_nil (pk);
    str (pk, "user");
    str (pk, "second");
    health_body (pk, NULL, NULL, 0, 0);
    expect_reject (&f, PROTO_E_DUPLICATE, "envelope.user: appears twice");
}

static void
test_trailing (void **state)
{
    (void) state;
    frame_t f;
    health_with (&f, "user", "u", 0);
    raw (&f.pk, "\xc0", 1);
    expect_reject (&f, PROTO_E_TRAILING, "frame: 1 bytes after");
}

/* Sets f one past its limit in a full message of type t and expects the
 * decoder to name it. */
static void
expect_over_limit (proto_type_t t, bool in_env, const proto_field_t *f)
{
    proto_msg_t *m = make_msg (t, true);
    fill_field (in_env ? (void *) &m->env : (void *) &m->body, f, 1, true);
    uint8_t *buf;
    size_t len;
    assert_int_equal (proto_encode (m, &buf, &len), 0);
    char needle[80];
    snprintf (needle, sizeof needle, "%s.%s: ", in_env ? "envelope" : "body", f->name);
    bool integer = f->type == PROTO_T_U64 || f->type == PROTO_T_I64;
    expect_reject_bytes (buf, len, integer ? PROTO_E_RANGE : PROTO_E_TOO_LONG, needle);
    free (buf);
    proto_msg_destroy (&m);
}

static void
test_over_every_limit (void **state)
{
    (void) state;
    /* v and type are written by the encoder, whatever the struct holds. */
    for (const proto_field_t *f = envelope (); f->name; f++)
        if (f->max && strcmp (f->name, "v") && strcmp (f->name, "type"))
            expect_over_limit (PROTO_health_req, true, f);
    for (int t = 0; t < PROTO_TYPE_COUNT; t++)
        for (const proto_field_t *f = proto_def ((proto_type_t) t)->fields; f->name; f++)
            if (f->max && f->type != PROTO_T_BOOL)
                expect_over_limit ((proto_type_t) t, false, f);
    char user[130];
    memset (user, 'u', 128);
    user[128] = '\0';
    frame_t f;
    health_with (&f, "user", user, 0);
    proto_msg_t *m = expect_accept (&f);
    assert_string_equal (m->env.user, user);
    proto_msg_destroy (&m);
    strcat (user, "u");
    health_with (&f, "user", user, 0);
    expect_reject (&f, PROTO_E_TOO_LONG, "envelope.user: 129 bytes");
}

static void
test_nul_in_string (void **state)
{
    (void) state;
    frame_t f;
    health_with (&f, "user", "\xa3" "a\0b", 4);
    expect_reject (&f, PROTO_E_INVALID, "envelope.user: string holds a NUL");
}

static void
test_invalid_id (void **state)
{
    (void) state;
    static const struct { const char *key, *value; } bad[] = {
        { "id", "not-an-id" },
        { "corr", "01j00000000000000000000000" },      /* lower case */
        { "cause", "80000000000000000000000000" },     /* more than 128 bits */
        { "run", "01U00000000000000000000000" },       /* not Crockford */
        { "id", "" },
    };
    frame_t f;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        health_with (&f, bad[i].key, bad[i].value, 0);
        char needle[64];
        snprintf (needle, sizeof needle, "envelope.%s: '%s'", bad[i].key, bad[i].value);
        expect_reject (&f, PROTO_E_INVALID, needle);
    }
    health_with (&f, "run", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", 0);
    proto_msg_t *m = expect_accept (&f);
    proto_msg_destroy (&m);
}

static void
test_alloc_bomb (void **state)
{
    (void) state;
    static const char arr32[] = "\xdd\xff\xff\xff\xff", map32[] = "\xdf\xff\xff\xff\xff",
                      str32[] = "\xdb\xff\xff\xff\xff";
    expect_reject_bytes (arr32, 5, PROTO_E_ALLOC_BOMB, "frame: declares a length or count");
    expect_reject_bytes (map32, 5, PROTO_E_ALLOC_BOMB, "frame: declares a length or count");
    expect_reject_bytes (str32, 5, PROTO_E_ALLOC_BOMB, "frame: declares a length or count");
    expect_reject_bytes (arr32, 3, PROTO_E_TRUNCATED, "frame: ends inside");
    frame_t f;
    error_with_detail (&f, arr32, 5);
    expect_reject (&f, PROTO_E_ALLOC_BOMB, "frame: declares");
    health_with (&f, "user", str32, 5);
    expect_reject (&f, PROTO_E_ALLOC_BOMB, "frame: declares");
    health_with (&f, "unknown", map32, 5);
    expect_reject (&f, PROTO_E_ALLOC_BOMB, "frame: declares");
}

static void
test_reserved_byte (void **state)
{
    (void) state;
    expect_reject_bytes ("\xc1", 1, PROTO_E_INVALID, "0xc1");
    frame_t f;
    msgpack_packer *pk = frame_init (&f);
    env_begin (pk, "health.rep", NULL, 1);
    health_body (pk, NULL, "\xc1", 1, 0);
    expect_reject (&f, PROTO_E_INVALID, "frame: holds the reserved byte 0xc1");
}

static void
test_null_absent_unknown_ignored (void **state)
{
    (void) state;
    frame_t f;
    health_with (&f, "user", "\xc0", 1);
    proto_msg_t *m = expect_accept (&f);
    assert_null (m->env.user);
    proto_msg_destroy (&m);
    error_with_detail (&f, "\xc0", 1);
    m = expect_accept (&f);
    assert_int_equal (m->body.error.detail.size, 0);
    proto_msg_destroy (&m);

    msgpack_packer *pk = frame_init (&f);
    env_begin (pk, "ping", NULL, 2);
    str (pk, "from_the_future");
    raw (pk, "\x92\x01\x81\xa1" "a" "\x91\xc0", 7);
    str (pk, "body");
    msgpack_pack_map (pk, 2);
    str (pk, "data");
    msgpack_pack_nil (pk);
    str (pk, "extra");
    msgpack_pack_bin_with_body (pk, "xy", 2);
    m = expect_accept (&f);
    assert_int_equal (m->type, PROTO_ping);
    assert_null (m->body.ping.data.data);
    assert_string_equal (m->env.id, ID);
    proto_msg_destroy (&m);
}

/* Every message has one role: a request with its declared reply, a reply
 * (`error` answers any request), or publish-only; and the prose agrees
 * with the R rows: a message documented as "The answer to `x`." is the
 * declared reply of x. */
static void
test_replies_declared (void **state)
{
    (void) state;
    bool is_reply[PROTO_TYPE_COUNT] = { [PROTO_error] = true };
    for (int t = 0; t < PROTO_TYPE_COUNT; t++) {
        proto_type_t rep = proto_reply_of ((proto_type_t) t);
        if (rep == PROTO_TYPE_COUNT)
            continue;
        if (rep > PROTO_TYPE_COUNT || rep == PROTO_error)
            fail_msg ("%s: its reply is not a catalogue message", proto_type_name (t));
        is_reply[rep] = true;
    }
    for (int t = 0; t < PROTO_TYPE_COUNT; t++) {
        const char *name = proto_type_name ((proto_type_t) t);
        int roles = (proto_reply_of ((proto_type_t) t) != PROTO_TYPE_COUNT) + is_reply[t]
                    + proto_published_only ((proto_type_t) t);
        if (roles != 1)
            fail_msg ("%s has %d roles: declare it once as R(request, reply) or P(published)",
                      name, roles);
        const char *doc = proto_def ((proto_type_t) t)->doc;
        const char *lead = "The answer to `";
        if (strncmp (doc, lead, strlen (lead)))
            continue;
        const char *req = doc + strlen (lead), *end = strchr (req, '`');
        assert_non_null (end);
        proto_type_t rt = proto_type_lookup (req, (size_t) (end - req));
        if (rt == PROTO_TYPE_COUNT || proto_reply_of (rt) != (proto_type_t) t)
            fail_msg ("%s says it answers %.*s, but proto/ declares otherwise", name,
                      (int) (end - req), req);
    }
    assert_int_equal (proto_reply_of (PROTO_TYPE_COUNT), PROTO_TYPE_COUNT);
    assert_int_equal (proto_reply_of (PROTO_sandbox_destroy), PROTO_sandbox_info);
    assert_false (proto_published_only (PROTO_sandbox_info));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip_every_type),
        cmocka_unit_test (test_tables),
        cmocka_unit_test (test_one_field_case),
        cmocka_unit_test (test_oom_aborts),
        cmocka_unit_test (test_msg_new_with_cause),
        cmocka_unit_test (test_error_new),
        cmocka_unit_test (test_any_holds_exactly_one_item),
        cmocka_unit_test (test_truncated),
        cmocka_unit_test_teardown (test_too_big, restore_limits),
        cmocka_unit_test_teardown (test_too_deep, restore_limits),
        cmocka_unit_test (test_bad_type),
        cmocka_unit_test (test_missing),
        cmocka_unit_test (test_unknown_type),
        cmocka_unit_test (test_bad_version),
        cmocka_unit_test (test_duplicate),
        cmocka_unit_test (test_trailing),
        cmocka_unit_test (test_over_every_limit),
        cmocka_unit_test (test_nul_in_string),
        cmocka_unit_test (test_invalid_id),
        cmocka_unit_test (test_alloc_bomb),
        cmocka_unit_test (test_reserved_byte),
        cmocka_unit_test (test_null_absent_unknown_ignored),
        cmocka_unit_test (test_error_codes_declared),
        cmocka_unit_test (test_replies_declared),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
