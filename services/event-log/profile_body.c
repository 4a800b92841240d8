/* profile_body: the checks of a profile's name and of a version's body
 * before they are stored (profile.create, proto/profiles.def). Only the
 * known keys, each in its shape: a body is copied into every run that
 * uses it, so what is stored must be what the orchestrator can apply, and
 * a refusal names the key. */
#include "elog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TEXT_MAX 65536
#define TOOLS_MAX 64
#define CHECKS_MAX 64
#define MODEL_MAX 256

static int
bad (char *why, size_t len, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
static int
bad (char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (why, len, fmt, ap);
    va_end (ap);
    return -1;
}

/* True when v is a string without NUL: a body's text reaches the
 * orchestrator and the model as C strings, and event-log's own reader
 * takes no "\u0000". */
static bool
text_ok (const json_t *v)
{
    return json_is_string (v) && strlen (json_string_value (v)) == json_string_length (v);
}

/* True when s is a check name: ^[a-z_][a-z0-9_]{0,63}$. */
static bool
check_name_ok (const char *s)
{
    size_t n = strlen (s);
    if (n < 1 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* True when s is `provider/model`: printable, no space, a '/' with text
 * either side, at most MODEL_MAX bytes. */
static bool
model_ok (const char *s)
{
    size_t n = strlen (s);
    const char *slash = strchr (s, '/');
    if (n > MODEL_MAX || !slash || slash == s || !slash[1])
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] <= ' ' || s[i] == 0x7f)
            return false;
    return true;
}

static int
check_tools (const json_t *tools, char *why, size_t len)
{
    if (!json_is_object (tools))
        return bad (why, len, "body.toolDescriptions: a map of tool name to description");
    if (json_object_size (tools) > TOOLS_MAX)
        return bad (why, len, "body.toolDescriptions: %zu tools; at most %d",
                    json_object_size (tools), TOOLS_MAX);
    const char *tool;
    json_t *text;
    json_object_foreach ((json_t *) tools, tool, text) {
        if (!cid_name_ok (tool, 64))
            return bad (why, len, "body.toolDescriptions: '%.64s' is not a tool name (1 to 64 "
                        "letters, digits, '.', '_', ':' or '-')", tool);
        if (!text_ok (text))
            return bad (why, len, "body.toolDescriptions.%s: a string without NUL", tool);
        if (json_string_length (text) > TEXT_MAX)
            return bad (why, len, "body.toolDescriptions.%s: %zu bytes; at most %d", tool,
                        json_string_length (text), TEXT_MAX);
    }
    return 0;
}

static int
check_budgets (const json_t *budgets, char *why, size_t len)
{
    static const char *const known[] = { "steps", "toolCalls", "wallSeconds", "tokens" };
    if (!json_is_object (budgets))
        return bad (why, len, "body.budgets: a map of steps, toolCalls, wallSeconds, tokens");
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) budgets, key, v) {
        size_t i = 0;
        while (i < 4 && strcmp (key, known[i]))
            i++;
        if (i == 4)
            return bad (why, len, "body.budgets.%.64s: unknown budget (steps, toolCalls, "
                        "wallSeconds, tokens)", key);
        if (!json_is_integer (v) || json_integer_value (v) <= 0)
            return bad (why, len, "body.budgets.%s: a positive integer", key);
    }
    return 0;
}

static int
check_checks (const json_t *checks, char *why, size_t len)
{
    if (!json_is_array (checks))
        return bad (why, len, "body.checks: a list of check names");
    if (json_array_size (checks) > CHECKS_MAX)
        return bad (why, len, "body.checks: %zu checks; at most %d", json_array_size (checks),
                    CHECKS_MAX);
    size_t i;
    json_t *c;
    json_array_foreach (checks, i, c)
        if (!text_ok (c) || !check_name_ok (json_string_value (c)))
            return bad (why, len, "body.checks[%zu]: a check name (^[a-z_][a-z0-9_]{0,63}$)", i);
    return 0;
}

bool
profile_name_ok (const char *name)
{
    size_t n = strlen (name);
    if (n < 1 || n > 32 || name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')
              || name[i] == '-'))
            return false;
    return true;
}

int
profile_body_check (const json_t *body, char *why, size_t len)
{
    if (!json_is_object (body))
        return bad (why, len, "body: a map (systemPrompt, toolDescriptions, budgets, checks, "
                    "model)");
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) body, key, v) {
        int rc = 0;
        if (!strcmp (key, "systemPrompt")) {
            if (!text_ok (v))
                rc = bad (why, len, "body.systemPrompt: a string without NUL");
            else if (json_string_length (v) > TEXT_MAX)
                rc = bad (why, len, "body.systemPrompt: %zu bytes; at most %d",
                          json_string_length (v), TEXT_MAX);
        }
        else if (!strcmp (key, "toolDescriptions"))
            rc = check_tools (v, why, len);
        else if (!strcmp (key, "budgets"))
            rc = check_budgets (v, why, len);
        else if (!strcmp (key, "checks"))
            rc = check_checks (v, why, len);
        else if (!strcmp (key, "model")) {
            if (!text_ok (v) || !model_ok (json_string_value (v)))
                rc = bad (why, len, "body.model: `provider/model`, at most %d bytes without "
                          "spaces", MODEL_MAX);
        }
        else
            rc = bad (why, len, "body.%.64s: unknown key (systemPrompt, toolDescriptions, "
                      "budgets, checks, model)", key);
        if (rc)
            return rc;
    }
    return 0;
}
