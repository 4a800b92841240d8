/* router: the route table, authentication, and shared route helpers.
 * See app.h. */
#include "app.h"
#include "api.h"
#include "clog.h"
#include "mcp_http.h"
#include "pjson.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *method;
    const char *pattern;        /* "{}" matches one path segment */
    const char *name;           /* the metrics label */
    bool auth;
    route_fn *fn;
} route_t;

static const route_t s_routes[] = {
    { "GET",    "/healthz",                     "healthz",           false, api_healthz },
    { "GET",    "/metrics",                     "metrics",           false, api_metrics },
    { "POST",   "/api/runs",                    "runs.start",        true,  api_runs_start },
    { "GET",    "/api/runs",                    "runs.list",         true,  api_runs_list },
    { "GET",    "/api/runs/{}",                 "runs.get",          true,  api_runs_get },
    { "GET",    "/api/runs/{}/events",          "runs.events",       true,  api_runs_events },
    { "POST",   "/api/runs/{}/approve",         "runs.approve",      true,  api_runs_approve },
    { "POST",   "/api/runs/{}/decline",         "runs.decline",      true,  api_runs_decline },
    { "POST",   "/api/runs/{}/cancel",          "runs.cancel",       true,  api_runs_cancel },
    { "GET",    "/api/runs/{}/transcript",      "runs.transcript",   true,  api_runs_transcript },
    { "GET",    "/api/threads",                 "threads.list",      true,  api_threads_list },
    { "POST",   "/api/threads",                 "threads.create",    true,  api_threads_create },
    { "GET",    "/api/threads/{}",              "threads.get",       true,  api_threads_get },
    { "PATCH",  "/api/threads/{}",              "threads.rename",    true,  api_threads_rename },
    { "DELETE", "/api/threads/{}",              "threads.delete",    true,  api_threads_delete },
    { "POST",   "/agui",                        "agui",              true,  api_agui },
    /* /mcp checks Origin before the token, and answers 401 its own way */
    { "POST",   "/mcp",                         "mcp",               false, api_mcp_post },
    { "GET",    "/mcp",                         "mcp",               false, api_mcp_get },
    { "DELETE", "/mcp",                         "mcp",               false, api_mcp_delete },
    { "GET",    "/api/memory",                  "memory.get",        true,  api_memory_get },
    { "PUT",    "/api/memory",                  "memory.put",        true,  api_memory_put },
    { "GET",    "/api/mcp",                     "mcp.config.get",    true,  api_mcp_config_get },
    { "PUT",    "/api/mcp",                     "mcp.config.put",    true,  api_mcp_config_put },
    { "DELETE", "/api/mcp",                     "mcp.config.put",    true,  api_mcp_config_delete },
    { "GET",    "/api/artifacts/{}",            "artifacts.get",     true,  api_artifacts_get },
    { "GET",    "/api/keys",                    "keys.list",         true,  api_keys_list },
    { "POST",   "/api/keys",                    "keys.create",       true,  api_keys_create },
    { "DELETE", "/api/keys/{}",                 "keys.revoke",       true,  api_keys_revoke },
    { "GET",    "/api/keys/{}/usage",           "keys.usage",        true,  api_keys_usage },
    { "GET",    "/api/usage",                   "usage",             true,  api_usage },
    { "PUT",    "/api/users/{}/budget",         "users.budget",      true,  api_user_budget },
    { "GET",    "/api/spend",                   "spend",             true,  api_spend },
    { "GET",    "/api/evals",                   "evals.list",        true,  api_evals_list },
    { "GET",    "/api/evals/{}",                "evals.get",         true,  api_evals_get },
    { "DELETE", "/api/evals/{}",                "evals.delete",      true,  api_evals_delete },
    { "GET",    "/api/profiles",                "profiles.list",     true,  api_profiles_list },
    { "GET",    "/api/profiles/{}",             "profiles.get",      true,  api_profiles_get },
    { "POST",   "/api/profiles/{}",             "profiles.create",   true,  api_profiles_create },
    /* before /{}/{}: "diff" is no version */
    { "GET",    "/api/profiles/{}/diff",        "profiles.diff",     true,  api_profiles_diff },
    { "GET",    "/api/profiles/{}/{}",          "profiles.get",      true,  api_profiles_get },
    { "POST",   "/api/profiles/{}/activate",    "profiles.activate", true,  api_profiles_activate },
    { "POST",   "/api/profiles/{}/rollback",    "profiles.rollback", true,  api_profiles_rollback },
    { "GET",    "/api/sandboxes",               "sandboxes.list",    true,  api_sandboxes_list },
    { "POST",   "/api/sandboxes",               "sandboxes.create",  true,  api_sandboxes_create },
    { "GET",    "/api/sandboxes/{}",            "sandboxes.get",     true,  api_sandboxes_get },
    { "DELETE", "/api/sandboxes/{}",            "sandboxes.delete",  true,  api_sandboxes_delete },
    { "POST",   "/api/sandboxes/{}/exec",       "sandboxes.exec",    true,  api_sandboxes_exec },
    { "GET",    "/api/sandboxes/{}/files",      "sandboxes.files",   true,  api_sandboxes_files },
    { "GET",    "/api/sandboxes/{}/file",       "sandboxes.read",    true,  api_sandboxes_read },
    { "PUT",    "/api/sandboxes/{}/files",      "sandboxes.write",   true,  api_sandboxes_write },
    { "GET",    "/api/sandboxes/{}/processes",  "sandboxes.procs",   true,  api_sandboxes_procs },
    { "POST",   "/api/sandboxes/{}/net",        "sandboxes.net",     true,  api_sandboxes_net },
    { "GET",    "/api/sandboxes/{}/processes/{}/output", "sandboxes.proc_output", true,
      api_sandboxes_proc_output },
    { "POST",   "/api/sandboxes/{}/processes/{}/wait", "sandboxes.proc_wait", true,
      api_sandboxes_proc_wait },
    { "POST",   "/api/sandboxes/{}/processes/{}/kill", "sandboxes.proc_kill", true,
      api_sandboxes_proc_kill },
};
#define NROUTES (sizeof s_routes / sizeof s_routes[0])

