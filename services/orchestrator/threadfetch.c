/* threadfetch: a thread's conversation rebuilt from event-log (see
 * threadfetch.h). */
#define _GNU_SOURCE /* asprintf */
#include "threadfetch.h"
#include "mpjson.h"
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_TIMEOUT_MS 5000
#define FETCH_MAX_BYTES (256u << 10)    /* as much as the store keeps of a thread */

typedef struct {
    rpc_t *rpc;
    proto_msg_t *req;           /* thread.get, whole */
    char *self;                 /* set while asking for the head only */
    threadfetch_fn *fn;
    void *arg;
} fetch_t;

static void
fetch_done (fetch_t *f, json_t *messages)
{
    f->fn (messages, f->arg);
    proto_msg_destroy (&f->req);
    free (f->self);
    free (f);
}

static const char *
str_of (const json_t *j, const char *key)
{
    return json_string_value (json_object_get (j, key));
}

static void
say (json_t *msgs, const char *role, const char *text)
{
    json_array_append_new (msgs, json_pack ("{s:s, s:s}", "role", role, "content", text));
}

/* The tool turns gathered so far as one assistant note, then cleared. */
static void
flush_tools (json_t *msgs, char **notes)
{
    if (!*notes)
        return;
    char *text = NULL;
    if (asprintf (&text, "[Note from the system: tool calls of this run, from the thread's "
                  "record (their outputs are not kept there):%s]", *notes) >= 0)
        say (msgs, "assistant", text);
    free (text);
    free (*notes);
    *notes = NULL;
}

static void
note_tool (char **notes, const json_t *turn)
{
    const char *kind = str_of (turn, "kind") ?: "", *name = str_of (turn, "name") ?: "?";
    const char *what = !strcmp (kind, "tool_call") ? "called"
                     : !strcmp (kind, "approval") ? "asked a person to approve"
                     : json_is_true (json_object_get (turn, "ok")) ? "succeeded:" : "failed:";
    char *grown = NULL;
    if (asprintf (&grown, "%s %s %.100s;", *notes ? *notes : "", what, name) >= 0) {
        free (*notes);
        *notes = grown;
    }
}

/* One run's messages appended to msgs. */
static void
add_run (json_t *msgs, const json_t *run)
{
    say (msgs, "user", str_of (run, "task") ?: "");
    const char *status = str_of (run, "status") ?: "", *answer = str_of (run, "answer");
    const char *last_text = NULL;
    char *notes = NULL;
    size_t i;
    json_t *turn;
    json_array_foreach (json_object_get (run, "turns"), i, turn) {
        if (strcmp (str_of (turn, "kind") ?: "", "text")) {
            note_tool (&notes, turn);
            continue;
        }
        const char *text = str_of (turn, "text");
        if (!text || !*text)
            continue;
        flush_tools (msgs, &notes);
        say (msgs, "assistant", text);
        last_text = text;
    }
    flush_tools (msgs, &notes);
    bool completed = !strcmp (status, "completed");
    if (completed && answer && *answer && !(last_text && !strcmp (last_text, answer)))
        say (msgs, "assistant", answer);
    if (!completed && !proto_run_status_live (proto_run_status_lookup (status))) {
        char why[700];
        snprintf (why, sizeof why, "[Note from the system, not the assistant's words: the run "
                  "for the task above ended without an answer, status %s: %.400s. Its turns "
                  "are kept as they were; anything it did may be incomplete.]", status,
                  str_of (run, "failure") ?: "");
        say (msgs, "assistant", why);
    }
}

json_t *
threadfetch_messages (const json_t *runs, size_t max_bytes)
{
    json_t *msgs = json_array ();
    size_t from = json_array_size (runs);
    /* newest runs first until the budget is spent, then in order */
    size_t bytes = 0;
    while (from > 0) {
        json_t *one = json_array ();
        add_run (one, json_array_get (runs, from - 1));
        bytes += json_dumpb (one, NULL, 0, JSON_COMPACT);
        json_decref (one);
        if (bytes > max_bytes && from < json_array_size (runs))
            break;
        from--;
    }
    for (size_t i = from; i < json_array_size (runs); i++)
        add_run (msgs, json_array_get (runs, i));
    return msgs;
}

static void
on_convo (const proto_msg_t *reply, const char *error, void *arg)
{
    (void) error;
    fetch_t *f = arg;
    json_t *runs = reply && reply->type == PROTO_thread_convo
                 ? mpjson_get (&reply->body.thread_convo.runs, 16) : NULL;
    json_t *msgs = threadfetch_messages (runs, FETCH_MAX_BYTES);
    json_decref (runs);
    fetch_done (f, msgs);
}

/* The thread's head: the local copy is current unless its last run ran
 * on another instance; then the whole thread is read. */
static void
on_head (const proto_msg_t *reply, const char *error, void *arg)
{
    (void) error;
    fetch_t *f = arg;
    json_t *t = reply && reply->type == PROTO_thread_convo
              ? mpjson_get (&reply->body.thread_convo.thread, 8) : NULL;
    const char *holder = json_string_value (json_object_get (t, "orchestrator"));
    bool stale = holder && strcmp (holder, f->self);
    json_decref (t);
    if (!stale || rpc_call (f->rpc, "event-log", f->req, FETCH_TIMEOUT_MS, 1, on_convo, f))
        fetch_done (f, NULL);
}

int
threadfetch_start (rpc_t *rpc, const proto_msg_t *cause, const char *thread,
                   const char *self, threadfetch_fn *fn, void *arg)
{
    fetch_t *f = calloc (1, sizeof *f);
    proto_msg_t *req = f ? proto_msg_new (PROTO_thread_get, cause) : NULL;
    int rc = -1;
    if (req) {
        *f = (fetch_t) { rpc, req, self ? strdup (self) : NULL, fn, arg };
        proto_set_str (&req->body.thread_get.thread_id, thread);
        if (self) {
            proto_msg_t *head = proto_msg_new (PROTO_thread_get, cause);
            proto_set_str (&head->body.thread_get.thread_id, thread);
            head->body.thread_get.head = true;
            rc = rpc_call (rpc, "event-log", head, FETCH_TIMEOUT_MS, 1, on_head, f);
            proto_msg_destroy (&head);
        }
        else
            rc = rpc_call (rpc, "event-log", req, FETCH_TIMEOUT_MS, 1, on_convo, f);
    }
    if (rc && f) {
        proto_msg_destroy (&f->req);
        free (f->self);
        free (f);
    }
    return rc;
}
