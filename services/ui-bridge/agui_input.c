/* agui_input: an AG-UI RunAgentInput's messages, context and state, checked
 * and compared with the stored thread (see agui_input.h). */
#define _GNU_SOURCE /* asprintf, memmem */
#include "agui_input.h"
#include "agui.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* what run.start takes (services/orchestrator/client_input.h) */
#define MAX_CONTEXT 32
#define MAX_TEXT (32u << 10)
#define MAX_DEPTH 16
#define MAX_HISTORY 64
#define MAX_HISTORY_TEXT (64u << 10)
#define MAX_ONE (16u << 10)             /* one client message shown, cut beyond */

static const char *
str_of (const json_t *j, const char *key)
{
    return json_string_value (json_object_get (j, key));
}

static bool
is (const char *s, const char *t)
{
    return s && !strcmp (s, t);
}

/* The text of a message's content: a string, or a list of parts whose
 * text parts are joined (binary parts named by their type). New. */
static char *
text_of (const json_t *m)
{
    const json_t *c = json_object_get (m, "content");
    if (json_is_string (c))
        return strdup (json_string_value (c));
    char *text = strdup (""), *grown;
    size_t i;
    json_t *part;
    json_array_foreach (c, i, part) {
        const char *t = str_of (part, "text");
        int n = t ? asprintf (&grown, "%s%s%s", text, *text ? "\n" : "", t)
                  : asprintf (&grown, "%s%s[attachment: %s]", text, *text ? "\n" : "",
                              str_of (part, "mimeType") ?: "binary");
        free (text);
        if (n < 0)
            return NULL;
        text = grown;
    }
    return text;
}

const char *
agui_input_task (const json_t *messages)
{
    for (size_t i = json_array_size (messages); i-- > 0;) {
        json_t *m = json_array_get (messages, i);
        if (!is (str_of (m, "role"), "user"))
            continue;
        json_t *c = json_object_get (m, "content");
        if (json_is_string (c))
            return json_string_value (c);
        size_t k;
        json_t *part;
        json_array_foreach (c, k, part)
            if (json_is_string (json_object_get (part, "text")))
                return json_string_value (json_object_get (part, "text"));
    }
    return NULL;
}

/* ---- checks ---- */

static size_t
depth_of (const json_t *v, size_t limit)
{
    if (limit == 0 || !(json_is_object (v) || json_is_array (v)))
        return 1;
    size_t most = 0, d, i;
    const char *key;
    json_t *x;
    if (json_is_object (v)) {
        json_object_foreach ((json_t *) v, key, x)
            if ((d = depth_of (x, limit - 1)) > most)
                most = d;
    }
    else
        json_array_foreach (v, i, x)
            if ((d = depth_of (x, limit - 1)) > most)
                most = d;
    return most + 1;
}

static bool
tool_calls_ok (const json_t *calls)
{
    if (!calls || json_is_null (calls))
        return true;
    if (!json_is_array (calls))
        return false;
    size_t i;
    json_t *c;
    json_array_foreach (calls, i, c) {
        const json_t *f = json_object_get (c, "function");
        if (!str_of (c, "id") || !is (str_of (c, "type"), "function") || !str_of (f, "name")
            || !str_of (f, "arguments"))
            return false;
    }
    return true;
}

/* Why message m (index i) is malformed, written to why; true when it is not. */
static bool
message_ok (const json_t *m, size_t i, size_t *text, char *why, size_t whylen)
{
    const char *role = str_of (m, "role");
    const json_t *c = json_object_get (m, "content");
    bool ok;
    if (is (role, "user"))
        ok = json_is_string (c) || json_is_array (c);
    else if (is (role, "assistant"))
        ok = (!c || json_is_null (c) || json_is_string (c))
             && tool_calls_ok (json_object_get (m, "toolCalls"));
    else if (is (role, "tool"))
        ok = json_is_string (c) && str_of (m, "toolCallId")
             && (!json_object_get (m, "error") || str_of (m, "error"));
    else if (is (role, "system") || is (role, "developer"))
        ok = json_is_string (c);
    else
        ok = is (role, "activity") || is (role, "reasoning");
    if (!ok) {
        snprintf (why, whylen, "messages[%zu]: a %s message of a shape AG-UI does not define "
                  "(roles user, assistant, tool, system, developer; tool calls {id, type: "
                  "function, function: {name, arguments}}; tool messages {toolCallId, "
                  "content})", i, role ? role : "role-less");
        return false;
    }
    *text += json_string_length (c);
    size_t k;
    json_t *part;
    json_array_foreach (c, k, part)
        *text += json_string_length (json_object_get (part, "text"));
    json_array_foreach (json_object_get (m, "toolCalls"), k, part)
        *text += json_string_length (json_object_get (json_object_get (part, "function"),
                                                      "arguments"));
    return true;
}

static int
refuse (char *code, size_t codelen, const char *name)
{
    snprintf (code, codelen, "%s", name);
    return -1;
}