/* Matches path against pattern, capturing {} segments into req. */
static bool
s_match (const char *pattern, const char *path, http_req_t *req, bool capture)
{
    const char *p = pattern, *s = path;
    int n = 0;
    while (*p && *s) {
        if (p[0] == '{' && p[1] == '}') {
            size_t len = strcspn (s, "/");
            if (len == 0 || n == HTTP_MAX_PARAMS)
                return false;
            if (capture)
                req->params[n] = strndup (s, len);
            n++;
            s += len;
            p += 2;
        }
        else if (*p++ != *s++)
            return false;
    }
    if (capture)
        req->nparams = n;
    return !*p && (!*s || (s[0] == '/' && !s[1]));
}

http_res_t *
router_handle (http_req_t *req, void *arg)
{
    app_t *app = arg;
    const route_t *found = NULL;
    char allow[128] = "";
    for (size_t i = 0; i < NROUTES; i++) {
        if (!s_match (s_routes[i].pattern, req->path, req, false))
            continue;
        if (!strcmp (s_routes[i].method, req->method)) {
            found = &s_routes[i];
            break;
        }
        size_t n = strlen (allow);
        if (!strstr (allow, s_routes[i].method))    /* two GET patterns may match a path */
            snprintf (allow + n, sizeof allow - n, "%s%s", n ? ", " : "", s_routes[i].method);
    }
    if (!found) {
        bool api = !strncmp (req->path, "/api/", 5) || !strcmp (req->path, "/agui");
        if (*allow) {
            req->route = "method_not_allowed";
            http_res_t *res = http_res_error (405, "method_not_allowed",
                                              "%s is not allowed on %s", req->method,
                                              req->path);
            if (res)
                http_res_header (res, "Allow", allow);
            return res;
        }
        if (!api && (!strcmp (req->method, "GET") || !strcmp (req->method, "HEAD"))) {
            req->route = "static";
            return api_static (app, req);
        }
        req->route = "not_found";
        return http_res_error (404, "not_found", "no route for %s %s", req->method, req->path);
    }
    req->route = found->name;
    s_match (found->pattern, req->path, req, true);
    if (found->auth) {
        http_res_t *denied = auth_check (app->auth, req);
        if (denied)
            return denied;
    }
    return found->fn (app, req);
}

void
router_done (const http_req_t *req, int status, void *arg)
{
    app_t *app = arg;
    auth_release (app->auth, req);
    if (!status)
        return;
    double secs = (double) ((uint64_t) zclock_usecs () - req->started_us) / 1e6;
    char labels[256] = "", code[8];
    snprintf (code, sizeof code, "%d", status);
    metrics_label (labels, sizeof labels, "route", req->route ? req->route : "other");
    metrics_observe (app->metrics, "caisson_http_request_duration_seconds", labels, secs);
    metrics_label (labels, sizeof labels, "status", code);
    metrics_add (app->metrics, "caisson_http_requests_total", labels, 1);
    clog_info (req->corr, "%s %s %d %.1f ms user=%s request_id=%s", req->method, req->path,
               status, secs * 1000, *req->user ? req->user : "-", req->request_id);
}

