/* schema: the JSON Schema subset validator. See schema.h. */
#include "schema.h"
#include "toolctx.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 16
#define FIELD_MAX 256

static const char *
type_name (const json_t *v)
{
    switch (json_typeof (v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE: case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static bool
type_ok (const char *want, const json_t *v)
{
    if (!strcmp (want, "number"))
        return json_is_number (v);
    if (!strcmp (want, "integer") && json_is_real (v)) {
        double d = json_real_value (v);
        return d == (double) (json_int_t) d;
    }
    return !strcmp (want, type_name (v));
}

/* Characters, not bytes: UTF-8 continuation bytes are not counted. */
static size_t
utf8_len (const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        n += ((unsigned char) s[i] & 0xC0) != 0x80;
    return n;
}

static const char *
display (const char *field)
{
    return *field ? field : "arguments";
}

static int
fail (json_t **error, const char *code, const char *field, const char *msg)
{
    *error = tool_error (code, *field ? field : NULL, "%s", msg);
    return -1;
}

static int check (const json_t *schema, json_t *value, const char *field, int depth,
                  json_t **error);

static int
check_string (const json_t *schema, const json_t *value, const char *field, json_t **error)
{
    char msg[512];
    const char *s = json_string_value (value);
    size_t len = utf8_len (s, json_string_length (value));
    json_t *k;
    if ((k = json_object_get (schema, "minLength")) && len < (size_t) json_integer_value (k)) {
        snprintf (msg, sizeof msg, "%s must be at least %lld characters long (got %zu)",
                  display (field), (long long) json_integer_value (k), len);
        return fail (error, "too_short", field, msg);
    }
    if ((k = json_object_get (schema, "maxLength")) && len > (size_t) json_integer_value (k)) {
        snprintf (msg, sizeof msg, "%s must be at most %lld characters long (got %zu)",
                  display (field), (long long) json_integer_value (k), len);
        return fail (error, "too_long", field, msg);
    }
    if ((k = json_object_get (schema, "enum"))) {
        size_t i;
        json_t *opt;
        json_array_foreach (k, i, opt)
            if (json_equal (opt, value))
                return 0;
        char *opts = json_dumps (k, JSON_COMPACT);
        snprintf (msg, sizeof msg, "%s must be one of %s", display (field), opts ? opts : "?");
        free (opts);
        return fail (error, "not_in_enum", field, msg);
    }
    if ((k = json_object_get (schema, "pattern"))) {
        regex_t re;
        if (!json_is_string (k) || regcomp (&re, json_string_value (k), REG_EXTENDED | REG_NOSUB))
            return fail (error, "bad_schema", field, "the tool's schema has a bad pattern");
        bool nul = strlen (s) != json_string_length (value);
        int rc = nul ? REG_NOMATCH : regexec (&re, s, 0, NULL, 0);
        regfree (&re);
        if (rc) {
            snprintf (msg, sizeof msg, "%s must match the pattern %s", display (field),
                      json_string_value (k));
            return fail (error, "pattern_mismatch", field, msg);
        }
    }
    return 0;
}

static int
check_number (const json_t *schema, const json_t *value, const char *field, json_t **error)
{
    char msg[512];
    double v = json_number_value (value);
    json_t *k;
    if ((k = json_object_get (schema, "minimum")) && v < json_number_value (k)) {
        snprintf (msg, sizeof msg, "%s must be at least %g (got %g)", display (field),
                  json_number_value (k), v);
        return fail (error, "below_minimum", field, msg);
    }
    if ((k = json_object_get (schema, "maximum")) && v > json_number_value (k)) {
        snprintf (msg, sizeof msg, "%s must be at most %g (got %g)", display (field),
                  json_number_value (k), v);
        return fail (error, "above_maximum", field, msg);
    }
    return 0;
}

static int
check_array (const json_t *schema, json_t *value, const char *field, int depth,
             json_t **error)
{
    char msg[512], sub[FIELD_MAX];
    size_t n = json_array_size (value);
    json_t *k;
    if ((k = json_object_get (schema, "minItems")) && n < (size_t) json_integer_value (k)) {
        snprintf (msg, sizeof msg, "%s must have at least %lld items (got %zu)",
                  display (field), (long long) json_integer_value (k), n);
        return fail (error, "too_few_items", field, msg);
    }
    if ((k = json_object_get (schema, "maxItems")) && n > (size_t) json_integer_value (k)) {
        snprintf (msg, sizeof msg, "%s must have at most %lld items (got %zu)",
                  display (field), (long long) json_integer_value (k), n);
        return fail (error, "too_many_items", field, msg);
    }
    const json_t *items = json_object_get (schema, "items");
    for (size_t i = 0; items && i < n; i++) {
        snprintf (sub, sizeof sub, "%s[%zu]", field, i);
        if (check (items, json_array_get (value, i), sub, depth + 1, error))
            return -1;
    }
    return 0;
}

static bool
is_required (const json_t *schema, const char *key)
{
    size_t i;
    json_t *r;
    json_array_foreach (json_object_get (schema, "required"), i, r)
        if (!strcmp (json_string_value (r), key))
            return true;
    return false;
}

static int
check_object (const json_t *schema, json_t *value, const char *field, int depth,
              json_t **error)
{
    char msg[512], sub[FIELD_MAX];
    const json_t *props = json_object_get (schema, "properties");
    const json_t *extra = json_object_get (schema, "additionalProperties");
    json_t *k;
    /* Nulls of optional fields mean "not given". */
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe (value, tmp, key, v)
        if (json_is_null (v) && !is_required (schema, key))
            json_object_del (value, key);
    size_t i;
    json_t *r;
    json_array_foreach (json_object_get (schema, "required"), i, r) {
        const char *name = json_string_value (r);
        if (!json_object_get (value, name)) {
            snprintf (sub, sizeof sub, "%s%s%s", field, *field ? "." : "", name);
            snprintf (msg, sizeof msg, "%s is required", sub);
            return fail (error, "missing_field", sub, msg);
        }
    }
    if ((k = json_object_get (schema, "maxProperties"))
        && json_object_size (value) > (size_t) json_integer_value (k)) {
        snprintf (msg, sizeof msg, "%s must have at most %lld entries", display (field),
                  (long long) json_integer_value (k));
        return fail (error, "too_many_items", field, msg);
    }
    json_object_foreach (value, key, v) {
        snprintf (sub, sizeof sub, "%s%s%.200s", field, *field ? "." : "", key);
        const json_t *ps = json_object_get (props, key);
        if (!ps && json_is_false (extra)) {
            snprintf (msg, sizeof msg, "%s is not an argument of this tool; allowed: ", sub);
            const char *pk;
            json_t *pv;
            json_object_foreach ((json_t *) props, pk, pv) {
                size_t used = strlen (msg);
                snprintf (msg + used, sizeof msg - used, "%s%s", pk, " ");
            }
            return fail (error, "unknown_field", sub, msg);
        }
        if (!ps && json_is_object (extra))
            ps = extra;
        if (ps && check (ps, v, sub, depth + 1, error))
            return -1;
    }
    return 0;
}

static int
check (const json_t *schema, json_t *value, const char *field, int depth, json_t **error)
{
    char msg[512];
    if (depth > MAX_DEPTH)
        return fail (error, "too_deep", field, "arguments are nested too deeply");
    const char *want = json_string_value (json_object_get (schema, "type"));
    if (want && !type_ok (want, value)) {
        snprintf (msg, sizeof msg, "%s must be %s %s, not %s", display (field),
                  want[0] == 'a' || want[0] == 'o' || want[0] == 'i' ? "an" : "a", want,
                  type_name (value));
        return fail (error, "wrong_type", field, msg);
    }
    switch (json_typeof (value)) {
    case JSON_STRING: return check_string (schema, value, field, error);
    case JSON_INTEGER: case JSON_REAL: return check_number (schema, value, field, error);
    case JSON_ARRAY: return check_array (schema, value, field, depth, error);
    case JSON_OBJECT: return check_object (schema, value, field, depth, error);
    default: return 0;
    }
}

int
schema_validate (const json_t *schema, json_t *value, json_t **error)
{
    *error = NULL;
    if (!json_is_object (value)) {
        *error = tool_error ("invalid_arguments", NULL,
                             "arguments must be a JSON object, not %s",
                             value ? type_name (value) : "missing");
        return -1;
    }
    return check (schema, value, "", 0, error);
}
