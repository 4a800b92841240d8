/* api_sandboxes: sandboxes over HTTP, as the CLI drives them over the
 * bus. Requests go to `sandbox-manager.<instance>` (the host that owns a
 * sandbox: the part of its id before `-`), carry the caller as the
 * envelope's user, and a sandbox that is someone else's answers 404, as
 * one that does not exist does (operators see all). */
#include "api.h"
#include "pjson.h"
#include "runroute.h"
#include "sandbox_id.h"

#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000
#define SVC "sandbox-manager"

static http_res_t *
not_found (const char *id)
{
    return http_res_error (404, "not_found", "no sandbox '%s'", id);
}

/* Checks that req's {id} names a sandbox the caller may see; fills
 * service with its manager's address. Returns NULL, or the error to send;
 * *info_p receives the sandbox.info when info_p is not NULL. */
static http_res_t *
s_owned (app_t *app, http_req_t *req, char *service, size_t len, proto_msg_t **info_p)
{
    const char *id = req->params[0];
    if (!sandbox_id_valid (id))
        return not_found (id);
    runroute_sandbox (id, service, len);
    proto_msg_t *msg = app_msg (req, PROTO_sandbox_get), *rep;
    if (msg)
        proto_set_str (&msg->body.sandbox_get.sandbox_id, id);
    http_res_t *err = app_call (app, service, msg, TIMEOUT_MS, &rep);
    if (err)
        return err;
    bool ok = app_visible (req, rep->body.sandbox_info.user);
    if (ok && info_p)
        *info_p = rep;
    else
        proto_msg_destroy (&rep);
    return ok ? NULL : not_found (id);
}

/* A sandbox.listed entry with its keys (sandbox.info's wire names) in
 * their HTTP spelling; the values, labels included, as they are. */
static json_t *
s_http_entry (json_t *entry)
{
    json_t *o = json_object (), *v;
    const char *key;
    char http[64];
    json_object_foreach (entry, key, v)
        json_object_set (o, pjson_http_name (key, http, sizeof http), v);
    return o;
}

json_t *
api_sandboxes_all (app_t *app, http_req_t *req, const char *user, const char *status,
                   int timeout_ms, int retries)
{
    bus_client_t *client = buspool_take (app->bus);
    if (!client)
        return NULL;
    bus_client_set_timeout (client, timeout_ms, retries);
    json_t *addrs = runroute_instances (client, SVC), *all = NULL, *addr;
    size_t i;
    json_array_foreach (addrs, i, addr) {
        proto_msg_t *msg = app_msg (req, PROTO_sandbox_list), *rep = NULL;
        if (msg && status)
            proto_set_str (&msg->body.sandbox_list.status, status);
        if (msg && user)
            proto_set_str (&msg->body.sandbox_list.user, user);
        if (msg)
            rep = bus_client_request (client, json_string_value (addr), msg);
        proto_msg_destroy (&msg);
        json_t *doc = rep && rep->type != PROTO_error ? pjson_from_body (rep) : NULL;
        proto_msg_destroy (&rep);
        /* A host that does not answer leaves its sandboxes out, not the rest. */
        if (doc && !all)
            all = json_array ();
        json_t *e;
        size_t j;
        json_array_foreach (json_object_get (doc, "sandboxes"), j, e)
            json_array_append_new (all, s_http_entry (e));
        json_decref (doc);
    }
    json_decref (addrs);
    buspool_give (app->bus, client);
    return all;
}

http_res_t *
api_sandboxes_list (app_t *app, http_req_t *req)
{
    const char *status = http_query (req, "status");
    if (status && strlen (status) > 16)
        status = NULL;
    const char *user = !req->operator_ ? req->user : http_query (req, "user");
    json_t *all = api_sandboxes_all (app, req, user, status, TIMEOUT_MS, 1);
    if (!all)
        return http_res_error (504, "bus_timeout", "no sandbox-manager answered sandbox.list");
    json_t *mine = json_array ();
    size_t i;
    json_t *s;
    /* The manager filtered by user already; this keeps the rule here too. */
    json_array_foreach (all, i, s)
        if (app_visible (req, json_string_value (json_object_get (s, "user"))))
            json_array_append (mine, s);
    json_decref (all);
    return http_res_json (200, json_pack ("{s:o}", "sandboxes", mine));
}

http_res_t *
api_sandboxes_create (app_t *app, http_req_t *req)
{
    json_t *body;
    http_res_t *bad = app_body (req, &body);
    if (bad)
        return bad;
    proto_msg_t *msg = app_msg (req, PROTO_sandbox_create), *rep;
    char why[256];
    if (msg && pjson_to_body (msg, body, NULL, why, sizeof why)) {
        json_decref (body);
        proto_msg_destroy (&msg);
        return http_res_error (400, "bad_request", "%s", why);
    }
    json_decref (body);
    http_res_t *err = app_call (app, SVC, msg, 60000, &rep);
    return err ? err : app_reply_json (201, rep);
}

