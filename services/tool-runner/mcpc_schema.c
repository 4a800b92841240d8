/* mcpc_schema: an MCP server's schema patterns checked. See mcpc_schema.h. */
#include "mcpc_schema.h"

#include <stdio.h>
#include <string.h>

/* Groups nested deeper are refused as they come (a pattern's own cap). */
#define GROUPS_MAX 32

static bool
is_quantifier (char c)
{
    return c == '*' || c == '+' || c == '?' || c == '{';
}

/* A quantifier that repeats (an optional group, `?`, does not). */
static bool
repeats (char c)
{
    return c == '*' || c == '+' || c == '{';
}

/* NULL when re is safe to run, else what is wrong with it. Walks it once:
 * escapes and bracket expressions are skipped over, each open group
 * remembers whether a quantifier was seen inside it, and a group repeated
 * (*, +, {) that had one inside is nested repetition. */
static const char *
pattern_fault (const char *re)
{
    if (strlen (re) > MCPC_PATTERN_MAX)
        return "longer than 256 bytes";
    bool inner[GROUPS_MAX + 1] = { false };     /* [0]: outside any group */
    int depth = 0;
    for (const char *p = re; *p; p++) {
        if (*p == '\\') {
            if (p[1] >= '1' && p[1] <= '9')
                return "with a backreference";
            if (p[1])
                p++;
        }
        else if (*p == '[') {           /* to its ]: one first is literal */
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;
            while (*p && *p != ']') {
                if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                    const char *end = strchr (p + 2, p[1]);
                    p = end && end[1] == ']' ? end + 1 : p;
                }
                p++;
            }
            if (!*p)
                return "with an unclosed bracket expression";
        }
        else if (*p == '(') {
            if (++depth > GROUPS_MAX)
                return "nesting groups too deep";
            inner[depth] = false;
        }
        else if (*p == ')' && depth > 0) {
            bool repeated = inner[depth--];
            if (repeats (p[1]) && repeated)
                return "with nested repetition";
            inner[depth] = inner[depth] || repeated;
        }
        else if (is_quantifier (*p))
            inner[depth] = true;
    }
    return NULL;
}

bool
mcpc_schema_patterns_ok (const json_t *schema, char *why, size_t whylen, const char *which)
{
    const char *key;
    json_t *value;
    size_t i;
    if (json_is_array (schema)) {
        json_array_foreach (schema, i, value)
            if (!mcpc_schema_patterns_ok (value, why, whylen, which))
                return false;
        return true;
    }
    json_object_foreach ((json_t *) schema, key, value) {
        /* `pattern` may also name a property: then it holds a schema */
        if (!strcmp (key, "pattern") && !json_is_object (value) && !json_is_boolean (value)) {
            const char *re = json_string_value (value);
            const char *fault = !re ? "that is not a string"
                              : strlen (re) != json_string_length (value) ? "with a NUL byte"
                              : pattern_fault (re);
            if (fault) {
                snprintf (why, whylen, "its %s has a pattern %s", which, fault);
                return false;
            }
        }
        else if (!mcpc_schema_patterns_ok (value, why, whylen, which))
            return false;
    }
    return true;
}
