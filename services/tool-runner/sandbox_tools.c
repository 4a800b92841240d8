/* sandbox_tools: createSandbox ... runCommand over the bus. See sandbox_tools.h. */
#include "sandbox_tools.h"
#include "bus_tap.h"
#include "cfg.h"
#include "mpjson.h"
#include "proc_tools.h"
#include "sandbox_call.h"

#include <czmq.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define S(args, key) json_string_value (json_object_get (args, key))
#define OOM() tool_error ("internal", NULL, "out of memory")

static json_t *
dry (const char *what, json_t *detail)
{
    return json_pack ("{s:b, s:b, s:s, s:o*}", "success", 1, "dryRun", 1, "wouldDo", what,
                      "detail", detail);
}

/* Room for a path resolved inside the workspace. */
#define ABS_MAX 4200

/* Resolves args.path inside args.sandbox_id into abs; when writing, inside
 * the workspace and allowed by the guard (and, for a dry run, in a sandbox
 * the call may use). 0, or -1 with *error set. */
static int
target (tool_ctx_t *ctx, json_t *args, bool write, char abs[ABS_MAX], json_t **error)
{
    const char *ws = PROTO_SANDBOX_WORKSPACE;
    /* listFiles' path is optional: the workspace, as in the template */
    if (!json_object_get (args, "path"))
        json_object_set_new (args, "path", json_string ("."));
    if ((write && ctx->dry_run && sandbox_call_check (ctx, S (args, "sandboxId"), error))
        || guard_resolve (ws, S (args, "path"), write, abs, ABS_MAX, error))
        return -1;
    if (write && guard_write (ctx->guard, ws, abs, "path", error))
        return -1;
    return 0;
}

json_t *
sandbox_tools_create_sandbox (tool_ctx_t *ctx, json_t *args)
{
    if (ctx->dry_run)
        return dry ("create a sandbox", json_deep_copy (args));
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_create);
    if (!req)
        return OOM ();
    proto_sandbox_create_t *b = &req->body.sandbox_create;
    proto_set_str (&b->name, S (args, "name"));
    proto_set_str (&b->language, S (args, "language"));
    if (json_object_get (args, "labels"))
        mpjson_set (&b->labels, json_object_get (args, "labels"), 32);
    if (json_object_get (args, "envVars"))
        mpjson_set (&b->env_vars, json_object_get (args, "envVars"), 32);
    proto_set_str (&b->network, S (args, "network"));
    if (json_object_get (args, "networkAllow"))
        mpjson_set (&b->network_allow, json_object_get (args, "networkAllow"), 4);
    if (json_object_get (args, "networkDeny"))
        mpjson_set (&b->network_deny, json_object_get (args, "networkDeny"), 4);
    json_t *error;
    proto_msg_t *rep = sandbox_call (ctx, NULL, req, &error);
    if (!rep)
        return error;
    json_t *out = json_pack ("{s:s}", "sandboxId", rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    return out;
}

json_t *
sandbox_tools_exec_json (tool_ctx_t *ctx, const proto_msg_t *rep, bool capture)
{
    const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
    size_t cap = guard_max_output (ctx->guard);
    size_t lo = r->stdout ? strlen (r->stdout) : 0, le = r->stderr ? strlen (r->stderr) : 0;
    bool cut = r->truncated || (capture && (lo > cap || le > cap));
    json_t *out = json_pack ("{s:b, s:I, s:I, s:b}", "success", r->exit_code == 0 && !r->timed_out,
                             "exitCode", (json_int_t) r->exit_code, "executionTime",
                             (json_int_t) r->execution_time, "truncated", cut);
    const char *so = r->stdout ? r->stdout : "", *se = r->stderr ? r->stderr : "";
    json_object_set_new (out, "stdout", capture ? sandbox_call_text (so, guard_cut (so, lo, cap))
                                                : json_string (""));
    json_object_set_new (out, "stderr", capture ? sandbox_call_text (se, guard_cut (se, le, cap))
                                                : json_string (""));
    if (r->timed_out)
        json_object_set_new (out, "timedOut", json_true ());
    /* e.g. "workspace full (limit 1 GiB)": the model learns why, and the limit */
    if (r->workspace_full)
        json_object_set_new (out, "workspaceFull", json_string (r->workspace_full));
    return out;
}

