/* transcript: a run rendered for people and for tools. JSON Lines gives
 * one stored event per line, as stored ({seq, run_seq, run, id, kind, ts,
 * data}); Markdown tells the run: the task, each step with the tool calls,
 * their arguments and results, approvals, the final answer or failure, and
 * the artifacts. Both stop, marked truncated, before passing one reply. */
#include "elog.h"
#include "evkind.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX (8u << 20)

typedef struct {
    char *buf;
    size_t len, cap;
    bool truncated;
} text_t;

static void
put (text_t *t, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
put (text_t *t, const char *fmt, ...)
{
    if (t->truncated)
        return;
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (n < 0 || t->len + (size_t) n + 1 > TEXT_MAX) {
        t->truncated = true;
        return;
    }
    if (t->len + (size_t) n + 1 > t->cap) {
        size_t cap = (t->len + (size_t) n + 1) * 2;
        char *grown = realloc (t->buf, cap);
        if (!grown) {
            t->truncated = true;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
    va_start (ap, fmt);
    vsnprintf (t->buf + t->len, (size_t) n + 1, fmt, ap);
    va_end (ap);
    t->len += (size_t) n;
}

/* A JSON value as text, owned by the caller: strings bare, else compact. */
static char *
show (json_t *v)
{
    if (json_is_string (v))
        return strdup (json_string_value (v));
    return v ? json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY) : strdup ("");
}

static void
field (text_t *t, const char *label, json_t *v)
{
    if (!v)
        return;
    char *s = show (v);
    put (t, "- **%s**: %s\n", label, s ? s : "");
    free (s);
}

static void
block (text_t *t, const char *label, json_t *v)
{
    char *s = v ? json_dumps (v, JSON_INDENT (2) | JSON_ENCODE_ANY) : NULL;
    if (s)
        put (t, "%s:\n\n```json\n%s\n```\n\n", label, s);
    free (s);
}

static void
markdown_event (text_t *t, json_t *ev, int *step)
{
    const char *kind = json_string_value (json_object_get (ev, "kind"));
    json_t *d = json_object_get (ev, "data");
#define D(k) json_object_get (d, k)
#define S(k) (json_string_value (D (k)) ? json_string_value (D (k)) : "")
    switch (evk_lookup (kind)) {
        case EVK_run_started:
            return;     /* shown in the header */
        case EVK_plan: {
            char *s = show (D ("text"));
            put (t, "## Plan\n\n%s\n\n", s ? s : "");
            free (s);
            break;
        }
        case EVK_text: {
            char *s = show (D ("text"));
            put (t, "%s\n\n", s ? s : "");
            free (s);
            break;
        }
        case EVK_tool_call:
            put (t, "## Step %d: `%s`\n\n", ++*step, S ("name"));
            block (t, "Arguments", D ("args"));
            break;
        case EVK_tool_result: {
            put (t, "Result (%s, %lld ms):\n\n", json_is_false (D ("ok")) ? "failed" : "ok",
                 (long long) json_integer_value (D ("durationMs")));
            char *s = show (D ("result"));
            put (t, "```\n%s\n```\n\n", s ? s : "");
            free (s);
            break;
        }
        case EVK_ask_approval:
            put (t, "**Approval asked** for `%s`\n\n", S ("name"));
            block (t, "Arguments", D ("args"));
            break;
        case EVK_approval_decision:
            put (t, "**Approval %s**%s%s\n\n",
                 json_is_true (D ("approved")) ? "granted" : "refused", D ("reason") ? ": " : "",
                 S ("reason"));
            break;
        case EVK_usage:
            put (t, "_tokens: %lld in, %lld out, %lld cached_\n\n",
                 (long long) json_integer_value (D ("inputTokens")),
                 (long long) json_integer_value (D ("outputTokens")),
                 (long long) json_integer_value (D ("cachedTokens")));
            break;
        case EVK_complete: {
            char *s = show (D ("answer"));
            put (t, "## Answer\n\n%s\n\n", s ? s : "");
            free (s);
            break;
        }
        case EVK_failed:
            put (t, "## Failed: %s\n\n%s\n\n", S ("status"), S ("reason"));
            break;
        case EVK_artifact:
            put (t, "**Artifact** %s `%s` (%lld bytes): `%s`\n\n", S ("kind"), S ("name"),
                 (long long) json_integer_value (D ("size")), S ("hash"));
            break;
        default: {
            char *s = show (d);
            put (t, "_%s_: %s\n\n", kind, s ? s : "");
            free (s);
        }
    }
#undef S
#undef D
}

static void
markdown_header (text_t *t, json_t *rec)
{
    char *task = show (json_object_get (rec, "task"));
    put (t, "# Run %s\n\n", json_string_value (json_object_get (rec, "run")));
    put (t, "## Task\n\n%s\n\n", task ? task : "");
    free (task);
    field (t, "status", json_object_get (rec, "status"));
    field (t, "user", json_object_get (rec, "user"));
    field (t, "thread", json_object_get (rec, "thread"));
    field (t, "model", json_object_get (rec, "model"));
    field (t, "prompt version", json_object_get (rec, "promptVersion"));
    field (t, "steps", json_object_get (rec, "steps"));
    field (t, "tokens", json_object_get (rec, "tokens"));
    field (t, "runtime ms", json_object_get (rec, "runtimeMs"));
    field (t, "failure", json_object_get (rec, "failure"));
    put (t, "\n");
}

static void
markdown_footer (text_t *t, json_t *rec)
{
    json_t *arts = json_object_get (rec, "artifacts");
    if (!json_array_size (arts))
        return;
    put (t, "## Artifacts\n\n");
    size_t i;
    json_t *a;
    json_array_foreach (arts, i, a) {
        put (t, "- %s `%s`, %lld bytes: `%s`\n",
             json_string_value (json_object_get (a, "kind")) ?: "file",
             json_string_value (json_object_get (a, "name")) ?: "",
             (long long) json_integer_value (json_object_get (a, "size")),
             json_string_value (json_object_get (a, "hash")) ?: "");
    }
}

typedef struct {
    elog_t *el;
    const proto_msg_t *req;
    const char *run;
    bool markdown;
    text_t text;
    bool found;
} render_t;

static int
render (MDB_txn *txn, void *arg)
{
    render_t *r = arg;
    json_t *rec = elog_run_load (txn, r->el, r->run);
    if (rec && !elog_may_read (r->req, rec)) {
        json_decref (rec);
        rec = NULL;
    }
    if (!(r->found = rec != NULL))
        return 0;
    if (r->markdown)
        markdown_header (&r->text, rec);
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (r->el->store, DB_EVENTS), &cur);
    if (rc) {
        json_decref (rec);
        return rc;
    }
    uint8_t key[ELOG_EVENT_KEY];
    elog_run_key (r->run, key);
    elog_be64 (key + ELOG_RUN_KEY, 1);
    MDB_val k = { sizeof key, key }, v;
    int step = 0;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
         !rc && !r->text.truncated && !memcmp (k.mv_data, key, ELOG_RUN_KEY);
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        json_t *ev = elog_event_json (&v);
        if (!ev)
            continue;
        if (r->markdown)
            markdown_event (&r->text, ev, &step);
        else {
            char *line = json_dumps (ev, JSON_COMPACT);
            put (&r->text, "%s\n", line ? line : "{}");
            free (line);
        }
        json_decref (ev);
    }
    if (r->markdown)
        markdown_footer (&r->text, rec);
    mdb_cursor_close (cur);
    json_decref (rec);
    return 0;
}

