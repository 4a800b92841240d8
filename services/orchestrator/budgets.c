/* budgets: checks a run's budgets against the deployment's (budgets.h). */
#include "budgets.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* b's budgets over base into out, each checked against ceiling: one
 * above it is refused, or lowered to it when cap. */
static int
within (const json_t *b, const run_budgets_t *ceiling, const run_budgets_t *base, bool cap,
        run_budgets_t *out, char *why, size_t whylen)
{
    static const struct { const char *key, *setting; size_t at; } fields[] = {
        { "steps", "CAISSON_RUN_MAX_STEPS", offsetof (run_budgets_t, steps) },
        { "toolCalls", "CAISSON_RUN_MAX_TOOL_CALLS", offsetof (run_budgets_t, tool_calls) },
        { "wallSeconds", "CAISSON_RUN_MAX_SECONDS", offsetof (run_budgets_t, seconds) },
        { "tokens", "CAISSON_RUN_MAX_TOKENS", offsetof (run_budgets_t, tokens) },
    };
    *out = *base;
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) b, key, v) {
        size_t i = 0;
        size_t count = sizeof fields / sizeof fields[0];
        while (i < count && strcmp (fields[i].key, key))
            i++;
        if (i == count) {
            snprintf (why, whylen, "budgets.%.64s: unknown (expected steps, toolCalls, "
                      "wallSeconds or tokens)", key);
            return -1;
        }
        uint64_t limit = *(const uint64_t *) ((const char *) ceiling + fields[i].at);
        if (!json_is_integer (v) || json_integer_value (v) <= 0) {
            snprintf (why, whylen, "budgets.%s: expected a positive integer", key);
            return -1;
        }
        if ((uint64_t) json_integer_value (v) > limit && cap) {
            *(uint64_t *) ((char *) out + fields[i].at) = limit;
            continue;
        }
        if ((uint64_t) json_integer_value (v) > limit) {
            snprintf (why, whylen, "budgets.%s: %lld is above this deployment's ceiling of "
                      "%llu (%s)", key, (long long) json_integer_value (v),
                      (unsigned long long) limit, fields[i].setting);
            return -1;
        }
        *(uint64_t *) ((char *) out + fields[i].at) = (uint64_t) json_integer_value (v);
    }
    return 0;
}

int
budgets_within (const json_t *b, const run_budgets_t *ceiling, run_budgets_t *out, char *why,
                size_t whylen)
{
    return within (b, ceiling, ceiling, false, out, why, whylen);
}

int
budgets_with_defaults (const json_t *b, const json_t *defaults, const run_budgets_t *ceiling,
                       run_budgets_t *out, char *why, size_t whylen)
{
    run_budgets_t base;
    char inner[200] = "";
    if (within (defaults, ceiling, ceiling, true, &base, inner, sizeof inner)) {
        snprintf (why, whylen, "the profile's %s", inner);
        return -1;
    }
    return within (b, ceiling, &base, false, out, why, whylen);
}
