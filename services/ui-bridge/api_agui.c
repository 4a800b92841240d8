/* api_agui: POST /agui, the AG-UI 1.0 endpoint CopilotKit front ends call.
 *
 * The body is a RunAgentInput. With `resume`, each entry answers an
 * approval interrupt this endpoint raised earlier (status `resolved`
 * approves unless payload says `approved: false`; `cancelled` declines;
 * payload.reason goes to the model), and the stream continues the same
 * Caisson run after the event that asked. Else, when the messages end
 * with tool messages, they answer calls to the client's own tools (its
 * `tools`, passed to run.start as client_tools) that this endpoint
 * streamed, and the stream continues that run after the call in the same
 * way. Else the last user message is the task of a new Caisson run on the
 * thread (threadId), offered the client's tools, shown its context and
 * state, and the messages before the task the thread's stored turns lack
 * (agui_input.h; the stored turns win where the two disagree); input over
 * its limits ends the stream at once with a RUN_ERROR naming why
 * (`agui_state_too_deep`...). The
 * answer is text/event-stream, one `data: <json>\n\n` per AG-UI event
 * (agui.h), ending with RUN_FINISHED or RUN_ERROR. Input errors before the
 * stream starts are ordinary JSON errors with their status. */
#define _GNU_SOURCE /* asprintf */
#include "api.h"
#include "agui.h"
#include "agui_input.h"
#include "cfg.h"
#include "runroute.h"
#include "runstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    app_t *app;
    runstream_t *rs;
    agui_t *tr;
    json_t *queue;              /* AG-UI events to send */
    size_t at;
    int heartbeat_ms;
    char *pending;
    size_t len, off;
    bool ended;
} agstream_t;

static void
s_free (void *arg)
{
    agstream_t *s = arg;
    runstream_destroy (&s->rs);
    agui_destroy (&s->tr);
    json_decref (s->queue);
    free (s->pending);
    free (s);
}

/* Fills s->pending with the next frame(s). */
static void
s_next (agstream_t *s)
{
    while (s->at == json_array_size (s->queue) && !s->ended) {
        json_array_clear (s->queue);
        s->at = 0;
        json_t *item = runstream_next (s->rs, s->heartbeat_ms);
        if (item) {
            json_int_t rs = json_integer_value (json_object_get (item, "runSeq"));
            s->ended = agui_feed (s->tr, json_string_value (json_object_get (item, "kind")),
                                  json_object_get (item, "data"), (uint64_t) rs, s->queue);
            json_decref (item);
        }
        else if (runstream_error (s->rs) || atomic_load (&s->app->stopping)) {
            agui_fail (s->tr, "stream_failed",
                       runstream_error (s->rs) ? runstream_error (s->rs) : "server stopping",
                       s->queue);
            s->ended = true;
        }
        else {
            s->pending = strdup (": keep-alive\n\n");
            s->len = s->pending ? strlen (s->pending) : 0;
            return;
        }
    }
    if (s->at < json_array_size (s->queue)) {
        s->pending = agui_frame (json_array_get (s->queue, s->at++));
        s->len = s->pending ? strlen (s->pending) : 0;
    }
}

