/* run: one run's state machine (see run.h). Its I/O is its host's: this
 * file calls nothing but the host's functions, client_tools, memtool, verify,
 * policy and jansson. */
#include "run_int.h"
#include "client_input.h"
#include "client_tools.h"
#include "clog.h"
#include "condense.h"
#include "jsoncap.h"
#include "memtool.h"
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESULT_TO_MODEL 65536
static void dispatch_next (run_t *r);

run_t *
run_alloc (const run_host_t *host, void *arg)
{
    run_t *r = calloc (1, sizeof *r);
    if (!r)
        return NULL;
    r->host = host;
    r->arg = arg;
    return r;
}

run_t *
run_new (const run_host_t *host, void *arg, const run_spec_t *spec)
{
    run_t *r = run_alloc (host, arg);
    if (!r)
        return NULL;
    r->id = strdup (spec->id);
    r->thread = strdup (spec->thread);
    r->model = strdup (spec->model);
    r->user = strdup (spec->user ? spec->user : "");
    r->task = strdup (spec->task);
    r->op = spec->op;
    r->status = PROTO_RUN_running;
    r->messages = json_is_array (spec->history) ? json_copy ((json_t *) spec->history)
                                                : json_array ();
    r->own_from = json_array_size (r->messages);
    r->sandboxes = json_array ();
    json_array_append_new (r->messages, json_pack ("{s:s, s:s}", "role", "user", "content",
                                                   spec->task));
    r->policy = json_incref ((json_t *) spec->policy);
    r->client_tools = json_incref ((json_t *) spec->client_tools);
    r->client_input = json_is_object (spec->client_input)
                    ? json_incref ((json_t *) spec->client_input) : NULL;
    r->max = spec->max;
    r->started_ms = spec->started_ms;
    if (!r->id || !r->thread || !r->model || !r->user || !r->task || !r->messages
        || !r->sandboxes)
        run_destroy (&r);
    return r;
}

void
run_destroy (run_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    run_t *r = *self_p;
    free (r->id);
    free (r->thread);
    free (r->model);
    free (r->user);
    free (r->task);
    free (r->answer);
    free (r->mem_text);
    json_decref (r->messages);
    json_decref (r->policy);
    json_decref (r->client_tools);
    json_decref (r->client_input);
    json_decref (r->calls);
    json_decref (r->sandboxes);
    json_decref (r->checks);
    json_decref (r->condense);
    free (r);
    *self_p = NULL;
}

const char *run_id (const run_t *self) { return self->id; }
const char *run_user (const run_t *self) { return self->user; }
const char *run_model (const run_t *self) { return self->model; }
uint64_t run_steps (const run_t *self) { return self->steps; }
const char *run_thread (const run_t *self) { return self->thread; }
proto_run_status_t run_status_code (const run_t *self) { return self->status; }
const char *run_status (const run_t *self) { return proto_run_status_name (self->status); }
bool run_op (const run_t *self) { return self->op; }
const json_t *run_messages (const run_t *self) { return self->messages; }

int64_t
run_deadline (const run_t *self)
{
    return self->started_ms + (int64_t) self->max.seconds * 1000;
}

bool
run_live (const run_t *self)
{
    return proto_run_status_live (self->status);
}

json_t *
run_pending (const run_t *self)
{
    json_t *c = json_array_get (self->calls, self->next);
    bool client = self->status == PROTO_RUN_awaiting_tool_result;
    if ((!client && self->status != PROTO_RUN_awaiting_approval) || !c)
        return NULL;
    json_t *p = json_pack ("{s:O, s:O, s:O}", "toolCallId", json_object_get (c, "id"), "name",
                           json_object_get (c, "name"), "args", json_object_get (c, "args"));
    if (client)
        json_object_set_new (p, "client", json_true ());
    return p;
}

/* ---- transitions ---- */

/* Records a call's result (ran, refused or declined; result stolen) and
 * moves the run's cursor past it. served_by names the tool-runner
 * instance that ran it, when one did. */
