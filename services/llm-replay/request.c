/* request: what llm-replay reads of a model request, whichever protocol
 * it came in (OpenAI Chat Completions or Anthropic Messages): its
 * conversation in cassette.h's neutral form, the tools it offers, and
 * whether it is the orchestrator's request for a thread title. */
#include "request.h"
#include "llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_PROMPT_START "Name this conversation"

/* Text of an Anthropic or OpenAI content value: a string or text parts. */
static char *
text_of (const json_t *content)
{
    if (json_is_string (content))
        return strdup (json_string_value (content));
    size_t cap = 1, len = 0;
    size_t i;
    json_t *part;
    json_array_foreach (content, i, part)
        cap += json_string_length (json_object_get (part, "text"));
    char *out = calloc (1, cap);
    json_array_foreach (content, i, part) {
        json_t *t = json_object_get (part, "text");
        if (json_is_string (t)) {
            memcpy (out + len, json_string_value (t), json_string_length (t));
            len += json_string_length (t);
        }
    }
    return out;
}

static void
add (json_t *conv, const char *role, const char *content, const char *name)
{
    json_array_append_new (conv, json_pack ("{s:s, s:s, s:s?}", "role", role, "content",
                                            content ? content : "", "name", name));
}

json_t *
request_conversation (const json_t *req, bool anthropic)
{
    json_t *conv = json_array (), *names = json_object ();
    size_t i;
    json_t *m;
    json_array_foreach (json_object_get (req, "messages"), i, m) {
        const char *role = json_string_value (json_object_get (m, "role")) ?: "";
        json_t *content = json_object_get (m, "content");
        size_t j;
        json_t *b;
        if (strcmp (role, "assistant") == 0) {
            json_t *calls = json_object_get (m, "tool_calls");
            json_array_foreach (calls, j, b) {
                char *n = llm_tool_name (json_string_value (json_object_get (
                    json_object_get (b, "function"), "name")) ?: "");
                json_object_set_new (names, json_string_value (json_object_get (b, "id")) ?: "",
                                     json_string (n));
                free (n);
            }
            json_array_foreach (json_is_array (content) ? content : NULL, j, b) {
                if (json_is_string (json_object_get (b, "name"))) {
                    char *n = llm_tool_name (json_string_value (json_object_get (b, "name")));
                    json_object_set_new (names, json_string_value (json_object_get (b, "id")) ?: "",
                                         json_string (n));
                    free (n);
                }
            }
            char *text = text_of (content);
            add (conv, "assistant", text, NULL);
            free (text);
        }
        else if (strcmp (role, "tool") == 0) {
            const char *id = json_string_value (json_object_get (m, "tool_call_id")) ?: "";
            char *text = text_of (content);
            add (conv, "tool", text, json_string_value (json_object_get (names, id)));
            free (text);
        }
        else if (strcmp (role, "user") == 0) {
            bool results = false;
            json_array_foreach (anthropic && json_is_array (content) ? content : NULL, j, b) {
                if (strcmp (json_string_value (json_object_get (b, "type")) ?: "", "tool_result"))
                    continue;
                results = true;
                const char *id = json_string_value (json_object_get (b, "tool_use_id")) ?: "";
                char *text = text_of (json_object_get (b, "content"));
                add (conv, "tool", text, json_string_value (json_object_get (names, id)));
                free (text);
            }
            if (!results) {
                char *text = text_of (content);
                add (conv, "user", text, NULL);
                free (text);
            }
        }
    }
    json_decref (names);
    return conv;
}

json_t *
request_offered (const json_t *req)
{
    json_t *names = json_array ();
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (req, "tools"), i, t) {
        json_t *fn = json_object_get (t, "function");
        char *n = llm_tool_name (json_string_value (json_object_get (fn ? fn : t, "name")) ?: "");
        json_array_append_new (names, json_string (n ? n : ""));
        free (n);
    }
    return names;
}

bool
request_names_ok (const json_t *req, char *why, size_t whylen)
{
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (req, "tools"), i, t) {
        json_t *fn = json_object_get (t, "function");
        const char *name = json_string_value (json_object_get (fn ? fn : t, "name")) ?: "";
        size_t n = strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789_-");
        if (n == 0 || n > 64 || name[n]) {
            snprintf (why, whylen, "tools.%zu.name: '%.80s' does not match "
                      "^[a-zA-Z0-9_-]{1,64}$", i, name);
            return false;
        }
    }
    return true;
}

bool
request_title (const json_t *req, const json_t *conv, cassette_reply_t *r)
{
    json_t *sys = json_object_get (req, "system");
    json_t *first = json_array_get (json_object_get (req, "messages"), 0);
    if (!sys && !strcmp (json_string_value (json_object_get (first, "role")) ?: "", "system"))
        sys = json_object_get (first, "content");
    char *text = sys ? text_of (sys) : NULL;
    bool titling = text && !strncmp (text, TITLE_PROMPT_START, strlen (TITLE_PROMPT_START));
    free (text);
    if (!titling)
        return false;
    memset (r, 0, sizeof *r);
    r->status = 200;
    const char *task = json_string_value (json_object_get (json_array_get (conv, 0), "content"));
    task = task && !strncmp (task, "Task: ", 6) ? task + 6 : "";
    size_t n = 0;
    for (int words = 0; task[n] && task[n] != '\n' && words < 6; n++)
        words += task[n] == ' ';
    if (n && task[n - 1] == ' ')
        n--;
    r->text = malloc (n + 8);
    snprintf (r->text, n + 8, "About: %.*s", (int) n, task);
    return true;
}
