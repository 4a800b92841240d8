/* run_convo: see run_convo.h. */
#include "run_convo.h"

#include <string.h>

static const char *
str_of (const json_t *j, const char *key)
{
    return json_string_value (json_object_get (j, key));
}

const json_t *
run_convo_args (const json_t *messages, size_t upto)
{
    const char *id = str_of (json_array_get (messages, upto), "tool_call_id");
    for (size_t i = upto; id && i-- > 0;) {
        size_t j;
        json_t *c;
        json_array_foreach (json_object_get (json_array_get (messages, i), "tool_calls"), j, c)
            if (strcmp (str_of (c, "id") ?: "", id) == 0)
                return json_object_get (c, "args");
    }
    return NULL;
}

json_t *
run_convo_result (const json_t *m)
{
    return json_loads (str_of (m, "content") ?: "", JSON_DECODE_ANY, NULL);
}

const char *
run_convo_created (const json_t *args, const json_t *result)
{
    if (json_object_get (args, "sandboxId"))
        return NULL;
    return str_of (result, "sandboxId");
}

bool
run_convo_creates (const json_t *messages, size_t from, size_t to, const char *sandbox_id)
{
    for (size_t i = from; i < to && i < json_array_size (messages); i++) {
        json_t *m = json_array_get (messages, i);
        if (strcmp (str_of (m, "role") ?: "", "tool"))
            continue;
        json_t *res = run_convo_result (m);
        const char *made = run_convo_created (run_convo_args (messages, i), res);
        bool found = made && strcmp (made, sandbox_id) == 0;
        json_decref (res);
        if (found)
            return true;
    }
    return false;
}
