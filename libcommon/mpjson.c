/* mpjson: msgpack <-> JSON. See mpjson.h. */
#include "mpjson.h"
#include "mpr.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The walk below either builds the JSON value (build) or only checks the
 * bytes by the same rules, building nothing that outlives one item: then
 * a good item answers CHECKED (jansson's static true, which needs no
 * freeing), and *items (when not NULL) counts down the items it may still
 * take. */
#define CHECKED json_true ()

typedef struct {
    bool build;
    size_t *items;
} walk_t;

static json_t *decode_item (mpr_t *r, int depth_left, const walk_t *w, char *why,
                            size_t whylen);

/* Valid UTF-8 by jansson's own rule (NUL allowed): the string is made and
 * dropped at once, so a check costs no more than one string at a time. */
static bool
utf8_ok (const uint8_t *p, size_t len)
{
    json_t *s = json_stringn ((const char *) p, len);
    json_decref (s);
    return s != NULL;
}

static json_t *
decode_container (mpr_t *r, const mpr_item_t *it, int depth_left, const walk_t *w, char *why,
                  size_t whylen)
{
    bool build = w->build;
    if (depth_left <= 0) {
        snprintf (why, whylen, "nested deeper than the limit");
        return NULL;
    }
    bool map = it->kind == MPR_MAP;
    json_t *out = !build ? CHECKED : map ? json_object () : json_array ();
    for (uint32_t i = 0; out && i < it->v.count; i++) {
        char key[1024];
        if (map) {
            mpr_item_t k;
            if (mpr_next (r, &k) != MPR_OK || k.kind != MPR_STR) {
                snprintf (why, whylen, "a map key is not a string");
                json_decref (out);
                return NULL;
            }
            if (k.len >= sizeof key || memchr (k.ptr, 0, k.len)) {
                snprintf (why, whylen, "a map key is longer than %zu bytes or holds NUL",
                          sizeof key - 1);
                json_decref (out);
                return NULL;
            }
            memcpy (key, k.ptr, k.len);
            key[k.len] = '\0';
        }
        json_t *v = decode_item (r, depth_left - 1, w, why, whylen);
        int rc = !v ? -1 : !build ? (map && !utf8_ok ((const uint8_t *) key, strlen (key)))
                 : map ? json_object_set_new (out, key, v) : json_array_append_new (out, v);
        if (rc) {
            if (v && map)
                snprintf (why, whylen, "map key '%.64s' is not valid UTF-8", key);
            json_decref (out);
            return NULL;
        }
    }
    if (!out)
        snprintf (why, whylen, "out of memory");
    return out;
}

static json_t *
decode_item (mpr_t *r, int depth_left, const walk_t *w, char *why, size_t whylen)
{
    bool build = w->build;
    if (w->items && (*w->items)-- == 0) {
        snprintf (why, whylen, "more values than the limit");
        return NULL;
    }
    mpr_item_t it;
    mpr_err_t rc = mpr_next (r, &it);
    if (rc != MPR_OK) {
        snprintf (why, whylen, "%s", rc == MPR_E_TRUNCATED ? "truncated msgpack"
                  : rc == MPR_E_BOMB ? "a length runs past the end of the data"
                  : "invalid msgpack");
        return NULL;
    }
    json_t *v = NULL;
    if (!build && it.kind != MPR_ARRAY && it.kind != MPR_MAP && it.kind != MPR_EXT
        && it.kind != MPR_UINT && it.kind != MPR_STR && it.kind != MPR_BIN)
        return CHECKED;
    switch (it.kind) {
    case MPR_NIL: v = json_null (); break;
    case MPR_BOOL: v = json_boolean (it.v.b); break;
    case MPR_UINT:
        if (it.v.u > (uint64_t) INT64_MAX) {
            snprintf (why, whylen, "integer %llu is too large for JSON",
                      (unsigned long long) it.v.u);
            return NULL;
        }
        v = build ? json_integer ((json_int_t) it.v.u) : CHECKED;
        break;
    case MPR_INT: v = json_integer ((json_int_t) it.v.i); break;
    case MPR_FLOAT: v = json_real (it.v.f); break;
    case MPR_STR:
    case MPR_BIN:
        v = !build ? (utf8_ok (it.ptr, it.len) ? CHECKED : NULL)
            : json_stringn ((const char *) it.ptr, it.len);
        if (!v) {
            snprintf (why, whylen, "a %s is not valid UTF-8", mpr_kind_name (it.kind));
            return NULL;
        }
        break;
    case MPR_ARRAY:
    case MPR_MAP: return decode_container (r, &it, depth_left, w, why, whylen);
    case MPR_EXT:
        snprintf (why, whylen, "msgpack ext values have no JSON form");
        return NULL;
    }
    if (!v)
        snprintf (why, whylen, "out of memory");
    return v;
}

