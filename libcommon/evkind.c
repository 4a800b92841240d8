/* evkind: the field tables of proto/events.def's kinds, and the one
 * builder and one checker that walk them. See evkind.h. */
#include "evkind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVK_REQ true
#define EVK_OPT false
#define EVK_HOW_APPEND true
#define EVK_HOW_PUBLISH false

#define EVK_FIELD_ROW(S, ty, fname, req, max, doc) \
    { #fname, EVK_T_##ty, EVK_##req, max, offsetof (S, fname), doc },
/* A kind with no fields gets a table with only the terminator. */
#define EVK_TABLE(kname, how, by, doc, FIELDS) \
    static const evk_field_t s_fields_##kname[] = { \
        FIELDS (EVK_FIELD_ROW, evk_##kname##_t) { NULL, EVK_T_ANY, false, 0, 0, NULL } };
PROTO_EVENT_KINDS (EVK_TABLE)

#define EVK_DEF_ROW(kname, how, by, doc, FIELDS) \
    { #kname, EVK_HOW_##how, by, doc, s_fields_##kname, \
      sizeof s_fields_##kname / sizeof s_fields_##kname[0] - 1 },
static const evk_def_t s_defs[] = { PROTO_EVENT_KINDS (EVK_DEF_ROW) };

const evk_def_t *
evk_def (evk_kind_t kind)
{
    return (unsigned) kind < EVK_COUNT ? &s_defs[kind] : NULL;
}

const char *
evk_name (evk_kind_t kind)
{
    return (unsigned) kind < EVK_COUNT ? s_defs[kind].name : NULL;
}

evk_kind_t
evk_lookup (const char *name)
{
    for (int k = 0; name && k < EVK_COUNT; k++)
        if (strcmp (s_defs[k].name, name) == 0)
            return (evk_kind_t) k;
    return EVK_COUNT;
}

const char *
evk_ftype_name (evk_ftype_t type)
{
    static const char *names[] = {
        [EVK_T_STR] = "str", [EVK_T_U64] = "uint", [EVK_T_BOOL] = "bool",
        [EVK_T_OBJ] = "map", [EVK_T_ANY] = "any",
    };
    return (unsigned) type <= EVK_T_ANY ? names[type] : "?";
}

/* The JSON value of field f of the struct at base, or NULL when it is
 * left out or (with *bad set) is a string that is not UTF-8, which
 * jansson cannot hold. */
static json_t *
value_of (const evk_field_t *f, const char *base, bool *bad)
{
    const void *at = base + f->offset;
    switch (f->type) {
        case EVK_T_STR: {
            const char *s = *(const char *const *) at;
            json_t *v = s ? json_string (s) : NULL;
            *bad |= s && !v;
            return v;
        }
        case EVK_T_U64: {
            uint64_t n = *(const uint64_t *) at;
            return n || f->required ? json_integer ((json_int_t) n) : NULL;
        }
        case EVK_T_BOOL: {
            bool b = *(const bool *) at;
            return b || f->required ? json_boolean (b) : NULL;
        }
        case EVK_T_OBJ:
        case EVK_T_ANY:
            return json_incref (*(json_t *const *) at);
    }
    return NULL;
}

json_t *
evk_json (evk_kind_t kind, const void *fields)
{
    const evk_def_t *def = evk_def (kind);
    if (!def || !fields)
        return NULL;
    json_t *out = json_object ();
    for (size_t i = 0; i < def->nfields; i++) {
        const evk_field_t *f = &def->fields[i];
        bool bad = false;
        json_t *v = value_of (f, fields, &bad);
        if (bad || (!v && f->required)) {
            json_decref (out);
            return NULL;
        }
        if (v)
            json_object_set_new (out, f->name, v);
    }
    return out;
}

static const evk_field_t *
field_named (const evk_def_t *def, const char *key)
{
    for (size_t i = 0; i < def->nfields; i++)
        if (strcmp (def->fields[i].name, key) == 0)
            return &def->fields[i];
    return NULL;
}

/* Checks one present value against its row: 0, or -1 with why. */
static int
check_value (const evk_def_t *def, const evk_field_t *f, const json_t *v, char *why, size_t len)
{
    bool typed = f->type == EVK_T_STR ? json_is_string (v)
               : f->type == EVK_T_U64 ? json_is_integer (v) && json_integer_value (v) >= 0
               : f->type == EVK_T_BOOL ? json_is_boolean (v)
               : f->type == EVK_T_OBJ ? json_is_object (v)
               : true;
    if (!typed) {
        snprintf (why, len, "%s: field %s must be %s", def->name, f->name,
                  evk_ftype_name (f->type));
        return -1;
    }
    if (!f->max)
        return 0;
    uint64_t size = f->type == EVK_T_STR ? json_string_length (v)
                  : f->type == EVK_T_U64 ? (uint64_t) json_integer_value (v)
                  : f->type == EVK_T_BOOL ? 0
                  : json_dumpb (v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (size > f->max) {
        snprintf (why, len, "%s: field %s is %llu, over its max %llu", def->name, f->name,
                  (unsigned long long) size, (unsigned long long) f->max);
        return -1;
    }
    return 0;
}

int
evk_check (const char *kind, const json_t *data, char *why, size_t len)
{
    const evk_def_t *def = evk_def (evk_lookup (kind));
    if (!def) {
        snprintf (why, len, "kind '%s' is not declared in proto/events.def", kind ? kind : "");
        return -1;
    }
    if (data && !json_is_object (data)) {
        snprintf (why, len, "%s: data must be a map", def->name);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) data, key, v) {
        const evk_field_t *f = field_named (def, key);
        if (!f) {
            snprintf (why, len, "%s: field %s is not declared", def->name, key);
            return -1;
        }
        if (!json_is_null (v) && check_value (def, f, v, why, len))
            return -1;
    }
    for (size_t i = 0; i < def->nfields; i++) {
        const evk_field_t *f = &def->fields[i];
        json_t *got = json_object_get (data, f->name);
        if (f->required && (!got || json_is_null (got))) {
            snprintf (why, len, "%s: required field %s is missing", def->name, f->name);
            return -1;
        }
    }
    return 0;
}
