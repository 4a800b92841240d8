/* mcp_run: see mcp_run.h. The stream follows the run with runstream.h,
 * as /agui does, so history and live events come with no gap. */
#define _GNU_SOURCE /* asprintf */
#include "mcp_run.h"
#include "api.h"
#include "cfg.h"
#include "mcp_hangup.h"
#include "runroute.h"
#include "runstream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLIGHT_MAX 256
#define KEY_MAX 512
#define POLL_MS 500
#define RUN_MAX 129

typedef struct _follow_t follow_t;

struct _mcp_run_t {
    pthread_mutex_t lock;
    follow_t *flight[FLIGHT_MAX];   /* calls under way, for cancellation */
};

/* One caisson_run call's stream. */
struct _follow_t {
    app_t *app;
    mcp_run_t *owner;
    http_req_t req;                 /* corr and user, for the requests it makes */
    runstream_t *rs;
    mcp_hangup_t *watch;
    json_t *id, *token, *extra;     /* JSON-RPC id, progressToken, result extras */
    json_t *artifacts;
    char run[RUN_MAX], thread[RUN_MAX], key[KEY_MAX], base[300];
    int heartbeat_ms, idle_ms;
    bool modern;
    double progress;
    uint64_t step;
    char *pending;
    size_t len, off;
    bool ended;
    atomic_bool cancelled;
    atomic_bool answered;           /* the result is queued: a hang-up cancels nothing */
    mcp_follow_hooks_t hooks;       /* all NULL for caisson_run */
    void *harg;
};

mcp_run_t *
mcp_run_new (void)
{
    mcp_run_t *self = calloc (1, sizeof *self);
    if (self)
        pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
mcp_run_destroy (mcp_run_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pthread_mutex_destroy (&(*self_p)->lock);
    free (*self_p);
    *self_p = NULL;
}

json_t *
mcp_run_tool (void)
{
    return json_pack (
        "{s:s, s:s, s:s,"
        " s:{s:s, s:{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}, s:[s], s:b},"
        " s:{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s},"
        "  s:{s:s, s:{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}, s:[s, s]}}},"
        "  s:[s, s, s, s, s]},"
        " s:{s:b, s:b, s:b, s:b}}",
        "name", MCP_RUN_TOOL, "title", "Run a Caisson agent",
        "description", "Delegates a coding task to a Caisson agent run, in sandboxes of your "
        "own: streams its steps as progress, and returns its final answer, status and "
        "artifacts. Gated tool calls wait for approval in Caisson (UI or `caisson approve`).",
        "inputSchema", "type", "object", "properties",
        "task", "type", "string", "description", "What to do, in plain words",
        "threadId", "type", "string", "description", "A thread of yours to continue",
        "model", "type", "string", "description", "`provider/model`; default: the deployment's",
        "required", "task", "additionalProperties", 0,
        "outputSchema", "type", "object", "properties",
        "runId", "type", "string", "threadId", "type", "string", "status", "type", "string",
        "answer", "type", "string", "reason", "type", "string",
        "artifacts", "type", "array", "items", "type", "object", "properties",
        "name", "type", "string", "kind", "type", "string", "size", "type", "integer",
        "url", "type", "string", "required", "kind", "url",
        "required", "runId", "threadId", "status", "answer", "artifacts",
        "annotations", "readOnlyHint", 0, "destructiveHint", 1, "idempotentHint", 0,
        "openWorldHint", 1);
}

void
mcp_run_cancel_run (app_t *app, http_req_t *req, const char *run)
{
    json_t *rec, *rep = NULL;
    http_res_t *err = api_run_record (app, req, run, &rec);
    if (err) {
        http_res_destroy (&err);
        return;
    }
    char service[160];
    runroute_of_record (rec, service, sizeof service);
    json_decref (rec);
    json_t *body = json_pack ("{s:s}", "runId", run);
    err = app_call_json (app, req, service, PROTO_run_cancel, body, 10000, &rep);
    json_decref (body);
    json_decref (rep);
    http_res_destroy (&err);
}

/* Records (on) or forgets a call under way. A full table leaves a call
 * uncancellable, not refused. */
static void
s_fly (mcp_run_t *self, follow_t *f, bool on)
{
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < FLIGHT_MAX; i++)
        if (on ? !self->flight[i] : self->flight[i] == f) {
            self->flight[i] = on ? f : NULL;
            break;
        }
    pthread_mutex_unlock (&self->lock);
}

