/* run: one run's state machine (see orch.h). A run alternates model turns
 * and tool calls until the model answers without tools (then verify
 * checks), a budget runs out, it is cancelled, or it fails. Tool calls of
 * one turn run one after another, in the model's order; a gated call
 * parks the run in awaiting_approval until run_decide; a call to one of
 * the caller's own tools (client tools) parks it in awaiting_tool_result
 * until run_tool_result. The snapshot is
 * saved at each transition, so a restart resumes from the last one (tool
 * calls are idempotent by call id, so a call in flight is sent again). */
#include "orch.h"
#include "clog.h"
#include "mpjson.h"
#include "policy.h"
#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESULT_TO_MODEL 65536
#define MAX_VERIFY_ROUNDS 2
#define MAX_CLIENT_TOOLS 32
#define MAX_CLIENT_TOOL_NAME 64
#define MAX_CLIENT_TOOL_DESCRIPTION 4096

static void call_model (run_t *r);
static void dispatch_next (run_t *r);
static void finish_call (run_t *r, json_t *c, bool ok, json_t *result, uint64_t duration_ms,
                         const char *served_by);

run_t *
run_new (orch_t *orch, const char *id)
{
    run_t *r = calloc (1, sizeof *r);
    if (!r)
        return NULL;
    r->orch = orch;
    snprintf (r->id, sizeof r->id, "%s", id);
    snprintf (r->status, sizeof r->status, "running");
    r->messages = json_array ();
    r->wall_timer = -1;
    r->busy_timer = -1;
    return r;
}

void
run_free (run_t **r_p)
{
    if (!r_p || !*r_p)
        return;
    run_t *r = *r_p;
    runstore_drop (r);
    llm_req_cancel (&r->llm);
    if (r->tool_req[0])
        rpc_forget (orch_rpc (r->orch), r->tool_req);
    if (r->wall_timer >= 0)
        zloop_timer_end (orch_loop (r->orch), r->wall_timer);
    if (r->busy_timer >= 0)
        zloop_timer_end (orch_loop (r->orch), r->busy_timer);
    free (r->task);
    free (r->answer);
    json_decref (r->messages);
    json_decref (r->policy);
    json_decref (r->client_tools);
    json_decref (r->calls);
    free (r);
    *r_p = NULL;
}

json_t *
run_pending (const run_t *r)
{
    json_t *c = json_array_get (r->calls, r->next);
    bool client = strcmp (r->status, "awaiting_tool_result") == 0;
    if ((!client && strcmp (r->status, "awaiting_approval") != 0) || !c)
        return NULL;
    json_t *p = json_pack ("{s:O, s:O, s:O}", "toolCallId", json_object_get (c, "id"), "name",
                           json_object_get (c, "name"), "args", json_object_get (c, "args"));
    if (client)
        json_object_set_new (p, "client", json_true ());
    return p;
}

/* The tool of tools ([{name, ...}]) named name (borrowed), or NULL. */
static json_t *
named (const json_t *tools, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach (tools, i, t)
        if (strcmp (json_string_value (json_object_get (t, "name")) ?: "", name) == 0)
            return t;
    return NULL;
}

/* Names the first client tool that is also a catalogue tool in why;
 * returns -1 then, else 0. The model could not tell them apart, and a
 * call would go to the wrong side. */
static int
clash (const json_t *client, const json_t *catalogue, char *why, size_t whylen)
{
    size_t i;
    json_t *t;
    json_array_foreach (client, i, t) {
        const char *name = json_string_value (json_object_get (t, "name"));
        if (named (catalogue, name)) {
            snprintf (why, whylen, "client_tools[%zu].name: '%s' is one of tool-runner's tools",
                      i, name);
            return -1;
        }
    }
    return 0;
}

/* Client tool names travel to the model as they are: no dots, and no
 * "__" (which the wire encoding decodes as a dot). */
static bool
valid_name (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > MAX_CLIENT_TOOL_NAME || strstr (name, "__")
        || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z')
              || (name[i] >= '0' && name[i] <= '9') || name[i] == '_' || name[i] == '-'))
            return false;
    return true;
}