proto_msg_t *
sandbox_tools_exec (tool_ctx_t *ctx, const char *sandbox_id, const char *command,
                    const char *cwd, const json_t *envs, json_t **error)
{
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_exec);
    json_t *cmd = json_string (command);
    if (!req || !cmd || mpjson_set (&req->body.sandbox_exec.command, cmd, 32)) {
        json_decref (cmd);
        proto_msg_destroy (&req);
        *error = OOM ();
        return NULL;
    }
    json_decref (cmd);
    proto_sandbox_exec_t *b = &req->body.sandbox_exec;
    proto_set_str (&b->sandbox_id, sandbox_id);
    proto_set_str (&b->cwd, cwd);
    if (envs)
        mpjson_set (&b->envs, envs, 32);
    b->timeout_seconds = ctx->timeout_s;
    b->max_output_bytes = guard_max_output (ctx->guard);
    return sandbox_call (ctx, sandbox_id, req, error);
}

/* Narrows the call's timeout to args.timeoutSeconds: a number of seconds,
 * a fraction rounded up to whole seconds (what a sandbox's timer counts),
 * 0 or absent meaning the tool's default. */
static void
take_timeout (tool_ctx_t *ctx, const json_t *args)
{
    double t = json_number_value (json_object_get (args, "timeoutSeconds"));
    if (t <= 0)
        return;
    unsigned whole = (unsigned) t + ((double) (unsigned) t < t);
    if (whole < ctx->timeout_s)
        ctx->timeout_s = whole;
}

json_t *
sandbox_tools_run_command (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId"), *command = S (args, "command");
    json_t *error;
    if (guard_command (ctx->guard, command, &error))
        return error;
    if (json_is_true (json_object_get (args, "background")))
        return proc_tools_start (ctx, args);
    take_timeout (ctx, args);
    if (ctx->dry_run)
        return dry ("run a command", json_pack ("{s:s, s:i}", "command", command,
                                                "timeoutSeconds", (int) ctx->timeout_s));
    proto_msg_t *rep = sandbox_tools_exec (ctx, sbx, command, S (args, "workingDirectory"),
                                 json_object_get (args, "envs"), &error);
    if (!rep)
        return error;
    json_t *capture = json_object_get (args, "captureOutput");
    json_t *out = sandbox_tools_exec_json (ctx, rep, !json_is_false (capture));
    json_object_set_new (out, "command", json_string (command));
    proto_msg_destroy (&rep);
    return out;
}

json_t *
sandbox_tools_run_code (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId");
    take_timeout (ctx, args);
    if (ctx->dry_run)
        return dry ("run code", json_pack ("{s:s*, s:I}", "language", S (args, "language"),
                                           "bytes", (json_int_t) strlen (S (args, "code"))));
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_run_code);
    if (!req)
        return OOM ();
    proto_sandbox_run_code_t *b = &req->body.sandbox_run_code;
    proto_set_str (&b->sandbox_id, sbx);
    proto_set_str (&b->code, S (args, "code"));
    proto_set_str (&b->language, S (args, "language"));
    if (json_object_get (args, "argv"))
        mpjson_set (&b->argv, json_object_get (args, "argv"), 32);
    if (json_object_get (args, "envs"))
        mpjson_set (&b->envs, json_object_get (args, "envs"), 32);
    b->timeout_seconds = ctx->timeout_s;
    json_t *error;
    proto_msg_t *rep = sandbox_call (ctx, sbx, req, &error);
    if (!rep)
        return error;
    json_t *out = sandbox_tools_exec_json (ctx, rep, true);
    json_object_del (out, "success");
    proto_msg_destroy (&rep);
    return out;
}

/* The path request types share one body layout (PROTO_SANDBOX_PATH_REQ);
 * each is filled through its own member of the body union. */
#define PATH_FILL(m) \
    do { \
        proto_set_str (&req->body.m.sandbox_id, sbx); \
        proto_set_str (&req->body.m.path, path); \
        req->body.m.recursive = recursive; \
        req->body.m.depth = 1; \
        req->body.m.max_bytes = guard_max_output (ctx->guard); \
    } while (0)

static proto_msg_t *
path_req (tool_ctx_t *ctx, proto_type_t type, const char *sbx, const char *path,
          bool recursive)
{
    proto_msg_t *req = sandbox_call_new (ctx, type);
    switch (type) {
    case PROTO_sandbox_read_file: PATH_FILL (sandbox_read_file); break;
    case PROTO_sandbox_list_files: PATH_FILL (sandbox_list_files); break;
    case PROTO_sandbox_delete_file: PATH_FILL (sandbox_delete_file); break;
    case PROTO_sandbox_create_directory: PATH_FILL (sandbox_create_directory); break;
    case PROTO_sandbox_get_file_info: PATH_FILL (sandbox_get_file_info); break;
    case PROTO_sandbox_check_file_exists: PATH_FILL (sandbox_check_file_exists); break;
    case PROTO_sandbox_get_file_size: PATH_FILL (sandbox_get_file_size); break;
    case PROTO_sandbox_watch_start: PATH_FILL (sandbox_watch_start); break;
    default: assert (!"a path request type"); break;
    }
    return req;
}

