/* run_condense: the run's side of condensation (condense.h). Before each
 * model turn the run asks here for the messages to send: the whole
 * conversation while it fits CAISSON_CONDENSE_SHARE of the model's window
 * (llm_provider_context), else a condensed view, after one extra model
 * call for a summary when eliding old tool results is not enough. Each
 * step is a `condensed` event; the conversation itself (snapshot, thread,
 * verify) and the stored events keep everything. Part of the run module:
 * it shares run_int.h. */
#include "run_int.h"
#include "cfg.h"
#include "condense.h"
#include "llm_provider.h"
#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tokens the host may add around the system prompt (working memory...) */
#define SYSTEM_SLACK 256

static void
limits (const run_t *r, uint64_t max_out, condense_limits_t *lim)
{
    const char *share = cfg_str ("CAISSON_CONDENSE_SHARE");
    char *end = NULL;
    double v = strtod (share, &end);
    condense_limits (lim, llm_provider_context (r->model), end && !*end ? v : 0.75,
                     (size_t) cfg_u64 ("CAISSON_CONDENSE_KEEP_TURNS"), max_out);
}

static uint64_t
fixed_tokens (const run_t *r, const json_t *tools)
{
    return (strlen (run_system_prompt (r)) + 3) / 4 + SYSTEM_SLACK + condense_tools_tokens (tools);
}

static void
emit_steps (run_t *r, const json_t *steps, uint64_t window)
{
    size_t i;
    json_t *s;
    json_array_foreach (steps, i, s)
        run_emit (r, EVK_condensed, EVK (condensed, .step = run_str_of (s, "step"),
                  .tokensBefore = (uint64_t) json_integer_value (json_object_get (s,
                                                                     "tokensBefore")),
                  .tokensAfter = (uint64_t) json_integer_value (json_object_get (s,
                                                                    "tokensAfter")),
                  .window = window,
                  .elided = (uint64_t) json_integer_value (json_object_get (s, "elided")),
                  .summarised = (uint64_t) json_integer_value (json_object_get (s,
                                                                   "summarised"))));
}

static void
exhausted (run_t *r, uint64_t total, const condense_limits_t *lim)
{
    char why[400];
    snprintf (why, sizeof why, "context_exhausted: the next request needs about %llu tokens; "
              "%s's context window is %llu (%llu with room for the reply), even with the "
              "conversation condensed", (unsigned long long) total, r->model,
              (unsigned long long) lim->window, (unsigned long long) lim->hard);
    run_end (r, PROTO_RUN_failed, why);
}

/* Asks the model for the summary; false when the request could not go. */
static bool
ask_summary (run_t *r, const condense_limits_t *lim, uint64_t fixed)
{
    size_t upto = 0;
    json_t *req = condense_summary_request (r->messages, r->own_from, r->condense, fixed, lim,
                                            &upto);
    if (!req)
        return false;
    uint64_t room = r->max.tokens - r->in_tokens - r->out_tokens;
    uint64_t out = lim->window / 16 < 1024 ? lim->window / 16 : 1024;
    json_t *none = json_array ();
    r->summarising = upto;
    r->summary_fixed = fixed;
    r->phase = PHASE_MODEL;
    /* cppcheck-suppress knownConditionTrueFalse ; room is what the token budget has left */
    int rc = r->host->model (r->arg, req, none, room < out ? room : out,
                             (uint64_t) run_deadline (r));
    json_decref (none);
    json_decref (req);
    if (rc) {
        r->phase = PHASE_IDLE;
        r->summarising = 0;
        run_end (r, PROTO_RUN_failed, "cannot start the model request for a summary");
    }
    return true;
}

json_t *
run_condense_request (run_t *r, const json_t *tools, uint64_t max_out, uint64_t extra_tokens)
{
    condense_limits_t lim;
    limits (r, max_out, &lim);
    /* a run that never needed it keeps no state in its snapshot */
    json_t *st = r->condense ? r->condense : json_object ();
    uint64_t fixed = fixed_tokens (r, tools) + extra_tokens, total = 0;
    json_t *steps = json_array ();
    condense_verdict_t v = condense_plan (st, r->messages, r->own_from, fixed, &lim, steps,
                                          &total);
    if (!r->condense && (json_object_size (st) || v == CONDENSE_SUMMARISE))
        r->condense = st;
    else if (!r->condense)
        json_decref (st);
    emit_steps (r, steps, lim.window);
    json_decref (steps);
    if (v == CONDENSE_SUMMARISE && ask_summary (r, &lim, fixed))
        return NULL;
    if (v == CONDENSE_EXHAUSTED || (v == CONDENSE_SUMMARISE && total > lim.hard)) {
        exhausted (r, total, &lim);
        return NULL;
    }
    return condense_view (r->messages, r->own_from, r->condense);
}

/* The summary's reply: counted as usage and tokens (not as a step: steps
 * are the task's turns), put in place of the turns it covers, then the
 * turn it was asked for goes out. */
void
run_condense_summary_done (run_t *r, const llm_turn_t *t)
{
    size_t upto = r->summarising;
    r->summarising = 0;
    r->phase = PHASE_IDLE;
    run_count_usage (r, t);
    condense_limits_t lim;
    limits (r, 8192, &lim);
    uint64_t fixed = r->summary_fixed;
    uint64_t before = condense_total (r->messages, r->own_from, r->condense, fixed);
    /* a summary is for a small part of the window, however long the reply */
    char *text = t->text_len ? strndup (t->text, t->text_len) : NULL;
    size_t cap = (size_t) (lim.window / 16 < 1024 ? lim.window / 16 : 1024) * 4;
    size_t covered = condense_summary_apply (r->condense, r->messages, r->own_from, text, upto,
                                             cap);
    free (text);
    uint64_t after = condense_total (r->messages, r->own_from, r->condense, fixed);
    run_emit (r, EVK_condensed, EVK (condensed, .step = "summary", .tokensBefore = before,
                                     .tokensAfter = after, .window = lim.window,
                                     .elided = condense_elided (r->messages, r->condense),
                                     .summarised = covered));
    r->host->save (r->arg);
    if (r->in_tokens + r->out_tokens >= r->max.tokens) {
        run_exhausted (r, "tokens", r->max.tokens);
        return;
    }
    run_call_model (r);
}

void
run_condense_summary_failed (run_t *r, int attempts, const char *error)
{
    r->summarising = 0;
    r->phase = PHASE_IDLE;
    char why[512];
    snprintf (why, sizeof why, "the model call for a summary of the conversation (to fit "
              "its context window) failed after %d attempt%s: %s", attempts,
              attempts == 1 ? "" : "s", error ? error : "");
    run_end (r, PROTO_RUN_failed, why);
}

bool
run_summarising (const run_t *self)
{
    return self->summarising != 0;
}