void
run_finish_call (run_t *r, json_t *c, bool ok, json_t *result, uint64_t duration_ms,
             const char *served_by)
{
    run_track_sandboxes (r, c, result);
    const char *id = json_string_value (json_object_get (c, "id"));
    const char *name = json_string_value (json_object_get (c, "name"));
    run_emit (r, EVK_tool_result, EVK (tool_result, .toolCallId = id, .name = name, .ok = ok,
                                   .result = result, .durationMs = duration_ms,
                                   .toolRunner = served_by,
                                   .client = json_is_true (json_object_get (c, "client"))));
    /* cut inside the value, not its text: the model gets JSON it can read */
    json_t *fit = jsoncap_fit (result, MAX_RESULT_TO_MODEL);
    char *text = fit ? json_dumps (fit, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref (fit);
    json_array_append_new (r->messages, json_pack ("{s:s, s:s, s:s, s:s}", "role", "tool",
                                                   "tool_call_id", id, "name", name, "content",
                                                   text ? text : "null"));
    free (text);
    json_decref (result);
    json_object_set_new (c, "state", json_string ("done"));
    r->next++;
    r->host->save (r->arg);
}

void
run_call_id (const run_t *r, char *buf, size_t len)
{
    snprintf (buf, len, "%s/%s", r->id,
              json_string_value (json_object_get (json_array_get (r->calls, r->next), "id")));
}

/* The turn's tool calls as conversation entries; args that are not a
 * JSON object are kept as text and refused at dispatch. */
static json_t *
turn_calls (const llm_turn_t *t)
{
    json_t *calls = json_array ();
    for (size_t i = 0; i < t->ncalls && i < LLM_MAX_CALLS; i++) {
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
                                                 "name", c->name ? c->name : "", "args", args,
                                                 "state", "pending"));
    }
    return calls;
}

/* The assistant's message for the conversation: its text and calls. */
static json_t *
assistant_message (const char *text, const json_t *calls)
{
    json_t *msg = json_pack ("{s:s, s:s?}", "role", "assistant", "content", text);
    if (json_array_size (calls)) {
        json_t *mc = json_array ();
        size_t i;
        json_t *c;
        json_array_foreach (calls, i, c)
            json_array_append_new (mc, json_pack ("{s:O, s:O, s:O}", "id",
                                                  json_object_get (c, "id"), "name",
                                                  json_object_get (c, "name"), "args",
                                                  json_object_get (c, "args")));
        json_object_set_new (msg, "tool_calls", mc);
    }
    return msg;
}

void
run_model_failed (run_t *r, int attempts, const char *error)
{
    if (r->phase != PHASE_MODEL)
        return;
    if (r->summarising) {
        run_condense_summary_failed (r, attempts, error);
        return;
    }
    r->phase = PHASE_IDLE;
    char why[512];
    snprintf (why, sizeof why, "model call failed after %d attempt%s: %s", attempts,
              attempts == 1 ? "" : "s", error ? error : "");
    run_end (r, PROTO_RUN_failed, why);
}

void
run_model_done (run_t *r, const llm_turn_t *t)
{
    if (r->phase != PHASE_MODEL)
        return;
    if (r->summarising) {
        run_condense_summary_done (r, t);
        return;
    }
    r->phase = PHASE_IDLE;
    r->mark_us = r->host->clock_us (r->arg);
    r->in_tokens += t->input_tokens;
    r->out_tokens += t->output_tokens;
    r->cached_tokens += t->cached_tokens;
    run_emit (r, EVK_usage, EVK (usage, .inputTokens = t->input_tokens,
                             .outputTokens = t->output_tokens,
                             .cachedTokens = t->cached_tokens,
                             .cacheWriteTokens = t->cache_write_tokens));
    const char *text = t->text_len ? t->text : NULL;
    /* a cut turn's calls are dropped: their arguments may stop mid-way */
    json_t *calls = run_turn_cut (t) ? json_array () : turn_calls (t);
    json_array_append_new (r->messages, assistant_message (text, calls));
    if (text) {
        if (r->steps == 1 && json_array_size (calls))
            run_emit (r, EVK_plan, EVK (plan, .text = text));
        run_emit (r, EVK_text, EVK (text, .text = text));
    }
    run_emit (r, EVK_step_finished, EVK (step_finished, .step = r->steps));
    if (r->in_tokens + r->out_tokens > r->max.tokens) {
        json_decref (calls);
        run_exhausted (r, "tokens", r->max.tokens);
        return;
    }
    if (run_turn_filtered (t) || run_turn_cut (t)) {
        json_decref (calls);
        if (run_turn_cut (t))
            run_cut_off (r);
        else
            run_end_with (r, PROTO_RUN_refused, "the provider's content filter stopped the "
                     "model's reply", NULL, NULL);
        return;
    }
    r->continues = 0;
    if (json_array_size (calls)) {
        json_decref (r->calls);
        r->calls = calls;
        r->next = 0;
        r->host->save (r->arg);
        run_mem_ahead (r, calls);
        dispatch_next (r);
        return;
    }
    json_decref (calls);
    run_answered (r, text);
}

