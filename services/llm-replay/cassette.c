/* cassette: loading, matching, templating and expectations (see
 * cassette.h and docs/llm-replay.md). */
#define _GNU_SOURCE
#include "cassette.h"
#include "fencecheck.h"
#include "cfg.h"
#include "clog.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *file;
    char *task;
    json_t *root;
} cassette_t;

struct _cassette_set_t {
    cassette_t *items;
    size_t count;
    pthread_mutex_t lock;       /* fault counters */
};

static int
by_file (const void *a, const void *b)
{
    return strcmp (((const cassette_t *) a)->file, ((const cassette_t *) b)->file);
}

static int
load_one (cassette_set_t *self, const char *dir, const char *name)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    json_error_t jerr;
    json_t *root = json_load_file (path, 0, &jerr);
    const char *task = json_string_value (json_object_get (root, "task"));
    json_t *turns = json_object_get (root, "turns");
    if (!root || !task || !json_array_size (turns)) {
        clog_error (NULL, "cassette %s: %s", path,
                    root ? "needs a \"task\" string and a non-empty \"turns\" array" : jerr.text);
        json_decref (root);
        return -1;
    }
    cassette_t *items = realloc (self->items, (self->count + 1) * sizeof *items);
    if (!items) {
        json_decref (root);
        return -1;
    }
    self->items = items;
    items[self->count++] = (cassette_t) { strdup (name), strdup (task), root };
    return 0;
}

static int
load_dir (cassette_set_t *self, const char *dir)
{
    DIR *d = opendir (dir);
    if (!d) {
        clog_error (NULL, "cannot open the cassette directory %s", dir);
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir (d))) {
        size_t n = strlen (e->d_name);
        if (n > 5 && strcmp (e->d_name + n - 5, ".json") == 0)
            rc = load_one (self, dir, e->d_name);
    }
    closedir (d);
    return rc;
}

cassette_set_t *
cassette_set_load (const char *dirs)
{
    cassette_set_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    char *list = strdup (dirs);
    int rc = list ? 0 : -1;
    for (char *save = NULL, *dir = strtok_r (list, ":", &save); rc == 0 && dir;
         dir = strtok_r (NULL, ":", &save))
        rc = load_dir (self, dir);
    free (list);
    if (rc) {
        cassette_set_destroy (&self);
        return NULL;
    }
    qsort (self->items, self->count, sizeof *self->items, by_file);
    return self;
}

void
cassette_set_destroy (cassette_set_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cassette_set_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free (self->items[i].file);
        free (self->items[i].task);
        json_decref (self->items[i].root);
    }
    free (self->items);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

size_t
cassette_set_size (cassette_set_t *self)
{
    return self->count;
}

void
cassette_reply_clear (cassette_reply_t *reply)
{
    free (reply->error);
    free (reply->text);
    free (reply->fault_type);
    free (reply->fault_message);
    json_decref (reply->tool_calls);
    memset (reply, 0, sizeof *reply);
}

static const char *
role_of (const json_t *m)
{
    return json_string_value (json_object_get (m, "role")) ?: "";
}

static const char *
content_of (const json_t *m)
{
    return json_string_value (json_object_get (m, "content")) ?: "";
}

/* The value of {{key}}: the key in the most recent tool result of the
 * conversation that has it, at top level or under "result" (NULL when
 * absent), so a sandboxId from the first call still fills the third.
 * New string. */