static ssize_t
s_read (void *arg, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    agstream_t *s = arg;
    if (s->off == s->len) {
        free (s->pending);
        s->pending = NULL;
        s->off = s->len = 0;
        s_next (s);
        if (!s->pending)
            return s->ended ? MHD_CONTENT_READER_END_OF_STREAM
                            : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy (buf, s->pending + s->off, n);
    s->off += n;
    return (ssize_t) n;
}

/* Answers every resume entry; fills crun and from with where to go on. */
static http_res_t *
s_resume (app_t *app, http_req_t *req, json_t *resume, char *crun, uint64_t *from)
{
    size_t i;
    json_t *entry;
    json_array_foreach (resume, i, entry) {
        const char *id = json_string_value (json_object_get (entry, "interruptId"));
        const char *status = json_string_value (json_object_get (entry, "status"));
        char run[129], call[129];
        uint64_t seq;
        if (!id || !status || agui_interrupt_parse (id, run, call, &seq))
            return http_res_error (400, "bad_request",
                                   "resume[%zu]: interruptId and status are required, and the "
                                   "id must be one this endpoint raised", i);
        if (i && strcmp (run, crun))
            return http_res_error (400, "bad_request", "resume entries name different runs");
        json_t *rec;
        http_res_t *err = api_run_record (app, req, run, &rec);
        if (err)
            return err;
        json_t *payload = json_object_get (entry, "payload");
        bool approve = !strcmp (status, "resolved")
                    && !json_is_false (json_is_object (payload)
                                           ? json_object_get (payload, "approved") : payload);
        const char *reason = json_string_value (json_object_get (payload, "reason"));
        err = api_run_decide (app, req, rec, run, call, approve, reason);
        json_decref (rec);
        if (err)
            return err;
        snprintf (crun, 129, "%s", run);
        if (seq + 1 > *from)
            *from = seq + 1;
    }
    return NULL;
}

/* Sends each trailing tool message of messages (the client's answers to
 * calls to its tools) to the orchestrator that owns the run; fills crun
 * and from with where to go on. NULL, or the error to answer. */
static http_res_t *
s_answer (app_t *app, http_req_t *req, json_t *messages, char *crun, uint64_t *from)
{
    size_t first = json_array_size (messages);
    while (first > 0
           && !strcmp (json_string_value (json_object_get (json_array_get (messages, first - 1),
                                                           "role")) ?: "", "tool"))
        first--;
    for (size_t i = first; i < json_array_size (messages); i++) {
        json_t *m = json_array_get (messages, i);
        const char *id = json_string_value (json_object_get (m, "toolCallId"));
        json_t *content = json_object_get (m, "content"), *error = json_object_get (m, "error");
        char run[129], call[129];
        uint64_t seq;
        if (!id || !json_is_string (content) || (error && !json_is_string (error))
            || agui_interrupt_parse (id, run, call, &seq))
            return http_res_error (400, "bad_request",
                                   "messages[%zu]: a tool message needs toolCallId and content "
                                   "(strings; error too when present), and the id must be a "
                                   "call this endpoint streamed", i);
        if (i > first && strcmp (run, crun))
            return http_res_error (400, "bad_request", "tool messages answer different runs");
        json_t *rec;
        http_res_t *err = api_run_record (app, req, run, &rec);
        if (err)
            return err;
        char service[160];
        runroute_of_record (rec, service, sizeof service);
        json_decref (rec);
        /* a failed tool's error is what the model should read */
        json_t *body = json_pack ("{s:s, s:s, s:O}", "runId", run, "toolCallId", call,
                                  "content", error ? error : content), *rep;
        if (error)
            json_object_set_new (body, "failed", json_true ());
        err = app_call_json (app, req, service, PROTO_run_tool_result, body, 10000, &rep);
        json_decref (body);
        json_decref (rep);
        if (err)
            return err;
        snprintf (crun, 129, "%s", run);
        if (seq + 1 > *from)
            *from = seq + 1;
    }
    return NULL;
}

/* A stream that opens the AG-UI run and ends it at once with RUN_ERROR of
 * code: what the client sent cannot start a run. */
static http_res_t *
s_refused (const char *thread, const char *run, const char *code, const char *why)
{
    json_t *started = json_pack ("{s:s, s:s, s:s}", "type", "RUN_STARTED", "threadId", thread,
                                 "runId", run);
    json_t *error = json_pack ("{s:s, s:s, s:s}", "type", "RUN_ERROR", "message", why,
                               "code", code);
    char *a = started ? agui_frame (started) : NULL, *b = error ? agui_frame (error) : NULL;
    json_decref (started);
    json_decref (error);
    char *body = NULL;
    http_res_t *res = NULL;
    if (a && b && asprintf (&body, "%s%s", a, b) >= 0) {
        res = http_res_bytes (200, "text/event-stream", body, strlen (body), true);
        free (body);
    }
    free (a);
    free (b);
    if (res)
        http_res_header (res, "Cache-Control", "no-store");
    return res;
}

/* Starts a Caisson run for in's task on thread, with the client's tools,
 * context, state and the history the stored thread lacks (agui_input.h).
 * NULL with crun filled, or the response to give instead. */
static http_res_t *
s_start (app_t *app, http_req_t *req, json_t *in, const char *task, const char *thread,
         const char *run, char *crun)
{
    char code[32], why[512];
    if (agui_input_check (in, code, sizeof code, why, sizeof why))
        return s_refused (thread, run, code, why);
    /* the stored thread, when there is history to compare with it */
    json_t *convo = NULL;
    http_res_t *err = NULL;
    if (json_array_size (json_object_get (in, "messages")) > 1) {
        json_t *body = json_pack ("{s:s}", "threadId", thread);
        err = app_call_json (app, req, "event-log", PROTO_thread_get, body, 10000, &convo);
        json_decref (body);
    }
    if (err && http_res_status (err) != 404)
        return err;
    /* not_found: a new thread, or another user's, which run.start refuses */
    http_res_destroy (&err);
    json_t *extra = json_object ();
    json_t *tools = json_object_get (in, "tools"), *context = json_object_get (in, "context");
    json_t *state = json_object_get (in, "state");
    if (json_array_size (tools))
        json_object_set (extra, "clientTools", tools);
    if (json_array_size (context))
        json_object_set (extra, "context", context);
    if (state && !json_is_null (state))
        json_object_set (extra, "state", state);
    json_object_set_new (extra, "clientHistory",
                         agui_input_history (in, json_object_get (convo, "runs")));
    json_decref (convo);
    err = api_run_start (app, req, task, thread, extra, crun);
    json_decref (extra);
    return err;
}

/* True when messages end with a tool message: the client answers. */
static bool
ends_with_tool (json_t *messages)
{
    json_t *last = json_array_get (messages, json_array_size (messages) - 1);
    return !strcmp (json_string_value (json_object_get (last, "role")) ?: "", "tool");
}

/* The stream of the run a resume or an answer continues, from after the
 * last event its ids name (as s_resume and s_answer find them; they
 * refuse ids they cannot use), live before they act: the run goes on at
 * once, and the deltas of its next turn are never stored, so a
 * subscription made after would miss its first ones (the turn's message
 * then lacked its start). NULL when no id parses. */
static runstream_t *
s_follow (app_t *app, http_req_t *req, json_t *resume, json_t *messages)
{
    bool answer = !json_array_size (resume);
    json_t *list = answer ? messages : resume;
    char run[129] = "", call[129];
    uint64_t from = 0, seq;
    for (size_t i = json_array_size (list); i > 0; i--) {
        json_t *m = json_array_get (list, i - 1);
        if (answer && strcmp (json_string_value (json_object_get (m, "role")) ?: "", "tool"))
            break;
        const char *id = json_string_value (json_object_get (m, answer ? "toolCallId"
                                                                       : "interruptId"));
        if (id && !agui_interrupt_parse (id, run, call, &seq) && seq + 1 > from)
            from = seq + 1;
    }
    runstream_t *rs = from ? runstream_new (app, req, run, from) : NULL;
    if (rs)
        runstream_sync (rs);
    return rs;
}

http_res_t *
api_agui (app_t *app, http_req_t *req)
{
    json_t *in;
    http_res_t *err = app_body (req, &in);
    if (err)
        return err;
    const char *thread = json_string_value (json_object_get (in, "threadId"));
    const char *run = json_string_value (json_object_get (in, "runId"));
    json_t *messages = json_object_get (in, "messages");
    json_t *resume = json_object_get (in, "resume");
    json_t *tools = json_object_get (in, "tools");
    if (!thread || !run || (messages && !json_is_array (messages))
        || (resume && !json_is_array (resume)) || (tools && !json_is_array (tools))) {
        json_decref (in);
        return http_res_error (400, "bad_request", "a RunAgentInput needs threadId and runId "
                               "(strings); messages, resume and tools are arrays");
    }
    char crun[129] = "";
    uint64_t from = 1;
    runstream_t *rs = NULL;
    if (json_array_size (resume) || ends_with_tool (messages))
        rs = s_follow (app, req, resume, messages);
    if (json_array_size (resume))
        err = s_resume (app, req, resume, crun, &from);
    else if (ends_with_tool (messages))
        err = s_answer (app, req, messages, crun, &from);
    else {
        const char *task = agui_input_task (messages);
        err = task ? s_start (app, req, in, task, thread, run, crun)
                   : http_res_error (400, "bad_request", "no user message to act on");
    }
    if (err) {
        runstream_destroy (&rs);
        json_decref (in);
        return err;
    }
    agstream_t *s = calloc (1, sizeof *s);
    if (!s) {
        runstream_destroy (&rs);
        json_decref (in);
        return NULL;
    }
    s->app = app;
    s->heartbeat_ms = (int) cfg_u64 ("CAISSON_SSE_HEARTBEAT_MS");
    s->queue = json_array ();
    s->tr = agui_new (thread, run, crun);
    s->rs = rs ? rs : runstream_new (app, req, crun, from);
    json_decref (in);
    if (!s->tr || !s->rs || !s->queue) {
        s_free (s);
        return http_res_error (503, "bus_unavailable", "cannot follow the run's events");
    }
    agui_start (s->tr, s->queue);
    http_res_t *res = http_res_stream ("text/event-stream", s_read, s, s_free);
    if (!res) {
        s_free (s);
        return NULL;
    }
    http_res_header (res, "Cache-Control", "no-store");
    return res;
}
