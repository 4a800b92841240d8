/* run_model: a run's model turns: what it sends (the condensed
 * conversation, working memory, recall and the caller's input before the
 * task), and what it does with the answer (its text, its tool calls, a
 * turn cut at the output limit, a failed call). */
#include "run_int.h"
#include "client_input.h"
#include "client_tools.h"
#include "clog.h"
#include "condense.h"
#include "memtool.h"
#include "recalltool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counts turn t's tokens in the run's and emits its `usage` event (a
 * summary's turn counts like any other: the provider bills it). */
void
run_count_usage (run_t *r, const llm_turn_t *t)
{
    r->in_tokens += t->input_tokens;
    r->out_tokens += t->output_tokens;
    r->cached_tokens += t->cached_tokens;
    run_emit (r, EVK_usage, EVK (usage, .inputTokens = t->input_tokens,
                             .outputTokens = t->output_tokens,
                             .cachedTokens = t->cached_tokens,
                             .cacheWriteTokens = t->cache_write_tokens));
}

/* The tool a model's call names (borrowed): a name read back blindly
 * from the wire ("srv_.echo" went out as "srv___echo" and reads back as
 * "srv._echo") is the offered tool whose wire spelling it was. */
static const char *
offered_name (run_t *r, const char *name)
{
    const json_t *cat = r->host->catalogue (r->arg, RUN_CAT_ANY);
    if (!cat || client_tools_find (cat, name) || client_tools_find (r->client_tools, name))
        return name;
    char *wire = llm_wire_name (name);
    const char *found = name;
    size_t i;
    json_t *t;
    json_array_foreach (cat, i, t) {
        const char *its = json_string_value (json_object_get (t, "name"));
        char *its_wire = its && !json_is_true (json_object_get (t, "unoffered"))
                         ? llm_wire_name (its) : NULL;
        bool same = wire && its_wire && !strcmp (wire, its_wire);
        free (its_wire);
        if (same) {
            found = its;
            break;
        }
    }
    free (wire);
    return found;
}

/* The turn's tool calls as conversation entries; args that are not a
 * JSON object are kept as text and refused at dispatch. */
static json_t *
turn_calls (run_t *r, const llm_turn_t *t)
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
                                                 "name", offered_name (r, c->name ? c->name : ""),
                                                 "args", args,
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
run_model_over_budget (run_t *r, const char *budget, const char *error)
{
    if (r->phase != PHASE_MODEL)
        return;
    r->summarising = 0;
    r->phase = PHASE_IDLE;
    /* failed.budget holds 32 bytes: gateway budget names are shorter
     * (`sandbox.tokens.month` is the longest) */
    char name[33], why[512];
    snprintf (name, sizeof name, "gateway:%s", budget);
    snprintf (why, sizeof why, "budget exhausted: the model gateway refused the call: %s",
              error ? error : "");
    run_end_with (r, PROTO_RUN_budget_exhausted, why, name, NULL);
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
    run_count_usage (r, t);
    const char *text = t->text_len ? t->text : NULL;
    /* a cut turn's calls are dropped: their arguments may stop mid-way */
    json_t *calls = run_turn_cut (t) ? json_array () : turn_calls (r, t);
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
        run_dispatch_next (r);
        return;
    }
    json_decref (calls);
    run_answered (r, text);
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

json_t *
run_before_task (run_t *r, json_t *messages, json_t *m)
{
    if (!m)
        return messages;
    const json_t *task = json_array_get (r->messages, r->own_from);
    size_t at = json_array_size (messages);
    while (at > 0 && !json_equal (json_array_get (messages, at - 1), (json_t *) task))
        at--;
    if (!at)
        clog_warn (r->id, "no task in the request: its data message goes first");
    /* a shallow copy: messages may share the run's own array */
    json_t *copy = json_copy (messages);
    if (!copy || json_array_insert_new (copy, at ? at - 1 : 0, m)) {
        json_decref (copy);
        return messages;
    }
    json_decref (messages);
    return copy;
}

/* messages (stolen) with the client's input m (stolen, may be NULL) just
 * before this run's task (new); the first turn records what the model is
 * shown. */
static json_t *
with_client_input (run_t *r, json_t *messages, json_t *m)
{
    if (m && r->steps == 1)
        run_emit (r, EVK_client_input, client_input_event (r->client_input));
    return run_before_task (r, messages, m);
}

void
run_model_turn (run_t *r, const json_t *cat, const char *memory)
{
    /* the catalogue's entries are shared, not changed; those the host
     * keeps from models (`unoffered`: names no provider takes) left out */
    json_t *tools = json_array ();
    const json_t *descs = json_object_get (r->profile, "toolDescriptions");
    size_t i;
    json_t *t;
    json_array_foreach (cat, i, t) {
        if (json_is_true (json_object_get (t, "unoffered")))
            continue;
        /* the profile's description of a tool: on this run's copy only */
        json_t *desc = json_object_get (descs, run_str_of (t, "name") ?: "");
        json_t *own = desc ? json_copy (t) : NULL;
        if (own)
            json_object_set (own, "description", desc);
        json_array_append_new (tools, own ? own : json_incref (t));
    }
    if (r->client_tools)
        json_array_extend (tools, r->client_tools);
    if (r->mem_on)
        json_array_append_new (tools, memtool_spec (r->mem_max));
    uint64_t room = r->max.tokens - r->in_tokens - r->out_tokens;
    uint64_t max_out = room < 8192 ? room : 8192;
    /* the memory message goes before the condensed view, the client's
     * input and the recalled messages before the task: all counted as fixed */
    uint64_t mem_tokens = memory && *memory ? run_mem_tokens (r, memory) : 0;
    json_t *input = client_message (r);
    uint64_t input_tokens = input ? condense_tokens (input) : 0;
    json_t *view = run_condense_request (r, tools, max_out,
                                         mem_tokens + input_tokens + run_recall_tokens (r));
    if (!view) {                /* waiting for a summary, or ended */
        json_decref (input);
        json_decref (tools);
        return;
    }
    r->steps++;
    json_t *messages = run_recall_messages (r, with_client_input (r, run_mem_messages (r, view,
                                                                                 memory),
                                                                  input));
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
    run_handed_off (r);
    run_emit (r, EVK_step_started, EVK (step_started, .step = r->steps,
                                    .overheadUs = r->overhead_us));
    r->overhead_us = 0;
}

void
run_call_model (run_t *r)
{
    const json_t *cat = run_catalogue (r, RUN_CAT_TURN);
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