int
mcp_run_cancel (mcp_run_t *self, app_t *app, http_req_t *req, const char *key)
{
    char run[RUN_MAX] = "";
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < FLIGHT_MAX && !*run; i++)
        if (self->flight[i] && !strcmp (self->flight[i]->key, key)) {
            snprintf (run, sizeof run, "%s", self->flight[i]->run);
            atomic_store (&self->flight[i]->cancelled, true);
        }
    pthread_mutex_unlock (&self->lock);
    if (!*run)
        return -1;
    mcp_run_cancel_run (app, req, run);
    return 0;
}

/* A 2026-era client closed its call's stream: that cancels the run. */
static void
s_hung_up (void *arg)
{
    follow_t *f = arg;
    /* a client closing once it has its answer (a 2026 input_required
     * leaves the run waiting for the retry) is not cancelling */
    if (!atomic_load (&f->answered) && !atomic_exchange (&f->cancelled, true))
        mcp_run_cancel_run (f->app, &f->req, f->run);
}

static void
s_free (void *arg)
{
    follow_t *f = arg;
    mcp_hangup_stop (&f->watch);
    s_fly (f->owner, f, false);
    /* a stream cut before its result: a 2026-era cancellation */
    if (f->modern && !f->ended && !atomic_exchange (&f->cancelled, true))
        mcp_run_cancel_run (f->app, &f->req, f->run);
    runstream_destroy (&f->rs);
    json_decref (f->id);
    json_decref (f->token);
    json_decref (f->extra);
    json_decref (f->artifacts);
    free (f->pending);
    if (f->hooks.free)
        f->hooks.free (f->harg);
    free (f);
}

/* Queues one SSE message frame carrying the JSON-RPC message msg (taken),
 * after any frame queued already. */
static void
s_frame (follow_t *f, json_t *msg)
{
    char *text = msg ? json_dumps (msg, JSON_COMPACT) : NULL, *joined = NULL;
    json_decref (msg);
    if (text && asprintf (&joined, "%sevent: message\ndata: %s\n\n", f->pending ?: "",
                          text) >= 0) {
        free (f->pending);
        f->pending = joined;
    }
    free (text);
    f->len = f->pending ? strlen (f->pending) : 0;
}

/* The final frame: result (taken) answers the call, extras merged under
 * its own keys. */
static void
s_answer (follow_t *f, json_t *result)
{
    if (result && f->extra)
        json_object_update_missing (result, f->extra);
    atomic_store (&f->answered, true);
    s_frame (f, json_pack ("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", f->id, "result",
                           result));
    f->ended = true;
}