const json_t *
run_catalogue (run_t *r)
{
    const json_t *cat = r->host->catalogue (r->arg);
    if (!cat)
        r->phase = PHASE_CATALOGUE;
    return cat;
}

static void
handed_off (run_t *r)
{
    if (r->mark_us)
        r->overhead_us += (uint64_t) (r->host->clock_us (r->arg) - r->mark_us);
    r->mark_us = 0;
}

/* The message that shows the caller's input (new; see client_input.h),
 * fenced afresh for each request, or NULL when there is none. */
static json_t *
client_message (run_t *r)
{
    if (!r->client_input)
        return NULL;
    json_t *m = client_input_message (r->client_input);
    if (!m)
        clog_error (r->id, "the client's input left out of the request: no random nonce");
    return m;
}

/* messages (stolen) with m (stolen, may be NULL) just before this run's
 * task (new); the first turn records what the model is shown. The task is
 * kept verbatim by condensation (condense.h): the last message equal to
 * it is it. */
static json_t *
with_client_input (run_t *r, json_t *messages, json_t *m)
{
    if (!m)
        return messages;
    if (r->steps == 1)
        run_emit (r, EVK_client_input, client_input_event (r->client_input));
    const json_t *task = json_array_get (r->messages, r->own_from);
    size_t at = json_array_size (messages);
    while (at > 0 && !json_equal (json_array_get (messages, at - 1), (json_t *) task))
        at--;
    /* a shallow copy: messages may share the run's own array */
    json_t *copy = json_copy (messages);
    if (!copy || json_array_insert_new (copy, at ? at - 1 : 0, m)) {
        json_decref (copy);
        return messages;
    }
    json_decref (messages);
    return copy;
}

void
run_model_turn (run_t *r, const json_t *cat, const char *memory)
{
    /* a shallow copy: the catalogue's entries are shared, not changed */
    json_t *tools = json_copy ((json_t *) cat);
    if (r->client_tools)
        json_array_extend (tools, r->client_tools);
    if (r->mem_on)
        json_array_append_new (tools, memtool_spec (r->mem_max));
    uint64_t room = r->max.tokens - r->in_tokens - r->out_tokens;
    uint64_t max_out = room < 8192 ? room : 8192;
    /* the memory message goes before the condensed view, the client's
     * input before the task: both counted as fixed */
    uint64_t mem_tokens = memory && *memory ? run_mem_tokens (r, memory) : 0;
    json_t *input = client_message (r);
    uint64_t input_tokens = input ? condense_tokens (input) : 0;
    json_t *view = run_condense_request (r, tools, max_out, mem_tokens + input_tokens);
    if (!view) {                /* waiting for a summary, or ended */
        json_decref (input);
        json_decref (tools);
        return;
    }
    r->steps++;
    json_t *messages = with_client_input (r, run_mem_messages (r, view, memory), input);
    json_decref (view);
    r->phase = PHASE_MODEL;
    int rc = r->host->model (r->arg, messages, tools, max_out, (uint64_t) run_deadline (r));
    json_decref (tools);
    json_decref (messages);
    if (rc) {
        r->phase = PHASE_IDLE;
        run_end (r, PROTO_RUN_failed, "cannot start the model request");
        return;
    }
    handed_off (r);
    run_emit (r, EVK_step_started, EVK (step_started, .step = r->steps,
                                    .overheadUs = r->overhead_us));
    r->overhead_us = 0;
}