json_t *
run_client_tools (const json_t *list, const json_t *catalogue, char *why, size_t whylen)
{
    if (!json_is_array (list)) {
        snprintf (why, whylen, "client_tools: expected an array of {name, description?, "
                  "parameters?}");
        return NULL;
    }
    if (json_array_size (list) > MAX_CLIENT_TOOLS) {
        snprintf (why, whylen, "client_tools: %zu tools, at most %d", json_array_size (list),
                  MAX_CLIENT_TOOLS);
        return NULL;
    }
    json_t *out = json_array ();
    size_t i;
    json_t *t;
    json_array_foreach (list, i, t) {
        const char *name = json_string_value (json_object_get (t, "name"));
        json_t *desc = json_object_get (t, "description");
        json_t *params = json_object_get (t, "parameters");
        if (!json_is_object (t))
            snprintf (why, whylen, "client_tools[%zu]: expected a map", i);
        else if (!name || !valid_name (name))
            snprintf (why, whylen, "client_tools[%zu].name: expected ^[A-Za-z][A-Za-z0-9_-]"
                      "{0,63}$ without '__'", i);
        else if (desc && (!json_is_string (desc)
                          || json_string_length (desc) > MAX_CLIENT_TOOL_DESCRIPTION))
            snprintf (why, whylen, "client_tools[%zu].description: expected a string of at "
                      "most %d bytes", i, MAX_CLIENT_TOOL_DESCRIPTION);
        else if (params && (!json_is_object (params)
                            || strcmp (json_string_value (json_object_get (params, "type")) ?: "",
                                       "object") != 0))
            snprintf (why, whylen, "client_tools[%zu].parameters: expected a JSON schema of "
                      "type object", i);
        else if (named (out, name))
            snprintf (why, whylen, "client_tools[%zu].name: '%s' is named twice", i, name);
        else {
            json_array_append_new (out, json_pack ("{s:s, s:O?, s:o}", "name", name, "description",
                                                   desc, "inputSchema",
                                                   params ? json_incref (params)
                                                          : json_pack ("{s:s}", "type", "object")));
            continue;
        }
        json_decref (out);
        return NULL;
    }
    if (clash (out, catalogue, why, whylen)) {
        json_decref (out);
        return NULL;
    }
    return out;
}

/* Ends a run that did not complete: stops what is in flight, says why. */
void
run_end (run_t *r, const char *status, const char *reason)
{
    llm_req_cancel (&r->llm);
    if (r->busy_timer >= 0) {
        zloop_timer_end (orch_loop (r->orch), r->busy_timer);
        r->busy_timer = -1;
    }
    if (r->tool_req[0]) {
        rpc_forget (orch_rpc (r->orch), r->tool_req);
        r->tool_req[0] = '\0';
        json_t *c = json_array_get (r->calls, r->next);
        char call_id[256], why[600];
        snprintf (call_id, sizeof call_id, "%s/%s", r->id,
                  json_string_value (json_object_get (c, "id")));
        snprintf (why, sizeof why, "the run ended (%s: %s)", status, reason);
        orch_cancel_tool (r->orch, call_id, why);
        int64_t took = zclock_mono () - r->tool_sent;
        /* the run does not wait for tool-runner's word: the call is
         * recorded cancelled now, and the cancel is best effort */
        finish_call (r, c, false, json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error",
                                             "code", "cancelled", "message", why),
                     took > 0 ? (uint64_t) took : 0, NULL);
    }
    snprintf (r->status, sizeof r->status, "%s", status);
    snprintf (r->reason, sizeof r->reason, "%s", reason);
    clog_info (r->id, "run %s: %s", status, reason);
    orch_emit (r->orch, r, "failed", json_pack ("{s:s, s:s}", "status", status, "reason", reason));
    orch_forget (r->orch, r);
}

static void
exhausted (run_t *r, const char *budget, uint64_t limit)
{
    char why[128];
    snprintf (why, sizeof why, "budget exhausted: %s (limit %llu)", budget,
              (unsigned long long) limit);
    run_end (r, "budget_exhausted", why);
}

