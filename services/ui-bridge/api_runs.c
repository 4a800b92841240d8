/* api_runs: runs over HTTP. Starting, approving, declining and cancelling
 * go to the orchestrator (`run.*`); listing, records, event history,
 * transcripts and artifacts come from event-log. Messages are named by
 * their types in proto/ and fields by their HTTP names (app_call_json converts,
 * see pjson.h), so this file follows those services'
 * contracts as declared in proto/. A run is its starter's: anyone else
 * gets 404 for it, its events, transcript and artifacts; operators see
 * all. */
#include "api.h"
#include "cfg.h"
#include "runroute.h"
#include "runstream.h"

#include <czmq.h>

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000
#define ROUTE_TIMEOUT_MS 3000

/* Where run.start on thread (NULL: a new one) goes: the orchestrator
 * that holds the thread's conversation, while it is there
 * (runroute_thread), else any instance. */
static void
start_service (app_t *app, http_req_t *req, const char *thread, char *service, size_t len)
{
    snprintf (service, len, "orchestrator");
    bus_client_t *client = thread && *thread ? buspool_take (app->bus) : NULL;
    proto_msg_t *cause = client ? app_msg (req, PROTO_thread_get) : NULL;
    if (cause) {
        bus_client_set_timeout (client, ROUTE_TIMEOUT_MS, 1);
        runroute_thread (client, cause, thread, service, len);
    }
    proto_msg_destroy (&cause);
    if (client)
        buspool_give (app->bus, client);
}

/* The run's record when the caller may see it; else the 404 to send. */
http_res_t *
api_run_record (app_t *app, http_req_t *req, const char *id, json_t **record)
{
    *record = NULL;
    if (!app_valid_id (id, 128))
        return http_res_error (404, "not_found", "no run '%s'", id);
    json_t *body = json_pack ("{s:s}", "run", id), *rep;
    http_res_t *err = app_call_json (app, req, "event-log", PROTO_run_record_get, body, TIMEOUT_MS,
                                     &rep);
    json_decref (body);
    if (err)
        return err;
    json_t *run = json_object_get (rep, "run");
    json_t *rec = json_is_object (run) ? json_incref (run) : json_incref (rep);
    json_decref (rep);
    const char *owner = json_string_value (json_object_get (rec, "user"));
    if (!app_visible (req, owner)) {
        json_decref (rec);
        return http_res_error (404, "not_found", "no run '%s'", id);
    }
    *record = rec;
    return NULL;
}

/* Waits (at most 3 s) until event-log has the new run's record, so a
 * client that opens the run's events or record right after the 201 finds
 * it: the orchestrator answers run.start before its first event is
 * committed. */
static void
s_await_record (app_t *app, http_req_t *req, json_t *run_id)
{
    const char *id = json_string_value (run_id);
    if (!id)
        return;
    for (int i = 0; i < 150 && !atomic_load (&app->stopping); i++) {
        json_t *body = json_pack ("{s:s}", "run", id), *rep;
        http_res_t *err = app_call_json (app, req, "event-log", PROTO_run_record_get, body, 1000,
                                         &rep);
        json_decref (body);
        json_decref (rep);
        if (!err)
            return;
        int status = http_res_status (err);
        http_res_destroy (&err);
        if (status != 404)
            return;
        zclock_sleep (20);
    }
}