/* Sends the path request type for abs in args.sandboxId and waits for its
 * declared reply: the reply, or NULL with *error set. */
static proto_msg_t *
path_call (tool_ctx_t *ctx, json_t *args, proto_type_t type, const char *abs, bool recursive,
           json_t **error)
{
    const char *sbx = S (args, "sandboxId");
    return sandbox_call (ctx, sbx, path_req (ctx, type, sbx, abs, recursive), error);
}

/* The result of a tool that changes a path, from its sandbox.path reply,
 * which it destroys. */
static json_t *
path_result (proto_msg_t **rep)
{
    json_t *out = json_pack ("{s:b, s:s}", "success", 1, "path", (*rep)->body.sandbox_path.path);
    proto_msg_destroy (rep);
    return out;
}

/* The read-only tools' prologue: resolves args.path into abs, then
 * path_call (not recursive). The reply, or NULL with *error set. */
static proto_msg_t *
path_ask (tool_ctx_t *ctx, json_t *args, proto_type_t type, char abs[ABS_MAX], json_t **error)
{
    if (target (ctx, args, false, abs, error))
        return NULL;
    return path_call (ctx, args, type, abs, false, error);
}

json_t *
sandbox_tools_read_file (tool_ctx_t *ctx, json_t *args)
{
    char abs[ABS_MAX];
    json_t *error;
    proto_msg_t *rep = path_ask (ctx, args, PROTO_sandbox_read_file, abs,
                                 &error);
    if (!rep)
        return error;
    const proto_sandbox_file_t *f = &rep->body.sandbox_file;
    json_t *content = json_stringn ((const char *) f->content.data, f->content.size);
    json_t *out = content ? json_pack ("{s:o, s:s, s:b}", "content", content, "path", f->path,
                                       "truncated", f->truncated)
                          : tool_error ("binary_file", "path", "%s is not UTF-8 text; use "
                                        "runCommand (e.g. xxd or base64) to inspect it", f->path);
    proto_msg_destroy (&rep);
    return out;
}

json_t *
sandbox_tools_write_file (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId");
    char abs[ABS_MAX];
    json_t *error;
    if (target (ctx, args, true, abs, &error))
        return error;
    json_t *content = json_object_get (args, "content");
    if (ctx->dry_run)
        return dry ("write a file", json_pack ("{s:s, s:I}", "path", abs, "bytes",
                                               (json_int_t) json_string_length (content)));
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_write_file);
    if (!req)
        return OOM ();
    proto_set_str (&req->body.sandbox_write_file.sandbox_id, sbx);
    proto_set_str (&req->body.sandbox_write_file.path, abs);
    proto_set_bytes (&req->body.sandbox_write_file.content, json_string_value (content),
                     json_string_length (content));
    proto_msg_t *rep = sandbox_call (ctx, sbx, req, &error);
    return rep ? path_result (&rep) : error;
}

json_t *
sandbox_tools_write_files (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId");
    const char *ws = PROTO_SANDBOX_WORKSPACE;
    char abs[ABS_MAX], field[64];
    json_t *error, *files = json_array (), *item;
    size_t i;
    if (ctx->dry_run && sandbox_call_check (ctx, sbx, &error)) {
        json_decref (files);
        return error;
    }
    json_array_foreach (json_object_get (args, "files"), i, item) {
        snprintf (field, sizeof field, "files[%zu].path", i);
        if (guard_resolve (ws, S (item, "path"), true, abs, sizeof abs, &error)
            || guard_write (ctx->guard, ws, abs, field, &error)) {
            json_object_set_new (json_object_get (error, "error"), "field", json_string (field));
            json_decref (files);
            return error;
        }
        json_array_append_new (files, json_pack ("{s:s, s:O}", "path", abs, "data",
                                                 json_object_get (item, "data")));
    }
    if (ctx->dry_run) {
        json_t *paths = json_array ();
        json_array_foreach (files, i, item)
            json_array_append (paths, json_object_get (item, "path"));
        json_decref (files);
        return dry ("write files", json_pack ("{s:o}", "paths", paths));
    }
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_write_files);
    if (!req || mpjson_set (&req->body.sandbox_write_files.files, files, 32)) {
        json_decref (files);
        proto_msg_destroy (&req);
        return OOM ();
    }
    json_decref (files);
    proto_set_str (&req->body.sandbox_write_files.sandbox_id, sbx);
    proto_msg_t *rep = sandbox_call (ctx, sbx, req, &error);
    if (!rep)
        return error;
    char why[128];
    const proto_bytes_t *w = &rep->body.sandbox_paths.files_written;
    json_t *written = mpjson_decode (w->data, w->size, 4, why, sizeof why);
    proto_msg_destroy (&rep);
    return json_pack ("{s:b, s:o}", "success", 1, "filesWritten",
                      written ? written : json_array ());
}