/* A progress notification saying message, when the client asked. */
static void
s_progress (follow_t *f, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static void
s_progress (follow_t *f, const char *fmt, ...)
{
    if (!f->token)
        return;
    char message[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    f->progress += 1;
    s_frame (f, json_pack ("{s:s, s:s, s:{s:O, s:f, s:s}}", "jsonrpc", "2.0", "method",
                           "notifications/progress", "params", "progressToken", f->token,
                           "progress", f->progress, "message", message));
}

/* The final frame: the run ended with status (answer or reason). */
static void
s_result (follow_t *f, const char *status, const char *answer, const char *reason)
{
    if (f->hooks.ended) {
        s_answer (f, f->hooks.ended (f->harg, status, answer, reason));
        return;
    }
    json_t *out = json_pack ("{s:s, s:s, s:s, s:s, s:O}", "runId", f->run, "threadId",
                             f->thread, "status", status, "answer", answer ? answer : "",
                             "artifacts", f->artifacts);
    if (out && reason)
        json_object_set_new (out, "reason", json_string (reason));
    bool ok = !strcmp (status, "completed");
    char *text = NULL;
    if (ok || asprintf (&text, "run %s %s: %s", f->run, status, reason ? reason : "") < 0)
        text = json_dumps (out, JSON_COMPACT);
    json_t *result = json_pack ("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text",
                                "text", text ? text : "", "structuredContent", out,
                                "isError", !ok);
    free (text);
    s_answer (f, result);
}

/* Turns one run event into the frame to send (none for most). */
static void
s_event (follow_t *f, const char *kind, const json_t *data)
{
    const char *name = json_string_value (json_object_get (data, "name"));
    if (!strcmp (kind, "run_started")) {
        const char *thread = json_string_value (json_object_get (data, "threadId"));
        snprintf (f->thread, sizeof f->thread, "%s", thread ? thread : "");
    }
    else if (!strcmp (kind, "step_started")) {
        f->step = (uint64_t) json_integer_value (json_object_get (data, "step"));
        s_progress (f, "step %llu", (unsigned long long) f->step);
    }
    else if (!strcmp (kind, "tool_call") && name)
        s_progress (f, "step %llu: %s", (unsigned long long) f->step, name);
    else if (!strcmp (kind, "ask_approval") && name)
        s_progress (f, "awaiting approval: %s (approve in Caisson: caisson approve %s %s)",
                    name, f->run,
                    json_string_value (json_object_get (data, "toolCallId")) ?: "");
    else if (!strcmp (kind, "artifact")) {
        const char *hash = json_string_value (json_object_get (data, "hash"));
        char url[512];
        snprintf (url, sizeof url, "%s/api/artifacts/%s?run=%s", f->base, hash ? hash : "",
                  f->run);
        json_t *a = json_pack ("{s:s, s:s}", "kind", json_string_value (json_object_get (
                                   data, "kind")) ?: "file", "url", url);
        if (json_object_get (data, "name"))
            json_object_set (a, "name", json_object_get (data, "name"));
        if (json_object_get (data, "size"))
            json_object_set (a, "size", json_object_get (data, "size"));
        json_array_append_new (f->artifacts, a);
    }
    else if (!strcmp (kind, "complete"))
        s_result (f, "completed", json_string_value (json_object_get (data, "answer")), NULL);
    else if (runstream_terminal (kind))
        s_result (f, json_string_value (json_object_get (data, "status")) ?: "failed", NULL,
                  json_string_value (json_object_get (data, "reason")) ?: "the run failed");
    bool is_result = false;
    json_t *msg = f->hooks.seen && !f->ended ? f->hooks.seen (f->harg, kind, data, &is_result)
                                             : NULL;
    if (msg && is_result)
        s_answer (f, msg);
    else if (msg)
        s_frame (f, msg);
}

/* Fills f->pending with the next frame: an event's, a keep-alive, or the
 * result. Leaves it empty when the stream must end. */
static void
s_next (follow_t *f)
{
    while (!f->pending && !f->ended) {
        if (atomic_load (&f->cancelled) && f->modern)
            return;
        char why[256];
        if (f->hooks.expired && f->hooks.expired (f->harg, why, sizeof why)) {
            atomic_store (&f->cancelled, true);
            mcp_run_cancel_run (f->app, &f->req, f->run);
            s_result (f, "timed_out", NULL, why);
            return;
        }
        json_t *item = runstream_next (f->rs, POLL_MS);
        if (item) {
            f->idle_ms = 0;
            s_event (f, json_string_value (json_object_get (item, "kind")) ?: "",
                     json_object_get (item, "data"));
            json_decref (item);
        }
        else if (runstream_error (f->rs) || atomic_load (&f->app->stopping))
            s_result (f, "unknown", NULL, runstream_error (f->rs)
                      ? runstream_error (f->rs) : "Caisson is stopping: follow the run there");
        else if ((f->idle_ms += POLL_MS) >= f->heartbeat_ms) {
            f->idle_ms = 0;
            f->pending = strdup (": keep-alive\n\n");
            f->len = f->pending ? strlen (f->pending) : 0;
        }
    }
}

static ssize_t
s_read (void *arg, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    follow_t *f = arg;
    if (f->off == f->len) {
        bool was_last = f->ended;
        free (f->pending);
        f->pending = NULL;
        f->off = f->len = 0;
        if (was_last)
            return MHD_CONTENT_READER_END_OF_STREAM;
        s_next (f);
        if (!f->pending)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = f->len - f->off < max ? f->len - f->off : max;
    memcpy (buf, f->pending + f->off, n);
    f->off += n;
    return (ssize_t) n;
}

/* A JSON answer: an error result saying text. */
static http_res_t *
s_refuse (const json_t *id, const json_t *extra, const char *text)
{
    json_t *result = json_pack ("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text",
                                text, "isError", 1);
    if (result && extra)
        json_object_update (result, (json_t *) extra);
    return http_res_json (200, json_pack ("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id,
                                          "result", result));
}

/* A follow's state for a call of params with JSON-RPC id (NULL when out
 * of memory): the run not yet named. */
static follow_t *
s_follow_new (mcp_run_t *self, app_t *app, http_req_t *req, const json_t *id,
              const json_t *params, const json_t *extra, bool modern, const char *key)
{
    follow_t *f = calloc (1, sizeof *f);
    if (!f)
        return NULL;
    f->app = app;
    f->owner = self;
    memcpy (f->req.corr, req->corr, sizeof f->req.corr);
    memcpy (f->req.user, req->user, sizeof f->req.user);
    f->req.operator_ = false;           /* MCP acts as the token's user, never more */
    f->modern = modern;
    f->heartbeat_ms = (int) cfg_u64 ("CAISSON_SSE_HEARTBEAT_MS");
    f->id = json_incref ((json_t *) id);
    f->token = json_incref (json_object_get (json_object_get (params, "_meta"),
                                             "progressToken"));
    f->extra = extra ? json_deep_copy (extra) : NULL;
    f->artifacts = json_array ();
    snprintf (f->key, sizeof f->key, "%s", key ? key : "");
    const char *host = http_header (req, "Host");
    snprintf (f->base, sizeof f->base, "http://%.256s", host ? host : "localhost");
    return f;
}

/* The SSE response following f's run (f is its state from then on). */
static http_res_t *
s_stream (mcp_run_t *self, follow_t *f, http_req_t *req)
{
    bool modern = f->modern;
    f->rs = runstream_new (f->app, req, f->run, 1);
    http_res_t *res = f->rs ? http_res_stream ("text/event-stream", s_read, f, s_free) : NULL;
    if (!res) {
        s_free (f);
        return NULL;
    }
    http_res_header (res, "Cache-Control", "no-cache, no-transform");
    http_res_header (res, "X-Accel-Buffering", "no");
    s_fly (self, f, true);
    const union MHD_ConnectionInfo *info =
        modern ? MHD_get_connection_info (req->conn, MHD_CONNECTION_INFO_CONNECTION_FD) : NULL;
    f->watch = info ? mcp_hangup_start (info->connect_fd, s_hung_up, f) : NULL;
    return res;
}

http_res_t *
mcp_run_call (mcp_run_t *self, app_t *app, http_req_t *req, const json_t *id,
              const json_t *params, const json_t *extra, bool modern, const char *key)
{
    json_t *args = json_object_get (params, "arguments");
    const char *task = json_string_value (json_object_get (args, "task"));
    json_t *thread = json_object_get (args, "threadId"), *model = json_object_get (args, "model");
    if (!task || !*task || (thread && !json_is_string (thread))
        || (model && !json_is_string (model)))
        return s_refuse (id, extra, "Input validation error: caisson_run needs task (a "
                         "non-empty string); threadId and model are strings");
    follow_t *f = s_follow_new (self, app, req, id, params, extra, modern, key);
    if (!f)
        return NULL;
    json_t *more = model ? json_pack ("{s:O}", "model", model) : NULL;
    http_res_t *err = api_run_start (app, &f->req, task, json_string_value (thread), more,
                                     f->run);
    json_decref (more);
    if (err || !*f->run) {
        int status = err ? http_res_status (err) : 502;
        http_res_destroy (&err);
        char text[512];
        if (status == 404 || status == 403)
            snprintf (text, sizeof text, "caisson_run refused: no thread %.128s of yours",
                      json_string_value (thread) ?: "");
        else
            snprintf (text, sizeof text, "caisson_run could not start the run (HTTP %d)",
                      status);
        f->ended = true;
        s_free (f);
        return s_refuse (id, extra, text);
    }
    snprintf (f->thread, sizeof f->thread, "%s", json_string_value (thread) ?: "");
    return s_stream (self, f, req);
}

http_res_t *
mcp_run_follow (mcp_run_t *self, app_t *app, http_req_t *req, const json_t *id,
                const char *run, const json_t *params, const json_t *extra, bool modern,
                const char *key, const mcp_follow_hooks_t *hooks, void *arg)
{
    follow_t *f = s_follow_new (self, app, req, id, params, extra, modern, key);
    if (!f) {
        if (hooks && hooks->free)
            hooks->free (arg);
        return NULL;
    }
    if (hooks)
        f->hooks = *hooks;
    f->harg = arg;
    snprintf (f->run, sizeof f->run, "%s", run);
    return s_stream (self, f, req);
}
