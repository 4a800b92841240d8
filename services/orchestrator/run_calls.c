/* run_calls: a run's tool calls, one at a time in the order the model
 * asked: checked (arguments, policy), sent to the host, shown for a dry
 * run and approval, handed to the client, retried when tool-runner is
 * busy; and their results, which go back to the model. */
#include "run_int.h"
#include "client_tools.h"
#include "clog.h"
#include "jsoncap.h"
#include "memtool.h"
#include "policy.h"
#include "recalltool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESULT_TO_MODEL 65536

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
    if (r->tool_run) {          /* the run's answer, or why it failed */
        json_object_set (c, "result", result);
        json_object_set_new (c, "ok", json_boolean (ok));
    }
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
    run_handed_off (r);
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
    run_dispatch_next (r);
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

void
run_dispatch_next (run_t *r)
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
         * judged without it (a resumed run waits for it), nor by one that
         * lacks the tool (an MCP server's may have come since the turn:
         * judged unlisted, it would run ungated) */
        const json_t *cat = run_catalogue (r, RUN_CAT_ANY);
        if (cat && name && !client_tools_find (cat, name) && !memtool_is (name)
            && !client_tools_find (r->client_tools, name))
            cat = run_catalogue (r, RUN_CAT_FRESH);
        if (!cat)
            return;
        if (r->tool_calls >= r->max.tool_calls) {
            run_exhausted (r, "toolCalls", r->max.tool_calls);
            return;
        }
        if (r->tool_run && !client_tools_find (cat, name)) {
            /* checked at the start when the catalogue was loaded; else here */
            run_finish_call (r, c, false, json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error",
                                                     "code", "unknown_tool", "message",
                                                     "no such tool in tool-runner's catalogue"),
                             0, NULL);
            continue;
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
        if (recalltool_is (name) && client_tools_find (cat, name)) {
            /* the orchestrator's own search (the host runs it): checked here */
            char why[256];
            json_t *q = recalltool_query (args, why, sizeof why);
            if (!q) {
                run_finish_call (r, c, false, json_pack ("{s:b, s:{s:s, s:s}}", "success", 0,
                                                         "error", "code", "bad_arguments",
                                                         "message", why), 0, NULL);
                continue;
            }
            send_call (r, c, q);
            json_decref (q);
            return;
        }
        send_call (r, c, args);
        return;
    }
    if (r->tool_run)
        run_tool_run_end (r);
    else
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
        run_dispatch_next (r);
    else if (r->tool_run)
        run_tool_run_end (r);
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
    return run_decide_as (r, NULL, call_id, approve, reason, why, whylen);
}

int
run_decide_as (run_t *r, const char *who, const char *call_id, bool approve,
               const char *reason, char *why, size_t whylen)
{
    json_t *c = awaited (r, PROTO_RUN_awaiting_approval, "approval", call_id, why, whylen);
    if (!c)
        return -1;
    if (who && *who)
        json_object_set_new (c, "decidedBy", json_string (who));
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
    run_dispatch_next (r);
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
    run_dispatch_next (r);
    return 0;
}