void
run_call_model (run_t *r)
{
    const json_t *cat = run_catalogue (r);
    if (!cat)
        return;
    if (r->steps >= r->max.steps) {
        run_exhausted (r, "steps", r->max.steps);
        return;
    }
    if (r->in_tokens + r->out_tokens >= r->max.tokens) {
        run_exhausted (r, "tokens", r->max.tokens);
        return;
    }
    char why[256];
    if (client_tools_clash (r->client_tools, cat, why, sizeof why)) {
        run_end (r, PROTO_RUN_failed, why);
        return;
    }
    run_mem_next_turn (r, cat);
}

/* A tool call went out (client: the caller's own tool, now asked for):
 * its tool_call event, and the one place toolCalls is counted (steps, the
 * model turns, are counted in call_model). */
static void
call_made (run_t *r, const json_t *c, bool client)
{
    run_emit (r, EVK_tool_call, EVK (tool_call, .toolCallId = run_str_of (c, "id"),
                                 .name = run_str_of (c, "name"),
                                 .args = json_object_get (c, "args"), .client = client));
    r->tool_calls++;
}

/* Sends call c with args (borrowed: the model's, or what the
 * orchestrator's own tool makes of them). */
static void
send_call (run_t *r, json_t *c, const json_t *args)
{
    char call_id[256];
    run_call_id (r, call_id, sizeof call_id);
    int64_t now = r->host->now_ms (r->arg), end = run_deadline (r);
    r->phase = PHASE_TOOL;
    int rc = r->host->tool (r->arg, call_id, json_string_value (json_object_get (c, "name")),
                            args, end > now ? (uint64_t) (end - now) : 1);
    if (!r->busy_tries)         /* a retry after `busy` is the same call */
        call_made (r, c, false);
    if (rc) {
        r->phase = PHASE_IDLE;
        run_end (r, PROTO_RUN_failed, "cannot send the tool call");
        return;
    }
    r->tool_sent_us = r->host->clock_us (r->arg);
    handed_off (r);
}

/* Asks for a wake to send the call again after a back-off (250 ms
 * doubling to 8 s) when the wall-clock budget leaves room for it. Returns
 * false when it does not: the busy answer is then the call's result. */
static bool
retry_busy (run_t *r)
{
    unsigned shift = r->busy_tries < 5 ? r->busy_tries : 5;
    uint64_t delay = 250u << shift;
    if (r->host->now_ms (r->arg) + (int64_t) delay + 1000 >= run_deadline (r)
        || r->host->wake (r->arg, delay))
        return false;
    r->phase = PHASE_BUSY;
    r->busy_tries++;
    clog_info (r->id, "tool-runner is busy; call %s goes again in %llu ms (try %u)",
               json_string_value (json_object_get (json_array_get (r->calls, r->next), "id")),
               (unsigned long long) delay, r->busy_tries + 1);
    return true;
}

void
run_wake (run_t *r)
{
    json_t *c = json_array_get (r->calls, r->next);
    if (r->phase == PHASE_BUSY)
        send_call (r, c, json_object_get (c, "args"));
}

void
run_tool_done (run_t *r, bool ok, bool busy, json_t *result, uint64_t duration_ms,
               const char *served_by)
{
    if (r->phase != PHASE_TOOL) {
        json_decref (result);
        return;
    }
    if (busy && retry_busy (r)) {
        json_decref (result);
        return;
    }
    r->busy_tries = 0;
    r->phase = PHASE_IDLE;
    r->mark_us = r->host->clock_us (r->arg);
    if (!result)
        result = json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code", "bad_reply",
                            "message", "tool-runner answered with an unexpected message");
    json_t *c = json_array_get (r->calls, r->next);
    json_t *changed = ok && memtool_is (run_str_of (c, "name")) ? json_incref (result) : NULL;
    run_finish_call (r, c, ok, result, duration_ms, served_by);
    if (changed)
        run_mem_changed (r, changed);
    json_decref (changed);
    dispatch_next (r);
}

static bool
mutates (const json_t *cat, const char *name)
{
    return json_is_true (json_object_get (client_tools_find (cat, name), "mutates"));
}

/* Calls whose change the approver sees first: a dry run shows it. */
static bool
previewed (const char *name)
{
    return name && strcmp (name, "git.openPR") == 0;
}

/* Asks the host for call c's dry run; c waits in state `previewing`.
 * Returns 0, or -1 when it could not be asked (then asked without). */