http_res_t *
api_runs_start (app_t *app, http_req_t *req)
{
    json_t *in;
    http_res_t *bad = app_body (req, &in);
    if (bad)
        return bad;
    static const char *const allowed[] = { "task", "threadId", "model", "budgets", "policy" };
    json_t *body = json_object ();
    const char *key;
    json_t *v;
    json_object_foreach (in, key, v) {
        size_t i = 0;
        while (i < 5 && strcmp (allowed[i], key))
            i++;
        if (i == 5) {
            http_res_t *res = http_res_error (400, "bad_request", "unknown field '%s'", key);
            json_decref (body);
            json_decref (in);
            return res;
        }
        json_object_set (body, key, v);
    }
    json_decref (in);
    if (!json_is_string (json_object_get (body, "task"))) {
        json_decref (body);
        return http_res_error (400, "bad_request", "field 'task' is required (a string)");
    }
    json_t *rep;
    char service[160];
    start_service (app, req, json_string_value (json_object_get (body, "threadId")), service,
                   sizeof service);
    http_res_t *err = app_call_json (app, req, service, PROTO_run_start, body, 30000, &rep);
    json_decref (body);
    if (err)
        return err;
    json_t *out = json_object ();
    json_object_set (out, "runId", json_object_get (rep, "runId"));
    s_await_record (app, req, json_object_get (out, "runId"));
    json_t *thread = json_object_get (rep, "threadId");
    if (thread)
        json_object_set (out, "threadId", thread);
    if (json_object_get (rep, "model"))
        json_object_set (out, "model", json_object_get (rep, "model"));
    json_decref (rep);
    return http_res_json (201, out);
}

http_res_t *
api_runs_list (app_t *app, http_req_t *req)
{
    json_t *body = json_object (), *rep;
    static const char *const q[] = { "status", "thread", "before" };
    for (size_t i = 0; i < 3; i++)
        if (http_query (req, q[i]))
            json_object_set_new (body, q[i], json_string (http_query (req, q[i])));
    const char *limit = http_query (req, "limit");
    if (limit)
        json_object_set_new (body, "limit", json_integer (strtoll (limit, NULL, 10)));
    const char *user = req->operator_ ? http_query (req, "user") : req->user;
    if (user)
        json_object_set_new (body, "user", json_string (user));
    http_res_t *err = app_call_json (app, req, "event-log", PROTO_runs_list, body, TIMEOUT_MS,
                                     &rep);
    json_decref (body);
    return err ? err : http_res_json (200, rep);
}

http_res_t *
api_runs_get (app_t *app, http_req_t *req)
{
    json_t *rec;
    http_res_t *err = api_run_record (app, req, req->params[0], &rec);
    return err ? err : http_res_json (200, rec);
}

http_res_t *
api_run_decide (app_t *app, http_req_t *req, const json_t *record, const char *run,
                const char *call, bool approve, const char *reason)
{
    char service[160];
    runroute_of_record (record, service, sizeof service);
    proto_type_t type = approve ? PROTO_run_approve : PROTO_run_decline;
    json_t *body = json_pack ("{s:s,s:s}", "runId", run,
                              "toolCallId", call), *rep;
    if (reason)
        json_object_set_new (body, "reason", json_string (reason));
    http_res_t *err = app_call_json (app, req, service, type, body, TIMEOUT_MS, &rep);
    json_decref (body);
    json_decref (rep);
    return err;
}

/* approve, decline, cancel: the orchestrator acts; the answer is run.info. */
static http_res_t *
s_act (app_t *app, http_req_t *req, proto_type_t type)
{
    json_t *rec, *in = NULL, *rep;
    http_res_t *err = api_run_record (app, req, req->params[0], &rec);
    if (err)
        return err;
    char service[160];
    runroute_of_record (rec, service, sizeof service);
    json_decref (rec);
    json_t *body = json_pack ("{s:s}", "runId", req->params[0]);
    if (type != PROTO_run_cancel) {
        if ((err = app_body (req, &in))) {
            json_decref (body);
            return err;
        }
        json_t *call = json_object_get (in, "toolCallId"), *reason = json_object_get (in, "reason");
        if (!json_is_string (call) || (reason && !json_is_string (reason))) {
            json_decref (in);
            json_decref (body);
            return http_res_error (400, "bad_request",
                                   "field 'toolCallId' (a string) is required; 'reason' is a string");
        }
        json_object_set (body, "toolCallId", call);
        if (reason)
            json_object_set (body, "reason", reason);
        json_decref (in);
    }
    err = app_call_json (app, req, service, type, body, TIMEOUT_MS, &rep);
    json_decref (body);
    return err ? err : http_res_json (200, rep);
}

http_res_t *
api_runs_approve (app_t *app, http_req_t *req)
{
    return s_act (app, req, PROTO_run_approve);
}