http_res_t *
api_sandboxes_get (app_t *app, http_req_t *req)
{
    char service[160];
    proto_msg_t *info = NULL;
    http_res_t *err = s_owned (app, req, service, sizeof service, &info);
    return err ? err : app_reply_json (200, info);
}

http_res_t *
api_sandboxes_delete (app_t *app, http_req_t *req)
{
    char service[160];
    http_res_t *err = s_owned (app, req, service, sizeof service, NULL);
    if (err)
        return err;
    proto_msg_t *msg = app_msg (req, PROTO_sandbox_destroy), *rep;
    if (msg)
        proto_set_str (&msg->body.sandbox_destroy.sandbox_id, req->params[0]);
    err = app_call (app, service, msg, 30000, &rep);
    return err ? err : app_reply_json (200, rep);
}

/* Sends a request of type built from the JSON body (sandboxId from the
 * path) to the sandbox's manager, and answers its declared reply. */
static http_res_t *
s_forward (app_t *app, http_req_t *req, proto_type_t type, json_t *body, int timeout_ms)
{
    char service[160];
    http_res_t *err = s_owned (app, req, service, sizeof service, NULL);
    if (err) {
        json_decref (body);
        return err;
    }
    static const char *const skip[] = { "sandboxId", NULL };
    proto_msg_t *msg = app_msg (req, type), *rep;
    char why[256];
    if (!msg || pjson_to_body (msg, body, skip, why, sizeof why)) {
        json_decref (body);
        proto_msg_destroy (&msg);
        return http_res_error (400, "bad_request", "%s", msg ? why : "out of memory");
    }
    json_decref (body);
    /* Every request of the family starts with sandboxId. */
    char **id = (char **) ((char *) &msg->body + proto_def (type)->fields[0].offset);
    proto_set_str (id, req->params[0]);
    err = app_call (app, service, msg, timeout_ms, &rep);
    return err ? err : app_reply_json (200, rep);
}

http_res_t *
api_sandboxes_exec (app_t *app, http_req_t *req)
{
    json_t *body;
    http_res_t *bad = app_body (req, &body);
    if (bad)
        return bad;
    json_int_t secs = json_integer_value (json_object_get (body, "timeoutSeconds"));
    int timeout_ms = (int) ((secs > 0 && secs < 86400 ? secs : 60) * 1000 + 10000);
    return s_forward (app, req, PROTO_sandbox_exec, body, timeout_ms);
}

/* POST .../net {allowAdd?, allowRemove?, denyAdd?, reason?}: changes a
 * policy sandbox's egress rules while it runs (sandbox.net.update); the
 * sandbox's info with the rules in force. The manager checks the ceiling. */
http_res_t *
api_sandboxes_net (app_t *app, http_req_t *req)
{
    json_t *body;
    http_res_t *bad = app_body (req, &body);
    if (bad)
        return bad;
    return s_forward (app, req, PROTO_sandbox_net_update, body, 30000);
}

/* GET .../files?path=&depth=: a directory listing. */
http_res_t *
api_sandboxes_files (app_t *app, http_req_t *req)
{
    const char *path = http_query (req, "path");
    const char *depth = http_query (req, "depth");
    json_t *body = json_pack ("{s:s}", "path", path && *path ? path : ".");
    if (depth)
        json_object_set_new (body, "depth", json_integer (strtoll (depth, NULL, 10)));
    return s_forward (app, req, PROTO_sandbox_list_files, body, TIMEOUT_MS);
}

/* GET .../file?path=: one file's content. */
http_res_t *
api_sandboxes_read (app_t *app, http_req_t *req)
{
    const char *path = http_query (req, "path");
    if (!path || !*path)
        return http_res_error (400, "bad_request", "query parameter 'path' is required");
    return s_forward (app, req, PROTO_sandbox_read_file, json_pack ("{s:s}", "path", path),
                      TIMEOUT_MS);
}

/* PUT .../files {files: [{path, data}]}: writes several files. */
http_res_t *
api_sandboxes_write (app_t *app, http_req_t *req)
{
    json_t *body;
    http_res_t *bad = app_body (req, &body);
    if (bad)
        return bad;
    return s_forward (app, req, PROTO_sandbox_write_files, body, 30000);
}

/* GET .../processes: the sandbox's background processes. */
http_res_t *
api_sandboxes_procs (app_t *app, http_req_t *req)
{
    return s_forward (app, req, PROTO_sandbox_exec_list, json_object (), TIMEOUT_MS);
}

/* Wait, output and kill of one background process: {pid} from the path,
 * an optional body ({timeoutSeconds} for wait, {signal} for kill). The
 * CLI's default wait of 60 s applies when none (or 0) is given. */