static void
complete (run_t *r, const char *answer)
{
    snprintf (r->status, sizeof r->status, "completed");
    free (r->answer);
    r->answer = strdup (answer ? answer : "");
    orch_emit (r->orch, r, "complete",
               json_pack ("{s:s, s:s}", "status", "completed", "answer", r->answer ?: ""));
    runstore_save_thread (r->thread, r->messages);
    orch_forget (r->orch, r);
}

/* The result of this run's latest test command, for the tests_passed
 * check: NULL when none ran. Borrowed from the conversation. */
static json_t *
last_test_result (run_t *r, json_t **holder)
{
    for (size_t i = json_array_size (r->messages); i-- > 0;) {
        json_t *m = json_array_get (r->messages, i);
        const char *name = json_string_value (json_object_get (m, "name")) ?: "";
        if (strcmp (name, "runCommand") && strcmp (name, "ci.runTests"))
            continue;
        *holder = json_loads (json_string_value (json_object_get (m, "content")) ?: "", 0, NULL);
        return *holder;
    }
    return NULL;
}

/* Runs the policy's verify checks. Returns 0 when all pass, else -1 with
 * feedback for the model. */
static int
verify (run_t *r, char *feedback, size_t len)
{
    size_t i;
    json_t *check;
    json_array_foreach (json_object_get (r->policy, "verify"), i, check) {
        const char *name = json_string_value (check) ?: "";
        bool ok = true;
        char detail[256] = "";
        if (strcmp (name, "tests_passed") == 0) {
            json_t *holder = NULL, *res = last_test_result (r, &holder);
            json_t *code = json_object_get (res, "exitCode");
            ok = res && (code ? json_integer_value (code) == 0
                              : !json_is_false (json_object_get (res, "success")));
            snprintf (detail, sizeof detail, "%s", !res ? "no test command was run"
                                                   : ok ? "the last test command passed"
                                                        : "the last test command failed");
            json_decref (holder);
        }
        else
            snprintf (detail, sizeof detail, "unknown check, skipped");
        orch_emit (r->orch, r, "check", json_pack ("{s:s, s:b, s:s}", "name", name, "ok", ok,
                                                   "detail", detail));
        if (!ok) {
            snprintf (feedback, len, "Verification failed (%s): %s. Fix it and run the tests "
                      "again before answering.", name, detail);
            return -1;
        }
    }
    return 0;
}

static void
on_delta (const char *text, size_t len, void *arg)
{
    run_t *r = arg;
    orch_delta (r->orch, r, "text_delta", json_pack ("{s:s%}", "text", text, len));
}

/* The turn's tool calls as conversation entries; args that are not a
 * JSON object are kept as text and refused at dispatch. */
static json_t *
turn_calls (const llm_turn_t *t)
{
    json_t *calls = json_array ();
    for (size_t i = 0; i < t->ncalls; i++) {
        const llm_call_t *c = &t->calls[i];
        json_t *args = c->args_len ? json_loads (c->args, 0, NULL) : json_object ();
        if (!json_is_object (args)) {
            json_decref (args);
            args = json_pack ("{s:s}", "_unparsed", c->args ? c->args : "");
        }
        char id[64];
        if (!c->id)
            snprintf (id, sizeof id, "call_%zu", i + 1);
        json_array_append_new (calls, json_pack ("{s:s, s:s, s:o, s:s}", "id", c->id ? c->id : id,
                                                 "name", c->name, "args", args, "state",
                                                 "pending"));
    }
    return calls;
}

