/* window: see window.h. */
#include "window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUMMARISE_MARK "[caisson:summarise]"
#define MAX_NAMES 8

uint64_t
window_tokens (size_t len)
{
    return ((uint64_t) len + 3) / 4;
}

char *
window_refusal (bool anthropic, uint64_t tokens, uint64_t window)
{
    char msg[256];
    snprintf (msg, sizeof msg, "This model's maximum context length is %llu tokens. However, "
              "your request has %llu tokens (context_length_exceeded; scripted model)",
              (unsigned long long) window, (unsigned long long) tokens);
    json_t *body = anthropic
        ? json_pack ("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type",
                     "invalid_request_error", "message", msg)
        : json_pack ("{s:{s:s, s:s, s:s}}", "error", "message", msg, "type",
                     "invalid_request_error", "code", "context_length_exceeded");
    char *out = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    return out;
}

/* Counts line's tool name (after "tool ", up to the space) in names. */
static void
count_tool (json_t *names, const char *line)
{
    const char *sp = strchr (line + 5, ' ');
    if (!sp || sp - (line + 5) > 64)
        return;
    char name[80];
    snprintf (name, sizeof name, "%.*s", (int) (sp - (line + 5)), line + 5);
    json_t *n = json_object_get (names, name);
    if (n || json_object_size (names) < MAX_NAMES)
        json_object_set_new (names, name, json_integer (json_integer_value (n) + 1));
}

/* Adds the sandbox ids text names (`"sandboxId":"..."`) to ids. */
static void
find_ids (json_t *ids, const char *text)
{
    const char *key = "\"sandboxId\":\"";
    for (const char *p = strstr (text, key); p && json_array_size (ids) < MAX_NAMES;
         p = strstr (p + 1, key)) {
        const char *v = p + strlen (key), *end = strchr (v, '"');
        if (!end || end - v > 64)
            continue;
        char id[80];
        snprintf (id, sizeof id, "%.*s", (int) (end - v), v);
        size_t i;
        json_t *have;
        bool seen = false;
        json_array_foreach (ids, i, have)
            seen |= strcmp (json_string_value (have), id) == 0;
        if (!seen)
            json_array_append_new (ids, json_string (id));
    }
}

char *
window_summary (const json_t *conv)
{
    const json_t *last = NULL;
    size_t i;
    json_t *m;
    json_array_foreach (conv, i, m)
        if (strcmp (json_string_value (json_object_get (m, "role")) ?: "", "user") == 0)
            last = m;
    const char *text = json_string_value (json_object_get (last, "content"));
    if (!text || strncmp (text, SUMMARISE_MARK, strlen (SUMMARISE_MARK)))
        return NULL;
    json_t *names = json_object (), *ids = json_array ();
    unsigned turns = 0, results = 0;
    for (const char *line = text; line && *line; line = strchr (line, '\n'), line += !!line) {
        if (strncmp (line, "assistant:", 10) == 0)
            turns++;
        else if (strncmp (line, "tool ", 5) == 0) {
            results++;
            count_tool (names, line);
        }
    }
    find_ids (ids, text);
    char out[1024];
    size_t len = (size_t) snprintf (out, sizeof out, "Scripted summary: %u assistant turns and "
                                    "%u tool results so far (", turns, results);
    const char *name;
    json_t *n;
    bool first = true;
    json_object_foreach (names, name, n) {
        len += (size_t) snprintf (out + len, sizeof out - len, "%s%s x%lld", first ? "" : ", ",
                                  name, (long long) json_integer_value (n));
        first = false;
        if (len >= sizeof out - 200)
            break;
    }
    len += (size_t) snprintf (out + len, sizeof out - len, "); sandboxes:");
    json_array_foreach (ids, i, n) {
        len += (size_t) snprintf (out + len, sizeof out - len, " %s", json_string_value (n));
        if (len >= sizeof out - 100)
            break;
    }
    snprintf (out + len, sizeof out - len, "%s.", json_array_size (ids) ? "" : " none");
    json_decref (names);
    json_decref (ids);
    return strdup (out);
}
