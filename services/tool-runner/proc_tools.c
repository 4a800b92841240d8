/* proc_tools: background processes. See proc_tools.h. */
#include "proc_tools.h"
#include "mpjson.h"
#include "sandbox_call.h"
#include "sandbox_tools.h"

#include <czmq.h>
#include <string.h>

#define S(args, key) json_string_value (json_object_get (args, key))

json_t *
proc_tools_start (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId"), *command = S (args, "command");
    if (ctx->dry_run)
        return json_pack ("{s:b, s:b, s:s, s:{s:s, s:b}}", "success", 1, "dryRun", 1, "wouldDo",
                          "start a background command", "detail", "command", command,
                          "background", 1);
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_exec);
    json_t *cmd = json_string (command), *error;
    mpjson_set (&req->body.sandbox_exec.command, cmd, 2);
    json_decref (cmd);
    proto_sandbox_exec_t *b = &req->body.sandbox_exec;
    proto_set_str (&b->sandbox_id, sbx);
    proto_set_str (&b->cwd, S (args, "workingDirectory"));
    if (json_object_get (args, "envs"))
        mpjson_set (&b->envs, json_object_get (args, "envs"), 32);
    b->background = true;
    /* its own life: timeoutSeconds when given, else the sandbox's default */
    double t = json_number_value (json_object_get (args, "timeoutSeconds"));
    b->timeout_seconds = t > 0 ? (uint64_t) t + ((double) (uint64_t) t < t) : 0;
    b->max_output_bytes = guard_max_output (ctx->guard);
    proto_msg_t *rep = sandbox_call (ctx, sbx, req, &error);
    if (!rep)
        return error;
    json_t *out = json_pack ("{s:b, s:b, s:I, s:b, s:s, s:s}", "success", 1, "background", 1,
                             "pid", (json_int_t) rep->body.sandbox_exec_result.pid, "running",
                             rep->body.sandbox_exec_result.running, "sandboxId", sbx, "command",
                             command);
    proto_msg_destroy (&rep);
    return out;
}

/* Sends a process request of type for args' sandbox and pid. */
static proto_msg_t *
proc_call (tool_ctx_t *ctx, json_t *args, proto_type_t type, uint64_t timeout_s, uint64_t sig,
           json_t **error)
{
    const char *sbx = S (args, "sandboxId");
    uint64_t pid = (uint64_t) json_integer_value (json_object_get (args, "pid"));
    proto_msg_t *req = sandbox_call_new (ctx, type);
    /* The three share one layout (PROTO_SANDBOX_PROC); each is filled
     * through its own member. */
#define PROC_FILL(m) \
    do { \
        proto_set_str (&req->body.m.sandbox_id, sbx); \
        req->body.m.pid = pid; \
        req->body.m.timeout_seconds = timeout_s; \
        req->body.m.signal = sig; \
    } while (0)
    if (type == PROTO_sandbox_exec_kill)
        PROC_FILL (sandbox_exec_kill);
    else if (type == PROTO_sandbox_exec_wait)
        PROC_FILL (sandbox_exec_wait);
    else
        PROC_FILL (sandbox_exec_output);
#undef PROC_FILL
    return sandbox_call (ctx, sbx, req, error);
}

/* A process's state as a tool result: runCommand's shape while it is
 * done, with running and pid; exitCode null while it runs. */
static json_t *
state (tool_ctx_t *ctx, proto_msg_t *rep)
{
    json_t *out = sandbox_tools_exec_json (ctx, rep, true);
    bool running = rep->body.sandbox_exec_result.running;
    json_object_set_new (out, "pid", json_integer ((json_int_t) rep->body.sandbox_exec_result.pid));
    json_object_set_new (out, "running", json_boolean (running));
    if (running) {
        json_object_set_new (out, "exitCode", json_null ());
        json_object_set_new (out, "success", json_true ());
    }
    proto_msg_destroy (&rep);
    return out;
}

/* The part of a captured stream from byte offset since (clamped). */
static json_t *
stream_from (const char *text, uint64_t since)
{
    size_t n = text ? strlen (text) : 0;
    size_t at = since < n ? (size_t) since : n;
    return sandbox_call_text (text ? text + at : "", n - at);
}