json_t *
sandbox_tools_list_files (tool_ctx_t *ctx, json_t *args)
{
    char abs[ABS_MAX], why[128];
    json_t *error;
    proto_msg_t *rep = path_ask (ctx, args, PROTO_sandbox_list_files, abs, &error);
    if (!rep)
        return error;
    const proto_bytes_t *f = &rep->body.sandbox_file_list.files;
    json_t *in = mpjson_decode (f->data, f->size, 8, why, sizeof why), *e, *files = json_array ();
    size_t i;
    json_array_foreach (in, i, e)
        json_array_append_new (files, json_pack (
            "{s:O*, s:O*, s:b}", "name", json_object_get (e, "name"), "path",
            json_object_get (e, "path"), "isDirectory",
            !strcmp (S (e, "type") ? S (e, "type") : "", "directory")));
    json_decref (in);
    json_t *out = json_pack ("{s:o, s:s}", "files", files, "path", rep->body.sandbox_file_list.path);
    proto_msg_destroy (&rep);
    return out;
}

static json_t *
path_op (tool_ctx_t *ctx, json_t *args, proto_type_t type, const char *what)
{
    char abs[ABS_MAX];
    json_t *error;
    if (target (ctx, args, true, abs, &error))
        return error;
    if (ctx->dry_run)
        return dry (what, json_pack ("{s:s}", "path", abs));
    proto_msg_t *rep = path_call (ctx, args, type, abs, true, &error);
    return rep ? path_result (&rep) : error;
}

json_t *
sandbox_tools_delete_file (tool_ctx_t *ctx, json_t *args)
{
    return path_op (ctx, args, PROTO_sandbox_delete_file, "delete a path");
}

json_t *
sandbox_tools_create_directory (tool_ctx_t *ctx, json_t *args)
{
    return path_op (ctx, args, PROTO_sandbox_create_directory, "create a directory");
}

static void
iso_time (uint64_t ms, char out[32])
{
    time_t s = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&s, &tm);
    size_t n = strftime (out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (out + n, 32 - n, ".%03uZ", (unsigned) (ms % 1000));
}

json_t *
sandbox_tools_get_file_info (tool_ctx_t *ctx, json_t *args)
{
    char abs[ABS_MAX], when[32];
    json_t *error;
    proto_msg_t *rep = path_ask (ctx, args, PROTO_sandbox_get_file_info, abs, &error);
    if (!rep)
        return error;
    const proto_sandbox_file_info_t *f = &rep->body.sandbox_file_info;
    iso_time (f->modified_time, when);
    json_t *out = json_pack ("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "name", f->name,
                             "type", f->type, "path", f->path, "size", (json_int_t) f->size,
                             "mode", (json_int_t) f->mode, "permissions", f->permissions,
                             "owner", f->owner, "group", f->group, "modifiedTime", when);
    if (f->symlink_target)
        json_object_set_new (out, "symlinkTarget", sandbox_call_text (f->symlink_target,
                                                             strlen (f->symlink_target)));
    proto_msg_destroy (&rep);
    return out;
}

json_t *
sandbox_tools_check_file_exists (tool_ctx_t *ctx, json_t *args)
{
    char abs[ABS_MAX];
    json_t *error;
    proto_msg_t *rep = path_ask (ctx, args, PROTO_sandbox_check_file_exists, abs, &error);
    if (!rep)
        return error;
    bool exists = rep->body.sandbox_file_exists.exists;
    proto_msg_destroy (&rep);
    json_t *out = json_pack ("{s:b, s:s}", "exists", exists, "path", abs);
    if (exists && (rep = path_call (ctx, args, PROTO_sandbox_get_file_info, abs, false, &error))) {
        json_object_set_new (out, "isDirectory",
                             json_boolean (!strcmp (rep->body.sandbox_file_info.type, "directory")));
        proto_msg_destroy (&rep);
    }
    else if (exists)
        json_decref (error);
    return out;
}