static char *
lookup (const json_t *results, const char *key)
{
    /* The one value not from a tool result: where the launcher keeps the
     * offline demos' repository. Nothing else of the environment is. */
    if (strcmp (key, "dataDir") == 0)
        return strdup (cfg_str ("CAISSON_DATA"));
    for (size_t i = json_array_size (results); i-- > 0;) {
        json_t *r = json_array_get (results, i);
        json_t *v = json_object_get (r, key);
        if (!v)
            v = json_object_get (json_object_get (r, "result"), key);
        if (json_is_string (v))
            return strdup (json_string_value (v));
        if (v)
            return json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    return NULL;
}

/* A copy of s with every {{key}} replaced (unknown keys become ""). */
static char *
expand (const char *s, const json_t *results)
{
    size_t cap = strlen (s) + 1, len = 0;
    char *out = malloc (cap);
    while (out && *s) {
        const char *open = strstr (s, "{{"), *close = open ? strstr (open, "}}") : NULL;
        size_t lit = close ? (size_t) (open - s) : strlen (s);
        char *val = NULL;
        if (close) {
            char key[128];
            size_t kl = (size_t) (close - open - 2);
            snprintf (key, sizeof key, "%.*s", (int) (kl < sizeof key ? kl : sizeof key - 1),
                      open + 2);
            val = lookup (results, key);
        }
        size_t vl = val ? strlen (val) : 0;
        if (len + lit + vl + 1 > cap) {
            cap = (len + lit + vl + 1) * 2;
            char *n = realloc (out, cap);
            if (!n) {
                free (val);
                free (out);
                return NULL;
            }
            out = n;
        }
        memcpy (out + len, s, lit);
        len += lit;
        if (val)
            memcpy (out + len, val, vl);
        len += vl;
        free (val);
        s += lit + (close ? (size_t) (close + 2 - open) : 0);
    }
    if (out)
        out[len] = '\0';
    return out;
}

/* A deep copy of v with templates expanded in every string. */
static json_t *
expand_json (const json_t *v, const json_t *results)
{
    if (json_is_string (v)) {
        char *s = expand (json_string_value (v), results);
        json_t *out = json_string (s ? s : "");
        free (s);
        return out;
    }
    if (json_is_array (v)) {
        json_t *out = json_array ();
        size_t i;
        json_t *e;
        json_array_foreach (v, i, e)
            json_array_append_new (out, expand_json (e, results));
        return out;
    }
    if (json_is_object (v)) {
        json_t *out = json_object ();
        const char *k;
        json_t *e;
        json_object_foreach ((json_t *) v, k, e)
            json_object_set_new (out, k, expand_json (e, results));
        return out;
    }
    return json_deep_copy (v);
}

/* A new formatted string, or NULL when memory runs out (as the caller's
 * pointer stayed NULL before: an expectation message that cannot be made
 * is dropped rather than crashing the replay server). */
static char *
format_new (const char *format, ...)
    __attribute__ ((format (printf, 1, 2)));

static char *
format_new (const char *format, ...)
{
    char *text;
    va_list args;
    va_start (args, format);
    if (vasprintf (&text, format, args) < 0)
        text = NULL;
    va_end (args);
    return text;
}

/* Checks the turn's "expect" against the latest tool results; on a
 * mismatch returns a new message saying what was expected. */
static char *
check_expect (const json_t *expect, const json_t *results, const json_t *raw,
              const json_t *offered, const json_t *conv)
{
    if (!expect)
        return NULL;
    char *msg = NULL;
    /* fenced: one check, or a list of them (a request with several kinds) */
    json_t *fenced = json_object_get (expect, "fenced");
    if (json_is_array (fenced)) {
        size_t i;
        json_t *one;
        json_array_foreach (fenced, i, one)
            if ((msg = fencecheck (conv, one)))
                return msg;
    }
    else if (fenced && (msg = fencecheck (conv, fenced)))
        return msg;
    const char *tool = json_string_value (json_object_get (expect, "tool"));
    const char *contains = json_string_value (json_object_get (expect, "contains"));
    const char *want = json_string_value (json_object_get (expect, "offered"));
    json_t *ok = json_object_get (expect, "ok");
    json_t *last = json_array_get (results, json_array_size (results) - 1);
    const char *lastraw = json_string_value (json_array_get (raw, json_array_size (raw) - 1));
    if (want) {
        size_t i;
        json_t *name;
        json_array_foreach (offered, i, name)
            if (strcmp (json_string_value (name) ?: "", want) == 0)
                break;
        if (i == json_array_size (offered)) {
            msg = format_new ("expected the request to offer the tool %s", want);
            return msg;
        }
        if (!tool && !contains && !ok)
            return NULL;
    }
    if (fenced && !tool && !contains && !ok)
        return NULL;
    if (!last)
        return strdup ("expected a tool result in the request, found none");
    if (tool && strcmp (tool, json_string_value (json_object_get (last, "_name")) ?: "") != 0)
        msg = format_new ("expected the latest tool result to come from %s", tool);
    else if (json_is_boolean (ok)
             && json_is_true (ok) == json_is_false (json_object_get (last, "success")))
        msg = format_new ("expected the latest tool result to be %s, got: %.200s",
                          json_is_true (ok) ? "a success" : "a failure", lastraw ?: "");
    else if (contains && !strstr (lastraw ?: "", contains))
        msg = format_new ("expected the latest tool result to contain \"%s\", got: %.200s",
                          contains, lastraw ?: "");
    return msg;
}

/* The cassette's "earlier" (optional): strings that must each occur in
 * the conversation before its task's message (any message, as compact
 * JSON): a follow-up's script asserts it was sent the thread's earlier
 * exchanges. A new message naming the one missing, or NULL. */
static char *
check_earlier (const json_t *earlier, const json_t *conv, size_t task_at)
{
    size_t i;
    json_t *want;
    json_array_foreach (earlier, i, want) {
        const char *s = json_string_value (want) ?: "";
        bool seen = false;
        for (size_t m = 0; m < task_at && !seen; m++) {
            char *text = json_dumps (json_array_get (conv, m), JSON_COMPACT);
            seen = text && strstr (text, s);
            free (text);
        }
        if (!seen)
            return format_new ("expected the conversation before the task to contain \"%s\" "
                               "(the thread's earlier exchanges); it does not", s);
    }
    return NULL;
}
#define SUMMARY_MARK "<caisson-summary turns=\""

static cassette_t *
find_task (cassette_set_t *self, const json_t *conv, size_t *after)
{
    for (size_t i = json_array_size (conv); i-- > 0;) {
        json_t *m = json_array_get (conv, i);
        if (strcmp (role_of (m), "user") != 0)
            continue;
        for (size_t c = 0; c < self->count; c++)
            if (strcmp (self->items[c].task, content_of (m)) == 0) {
                *after = i + 1;
                return &self->items[c];
            }
    }
    return NULL;
}

static void
unknown_task (cassette_set_t *self, cassette_reply_t *reply)
{
    size_t cap = 256;
    for (size_t i = 0; i < self->count; i++)
        cap += strlen (self->items[i].task) + 8;
    char *text = malloc (cap);
    size_t len = (size_t) snprintf (text, cap, "The offline model (caisson-llm-replay) only "
                                    "knows its demo tasks; set a provider key (e.g. "
                                    "OPENAI_API_KEY) for a real model. Try one of:");
    for (size_t i = 0; i < self->count; i++)
        len += (size_t) snprintf (text + len, cap - len, "\n- %s", self->items[i].task);
    reply->text = text;
}

/* Fills reply from turn number idx of c, given the latest results (for
 * the turn's expectations) and every tool result so far (for templates). */
static void
play_turn (cassette_set_t *self, cassette_t *c, size_t idx, const json_t *results,
           const json_t *history, const json_t *raw, const json_t *offered,
           const json_t *conv, cassette_reply_t *reply)
{
    json_t *turns = json_object_get (c->root, "turns");
    json_t *turn = json_array_get (turns, idx);
    if (!turn) {
        reply->status = 400;
        reply->error = format_new ("cassette %s has %zu turns; the conversation asks for "
                                   "turn %zu", c->file, json_array_size (turns), idx + 1);
        return;
    }
    json_t *last = json_array_get (results, json_array_size (results) - 1);
    json_t *alt = json_object_get (turn, "onDeclined");
    if (alt && json_is_true (json_object_get (last, "declined")))
        turn = alt;
    else if ((reply->error = check_expect (json_object_get (turn, "expect"), results, raw,
                                              offered, conv))) {
        reply->status = 400;
        return;
    }
    json_t *fault = json_object_get (turn, "fault");
    if (fault) {
        const char *kind = json_string_value (json_object_get (fault, "kind")) ?: "";
        json_int_t times = json_integer_value (json_object_get (fault, "times"));
        pthread_mutex_lock (&self->lock);
        json_int_t done = json_integer_value (json_object_get (fault, "_done"));
        bool fire = done < (times ? times : 1);
        if (fire)
            json_object_set_new (fault, "_done", json_integer (done + 1));
        pthread_mutex_unlock (&self->lock);
        if (fire) {
            int status = atoi (kind);
            reply->fault = strcmp (kind, "429") == 0 ? FAULT_429
                         : strcmp (kind, "500") == 0 ? FAULT_500
                         : strcmp (kind, "stall") == 0 ? FAULT_STALL
                         : strcmp (kind, "cut") == 0 ? FAULT_CUT
                         : strcmp (kind, "error") == 0 ? FAULT_ERROR
                         : status >= 400 && status < 600 ? FAULT_STATUS : FAULT_NONE;
            reply->fault_status = status;
            const char *type = json_string_value (json_object_get (fault, "type"));
            const char *msg = json_string_value (json_object_get (fault, "message"));
            reply->fault_type = type ? strdup (type) : NULL;
            reply->fault_message = msg ? strdup (msg) : NULL;
            reply->retry_after = (uint64_t) json_integer_value (json_object_get (fault,
                                                                                 "retryAfter"));
        }
    }
    json_t *lat = json_object_get (turn, "latencyMs") ?: json_object_get (c->root, "latencyMs");
    reply->latency_ms = (uint64_t) json_integer_value (lat);
    json_t *chunk = json_object_get (turn, "chunk") ?: json_object_get (c->root, "chunk");
    reply->chunk = (uint64_t) json_integer_value (chunk);
    snprintf (reply->finish, sizeof reply->finish, "%s",
              json_string_value (json_object_get (turn, "finish")) ?: "");
    reply->no_usage = json_is_false (json_object_get (turn, "usage"));
    const char *text = json_string_value (json_object_get (turn, "text"));
    if (text)
        reply->text = expand (text, history);
    json_t *calls = json_object_get (turn, "toolCalls");
    if (json_array_size (calls)) {
        reply->tool_calls = json_array ();
        size_t i;
        json_t *call;
        json_array_foreach (calls, i, call) {
            char id[64];
            snprintf (id, sizeof id, "call_%zu_%zu", idx + 1, i + 1);
            json_t *args = expand_json (json_object_get (call, "args") ?: json_object (), history);
            json_array_append_new (reply->tool_calls,
                                   json_pack ("{s:s, s:O?, s:o}", "id", id, "name",
                                              json_object_get (call, "name"), "args", args));
        }
    }
}

void
cassette_set_play (cassette_set_t *self, const json_t *conv, const json_t *offered,
                   cassette_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    reply->status = 200;
    size_t after = 0;
    cassette_t *c = find_task (self, conv, &after);
    if (!c) {
        unknown_task (self, reply);
        return;
    }
    if ((reply->error = check_earlier (json_object_get (c->root, "earlier"), conv, after - 1))) {
        reply->status = 400;
        return;
    }
    size_t assistants = 0, last_assistant = after;
    for (size_t i = after; i < json_array_size (conv); i++) {
        json_t *m = json_array_get (conv, i);
        if (strcmp (role_of (m), "assistant") == 0) {
            assistants++;
            last_assistant = i + 1;
        }
        /* the orchestrator's summary stands for the turns it replaced */
        else if (strcmp (role_of (m), "user") == 0
                 && strncmp (content_of (m), SUMMARY_MARK, strlen (SUMMARY_MARK)) == 0)
            assistants += strtoull (content_of (m) + strlen (SUMMARY_MARK), NULL, 10);
    }
    json_t *results = json_array (), *history = json_array (), *raw = json_array ();
    for (size_t i = after; assistants && i < json_array_size (conv); i++) {
        json_t *m = json_array_get (conv, i);
        if (strcmp (role_of (m), "tool") != 0)
            continue;
        json_t *r = json_loads (content_of (m), JSON_DECODE_ANY, NULL);
        if (!json_is_object (r)) {
            json_decref (r);
            r = json_object ();
        }
        json_object_set (r, "_name", json_object_get (m, "name") ?: json_null ());
        json_array_append (history, r);
        if (i >= last_assistant) {
            json_array_append (results, r);
            json_array_append_new (raw, json_string (content_of (m)));
        }
        json_decref (r);
    }
    /* the script is played out and the person wrote again (a follow-up in
     * the thread): answered as any task the offline model does not know,
     * not refused as a malformed conversation */
    json_t *last = json_array_get (conv, json_array_size (conv) - 1);
    if (assistants >= json_array_size (json_object_get (c->root, "turns"))
        && strcmp (role_of (last), "user") == 0 && *content_of (last))
        unknown_task (self, reply);
    else
        play_turn (self, c, assistants, results, history, raw, offered, conv, reply);
    json_decref (results);
    json_decref (history);
    json_decref (raw);
}