http_res_t *
api_runs_decline (app_t *app, http_req_t *req)
{
    return s_act (app, req, PROTO_run_decline);
}

http_res_t *
api_runs_cancel (app_t *app, http_req_t *req)
{
    return s_act (app, req, PROTO_run_cancel);
}

http_res_t *
api_runs_transcript (app_t *app, http_req_t *req)
{
    json_t *rec, *rep;
    http_res_t *err = api_run_record (app, req, req->params[0], &rec);
    if (err)
        return err;
    json_decref (rec);
    const char *format = http_query (req, "format");
    bool md = format && (!strcmp (format, "md") || !strcmp (format, "markdown"));
    if (format && !md && strcmp (format, "jsonl"))
        return http_res_error (400, "bad_request", "format must be md or jsonl");
    json_t *body = json_pack ("{s:s,s:s}", "run", req->params[0], "format",
                              md ? "markdown" : "jsonl");
    err = app_call_json (app, req, "event-log", PROTO_transcript_get, body, 30000, &rep);
    json_decref (body);
    if (err)
        return err;
    const char *text = json_string_value (json_object_get (rep, "text"));
    http_res_t *res = http_res_bytes (200, md ? "text/markdown; charset=utf-8"
                                              : "application/x-ndjson",
                                      text ? text : "", text ? strlen (text) : 0, true);
    json_decref (rep);
    return res;
}

/* True when the run record rec lists hash among its artifacts (its
 * `artifact` events): the run produced it. */
static bool
s_run_has_artifact (const json_t *rec, const char *hash)
{
    size_t i;
    json_t *a;
    json_array_foreach (json_object_get (rec, "artifacts"), i, a)
        if (!strcmp (json_string_value (json_object_get (a, "hash")) ?: "", hash))
            return true;
    return false;
}

/* GET /api/artifacts/{hash}?run=ID: artifacts are content-addressed and
 * shared, so a user reaches one through a run of theirs that produced it
 * (an `artifact` event); naming its hash in a task or a message is no
 * claim to it. event-log checks the same for the envelope's user. */
http_res_t *
api_artifacts_get (app_t *app, http_req_t *req)
{
    const char *hash = req->params[0], *run = http_query (req, "run");
    if (strlen (hash) != 64 || strspn (hash, "0123456789abcdef") != 64)
        return http_res_error (404, "not_found", "no artifact '%s'", hash);
    if (!req->operator_) {
        json_t *rec;
        if (!run)
            return http_res_error (404, "not_found", "no artifact '%s' (name its run: ?run=)",
                                   hash);
        http_res_t *err = api_run_record (app, req, run, &rec);
        if (err)
            return err;
        bool produced = s_run_has_artifact (rec, hash);
        json_decref (rec);
        if (!produced)
            return http_res_error (404, "not_found", "no artifact '%s' in run %s", hash, run);
    }
    json_t *body = json_pack ("{s:s}", "hash", hash), *rep;
    http_res_t *err = app_call_json (app, req, "event-log", PROTO_artifact_get, body, 30000, &rep);
    json_decref (body);
    if (err)
        return err;
    const char *data = json_string_value (json_object_get (rep, "data"));
    const char *kind = json_string_value (json_object_get (rep, "kind"));
    http_res_t *res = http_res_bytes (200, kind && !strcmp (kind, "diff")
                                             ? "text/x-diff; charset=utf-8"
                                             : "text/plain; charset=utf-8",
                                      data ? data : "", data ? strlen (data) : 0, true);
    if (res && kind)
        http_res_header (res, "X-Artifact-Kind", kind);
    json_decref (rep);
    return res;
}

/* ---- GET /api/runs/{id}/events ------------------------------------------ */

typedef struct {
    app_t *app;
    runstream_t *rs;
    int heartbeat_ms;
    char *pending;              /* the frame being sent */
    size_t len, off;
    bool ended;
} sse_t;

static void
s_sse_free (void *arg)
{
    sse_t *s = arg;
    runstream_destroy (&s->rs);
    free (s->pending);
    free (s);
}