static void
human (uint64_t n, char out[32])
{
    static const char *const units[] = { "B", "KB", "MB", "GB", "TB" };
    double v = (double) n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf (out, 32, "%llu B", (unsigned long long) n);
    else
        snprintf (out, 32, "%.2f %s", v, units[u]);
}

json_t *
sandbox_tools_get_file_size (tool_ctx_t *ctx, json_t *args)
{
    char abs[ABS_MAX], hr[32];
    json_t *error;
    proto_msg_t *info = path_ask (ctx, args, PROTO_sandbox_get_file_info, abs, &error);
    if (!info)
        return error;
    bool dir = !strcmp (info->body.sandbox_file_info.type, "directory"), partial = false;
    uint64_t size = info->body.sandbox_file_info.size;
    proto_msg_destroy (&info);
    if (dir) {
        proto_msg_t *rep = path_call (ctx, args, PROTO_sandbox_get_file_size, abs, true, &error);
        if (!rep)
            return error;
        size = rep->body.sandbox_file_size.size;
        partial = rep->body.sandbox_file_size.partial;
        proto_msg_destroy (&rep);
    }
    json_t *out = json_pack ("{s:I, s:s, s:b}", "size", (json_int_t) size, "path", abs,
                             "isDirectory", dir);
    if (partial)
        json_object_set_new (out, "partial", json_true ());
    if (json_is_true (json_object_get (args, "humanReadable"))) {
        human (size, hr);
        json_object_set_new (out, "humanReadableSize", json_string (hr));
    }
    return out;
}

json_t *
sandbox_tools_watch_directory (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId");
    char abs[ABS_MAX], prefix[160], topic[256];
    json_t *error;
    if (target (ctx, args, false, abs, &error))
        return error;
    json_t *d = json_object_get (args, "watchDuration");
    int duration = d ? (int) json_integer_value (d) : 5000;
    snprintf (prefix, sizeof prefix, "sandbox.%s.watch.", sbx);
    bus_tap_t *tap = bus_tap_new (cfg_str ("CAISSON_BUS_SUB"), prefix);
    if (!tap)
        return tool_error ("internal", NULL, "cannot subscribe to the sandbox's events");
    proto_msg_t *rep = path_call (ctx, args, PROTO_sandbox_watch_start, abs,
                                  json_is_true (json_object_get (args, "recursive")), &error);
    if (!rep) {
        bus_tap_destroy (&tap);
        return error;
    }
    uint64_t watch_id = rep->body.sandbox_watch.watch_id;
    proto_msg_destroy (&rep);
    json_t *events = json_array ();
    int64_t until = zclock_mono () + duration;
    while (zclock_mono () < until && tool_left_ms (ctx) > 1000 && !tool_cancelled (ctx)) {
        /* a short wait, so a cancel is seen within 200 ms */
        int64_t wait = until - zclock_mono ();
        proto_msg_t *ev = bus_tap_recv (tap, topic, sizeof topic, (int) (wait < 200 ? wait : 200),
                                        NULL);
        if (ev && ev->type == PROTO_sandbox_fs_event
            && ev->body.sandbox_fs_event.watch_id == watch_id) {
            char when[32];
            iso_time (ev->env.ts / 1000, when);
            const char *p = ev->body.sandbox_fs_event.path, *slash = strrchr (p, '/');
            json_array_append_new (events, json_pack ("{s:s, s:s, s:s, s:s}", "type",
                                                      ev->body.sandbox_fs_event.event, "name",
                                                      slash ? slash + 1 : p, "path", p,
                                                      "timestamp", when));
        }
        proto_msg_destroy (&ev);
    }
    bus_tap_destroy (&tap);
    proto_msg_t *stop = sandbox_call_new (ctx, PROTO_sandbox_watch_stop);
    if (stop) {
        proto_set_str (&stop->body.sandbox_watch_stop.sandbox_id, sbx);
        stop->body.sandbox_watch_stop.watch_id = watch_id;
        proto_msg_t *ack = sandbox_call (ctx, sbx, stop, &error);
        if (!ack)
            json_decref (error);
        proto_msg_destroy (&ack);
    }
    return json_pack ("{s:b, s:s, s:o}", "watchStarted", 1, "path", abs, "events", events);
}