static int
ask_preview (run_t *r, json_t *c)
{
    char call_id[300];
    snprintf (call_id, sizeof call_id, "%s/%s/preview", r->id, run_str_of (c, "id"));
    if (r->host->preview (r->arg, call_id, run_str_of (c, "name"), json_object_get (c, "args")))
        return -1;
    json_object_set_new (c, "state", json_string ("previewing"));
    return 0;
}

void
run_preview_done (run_t *r, const char *call_id, bool ok, json_t *result)
{
    json_t *c = json_array_get (r->calls, r->next);
    char want[300];
    if (c)
        snprintf (want, sizeof want, "%s/%s/preview", r->id, run_str_of (c, "id"));
    if (r->status != PROTO_RUN_awaiting_approval || !c || !call_id || strcmp (call_id, want)
        || strcmp (run_str_of (c, "state") ?: "", "previewing")) {
        json_decref (result);
        return;
    }
    json_t *err = ok ? NULL : json_object_get (result, "error");
    json_t *perr = ok ? NULL
                 : json_pack ("{s:s, s:s}", "code", json_string_value (
                                  json_object_get (err, "code")) ?: "preview_failed",
                              "message", json_string_value (json_object_get (err, "message"))
                              ?: "the dry run failed");
    json_object_set_new (c, "state", json_string ("asked"));
    run_emit (r, EVK_ask_approval,
              EVK (ask_approval, .toolCallId = run_str_of (c, "id"), .name = run_str_of (c, "name"),
                   .args = json_object_get (c, "args"),
                   .files = ok ? json_object_get (result, "files") : NULL,
                   .skipped = ok ? json_object_get (result, "skipped") : NULL,
                   .patch = ok ? json_string_value (json_object_get (result, "patch")) : NULL,
                   .patchTruncated = ok && json_is_true (json_object_get (result,
                                                                          "patchTruncated")),
                   .patchBytes = ok ? (uint64_t) json_integer_value (json_object_get (
                                          result, "patchBytes")) : 0,
                   .previewError = perr));
    json_decref (perr);
    json_decref (result);
    r->host->save (r->arg);
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
        /* whether a tool mutates is the catalogue's word: no call is
         * judged without it (a resumed run waits for it) */
        const json_t *cat = run_catalogue (r);
        if (!cat)
            return;
        if (r->tool_calls >= r->max.tool_calls) {
            run_exhausted (r, "toolCalls", r->max.tool_calls);
            return;
        }
        if (json_object_get (args, "_unparsed")) {
            run_finish_call (r, c, false, json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error",
                                                 "code", "bad_arguments", "message",
                                                 "the arguments are not a JSON object"), 0, NULL);
            continue;
        }
        if (memtool_is (name)) {
            /* the orchestrator's own tool: the person's own document,
             * no approval gate (the host runs it, not tool-runner) */
            char why[256];
            json_t *put = r->mem_on ? memtool_put (args, r->mem_version, why, sizeof why) : NULL;
            if (!put) {
                run_finish_call (r, c, false, json_pack ("{s:b, s:{s:s, s:s}}", "success", 0,
                                                         "error", "code", "bad_arguments",
                                                         "message", r->mem_on ? why
                                                         : "working memory is off for this run"),
                                 0, NULL);
                continue;
            }
            send_call (r, c, put);
            json_decref (put);
            return;
        }
        if (client_tools_find (r->client_tools, name)) {
            /* the caller's own tool: no approval gate, since the caller
             * is the person's front end and runs it itself */
            json_object_set_new (c, "state", json_string ("client"));
            json_object_set_new (c, "client", json_true ());
            json_object_set_new (c, "askedAt", json_integer (r->host->now_ms (r->arg)));
            r->status = PROTO_RUN_awaiting_tool_result;
            call_made (r, c, true);
            r->host->save (r->arg);
            return;
        }
        policy_verdict_t v = strcmp (state, "approved") == 0
            ? POLICY_RUN : policy_check (r->policy, name, args, mutates (cat, name));
        if (v == POLICY_DENY) {
            run_finish_call (r, c, false, json_pack ("{s:b, s:b, s:s}", "success", 0, "declined", 1,
                                                 "reason", "the policy does not allow this tool"),
                         0, NULL);
            continue;
        }
        if (v == POLICY_ASK) {
            r->status = PROTO_RUN_awaiting_approval;
            if (previewed (name) && ask_preview (r, c) == 0) {
                r->host->save (r->arg);
                return;
            }
            json_object_set_new (c, "state", json_string ("asked"));
            run_emit (r, EVK_ask_approval, EVK (ask_approval, .toolCallId = run_str_of (c, "id"),
                                            .name = name, .args = args));
            r->host->save (r->arg);
            return;
        }
        send_call (r, c, args);
        return;
    }
    run_call_model (r);
}