static void
on_model (const llm_result_t *res, void *arg)
{
    run_t *r = arg;
    r->llm = NULL;
    r->mark_us = zclock_usecs ();
    if (!res->turn) {
        char why[512];
        snprintf (why, sizeof why, "model call failed after %d attempt%s: %s", res->attempts,
                  res->attempts == 1 ? "" : "s", res->error);
        run_end (r, "failed", why);
        return;
    }
    const llm_turn_t *t = res->turn;
    r->in_tokens += t->input_tokens;
    r->out_tokens += t->output_tokens;
    r->cached_tokens += t->cached_tokens;
    orch_emit (r->orch, r, "usage", json_pack ("{s:I, s:I, s:I, s:I}", "inputTokens",
                                               (json_int_t) t->input_tokens, "outputTokens",
                                               (json_int_t) t->output_tokens, "cachedTokens",
                                               (json_int_t) t->cached_tokens, "cacheWriteTokens",
                                               (json_int_t) t->cache_write_tokens));
    const char *text = t->text_len ? t->text : NULL;
    json_t *calls = turn_calls (t);
    json_t *msg = json_pack ("{s:s, s:s?}", "role", "assistant", "content", text);
    if (json_array_size (calls)) {
        json_t *mc = json_array ();
        size_t i;
        json_t *c;
        json_array_foreach (calls, i, c)
            json_array_append_new (mc, json_pack ("{s:O, s:O, s:O}", "id", json_object_get (c, "id"),
                                                  "name", json_object_get (c, "name"), "args",
                                                  json_object_get (c, "args")));
        json_object_set_new (msg, "tool_calls", mc);
    }
    json_array_append_new (r->messages, msg);
    if (text) {
        if (r->used.steps == 1 && json_array_size (calls))
            orch_emit (r->orch, r, "plan", json_pack ("{s:s}", "text", text));
        orch_emit (r->orch, r, "text", json_pack ("{s:s}", "text", text));
    }
    orch_emit (r->orch, r, "step_finished", json_pack ("{s:I}", "step", (json_int_t) r->used.steps));
    if (r->in_tokens + r->out_tokens > r->max.tokens) {
        json_decref (calls);
        exhausted (r, "tokens", r->max.tokens);
        return;
    }
    if (json_array_size (calls)) {
        json_decref (r->calls);
        r->calls = calls;
        r->next = 0;
        runstore_save (r);
        dispatch_next (r);
        return;
    }
    json_decref (calls);
    char feedback[512];
    if (verify (r, feedback, sizeof feedback) == 0) {
        complete (r, text);
        return;
    }
    if (++r->verify_rounds > MAX_VERIFY_ROUNDS) {
        run_end (r, "failed", feedback);
        return;
    }
    json_array_append_new (r->messages, json_pack ("{s:s, s:s}", "role", "user", "content",
                                                   feedback));
    runstore_save (r);
    call_model (r);
}

static void
call_model (run_t *r)
{
    if (orch_need_catalogue (r->orch, r))
        return;
    if (r->used.steps >= r->max.steps) {
        exhausted (r, "steps", r->max.steps);
        return;
    }
    if (r->in_tokens + r->out_tokens >= r->max.tokens) {
        exhausted (r, "tokens", r->max.tokens);
        return;
    }
    char why[256];
    if (clash (r->client_tools, orch_tools (r->orch), why, sizeof why)) {
        run_end (r, "failed", why);
        return;
    }
    r->used.steps++;
    /* a shallow copy: the catalogue's entries are shared, not changed */
    json_t *tools = r->client_tools ? json_copy ((json_t *) orch_tools (r->orch))
                                    : json_incref ((json_t *) orch_tools (r->orch));
    if (r->client_tools)
        json_array_extend (tools, r->client_tools);
    uint64_t room = r->max.tokens - r->in_tokens - r->out_tokens;
    uint64_t max_out = room < 8192 ? room : 8192;
    char *body = r->provider->proto == LLM_ANTHROPIC
        ? llm_anthropic_request (r->model_name, prompt_system (), r->messages, tools, max_out)
        : llm_openai_request (r->model_name, prompt_system (), r->messages, tools, 0);
    json_decref (tools);
    uint64_t deadline = (uint64_t) zclock_mono ()
                      + (r->started_wall + r->max.seconds * 1000 - (uint64_t) zclock_time ());
    r->llm = body ? llm_client_post (orch_llm (r->orch), r->provider, body, deadline, on_delta,
                                     on_model, r)
                  : NULL;
    free (body);
    if (!r->llm) {
        run_end (r, "failed", "cannot start the model request");
        return;
    }
    if (r->mark_us)
        r->overhead_us += (uint64_t) (zclock_usecs () - r->mark_us);
    orch_emit (r->orch, r, "step_started", json_pack ("{s:I, s:I}", "step",
                                                      (json_int_t) r->used.steps, "overheadUs",
                                                      (json_int_t) r->overhead_us));
    r->overhead_us = 0;
    r->mark_us = 0;
}