int
agui_input_check (const json_t *in, char *code, size_t codelen, char *why, size_t whylen)
{
    const json_t *messages = json_object_get (in, "messages");
    size_t i, text = 0;
    json_t *m;
    if (json_array_size (messages) > AGUI_INPUT_MAX_MESSAGES) {
        snprintf (why, whylen, "messages: %zu, over %d", json_array_size (messages),
                  AGUI_INPUT_MAX_MESSAGES);
        return refuse (code, codelen, "agui_messages_too_large");
    }
    json_array_foreach (messages, i, m)
        if (!message_ok (m, i, &text, why, whylen))
            return refuse (code, codelen, "agui_messages_invalid");
    if (text > AGUI_INPUT_MAX_MESSAGE_TEXT) {
        snprintf (why, whylen, "messages: %zu bytes of text, over %u", text,
                  AGUI_INPUT_MAX_MESSAGE_TEXT);
        return refuse (code, codelen, "agui_messages_too_large");
    }
    const json_t *context = json_object_get (in, "context");
    if (context && !json_is_array (context)) {
        snprintf (why, whylen, "context: expected a list of {description, value}");
        return refuse (code, codelen, "agui_context_invalid");
    }
    text = 0;
    json_array_foreach (context, i, m) {
        if (!str_of (m, "description") || !str_of (m, "value")) {
            snprintf (why, whylen, "context[%zu]: description and value must be strings", i);
            return refuse (code, codelen, "agui_context_invalid");
        }
        text += strlen (str_of (m, "description")) + strlen (str_of (m, "value"));
    }
    if (json_array_size (context) > MAX_CONTEXT || text > MAX_TEXT) {
        snprintf (why, whylen, "context: %zu entries, %zu bytes of text; at most %d and %u",
                  json_array_size (context), text, MAX_CONTEXT, MAX_TEXT);
        return refuse (code, codelen, "agui_context_too_large");
    }
    const json_t *state = json_object_get (in, "state");
    if (state && depth_of (state, MAX_DEPTH) > MAX_DEPTH) {
        snprintf (why, whylen, "state: nested deeper than %d levels", MAX_DEPTH);
        return refuse (code, codelen, "agui_state_too_deep");
    }
    size_t size = state ? json_dumpb (state, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) : 0;
    if (size > MAX_TEXT) {
        snprintf (why, whylen, "state: %zu bytes as compact JSON, over %u", size, MAX_TEXT);
        return refuse (code, codelen, "agui_state_too_large");
    }
    return 0;
}

/* ---- the comparison ---- */

typedef struct {
    json_t *shown;              /* the client's own messages, [{role, content}] */
    size_t matched, conflicts, late, other;
} cmp_t;

/* True when s, without its surrounding white space, is empty or occurs in hay. */
static bool
occurs (const char *hay, const char *s)
{
    while (isspace ((unsigned char) *s))
        s++;
    size_t n = strlen (s);
    while (n && isspace ((unsigned char) s[n - 1]))
        n--;
    return !n || (hay && memmem (hay, strlen (hay), s, n));
}

static bool
same_text (const char *a, const char *b)
{
    return a && b && occurs (a, b) && occurs (b, a);
}

/* Everything run's model said (its text turns, answer and failure), new. */
static char *
said_by (const json_t *run)
{
    char *all = strdup (str_of (run, "answer") ?: ""), *grown;
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (run, "turns"), i, t) {
        if (!all || !is (str_of (t, "kind"), "text"))
            continue;
        if (asprintf (&grown, "%s\n%s", all, str_of (t, "text") ?: "") < 0)
            grown = NULL;
        free (all);
        all = grown;
    }
    if (all && str_of (run, "failure") && asprintf (&grown, "%s\n%s", all,
                                                    str_of (run, "failure")) >= 0) {
        free (all);
        all = grown;
    }
    return all;
}

/* True when run's turns name the call id (as streamed: the model's id, or
 * agui.h's `<run>:<call>:<seq>` for a client tool). */
static bool
run_has_call (const json_t *run, const char *id)
{
    char crun[129], call[129];
    uint64_t seq;
    if (!agui_interrupt_parse (id, crun, call, &seq))
        id = call;
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (run, "turns"), i, t)
        if (is (str_of (t, "toolCallId"), id))
            return true;
    return false;
}

/* True when message m (assistant or tool) is among run's stored turns. */
static bool
stored_in (const json_t *run, const json_t *m, const char *said)
{
    if (is (str_of (m, "role"), "tool"))
        return run_has_call (run, str_of (m, "toolCallId"));
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get (m, "toolCalls"), i, c)
        if (!run_has_call (run, str_of (c, "id")))
            return false;
    return occurs (said, str_of (m, "content") ?: "");
}

/* m as the model is shown it, {role, content} (new), its text cut at
 * MAX_ONE bytes (on a character boundary). */