void
run_advance (run_t *r)
{
    json_t *c = json_array_get (r->calls, r->next);
    if (r->status == PROTO_RUN_awaiting_approval && c
        && strcmp (run_str_of (c, "state") ?: "", "previewing") == 0) {
        /* resumed while the dry run was out: ask again (same call id) */
        if (ask_preview (r, c)) {
            json_object_set_new (c, "state", json_string ("asked"));
            run_emit (r, EVK_ask_approval, EVK (ask_approval, .toolCallId = run_str_of (c, "id"),
                                                .name = run_str_of (c, "name"),
                                                .args = json_object_get (c, "args")));
            r->host->save (r->arg);
        }
        return;
    }
    if (r->status != PROTO_RUN_running
        || (r->phase != PHASE_IDLE && r->phase != PHASE_CATALOGUE))
        return;
    r->phase = PHASE_IDLE;
    if (r->next < json_array_size (r->calls))
        dispatch_next (r);
    else
        run_call_model (r);
}

/* The call the run awaits in status, or NULL with why filled. */
static json_t *
awaited (run_t *r, proto_run_status_t status, const char *what, const char *call_id, char *why,
         size_t whylen)
{
    json_t *c = json_array_get (r->calls, r->next);
    if (r->status != status || !c) {
        snprintf (why, whylen, "run %s is %s, not awaiting %s", r->id,
                  proto_run_status_name (r->status), what);
        return NULL;
    }
    if (strcmp (json_string_value (json_object_get (c, "id")) ?: "", call_id ? call_id : "")) {
        snprintf (why, whylen, "run %s awaits %s call %s, not %s", r->id,
                  strcmp (what, "approval") == 0 ? "approval of" : "the result of",
                  json_string_value (json_object_get (c, "id")), call_id ? call_id : "");
        return NULL;
    }
    return c;
}

int
run_decide (run_t *r, const char *call_id, bool approve, const char *reason, char *why,
            size_t whylen)
{
    json_t *c = awaited (r, PROTO_RUN_awaiting_approval, "approval", call_id, why, whylen);
    if (!c)
        return -1;
    run_emit (r, EVK_approval_decision, EVK (approval_decision, .toolCallId = call_id,
                                         .approved = approve, .reason = reason));
    r->status = PROTO_RUN_running;
    r->mark_us = r->host->clock_us (r->arg);
    if (approve)
        json_object_set_new (c, "state", json_string ("approved"));
    else
        run_finish_call (r, c, false, json_pack ("{s:b, s:b, s:s}", "success", 0, "declined", 1,
                                             "reason", reason && *reason ? reason
                                                                         : "declined by a human"),
                     0, NULL);
    r->host->save (r->arg);
    dispatch_next (r);
    return 0;
}

int
run_tool_result (run_t *r, const char *call_id, const char *content, bool failed, char *why,
                 size_t whylen)
{
    json_t *c = awaited (r, PROTO_RUN_awaiting_tool_result, "a client tool result", call_id, why,
                         whylen);
    if (!c)
        return -1;
    content = content ? content : "";
    json_t *result = failed ? NULL : json_loads (content, JSON_DECODE_ANY, NULL);
    if (failed)
        result = json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code",
                            "client_tool_failed", "message", content);
    else if (!result)
        result = json_string (content);
    json_int_t waited = r->host->now_ms (r->arg)
                      - json_integer_value (json_object_get (c, "askedAt"));
    r->status = PROTO_RUN_running;
    r->mark_us = r->host->clock_us (r->arg);
    run_finish_call (r, c, !failed, result, waited > 0 ? (uint64_t) waited : 0, NULL);
    dispatch_next (r);
    return 0;
}