/* Records a call's result (ran, refused or declined) and moves on.
 * served_by names the tool-runner instance that ran it, when one did. */
static void
finish_call (run_t *r, json_t *c, bool ok, json_t *result, uint64_t duration_ms,
             const char *served_by)
{
    const char *id = json_string_value (json_object_get (c, "id"));
    const char *name = json_string_value (json_object_get (c, "name"));
    json_t *ev = json_pack ("{s:s, s:s, s:b, s:O, s:I, s:s*}", "toolCallId", id, "name", name,
                            "ok", ok, "result", result, "durationMs", (json_int_t) duration_ms,
                            "toolRunner", served_by);
    if (json_is_true (json_object_get (c, "client")))
        json_object_set_new (ev, "client", json_true ());
    orch_emit (r->orch, r, "tool_result", ev);
    char *text = json_dumps (result, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text && strlen (text) > MAX_RESULT_TO_MODEL)
        strcpy (text + MAX_RESULT_TO_MODEL - 40, "... (truncated for the model)");
    json_array_append_new (r->messages, json_pack ("{s:s, s:s, s:s, s:s}", "role", "tool",
                                                   "tool_call_id", id, "name", name, "content",
                                                   text ? text : "null"));
    free (text);
    json_decref (result);
    json_object_set_new (c, "state", json_string ("done"));
    r->next++;
    runstore_save (r);
}

static void send_call (run_t *r, json_t *c);

/* True when tool-runner had no room for the call: a `busy` error, or a
 * `busy` result (the call still runs on an instance that went away). */
static bool
busy (const proto_msg_t *reply)
{
    if (reply && reply->type == PROTO_error)
        return strcmp (reply->body.error.code, "busy") == 0;
    if (!reply || reply->type != PROTO_tools_result || reply->body.tools_result.ok)
        return false;
    char why[128];
    const proto_tools_result_t *b = &reply->body.tools_result;
    json_t *result = mpjson_decode (b->result.data, b->result.size, 64, why, sizeof why);
    bool is = strcmp (json_string_value (json_object_get (json_object_get (result, "error"),
                                                          "code")) ?: "", "busy") == 0;
    json_decref (result);
    return is;
}

static int
on_busy_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    run_t *r = arg;
    r->busy_timer = -1;
    send_call (r, json_array_get (r->calls, r->next));
    return 0;
}

/* Sends the call again after a back-off (250 ms doubling to 8 s) when the
 * run's wall-clock budget leaves room for it. Returns false when it does
 * not: the busy answer is then the call's result. */
static bool
retry_busy (run_t *r)
{
    unsigned shift = r->busy_tries < 5 ? r->busy_tries : 5;
    uint64_t delay = 250u << shift;
    uint64_t end = r->started_wall + r->max.seconds * 1000;
    if ((uint64_t) zclock_time () + delay + 1000 >= end)
        return false;
    r->busy_timer = zloop_timer (orch_loop (r->orch), delay, 1, on_busy_timer, r);
    if (r->busy_timer < 0)
        return false;
    r->busy_tries++;
    clog_info (r->id, "tool-runner is busy; call %s goes again in %llu ms (try %u)",
               json_string_value (json_object_get (json_array_get (r->calls, r->next), "id")),
               (unsigned long long) delay, r->busy_tries + 1);
    return true;
}

