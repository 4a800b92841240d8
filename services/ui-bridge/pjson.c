/* pjson: table-driven JSON <-> message bodies. See pjson.h. */
#include "pjson.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH 30

const char *
pjson_http_name (const char *wire, char *out, size_t len)
{
    size_t o = 0;
    for (const char *c = wire; *c && o + 1 < len; c++)
        if (*c == '_' && c[1] >= 'a' && c[1] <= 'z' && o)
            out[o++] = (char) (*++c - 'a' + 'A');
        else
            out[o++] = *c;
    if (len)
        out[o] = 0;
    return out;
}

/* The field of def whose HTTP name is name, or NULL. */
static const proto_field_t *
field (const proto_msgdef_t *def, const char *name)
{
    char http[96];
    for (size_t i = 0; i < def->nfields; i++)
        if (!strcmp (pjson_http_name (def->fields[i].name, http, sizeof http), name))
            return &def->fields[i];
    return NULL;
}

static bool
listed (const char *const list[], const char *name)
{
    for (size_t i = 0; list && list[i]; i++)
        if (!strcmp (list[i], name))
            return true;
    return false;
}

static int
set_field (void *slot, const proto_field_t *f, const char *name, json_t *v, char *why,
           size_t whylen)
{
    switch (f->type) {
    case PROTO_T_STR:
    case PROTO_T_BIN: {
        if (!json_is_string (v)) {
            snprintf (why, whylen, "field '%s' must be a string", name);
            return -1;
        }
        size_t len = json_string_length (v);
        if (f->max && len > f->max) {
            snprintf (why, whylen, "field '%s' is longer than %llu bytes", name,
                      (unsigned long long) f->max);
            return -1;
        }
        if (f->type == PROTO_T_STR) {
            if (memchr (json_string_value (v), 0, len)) {
                snprintf (why, whylen, "field '%s' contains a NUL character", name);
                return -1;
            }
            proto_set_str ((char **) slot, json_string_value (v));
        }
        else
            proto_set_bytes ((proto_bytes_t *) slot, json_string_value (v), len);
        return 0;
    }
    case PROTO_T_U64:
        if (!json_is_integer (v) || json_integer_value (v) < 0
            || (f->max && (uint64_t) json_integer_value (v) > f->max)) {
            snprintf (why, whylen, "field '%s' must be an integer from 0 to %llu", name,
                      (unsigned long long) (f->max ? f->max : INT64_MAX));
            return -1;
        }
        *(uint64_t *) slot = (uint64_t) json_integer_value (v);
        return 0;
    case PROTO_T_I64:
        if (!json_is_integer (v)) {
            snprintf (why, whylen, "field '%s' must be an integer", name);
            return -1;
        }
        *(int64_t *) slot = json_integer_value (v);
        return 0;
    case PROTO_T_BOOL:
        if (!json_is_boolean (v)) {
            snprintf (why, whylen, "field '%s' must be true or false", name);
            return -1;
        }
        *(bool *) slot = json_is_true (v);
        return 0;
    case PROTO_T_ANY: {
        proto_bytes_t *b = slot;
        if (mpjson_encode (v, DEPTH, &b->data, &b->size)) {
            snprintf (why, whylen, "field '%s' is nested too deeply", name);
            return -1;
        }
        if (f->max && b->size > f->max) {
            snprintf (why, whylen, "field '%s' is larger than %llu bytes", name,
                      (unsigned long long) f->max);
            return -1;
        }
        return 0;
    }
    }
    return -1;
}

int
pjson_to_body (proto_msg_t *msg, const json_t *obj, const char *const skip[], char *why,
               size_t whylen)
{
    const proto_msgdef_t *def = proto_def (msg->type);
    if (!json_is_object (obj)) {
        snprintf (why, whylen, "the body must be a JSON object");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) obj, key, v) {
        const proto_field_t *f = field (def, key);
        if (!f || listed (skip, key)) {
            snprintf (why, whylen, "unknown field '%s'", key);
            return -1;
        }
        if (set_field ((char *) &msg->body + f->offset, f, key, v, why, whylen))
            return -1;
    }
    for (size_t i = 0; i < def->nfields; i++) {
        const proto_field_t *f = &def->fields[i];
        char http[96];
        pjson_http_name (f->name, http, sizeof http);
        if (f->required && !listed (skip, http) && !json_object_get (obj, http)) {
            snprintf (why, whylen, "field '%s' is required", http);
            return -1;
        }
    }
    return 0;
}

static json_t *
base64 (const uint8_t *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc ((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t n = (uint32_t) data[i] << 16;
        if (i + 1 < len)
            n |= (uint32_t) data[i + 1] << 8;
        if (i + 2 < len)
            n |= data[i + 2];
        out[o++] = alphabet[(n >> 18) & 63];
        out[o++] = alphabet[(n >> 12) & 63];
        out[o++] = i + 1 < len ? alphabet[(n >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[n & 63] : '=';
    }
    json_t *s = json_stringn (out, o);
    free (out);
    return s;
}

json_t *
pjson_from_body (const proto_msg_t *msg)
{
    const proto_msgdef_t *def = proto_def (msg->type);
    json_t *obj = json_object ();
    if (!obj)
        return NULL;
    for (size_t i = 0; i < def->nfields; i++) {
        const proto_field_t *f = &def->fields[i];
        const void *slot = (const char *) &msg->body + f->offset;
        json_t *v = NULL;
        char name[96], http[80];
        pjson_http_name (f->name, http, sizeof http);
        snprintf (name, sizeof name, "%s", http);
        switch (f->type) {
        case PROTO_T_STR:
            if (*(char *const *) slot)
                v = json_string (*(char *const *) slot);
            if (*(char *const *) slot && !v) {     /* not UTF-8 */
                v = base64 ((const uint8_t *) *(char *const *) slot,
                            strlen (*(char *const *) slot));
                snprintf (name, sizeof name, "%sBase64", http);
            }
            break;
        case PROTO_T_BIN: {
            const proto_bytes_t *b = slot;
            if (!b->data)
                break;
            v = json_stringn ((const char *) b->data, b->size);
            if (!v) {
                v = base64 (b->data, b->size);
                snprintf (name, sizeof name, "%sBase64", http);
            }
            break;
        }
        case PROTO_T_U64:
            if (f->required || *(const uint64_t *) slot)
                v = json_integer ((json_int_t) *(const uint64_t *) slot);
            break;
        case PROTO_T_I64:
            /* Signed fields are values like exit codes, where 0 says
             * something: always present. */
            v = json_integer (*(const int64_t *) slot);
            break;
        case PROTO_T_BOOL:
            if (f->required || *(const bool *) slot)
                v = json_boolean (*(const bool *) slot);
            break;
        case PROTO_T_ANY: {
            const proto_bytes_t *b = slot;
            if (!b->size)
                break;
            char why[160];
            v = mpjson_decode (b->data, b->size, DEPTH, why, sizeof why);
            if (!v) {
                json_decref (obj);
                return NULL;
            }
            break;
        }
        }
        if (v)
            json_object_set_new (obj, name, v);
    }
    return obj;
}