/* One item of data, built or checked; NULL with why. */
static json_t *
walk (const uint8_t *data, size_t size, int max_depth, const walk_t *w, char *why,
      size_t whylen)
{
    mpr_t r;
    mpr_init (&r, data, size);
    json_t *v = decode_item (&r, max_depth, w, why, whylen);
    if (v && mpr_left (&r)) {
        snprintf (why, whylen, "%zu bytes after the value", mpr_left (&r));
        json_decref (v);
        return NULL;
    }
    return v;
}

json_t *
mpjson_decode (const uint8_t *data, size_t size, int max_depth, char *why, size_t whylen)
{
    return walk (data, size, max_depth, &(walk_t) { true, NULL }, why, whylen);
}

int
mpjson_check (const uint8_t *data, size_t size, int max_depth, size_t max_items, char *why,
              size_t whylen)
{
    size_t left = max_items;
    walk_t w = { false, max_items ? &left : NULL };
    return walk (data, size, max_depth, &w, why, whylen) ? 0 : -1;
}

static int
encode_item (msgpack_packer *pk, const json_t *v, int depth_left)
{
    switch (json_typeof (v)) {
    case JSON_NULL: return msgpack_pack_nil (pk);
    case JSON_TRUE: return msgpack_pack_true (pk);
    case JSON_FALSE: return msgpack_pack_false (pk);
    case JSON_INTEGER: return msgpack_pack_int64 (pk, json_integer_value (v));
    case JSON_REAL: return msgpack_pack_double (pk, json_real_value (v));
    case JSON_STRING: {
        size_t n = json_string_length (v);
        return msgpack_pack_str (pk, n) || msgpack_pack_str_body (pk, json_string_value (v), n);
    }
    case JSON_ARRAY: {
        if (depth_left <= 0 || msgpack_pack_array (pk, json_array_size (v)))
            return -1;
        size_t i;
        json_t *item;
        json_array_foreach (v, i, item)
            if (encode_item (pk, item, depth_left - 1))
                return -1;
        return 0;
    }
    case JSON_OBJECT: {
        if (depth_left <= 0 || msgpack_pack_map (pk, json_object_size (v)))
            return -1;
        const char *key;
        json_t *item;
        json_object_foreach ((json_t *) v, key, item) {
            size_t n = strlen (key);
            if (msgpack_pack_str (pk, n) || msgpack_pack_str_body (pk, key, n)
                || encode_item (pk, item, depth_left - 1))
                return -1;
        }
        return 0;
    }
    }
    return -1;
}

int
mpjson_encode (const json_t *value, int max_depth, uint8_t **data, size_t *size)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    if (!value || encode_item (&pk, value, max_depth)) {
        msgpack_sbuffer_destroy (&sb);
        return -1;
    }
    *data = (uint8_t *) sb.data;
    *size = sb.size;
    return 0;
}

int
mpjson_set (proto_bytes_t *field, const json_t *value, int max_depth)
{
    uint8_t *data;
    size_t size;
    if (mpjson_encode (value, max_depth, &data, &size))
        return -1;
    /* The encoder's buffer becomes the field's: no second copy. */
    free (field->data);
    field->data = data;
    field->size = size;
    return 0;
}

json_t *
mpjson_get (const proto_bytes_t *field, int max_depth)
{
    char why[128];
    return mpjson_decode (field->data, field->size, max_depth, why, sizeof why);
}