/* The next frame: an event, an error that ends the stream, or a
 * keep-alive comment. Sets s->pending and s->len. */
static void
s_sse_frame (sse_t *s)
{
    json_t *item = runstream_next (s->rs, s->heartbeat_ms);
    if (item) {
        char *data = json_dumps (item, JSON_COMPACT);
        const char *kind = json_string_value (json_object_get (item, "kind"));
        json_int_t rs = json_integer_value (json_object_get (item, "runSeq"));
        size_t n = (data ? strlen (data) : 0) + strlen (kind) + 64;
        if ((s->pending = malloc (n)) && data)
            s->len = (size_t) (rs ? snprintf (s->pending, n, "id: %lld\nevent: %s\ndata: %s\n\n",
                                              (long long) rs, kind, data)
                                  : snprintf (s->pending, n, "event: %s\ndata: %s\n\n", kind,
                                              data));
        s->ended = runstream_terminal (kind);
        free (data);
        json_decref (item);
        return;
    }
    const char *why = runstream_error (s->rs);
    if (why || atomic_load (&s->app->stopping)) {
        json_t *err = json_pack ("{s:s}", "message", why ? why : "the server is stopping");
        char *data = json_dumps (err, JSON_COMPACT);
        json_decref (err);
        size_t n = strlen (data) + 32;
        if ((s->pending = malloc (n)))
            s->len = (size_t) snprintf (s->pending, n, "event: error\ndata: %s\n\n", data);
        free (data);
        s->ended = true;
        return;
    }
    s->pending = strdup (": keep-alive\n\n");
    s->len = s->pending ? strlen (s->pending) : 0;
}

/* MHD asks for bytes: hands out the current frame, making the next when
 * it is sent. Blocks in runstream_next, so the connection never spins. */
static ssize_t
s_sse_read (void *arg, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    sse_t *s = arg;
    if (s->off == s->len) {
        free (s->pending);
        s->pending = NULL;
        s->off = s->len = 0;
        if (s->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        s_sse_frame (s);
        if (!s->pending)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy (buf, s->pending + s->off, n);
    s->off += n;
    return (ssize_t) n;
}

/* Resumes after Last-Event-ID (or ?after=N): the run_seq last seen. */
http_res_t *
api_runs_events (app_t *app, http_req_t *req)
{
    json_t *rec;
    http_res_t *err = api_run_record (app, req, req->params[0], &rec);
    if (err)
        return err;
    json_decref (rec);
    const char *last = http_header (req, "Last-Event-ID");
    if (!last)
        last = http_query (req, "after");
    uint64_t after = last ? strtoull (last, NULL, 10) : 0;
    sse_t *s = calloc (1, sizeof *s);
    if (!s)
        return NULL;
    s->app = app;
    s->heartbeat_ms = (int) cfg_u64 ("CAISSON_SSE_HEARTBEAT_MS");
    s->rs = runstream_new (app, req, req->params[0], after + 1);
    if (!s->rs) {
        free (s);
        return http_res_error (503, "bus_unavailable", "cannot subscribe to the run's events");
    }
    http_res_t *res = http_res_stream ("text/event-stream", s_sse_read, s, s_sse_free);
    if (!res) {
        s_sse_free (s);
        return NULL;
    }
    http_res_header (res, "Cache-Control", "no-store");
    http_res_header (res, "X-Accel-Buffering", "no");
    return res;
}

http_res_t *
api_run_start (app_t *app, http_req_t *req, const char *task, const char *thread,
               const json_t *extra, char *run_id)
{
    json_t *body = json_pack ("{s:s}", "task", task), *rep;
    if (thread)
        json_object_set_new (body, "threadId",
                             json_string (thread));
    json_object_update (body, (json_t *) extra);
    char service[160];
    start_service (app, req, thread, service, sizeof service);
    http_res_t *err = app_call_json (app, req, service, PROTO_run_start, body, 30000, &rep);
    json_decref (body);
    if (err)
        return err;
    const char *id = json_string_value (json_object_get (rep, "runId"));
    snprintf (run_id, 129, "%s", id ? id : "");
    json_decref (rep);
    return NULL;
}