http_res_t *
app_body (http_req_t *req, json_t **obj)
{
    *obj = NULL;
    if (!req->body_len)
        return http_res_error (400, "bad_json", "a JSON object body is required");
    json_error_t err;
    json_t *doc = json_loadb (req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        return http_res_error (400, "bad_json", "body is not JSON: %s at line %d column %d",
                               err.text, err.line, err.column);
    if (!json_is_object (doc)) {
        json_decref (doc);
        return http_res_error (400, "bad_json", "the body must be a JSON object");
    }
    *obj = doc;
    return NULL;
}

proto_msg_t *
app_msg (http_req_t *req, proto_type_t type)
{
    proto_msg_t *msg = proto_msg_new (type, NULL);
    proto_set_str (&msg->env.corr, req->corr);
    if (*req->user)
        proto_set_str (&msg->env.user, req->user);
    /* every service below checks owners against these two */
    msg->env.op = req->operator_;
    return msg;
}

bool
app_valid_id (const char *id, size_t max)
{
    size_t n = strlen (id);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z')
              || (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
            return false;
    return true;
}

bool
app_visible (const http_req_t *req, const char *owner)
{
    return req->operator_ || (owner && !strcmp (owner, req->user));
}

/* The HTTP status for an `error` reply's code, as proto/errors.def declares
 * it. A code it does not declare comes from a peer of another version: the
 * fault lies behind the gateway, not with the client, so 502. */
static int
s_status_for (const char *code)
{
    proto_ecode_t known = proto_error_lookup (code);
    return known < PROTO_ERR_COUNT ? proto_error_status (known) : 502;
}

http_res_t *
app_call (app_t *app, const char *service, proto_msg_t *msg, int timeout_ms, proto_msg_t **rep)
{
    *rep = NULL;
    if (!msg)
        return http_res_error (500, "internal", "out of memory");
    int64_t t0 = zclock_usecs ();
    proto_msg_t *r = buspool_request (app->bus, service, msg, timeout_ms);
    double took = (double) (zclock_usecs () - t0) / 1e6;
    char labels[128] = "";
    const char *dot = strchr (service, '.');
    char svc[64];
    snprintf (svc, sizeof svc, "%.*s", (int) (dot ? (size_t) (dot - service) : strlen (service)),
              service);
    metrics_label (labels, sizeof labels, "service", svc);
    metrics_observe (app->metrics, "caisson_bus_request_duration_seconds", labels,
                     took);
    const char *type = proto_type_name (msg->type);
    proto_msg_destroy (&msg);
    if (!r)
        return http_res_error (504, "bus_timeout", "%s did not answer %s in time", svc, type);
    if (r->type != PROTO_error) {       /* the declared reply (bus_client.h) */
        *rep = r;
        return NULL;
    }
    http_res_t *res = http_res_error (s_status_for (r->body.error.code), r->body.error.code, "%s",
                                      r->body.error.message);
    proto_msg_destroy (&r);
    return res;
}

http_res_t *
app_reply_json (int status, proto_msg_t *rep)
{
    json_t *doc = pjson_from_body (rep);
    proto_msg_destroy (&rep);
    if (!doc)
        return http_res_error (502, "bad_reply", "the reply did not convert to JSON");
    return http_res_json (status, doc);
}

http_res_t *
app_call_json (app_t *app, http_req_t *req, const char *service, proto_type_t type, json_t *obj,
               int timeout_ms, json_t **out)
{
    *out = NULL;
    proto_msg_t *msg = app_msg (req, type), *rep;
    char why[256];
    if (msg && pjson_to_body (msg, obj, NULL, why, sizeof why)) {
        proto_msg_destroy (&msg);
        return http_res_error (400, "bad_request", "%s", why);
    }
    http_res_t *err = app_call (app, service, msg, timeout_ms, &rep);
    if (err)
        return err;
    *out = pjson_from_body (rep);
    proto_msg_destroy (&rep);
    return *out ? NULL : http_res_error (502, "bad_reply",
                                         "the answer to %s did not convert to JSON",
                                         proto_type_name (type));
}
