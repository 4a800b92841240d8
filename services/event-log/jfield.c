/* jfield: record fields with defaults. See jfield.h. */
#include "jfield.h"

const char *
jfield_str (const json_t *o, const char *k)
{
    const char *s = json_string_value (json_object_get (o, k));
    return s ? s : "";
}

uint64_t
jfield_u64 (const json_t *o, const char *k)
{
    json_int_t v = json_integer_value (json_object_get (o, k));
    return v > 0 ? (uint64_t) v : 0;
}
