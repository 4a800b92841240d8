/* run_end: how a run ends (see run.h): completed once its verify checks
 * pass, or ended with a status and reason (budgets, cancel, checks that
 * still fail, a reply cut at the output limit or filtered); and the
 * sandboxes it answers for, handed to its host when it ends. Part of the
 * run module: it shares run_int.h with run.c and run_json.c. */
#include "run_int.h"
#include "clog.h"
#include "prompt.h"
#include "run_convo.h"
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
add_sandbox (run_t *r, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach (r->sandboxes, i, s)
        if (strcmp (json_string_value (s), id) == 0)
            return;
    json_array_append_new (r->sandboxes, json_string (id));
}

/* The sandboxes the run answers for: those its calls create, and those
 * of its thread's earlier runs it uses (the thread kept them for it). */
void
run_track_sandboxes (run_t *r, const json_t *c, const json_t *result)
{
    const json_t *args = json_object_get (c, "args");
    const char *made = run_convo_created (args, result);
    const char *used = run_str_of (args, "sandboxId");
    if (made)
        add_sandbox (r, made);
    else if (used && run_convo_creates (r->messages, 0, r->own_from, used))
        add_sandbox (r, used);
}

/* The run has ended: its host keeps its sandboxes for the thread's next
 * runs when it completed on a thread a caller named (a run alone has its
 * own id as thread), else destroys them. */
static void
release_sandboxes (run_t *r)
{
    bool keep = r->status == PROTO_RUN_completed && strcmp (r->thread, r->id) != 0;
    size_t i;
    json_t *s;
    json_array_foreach (r->sandboxes, i, s)
        r->host->sandbox_done (r->arg, json_string_value (s), keep);
}


/* Ends the run with status (not completed) and reason; budget or check
 * names what ran out or failed (NULL: nothing). */
void
run_end_with (run_t *r, proto_run_status_t status, const char *reason, const char *budget,
         const char *check)
{
    if (!run_live (r))
        return;
    phase_t was = r->phase;
    r->phase = PHASE_IDLE;
    if (was == PHASE_MODEL)
        r->host->model_cancel (r->arg);
    if (was == PHASE_BUSY)
        r->host->wake_cancel (r->arg);
    if (was == PHASE_TOOL || was == PHASE_BUSY) {
        char call_id[256], why[600];
        run_call_id (r, call_id, sizeof call_id);
        snprintf (why, sizeof why, "the run ended (%s: %s)", proto_run_status_name (status),
                  reason);
        r->host->tool_cancel (r->arg, call_id, why);
        int64_t took = (r->host->clock_us (r->arg) - r->tool_sent_us) / 1000;
        /* the run does not wait for tool-runner's word: the call is
         * recorded cancelled now, and the cancel is best effort */
        run_finish_call (r, json_array_get (r->calls, r->next), false,
                     json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code",
                                "cancelled", "message", why),
                     took > 0 ? (uint64_t) took : 0, NULL);
    }
    r->status = status;
    snprintf (r->reason, sizeof r->reason, "%s", reason);
    r->ended_ms = r->host->now_ms (r->arg);
    clog_info (r->id, "run %s: %s", proto_run_status_name (status), reason);
    run_emit (r, EVK_failed, EVK (failed, .status = proto_run_status_name (status),
                              .reason = reason, .budget = budget, .check = check));
    release_sandboxes (r);
    r->host->save (r->arg);
    r->host->ended (r->arg);
}

/* The calls of the last assistant turn with calls that no tool message
 * answers get one saying they never ran, placed after the answers they
 * have: a provider refuses a call left without its result. */
static void
close_calls (json_t *msgs, size_t from, const char *why)
{
    size_t at = json_array_size (msgs);
    while (at > from && !json_object_get (json_array_get (msgs, at - 1), "tool_calls"))
        at--;
    if (at == from)
        return;
    json_t *calls = json_object_get (json_array_get (msgs, at - 1), "tool_calls"), *c;
    while (at < json_array_size (msgs)
           && !strcmp (run_str_of (json_array_get (msgs, at), "role") ?: "", "tool"))
        at++;
    size_t i;
    json_array_foreach (calls, i, c) {
        const char *id = run_str_of (c, "id") ?: "";
        bool answered = false;
        for (size_t j = from; j < at && !answered; j++)
            answered = !strcmp (run_str_of (json_array_get (msgs, j), "tool_call_id") ?: "", id);
        if (answered)
            continue;
        json_t *res = json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code",
                                 "not_run", "message", why);
        char *text = json_dumps (res, JSON_COMPACT);
        json_array_insert_new (msgs, at++, json_pack ("{s:s, s:s, s:s, s:s}", "role", "tool",
                                                      "tool_call_id", id, "name",
                                                      run_str_of (c, "name") ?: "", "content",
                                                      text ?: "{}"));
        free (text);
        json_decref (res);
    }
}

json_t *
run_thread_convo (const run_t *r)
{
    json_t *msgs = json_deep_copy (r->messages);
    if (r->status == PROTO_RUN_completed || run_live (r))
        return msgs;
    char why[700];
    snprintf (why, sizeof why, "not run: the run ended %s (%s)", proto_run_status_name (r->status),
              r->reason);
    close_calls (msgs, r->own_from, why);
    snprintf (why, sizeof why, "[Note from the system, not the assistant's words: the run for "
              "the task above ended without an answer, status %s: %s. Its turns are kept as "
              "they were; anything it did may be incomplete.]", proto_run_status_name (r->status),
              r->reason);
    json_array_append_new (msgs, json_pack ("{s:s, s:s}", "role", "assistant", "content", why));
    return msgs;
}

