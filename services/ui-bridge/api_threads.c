/* api_threads: conversation threads over HTTP, kept by event-log
 * (`thread.*`, `threads.list`): list, create, read as a conversation,
 * rename, delete. A thread is its owner's: anyone else gets 404, as for a
 * run. Deleting asks for the thread's id again as `?confirm=<id>`, so a
 * stray DELETE (a retried request meant for another thread, a script's
 * wrong variable) cannot take a conversation and its runs with it. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000
#define DELETE_TIMEOUT_MS 30000     /* event-log asks every orchestrator first */

static http_res_t *
s_bad_id (const char *id)
{
    return http_res_error (404, "not_found", "no thread '%s'", id);
}

http_res_t *
api_threads_list (app_t *app, http_req_t *req)
{
    json_t *body = json_object (), *rep;
    if (http_query (req, "before"))
        json_object_set_new (body, "before", json_string (http_query (req, "before")));
    const char *limit = http_query (req, "limit");
    if (limit)
        json_object_set_new (body, "limit", json_integer (strtoll (limit, NULL, 10)));
    if (req->operator_ && http_query (req, "user"))
        json_object_set_new (body, "user", json_string (http_query (req, "user")));
    http_res_t *err = app_call_json (app, req, "event-log", PROTO_threads_list, body, TIMEOUT_MS,
                                     &rep);
    json_decref (body);
    return err ? err : http_res_json (200, rep);
}

/* A body of at most the one field title (a string), or the 400. */
static http_res_t *
s_title_body (http_req_t *req, bool required, json_t **out)
{
    json_t *in = NULL;
    *out = NULL;
    http_res_t *bad = req->body_len || required ? app_body (req, &in) : NULL;
    if (bad)
        return bad;
    const char *key;
    json_t *v;
    json_object_foreach (in, key, v)
        if (strcmp (key, "title") || !json_is_string (v)) {
            http_res_t *res = http_res_error (400, "bad_request", "only the field 'title' (a "
                                              "string) is accepted, got '%s'", key);
            json_decref (in);       /* key is in */
            return res;
        }
    if (required && !json_object_get (in, "title")) {
        json_decref (in);
        return http_res_error (400, "bad_request", "field 'title' is required (a string)");
    }
    *out = in ? in : json_object ();
    return NULL;
}

http_res_t *
api_threads_create (app_t *app, http_req_t *req)
{
    json_t *body, *rep;
    http_res_t *err = s_title_body (req, false, &body);
    if (err)
        return err;
    err = app_call_json (app, req, "event-log", PROTO_thread_create, body, TIMEOUT_MS, &rep);
    json_decref (body);
    if (err)
        return err;
    json_t *t = json_incref (json_object_get (rep, "thread"));
    json_decref (rep);
    return http_res_json (201, t);
}

http_res_t *
api_threads_get (app_t *app, http_req_t *req)
{
    const char *id = req->params[0];
    if (!app_valid_id (id, 128))
        return s_bad_id (id);
    json_t *body = json_pack ("{s:s}", "threadId", id), *rep;
    http_res_t *err = app_call_json (app, req, "event-log", PROTO_thread_get, body, TIMEOUT_MS,
                                     &rep);
    json_decref (body);
    return err ? err : http_res_json (200, rep);
}

http_res_t *
api_threads_rename (app_t *app, http_req_t *req)
{
    const char *id = req->params[0];
    if (!app_valid_id (id, 128))
        return s_bad_id (id);
    json_t *body, *rep;
    http_res_t *err = s_title_body (req, true, &body);
    if (err)
        return err;
    json_object_set_new (body, "threadId", json_string (id));
    err = app_call_json (app, req, "event-log", PROTO_thread_rename, body, TIMEOUT_MS, &rep);
    json_decref (body);
    if (err)
        return err;
    json_t *t = json_incref (json_object_get (rep, "thread"));
    json_decref (rep);
    return http_res_json (200, t);
}

http_res_t *
api_threads_delete (app_t *app, http_req_t *req)
{
    const char *id = req->params[0];
    if (!app_valid_id (id, 128))
        return s_bad_id (id);
    const char *confirm = http_query (req, "confirm");
    if (!confirm || strcmp (confirm, id))
        return http_res_error (400, "confirm_required", "deleting a thread deletes its runs, "
                               "transcripts and artifacts: repeat its id as ?confirm=%s", id);
    json_t *body = json_pack ("{s:s}", "threadId", id), *rep;
    http_res_t *err = app_call_json (app, req, "event-log", PROTO_thread_delete, body,
                                     DELETE_TIMEOUT_MS, &rep);
    json_decref (body);
    return err ? err : http_res_json (200, rep);
}