static http_res_t *
s_proc (app_t *app, http_req_t *req, proto_type_t type)
{
    const char *pid = req->params[1];
    char *end;
    unsigned long long n = strtoull (pid, &end, 10);
    if (!*pid || *end || *pid == '-' || n == 0)
        return http_res_error (400, "bad_request", "'%s' is not a process id", pid);
    json_t *body = json_object ();
    if (req->body_len) {
        json_decref (body);
        http_res_t *bad = app_body (req, &body);
        if (bad)
            return bad;
    }
    json_object_set_new (body, "pid", json_integer ((json_int_t) n));
    int timeout_ms = TIMEOUT_MS;
    if (type == PROTO_sandbox_exec_wait) {
        /* The manager reads 0 as an hour; here it is the default, so the
         * bridge and the manager wait as long as each other. */
        json_t *t = json_object_get (body, "timeoutSeconds");
        json_int_t secs = json_integer_value (t);
        if (!t || (json_is_integer (t) && secs == 0)) {
            secs = 60;
            json_object_set_new (body, "timeoutSeconds", json_integer (secs));
        }
        timeout_ms = (int) ((secs > 0 && secs < 86400 ? secs : 60) * 1000 + 10000);
    }
    return s_forward (app, req, type, body, timeout_ms);
}

/* Query parameter name as a number from 0 to max into *v (0 when
 * absent); -1 when it is something else. */
static int
query_u64 (http_req_t *req, const char *name, uint64_t max, uint64_t *v)
{
    const char *s = http_query (req, name);
    char *end;
    *v = 0;
    if (!s)
        return 0;
    errno = 0;
    unsigned long long n = strtoull (s, &end, 10);
    if (!isdigit ((unsigned char) *s) || *end || errno || n > max)
        return -1;
    *v = n;
    return 0;
}

/* The part of doc's stream key from byte offset since (clamped, moved on
 * to a character's start), set in place; returns the stream's length. */
static json_int_t
s_slice (json_t *doc, const char *key, uint64_t since)
{
    const char *s = json_string_value (json_object_get (doc, key));
    size_t n = s ? strlen (s) : 0, at = since < n ? (size_t) since : n;
    while (at < n && ((unsigned char) s[at] & 0xC0) == 0x80)
        at++;
    json_t *part = json_stringn (s ? s + at : "", n - at);
    json_object_set_new (doc, key, part ? part : json_string (""));
    return (json_int_t) n;
}

/* GET .../output[?since=&stderrSince=&wait=]: the output so far; with an
 * offset (the last answer's offset, stderrOffset) only what came after
 * it, and with wait (up to 25 s) once there is some or the process ended.
 * The sandbox keeps each stream's head, so offsets stay valid. */
http_res_t *
api_sandboxes_proc_output (app_t *app, http_req_t *req)
{
    uint64_t since, esince, wait;
    if (query_u64 (req, "since", INT64_MAX, &since)
        || query_u64 (req, "stderrSince", INT64_MAX, &esince) || query_u64 (req, "wait", 25, &wait))
        return http_res_error (400, "bad_request", "since and stderrSince are byte offsets, "
                               "wait is 0 to 25 seconds");
    if (!http_query (req, "since") && !http_query (req, "stderrSince") && !wait)
        return s_proc (app, req, PROTO_sandbox_exec_output);
    const char *pid = req->params[1];
    char *end, service[160];
    unsigned long long n = strtoull (pid, &end, 10);
    if (!*pid || *end || *pid == '-' || n == 0)
        return http_res_error (400, "bad_request", "'%s' is not a process id", pid);
    http_res_t *err = s_owned (app, req, service, sizeof service, NULL);
    if (err)
        return err;
    int64_t until = zclock_mono () + (int64_t) wait * 1000;
    proto_msg_t *rep = NULL;
    for (;;) {
        proto_msg_t *msg = app_msg (req, PROTO_sandbox_exec_output);
        if (msg) {
            proto_set_str (&msg->body.sandbox_exec_output.sandbox_id, req->params[0]);
            msg->body.sandbox_exec_output.pid = n;
        }
        if ((err = app_call (app, service, msg, TIMEOUT_MS, &rep)))
            return err;
        const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
        if (!r->running || (r->stdout && strlen (r->stdout) > since)
            || (r->stderr && strlen (r->stderr) > esince) || zclock_mono () >= until)
            break;
        proto_msg_destroy (&rep);
        zclock_sleep (200);
    }
    json_t *doc = pjson_from_body (rep);
    proto_msg_destroy (&rep);
    if (!doc)
        return http_res_error (502, "bad_reply", "the reply did not convert to JSON");
    json_object_set_new (doc, "offset", json_integer (s_slice (doc, "stdout", since)));
    json_object_set_new (doc, "stderrOffset", json_integer (s_slice (doc, "stderr", esince)));
    return http_res_json (200, doc);
}

http_res_t *
api_sandboxes_proc_wait (app_t *app, http_req_t *req)
{
    return s_proc (app, req, PROTO_sandbox_exec_wait);
}

http_res_t *
api_sandboxes_proc_kill (app_t *app, http_req_t *req)
{
    return s_proc (app, req, PROTO_sandbox_exec_kill);
}