json_t *
proc_tools_output (tool_ctx_t *ctx, json_t *args)
{
    uint64_t since = (uint64_t) json_integer_value (json_object_get (args, "since"));
    uint64_t esince = (uint64_t) json_integer_value (json_object_get (args, "stderrSince"));
    double w = json_number_value (json_object_get (args, "waitSeconds"));
    int64_t until = zclock_mono () + (int64_t) (w * 1000);
    if (until > ctx->deadline - 2000)
        until = ctx->deadline - 2000;
    json_t *error;
    proto_msg_t *rep;
    /* the sandbox keeps the head of each stream (up to its cap), so a
     * byte offset names the same output in every answer */
    while ((rep = proc_call (ctx, args, PROTO_sandbox_exec_output, 0, 0, &error))) {
        const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
        size_t out = r->stdout ? strlen (r->stdout) : 0, err = r->stderr ? strlen (r->stderr) : 0;
        if (!r->running || out > since || err > esince || zclock_mono () >= until
            || tool_cancelled (ctx))
            break;
        proto_msg_destroy (&rep);
        zclock_sleep (200);
    }
    if (!rep)
        return error;
    const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
    json_t *fresh_out = stream_from (r->stdout, since), *fresh_err = stream_from (r->stderr, esince);
    json_int_t out = r->stdout ? (json_int_t) strlen (r->stdout) : 0;
    json_int_t err = r->stderr ? (json_int_t) strlen (r->stderr) : 0;
    json_t *result = state (ctx, rep);
    json_object_set_new (result, "stdout", fresh_out);
    json_object_set_new (result, "stderr", fresh_err);
    json_object_set_new (result, "offset", json_integer (out));
    json_object_set_new (result, "stderrOffset", json_integer (err));
    return result;
}

json_t *
proc_tools_wait (tool_ctx_t *ctx, json_t *args)
{
    double t = json_number_value (json_object_get (args, "timeoutSeconds"));
    uint64_t wait = t > 0 ? (uint64_t) t + ((double) (uint64_t) t < t) : 30;
    if (wait + 2 > ctx->timeout_s)
        wait = ctx->timeout_s > 2 ? ctx->timeout_s - 2 : 1;
    json_t *error;
    proto_msg_t *rep = proc_call (ctx, args, PROTO_sandbox_exec_wait, wait, 0, &error);
    return rep ? state (ctx, rep) : error;
}

json_t *
proc_tools_kill (tool_ctx_t *ctx, json_t *args)
{
    static const struct {
        const char *name;
        int number;
    } signals[] = { { "SIGTERM", 15 }, { "SIGKILL", 9 }, { "SIGINT", 2 }, { "SIGHUP", 1 } };
    const char *name = S (args, "signal") ? S (args, "signal") : "SIGKILL";
    uint64_t sig = 9;
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (!strcmp (signals[i].name, name))
            sig = (uint64_t) signals[i].number;
    json_t *pid = json_object_get (args, "pid");
    if (ctx->dry_run)
        return json_pack ("{s:b, s:b, s:s, s:{s:O, s:s}}", "success", 1, "dryRun", 1, "wouldDo",
                          "signal a background process", "detail", "pid", pid, "signal", name);
    json_t *error;
    proto_msg_t *rep = proc_call (ctx, args, PROTO_sandbox_exec_kill, 0, sig, &error);
    if (!rep)
        return error;
    proto_msg_destroy (&rep);
    return json_pack ("{s:b, s:O, s:s}", "success", 1, "pid", pid, "signal", name);
}

json_t *
proc_tools_list (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId");
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_exec_list);
    proto_set_str (&req->body.sandbox_exec_list.sandbox_id, sbx);
    json_t *error;
    proto_msg_t *rep = sandbox_call (ctx, sbx, req, &error);
    if (!rep)
        return error;
    char why[128];
    const proto_bytes_t *p = &rep->body.sandbox_exec_procs.processes;
    json_t *procs = mpjson_decode (p->data, p->size, 8, why, sizeof why);
    proto_msg_destroy (&rep);
    return json_pack ("{s:b, s:o}", "success", 1, "processes", procs ? procs : json_array ());
}