static json_t *
shown_as (const json_t *m)
{
    const char *role = str_of (m, "role");
    char *text = text_of (m), *grown;
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get (m, "toolCalls"), i, c) {
        const json_t *f = json_object_get (c, "function");
        if (!text || asprintf (&grown, "%s\n[calls %s with %s]", text, str_of (f, "name"),
                               str_of (f, "arguments")) < 0)
            grown = NULL;
        free (text);
        text = grown;
    }
    if (text && is (role, "tool")
        && asprintf (&grown, "[result of call %s%s%s] %s", str_of (m, "toolCallId"),
                     str_of (m, "error") ? ", failed: " : "", str_of (m, "error") ?: "",
                     text) >= 0) {
        free (text);
        text = grown;
    }
    if (!text)
        return NULL;
    size_t len = strlen (text);
    if (len > MAX_ONE) {
        size_t cut = MAX_ONE;
        while (cut && ((unsigned char) text[cut] & 0xC0) == 0x80)
            cut--;
        text[cut] = '\0';
        if (asprintf (&grown, "%s\n[cut: %zu bytes left out]", text, len - cut) >= 0) {
            free (text);
            text = grown;
        }
    }
    json_t *out = json_pack ("{s:s, s:s}", "role", role, "content", text);
    free (text);
    return out;
}

/* Keeps the newest of cmp->shown that fit MAX_HISTORY and
 * MAX_HISTORY_TEXT; returns how many older ones were left out. */
static size_t
fit (cmp_t *cmp)
{
    size_t n = json_array_size (cmp->shown), keep = 0, text = 0;
    while (keep < n && keep < MAX_HISTORY) {
        size_t len = json_string_length (json_object_get (
                                             json_array_get (cmp->shown, n - 1 - keep),
                                             "content"));
        if (text + len > MAX_HISTORY_TEXT)
            break;
        text += len;
        keep++;
    }
    for (size_t i = 0; i < n - keep; i++)
        json_array_remove (cmp->shown, 0);
    return n - keep;
}

static json_t *
summary (cmp_t *cmp)
{
    size_t dropped = fit (cmp);
    size_t ignored = cmp->conflicts + cmp->late + cmp->other + dropped;
    json_t *h = json_pack ("{s:O, s:I, s:I}", "messages", cmp->shown, "matched",
                           (json_int_t) cmp->matched, "ignored", (json_int_t) ignored);
    char why[512] = "";
    size_t at = 0;
    if (cmp->conflicts)
        at += (size_t) snprintf (why + at, sizeof why - at, "%s%zu contradict the thread's "
                                 "stored turns of the same exchange (the stored turns win)",
                                 at ? "; " : "", cmp->conflicts);
    if (cmp->late && at < sizeof why)
        at += (size_t) snprintf (why + at, sizeof why - at, "%s%zu came after the task",
                                 at ? "; " : "", cmp->late);
    if (cmp->other && at < sizeof why)
        at += (size_t) snprintf (why + at, sizeof why - at, "%s%zu activity or reasoning",
                                 at ? "; " : "", cmp->other);
    if (dropped && at < sizeof why)
        snprintf (why + at, sizeof why - at, "%s%zu older client-only messages over the "
                  "client history's limit (%d messages, %u bytes)", at ? "; " : "", dropped,
                  MAX_HISTORY, MAX_HISTORY_TEXT);
    if (*why)
        json_object_set_new (h, "why", json_string (why));
    return h;
}

json_t *
agui_input_history (const json_t *in, const json_t *runs)
{
    const json_t *messages = json_object_get (in, "messages");
    size_t task = json_array_size (messages);
    while (task > 0
           && !is (str_of (json_array_get (messages, task - 1), "role"), "user"))
        task--;
    if (task <= 1 && task == json_array_size (messages))
        return NULL;            /* the task alone */
    cmp_t cmp = { json_array (), 0, 0, json_array_size (messages) - task, 0 };
    const json_t *run = NULL;   /* the stored run of the exchange being read */
    char *said = NULL;
    size_t next = 0;            /* the first stored run not yet matched */
    for (size_t i = 0; task && i < task - 1; i++) {
        const json_t *m = json_array_get (messages, i);
        const char *role = str_of (m, "role");
        if (is (role, "user")) {
            char *text = text_of (m);
            run = NULL;
            for (size_t k = next; text && k < json_array_size (runs); k++)
                if (same_text (str_of (json_array_get (runs, k), "task"), text)) {
                    run = json_array_get (runs, k);
                    next = k + 1;
                    break;
                }
            free (text);
            free (said);
            said = run ? said_by (run) : NULL;
        }
        if (is (role, "activity") || is (role, "reasoning"))
            cmp.other++;
        else if (run && !is (role, "system") && !is (role, "developer")) {
            if (is (role, "user") || stored_in (run, m, said))
                cmp.matched++;
            else
                cmp.conflicts++;
        }
        else
            json_array_append_new (cmp.shown, shown_as (m));
    }
    free (said);
    json_t *h = summary (&cmp);
    json_decref (cmp.shown);
    return h;
}