static void
on_tool (const proto_msg_t *reply, const char *error, void *arg)
{
    run_t *r = arg;
    /* tool_req stays set while the retry waits: the call is still in
     * flight for run_end and run_advance */
    if (busy (reply) && retry_busy (r))
        return;
    r->busy_tries = 0;
    r->tool_req[0] = '\0';
    r->mark_us = zclock_usecs ();
    json_t *c = json_array_get (r->calls, r->next);
    json_t *result = NULL;
    bool ok = false;
    uint64_t us = 0;
    const char *served_by = NULL;
    if (!reply)
        result = json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code",
                            "tool_runner_unavailable", "message", error);
    else if (reply->type == PROTO_error)
        result = json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code",
                            reply->body.error.code, "message", reply->body.error.message);
    else if (reply->type == PROTO_tools_result) {
        const proto_tools_result_t *b = &reply->body.tools_result;
        char why[128];
        result = mpjson_decode (b->result.data, b->result.size, 64, why, sizeof why);
        ok = b->ok;
        us = b->duration_us;
        served_by = b->instance;
    }
    if (!result)
        result = json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code", "bad_reply",
                            "message", "tool-runner answered with an unexpected message");
    finish_call (r, c, ok, result, us / 1000, served_by);
    dispatch_next (r);
}

static void
send_call (run_t *r, json_t *c)
{
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    char call_id[256];
    snprintf (call_id, sizeof call_id, "%s/%s", r->id,
              json_string_value (json_object_get (c, "id")));
    uint64_t left = r->started_wall + r->max.seconds * 1000 - (uint64_t) zclock_time ();
    if (req) {
        proto_set_str (&req->env.corr, r->id);
        proto_set_str (&req->env.run, r->id);
        proto_set_str (&req->env.cause, r->last_event[0] ? r->last_event : NULL);
        /* the run's starter: tool-runner acts on their sandboxes only */
        proto_set_str (&req->env.user, r->user[0] ? r->user : NULL);
        req->env.op = r->op;
        proto_set_str (&req->body.tools_call.name, json_string_value (json_object_get (c, "name")));
        proto_set_str (&req->body.tools_call.call_id, call_id);
        req->body.tools_call.timeout_ms = left;
        mpjson_set (&req->body.tools_call.args, json_object_get (c, "args"), 64);
    }
    if (!r->busy_tries) {       /* a retry after `busy` is the same call */
        orch_emit (r->orch, r, "tool_call", json_pack ("{s:O, s:O, s:O}", "toolCallId",
                                                       json_object_get (c, "id"), "name",
                                                       json_object_get (c, "name"), "args",
                                                       json_object_get (c, "args")));
        r->used.tool_calls++;
    }
    /* resent every 10 s until the budget ends: a lost reply costs 10 s,
     * and tool-runner answers a resent id from its cache */
    int retries = (int) (left / 10000 < 360 ? left / 10000 : 360);
    if (!req || rpc_call (orch_rpc (r->orch), "tool-runner", req, 10000, retries, on_tool, r)) {
        proto_msg_destroy (&req);
        run_end (r, "failed", "cannot send the tool call");
        return;
    }
    snprintf (r->tool_req, sizeof r->tool_req, "%s", req->env.id);
    r->tool_sent = zclock_mono ();
    proto_msg_destroy (&req);
    if (r->mark_us)
        r->overhead_us += (uint64_t) (zclock_usecs () - r->mark_us);
    r->mark_us = 0;
}