const char *
run_first_answer (const run_t *r, const char **task)
{
    if (r->status != PROTO_RUN_completed || r->own_from)
        return NULL;
    *task = r->task;
    return r->answer ? r->answer : "";
}

void
run_end (run_t *r, proto_run_status_t status, const char *reason)
{
    run_end_with (r, status, reason, NULL, NULL);
}

void
run_exhausted (run_t *r, const char *budget, uint64_t limit)
{
    char why[128];
    snprintf (why, sizeof why, "budget exhausted: %s (limit %llu)", budget,
              (unsigned long long) limit);
    run_end_with (r, PROTO_RUN_budget_exhausted, why, budget, NULL);
}

void
run_deadline_passed (run_t *r)
{
    run_exhausted (r, "wallSeconds", r->max.seconds);
}

static void
complete (run_t *r, const char *answer)
{
    r->status = PROTO_RUN_completed;
    free (r->answer);
    r->answer = strdup (answer ? answer : "");
    r->ended_ms = r->host->now_ms (r->arg);
    run_emit (r, EVK_complete, EVK (complete, .status = proto_run_status_name (PROTO_RUN_completed),
                                  .answer = r->answer ?: ""));
    release_sandboxes (r);
    r->host->save (r->arg);
    r->host->ended (r->arg);
}

void
run_tool_run_end (run_t *r)
{
    json_t *c = json_array_get (r->calls, 0);
    json_t *result = json_object_get (c, "result");
    if (json_is_true (json_object_get (c, "ok"))) {
        char *text = json_dumps (result, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text)
            complete (r, text);
        else
            run_end (r, PROTO_RUN_failed, "the result could not be written as JSON");
        free (text);
        return;
    }
    char why[512];
    const char *reason = run_str_of (result, "reason");
    if (json_is_true (json_object_get (result, "declined"))) {
        /* no decider: the policy's deny (run_calls.c), or an anonymous one */
        const char *who = run_str_of (c, "decidedBy")
                       ?: (reason && strstr (reason, "policy") ? "the policy" : "a human");
        if (!reason || strcmp (reason, "declined by a human") == 0)  /* no reason given */
            snprintf (why, sizeof why, "declined by %s", who);
        else
            snprintf (why, sizeof why, "declined by %s: %s", who, reason);
    } else {
        json_t *err = json_object_get (result, "error");
        snprintf (why, sizeof why, "%s: %s", run_str_of (err, "code") ?: "tool_failed",
                  run_str_of (err, "message") ?: "the tool failed");
    }
    run_end (r, PROTO_RUN_failed, why);
}

/* Runs the policy's verify checks over the run's own calls, emitting a
 * `check` for each; failed names the one that failed. */
static int
verify (run_t *r, char *failed, size_t failedlen, char *feedback, size_t len)
{
    json_t *results = json_array ();
    int rc = verify_checks (r->policy, r->messages, r->own_from, r->host->catalogue (r->arg, RUN_CAT_ANY),
                            results, failed, failedlen, feedback, len);
    size_t i;
    json_t *check;
    json_array_foreach (results, i, check)
        run_emit (r, EVK_check, EVK (check, .name = run_str_of (check, "name"),
                                 .ok = json_is_true (json_object_get (check, "ok")),
                                 .detail = run_str_of (check, "detail")));
    json_decref (r->checks);
    r->checks = results;    /* the latest outcomes, for run.info */
    return rc;
}


/* How a turn ended, as the llm layer reads the provider's stop reason
 * (llm_finish_t): cut at the output limit, or stopped by the provider's
 * content filter. */
bool
run_turn_cut (const llm_turn_t *t)
{
    return t->finish == LLM_FINISH_LENGTH;
}

bool
run_turn_filtered (const llm_turn_t *t)
{
    return t->finish == LLM_FINISH_FILTER;
}

/* The model's turn was cut at its output limit: it is asked to continue
 * while the budgets allow (MAX_CONTINUES times in a row), else the run
 * ends truncated: a cut reply is never an answer. */
void
run_cut_off (run_t *r)
{
    bool room = r->steps < r->max.steps && r->in_tokens + r->out_tokens < r->max.tokens;
    if (r->continues >= MAX_CONTINUES || !room) {
        char why[200];
        snprintf (why, sizeof why, "the model's reply was cut at its output limit %s",
                  !room ? "with no budget left to ask it to continue"
                        : "again after it was asked to continue");
        run_end_with (r, PROTO_RUN_truncated, why, NULL, NULL);
        return;
    }
    r->continues++;
    json_array_append_new (r->messages, json_pack ("{s:s, s:s}", "role", "user", "content",
                                                   prompt_continue ()));
    r->host->save (r->arg);
    run_call_model (r);
}

/* The model answered without tool calls: the verify checks decide
 * whether the run completes, goes back to the model with feedback, or
 * (after MAX_VERIFY_ROUNDS) ends checks_failed. */
void
run_answered (run_t *r, const char *text)
{
    char feedback[512], failed[64] = "";
    if (verify (r, failed, sizeof failed, feedback, sizeof feedback) == 0) {
        complete (r, text);
        return;
    }
    if (++r->verify_rounds > MAX_VERIFY_ROUNDS) {
        run_end_with (r, PROTO_RUN_checks_failed, feedback, NULL, failed);
        return;
    }
    json_array_append_new (r->messages, json_pack ("{s:s, s:s}", "role", "user", "content",
                                                   feedback));
    r->host->save (r->arg);
    run_call_model (r);
}