proto_msg_t *
transcript_get (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const proto_transcript_get_t *q = &req->body.transcript_get;
    const char *format = q->format ? q->format : "jsonl";
    if (strcmp (format, "jsonl") && strcmp (format, "markdown"))
        return proto_error_new (req, PROTO_ERR_bad_format,
                                "transcript.get: field format must be jsonl or markdown");
    if (!elog_run_valid (q->run))
        return proto_error_new (req, PROTO_ERR_bad_run, "transcript.get: field run must be a 26-character id");
    render_t r = { el, req, q->run, !strcmp (format, "markdown"), { 0 }, false };
    proto_msg_t *rep = NULL;
    if (store_read (el->store, render, &r))
        rep = proto_error_new (req, PROTO_ERR_store_failed, "%s", mdb_strerror (store_error (el->store)));
    else if (!r.found)
        rep = proto_error_new (req, PROTO_ERR_not_found, "transcript.get: no run '%s'", q->run);
    else if ((rep = proto_msg_new (PROTO_transcript, req))) {
        proto_set_str (&rep->body.transcript.format, format);
        proto_set_str (&rep->body.transcript.text, r.text.buf ? r.text.buf : "");
        rep->body.transcript.truncated = r.text.truncated;
    }
    free (r.text.buf);
    return rep;
}
