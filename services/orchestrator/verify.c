/* verify: a run's verify checks (see verify.h). */
#include "verify.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The result of the conversation's latest call of a test-running tool
 * (new), or NULL when none ran. */
static json_t *
last_test_result (const json_t *messages, const json_t *catalogue)
{
    for (size_t i = json_array_size (messages); i-- > 0;) {
        json_t *m = json_array_get (messages, i);
        const char *name = json_string_value (json_object_get (m, "name"));
        if (!name || strcmp (json_string_value (json_object_get (m, "role")) ?: "", "tool"))
            continue;
        size_t j;
        json_t *t;
        bool tests = false;
        json_array_foreach (catalogue, j, t)
            if (strcmp (json_string_value (json_object_get (t, "name")) ?: "", name) == 0)
                tests = json_is_true (json_object_get (t, "runsTests"));
        if (tests)
            return json_loads (json_string_value (json_object_get (m, "content")) ?: "", 0, NULL);
    }
    return NULL;
}

int
verify_checks (const json_t *checks, const json_t *messages, const json_t *catalogue,
               json_t *results, char *feedback, size_t len)
{
    size_t i;
    json_t *check;
    json_array_foreach (checks, i, check) {
        const char *name = json_string_value (check) ?: "";
        bool ok = true;
        char detail[256] = "";
        if (strcmp (name, "tests_passed") == 0) {
            json_t *res = last_test_result (messages, catalogue);
            json_t *code = json_object_get (res, "exitCode");
            ok = res && (code ? json_integer_value (code) == 0
                              : !json_is_false (json_object_get (res, "success")));
            snprintf (detail, sizeof detail, "%s", !res ? "no test command was run"
                                                   : ok ? "the last test command passed"
                                                        : "the last test command failed");
            json_decref (res);
        }
        else
            snprintf (detail, sizeof detail, "unknown check, skipped");
        json_array_append_new (results, json_pack ("{s:s, s:b, s:s}", "name", name, "ok", ok,
                                                   "detail", detail));
        if (!ok) {
            snprintf (feedback, len, "Verification failed (%s): %s. Fix it and run the tests "
                      "again before answering.", name, detail);
            return -1;
        }
    }
    return 0;
}
