/* api_memory: /api/memory, a user's working memory (proto/memory.def),
 * which event-log keeps: GET reads it, PUT changes it, checked against the
 * version read. `?thread=` names a thread's own document; an operator may
 * name another user's with `?user=` (anyone else is told there is none). */
#include "api.h"

#include <string.h>

#define TIMEOUT_MS 5000

/* The query's thread and user into body. */
static void
whose (http_req_t *req, json_t *body)
{
    static const char *const q[] = { "thread", "user" };
    for (size_t i = 0; i < 2; i++)
        if (http_query (req, q[i]))
            json_object_set_new (body, q[i], json_string (http_query (req, q[i])));
}

http_res_t *
api_memory_get (app_t *app, http_req_t *req)
{
    json_t *body = json_object (), *rep;
    whose (req, body);
    http_res_t *err = app_call_json (app, req, "event-log", PROTO_memory_get, body, TIMEOUT_MS,
                                     &rep);
    json_decref (body);
    return err ? err : http_res_json (200, rep);
}

http_res_t *
api_memory_put (app_t *app, http_req_t *req)
{
    json_t *in, *rep;
    http_res_t *err = app_body (req, &in);
    if (err)
        return err;
    /* a person's change: `by` and `run` are not theirs to say */
    static const char *const allowed[] = { "content", "mode", "old", "new", "version",
                                           "anyVersion" };
    json_t *body = json_object ();
    const char *key;
    json_t *v;
    json_object_foreach (in, key, v) {
        size_t i = 0;
        while (i < sizeof allowed / sizeof allowed[0] && strcmp (allowed[i], key))
            i++;
        if (i == sizeof allowed / sizeof allowed[0]) {
            /* key is in's: the answer is made before in goes */
            http_res_t *res = http_res_error (400, "bad_value", "unknown field '%s': expected "
                                              "content, mode, old, new, version, anyVersion",
                                              key);
            json_decref (body);
            json_decref (in);
            return res;
        }
        json_object_set (body, key, v);
    }
    json_decref (in);
    whose (req, body);
    json_object_set_new (body, "by", json_string ("user"));
    err = app_call_json (app, req, "event-log", PROTO_memory_put, body, TIMEOUT_MS, &rep);
    json_decref (body);
    return err ? err : http_res_json (200, rep);
}