static void
dispatch_next (run_t *r)
{
    while (r->next < json_array_size (r->calls)) {
        json_t *c = json_array_get (r->calls, r->next);
        const char *name = json_string_value (json_object_get (c, "name"));
        const char *state = json_string_value (json_object_get (c, "state")) ?: "";
        json_t *args = json_object_get (c, "args");
        if (strcmp (state, "done") == 0) {
            r->next++;
            continue;
        }
        if (r->used.tool_calls >= r->max.tool_calls) {
            exhausted (r, "toolCalls", r->max.tool_calls);
            return;
        }
        if (json_object_get (args, "_unparsed")) {
            finish_call (r, c, false, json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error",
                                                 "code", "bad_arguments", "message",
                                                 "the arguments are not a JSON object"), 0, NULL);
            continue;
        }
        if (named (r->client_tools, name)) {
            /* the caller's own tool: no approval gate, since the caller
             * is the person's front end and runs it itself */
            json_object_set_new (c, "state", json_string ("client"));
            json_object_set_new (c, "client", json_true ());
            json_object_set_new (c, "askedAt", json_integer (zclock_time ()));
            snprintf (r->status, sizeof r->status, "awaiting_tool_result");
            orch_emit (r->orch, r, "tool_call",
                       json_pack ("{s:O, s:O, s:O, s:b}", "toolCallId", json_object_get (c, "id"),
                                  "name", json_object_get (c, "name"), "args", args, "client", 1));
            r->used.tool_calls++;
            runstore_save (r);
            return;
        }
        policy_verdict_t v = strcmp (state, "approved") == 0
            ? POLICY_RUN : policy_check (r->policy, name, args, orch_mutates (r->orch, name));
        if (v == POLICY_DENY) {
            finish_call (r, c, false, json_pack ("{s:b, s:b, s:s}", "success", 0, "declined", 1,
                                                 "reason", "the policy does not allow this tool"),
                         0, NULL);
            continue;
        }
        if (v == POLICY_ASK) {
            json_object_set_new (c, "state", json_string ("asked"));
            snprintf (r->status, sizeof r->status, "awaiting_approval");
            orch_emit (r->orch, r, "ask_approval", json_pack ("{s:O, s:O, s:O}", "toolCallId",
                                                              json_object_get (c, "id"), "name",
                                                              json_object_get (c, "name"),
                                                              "args", args));
            runstore_save (r);
            return;
        }
        send_call (r, c);
        return;
    }
    call_model (r);
}

void
run_advance (run_t *r)
{
    if (strcmp (r->status, "running") != 0 || r->llm || r->tool_req[0])
        return;
    if (r->next < json_array_size (r->calls))
        dispatch_next (r);
    else
        call_model (r);
}

int
run_decide (run_t *r, const char *call_id, bool approve, const char *reason, char *why,
            size_t whylen)
{
    json_t *c = json_array_get (r->calls, r->next);
    if (strcmp (r->status, "awaiting_approval") != 0 || !c) {
        snprintf (why, whylen, "run %s is %s, not awaiting approval", r->id, r->status);
        return -1;
    }
    if (strcmp (json_string_value (json_object_get (c, "id")) ?: "", call_id) != 0) {
        snprintf (why, whylen, "run %s awaits approval of call %s, not %s", r->id,
                  json_string_value (json_object_get (c, "id")), call_id);
        return -1;
    }
    orch_emit (r->orch, r, "approval_decision",
               json_pack ("{s:s, s:b, s:s?}", "toolCallId", call_id, "approved", approve,
                          "reason", reason));
    snprintf (r->status, sizeof r->status, "running");
    r->mark_us = zclock_usecs ();
    if (approve)
        json_object_set_new (c, "state", json_string ("approved"));
    else
        finish_call (r, c, false, json_pack ("{s:b, s:b, s:s}", "success", 0, "declined", 1,
                                             "reason", reason && *reason ? reason
                                                                         : "declined by a human"),
                     0, NULL);
    runstore_save (r);
    dispatch_next (r);
    return 0;
}

int
run_tool_result (run_t *r, const char *call_id, const char *content, bool failed, char *why,
                 size_t whylen)
{
    json_t *c = json_array_get (r->calls, r->next);
    if (strcmp (r->status, "awaiting_tool_result") != 0 || !c) {
        snprintf (why, whylen, "run %s is %s, not awaiting a client tool result", r->id,
                  r->status);
        return -1;
    }
    if (strcmp (json_string_value (json_object_get (c, "id")) ?: "", call_id) != 0) {
        snprintf (why, whylen, "run %s awaits the result of call %s, not %s", r->id,
                  json_string_value (json_object_get (c, "id")), call_id);
        return -1;
    }
    json_t *result = failed ? NULL : json_loads (content, JSON_DECODE_ANY, NULL);
    if (failed)
        result = json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code",
                            "client_tool_failed", "message", content);
    else if (!result)
        result = json_string (content);
    json_int_t asked = json_integer_value (json_object_get (c, "askedAt"));
    json_int_t waited = zclock_time () - asked;
    snprintf (r->status, sizeof r->status, "running");
    r->mark_us = zclock_usecs ();
    finish_call (r, c, !failed, result, waited > 0 ? (uint64_t) waited : 0, NULL);
    dispatch_next (r);
    return 0;
}
