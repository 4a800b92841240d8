/* api_profiles: /api/profiles, the versioned profiles runs use
 * (proto/profiles.def, docs/evals.md § Profiles), kept by event-log. Anyone
 * reads them: the list with what is rolled out, one version, the diff of
 * two. Operators change them: a new version, activate one (for every new
 * run, or a canary share of them), roll back. ui-bridge answers a change
 * from anyone else 403 itself, and event-log refuses it again by the
 * envelope's `op`, so no other door gets round it. The name and version in
 * the path are checked against profiles.def before any bus request. */
#include "api.h"

#include <string.h>

#define TIMEOUT_MS 10000
#define NAME_LEN 32
#define VERSION_MAX 1000000000000ULL
/* profile.create's body may be 256 KiB as msgpack; its JSON (escapes,
 * keys) is somewhat larger */
#define CREATE_BODY_MAX (2 * 262144 + 4096)
#define CHANGE_BODY_MAX 4096

/* `^[a-z][a-z0-9-]{0,31}$` */
static bool
s_name_ok (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > NAME_LEN || name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')
              || name[i] == '-'))
            return false;
    return true;
}

/* NULL when the path's profile name is well-formed, else the 400. */
static http_res_t *
s_check_name (http_req_t *req)
{
    if (s_name_ok (req->params[0]))
        return NULL;
    return http_res_error (400, "bad_value", "profile name in the path: a lower-case letter, "
                           "then at most 31 lower-case letters, digits or '-'");
}

static http_res_t *
s_operators_only (http_req_t *req, const char *what)
{
    return req->operator_ ? NULL
                          : http_res_error (403, "forbidden", "only an operator %s", what);
}

/* req's body (at most max bytes; empty is {} unless required) as a new
 * object in *out, without `name` (the path says it). NULL or the error. */
static http_res_t *
s_body (http_req_t *req, size_t max, bool required, json_t **out)
{
    *out = NULL;
    if (req->body_len > max)
        return http_res_error (413, "body_too_large", "the body may be at most %zu bytes", max);
    if (!req->body_len && !required) {
        *out = json_object ();
        return NULL;
    }
    http_res_t *err = app_body (req, out);
    if (!err && json_object_get (*out, "name")) {
        json_decref (*out);
        *out = NULL;
        err = http_res_error (400, "bad_request", "unknown field 'name': the path names the "
                              "profile");
    }
    return err;
}

/* Asks event-log type with body (taken) plus the path's name; answers its
 * reply with status. */
static http_res_t *
s_ask (app_t *app, http_req_t *req, proto_type_t type, json_t *body, int status)
{
    json_t *rep;
    if (req->nparams)
        json_object_set_new (body, "name", json_string (req->params[0]));
    http_res_t *err = app_call_json (app, req, "event-log", type, body, TIMEOUT_MS, &rep);
    json_decref (body);
    return err ? err : http_res_json (status, rep);
}

http_res_t *
api_profiles_list (app_t *app, http_req_t *req)
{
    return s_ask (app, req, PROTO_profile_list, json_object (), 200);
}

http_res_t *
api_profiles_get (app_t *app, http_req_t *req)
{
    http_res_t *err = s_check_name (req);
    if (err)
        return err;
    json_t *body = json_object ();
    if (req->nparams > 1) {     /* /api/profiles/{name}/{version} */
        uint64_t v;
        if ((err = api_number (req->params[1], "version in the path", 1, VERSION_MAX, &v))) {
            json_decref (body);
            return err;
        }
        json_object_set_new (body, "version", json_integer ((json_int_t) v));
    }
    return s_ask (app, req, PROTO_profile_get, body, 200);
}

http_res_t *
api_profiles_create (app_t *app, http_req_t *req)
{
    json_t *body;
    http_res_t *err = s_check_name (req);
    if (!err)
        err = s_operators_only (req, "creates profile versions");
    if (!err)
        err = s_body (req, CREATE_BODY_MAX, true, &body);
    return err ? err : s_ask (app, req, PROTO_profile_create, body, 201);
}

http_res_t *
api_profiles_activate (app_t *app, http_req_t *req)
{
    json_t *body;
    http_res_t *err = s_check_name (req);
    if (!err)
        err = s_operators_only (req, "activates a profile version");
    if (!err)
        err = s_body (req, CHANGE_BODY_MAX, true, &body);
    return err ? err : s_ask (app, req, PROTO_profile_activate, body, 200);
}

http_res_t *
api_profiles_rollback (app_t *app, http_req_t *req)
{
    json_t *body;
    http_res_t *err = s_check_name (req);
    if (!err)
        err = s_operators_only (req, "rolls a profile back");
    if (!err)
        err = s_body (req, CHANGE_BODY_MAX, false, &body);
    return err ? err : s_ask (app, req, PROTO_profile_rollback, body, 200);
}

http_res_t *
api_profiles_diff (app_t *app, http_req_t *req)
{
    http_res_t *err = s_check_name (req);
    if (err)
        return err;
    uint64_t a, b;
    if ((err = api_number (http_query (req, "a"), "a (the older version)", 1, VERSION_MAX, &a))
        || (err = api_number (http_query (req, "b"), "b (the newer version)", 1, VERSION_MAX,
                              &b)))
        return err;
    json_t *body = json_pack ("{s:I, s:I}", "a", (json_int_t) a, "b", (json_int_t) b);
    return s_ask (app, req, PROTO_profile_diff, body, 200);
}
