/* api_evals: /api/evals, the results of `caisson eval run` (proto/evals.def,
 * docs/evals.md), which event-log keeps: GET lists the caller's evals,
 * newest first and each without its tasks; GET /api/evals/{id} reads one
 * whole. An eval is its owner's: anyone else's is 404, as for a run; an
 * operator sees every eval and may list another user's with `?user=`.
 * DELETE /api/evals/{id} deletes one (its owner, or an operator). Only the
 * harness stores evals (eval.put on the bus).
 * Path segments and numbers are checked here, so nothing malformed
 * reaches a bus request. */
#include "api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000
#define LIST_MAX 1000       /* eval.list's limit (proto/evals.def) */
#define EVAL_ID_MAX 64

bool
api_eval_id_ok (const char *id)
{
    size_t n = strlen (id);
    if (n == 0 || n > EVAL_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

http_res_t *
api_number (const char *text, const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = 0;
    errno = 0;
    /* digits only: strtoull would take a sign, spaces and "0x" */
    if (text && *text >= '0' && *text <= '9')
        v = strtoull (text, &end, 10);
    if (!end || *end || errno || v < min || v > max)
        return http_res_error (400, "bad_value", "%s: a whole number from %llu to %llu", what,
                               (unsigned long long) min, (unsigned long long) max);
    *out = v;
    return NULL;
}

http_res_t *
api_evals_list (app_t *app, http_req_t *req)
{
    json_t *body = json_object (), *rep;
    const char *limit = http_query (req, "limit"), *user = http_query (req, "user");
    if (limit) {
        uint64_t n;
        http_res_t *bad = api_number (limit, "limit", 1, LIST_MAX, &n);
        if (bad) {
            json_decref (body);
            return bad;
        }
        json_object_set_new (body, "limit", json_integer ((json_int_t) n));
    }
    if (user && strcmp (user, req->user)) {
        if (!req->operator_) {
            json_decref (body);
            return http_res_error (403, "forbidden", "only an operator lists another user's "
                                   "evals (user)");
        }
        json_object_set_new (body, "user", json_string (user));
    }
    http_res_t *err = app_call_json (app, req, "event-log", PROTO_eval_list, body, TIMEOUT_MS,
                                     &rep);
    json_decref (body);
    return err ? err : http_res_json (200, rep);
}

/* eval.get or eval.delete (type) of the eval the path names. */
static http_res_t *
one (app_t *app, http_req_t *req, proto_type_t type)
{
    const char *id = req->params[0];
    if (!api_eval_id_ok (id))
        return http_res_error (400, "bad_value", "eval id in the path: 1 to 64 letters, digits, "
                               "'.', '_' or '-', starting with a letter or digit");
    json_t *body = json_pack ("{s:s}", "id", id), *rep;
    http_res_t *err = app_call_json (app, req, "event-log", type, body, TIMEOUT_MS, &rep);
    json_decref (body);
    return err ? err : http_res_json (200, rep);
}

http_res_t *
api_evals_get (app_t *app, http_req_t *req)
{
    return one (app, req, PROTO_eval_get);
}

http_res_t *
api_evals_delete (app_t *app, http_req_t *req)
{
    return one (app, req, PROTO_eval_delete);
}
