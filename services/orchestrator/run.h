/* run: one run's state machine, opaque, with no I/O of its own.
 *
 * A run alternates model turns and tool calls until the model answers
 * without tools (then the verify checks), a budget runs out, it is
 * cancelled, or it fails. Tool calls of one turn run one after another,
 * in the model's order; a gated call parks the run in awaiting_approval
 * until run_decide; a call to one of the caller's own tools (client
 * tools) parks it in awaiting_tool_result until run_tool_result.
 *
 * The run is driven by events (the run_* functions below: start, model
 * output or error, tool result, decision, client result, cancel, wake,
 * deadline) and answers with actions through its host (run_host_t): call
 * the model, call a tool, emit an event, save, end. The host (orch) owns
 * sockets, timers and the model client; the run sees none of them, so
 * every transition can be driven in-process (tests/test_run.c).
 *
 * The run owns its JSON form (run_to_json / run_from_json): what is saved
 * at each transition and resumed after a restart (tool calls are
 * idempotent by call id, so a call in flight is simply sent again). */
#ifndef CAISSON_RUN_H
#define CAISSON_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evkind.h"
#include "llm.h"
#include "proto.h"

typedef struct _run_t run_t;

/* What a run needs of the tool catalogue (MCP servers' tools come and go,
 * docs/orchestrator.md § The tool catalogue). */
typedef enum {
    RUN_CAT_ANY,                /* the one loaded: judging a call of a listed tool */
    RUN_CAT_TURN,               /* a model turn's: fetched again first while it may lack
                                   a starting MCP server's tools */
    RUN_CAT_FRESH,              /* fetched again first: a call names a tool it lacks */
} run_cat_need_t;

typedef struct {
    uint64_t steps, tool_calls, seconds, tokens;
} run_budgets_t;

/* What the run asks of its host. Every function gets the arg given to
 * run_new / run_from_json. A run may end inside any event function; once
 * `ended` is called the host may destroy it, and the run touches nothing
 * after. */
typedef struct {
    /* wall clock (ms since the epoch) and a monotonic clock (us) */
    int64_t (*now_ms) (void *arg);
    int64_t (*clock_us) (void *arg);
    /* The tool catalogue, [{name, description?, inputSchema?, mutates?,
     * runsTests?}] (borrowed, valid until the run next returns to the
     * host), or NULL while the host loads it as need asks: the host then
     * calls run_advance (or run_end) once it is. */
    const json_t *(*catalogue) (void *arg, run_cat_need_t need);
    /* Starts a model turn over messages and tools (borrowed), to produce
     * at most max_out tokens, giving up retries at deadline_ms (wall).
     * Answered by run_model_done or run_model_failed. Returns 0 or -1. */
    int (*model) (void *arg, const json_t *messages, const json_t *tools, uint64_t max_out,
                  uint64_t deadline_ms);
    void (*model_cancel) (void *arg);
    /* Sends tool call call_id (`<run>/<toolCallId>`) of name with args
     * (borrowed) within timeout_ms. Answered by run_tool_done. */
    int (*tool) (void *arg, const char *call_id, const char *name, const json_t *args,
                 uint64_t timeout_ms);
    /* Forgets the call in flight (its answer is never delivered) and asks
     * whoever runs it to stop, for reason. */
    void (*tool_cancel) (void *arg, const char *call_id, const char *reason);
    /* Asks tool-runner for a dry run of call_id (`<run>/<toolCallId>`) of
     * name with args (borrowed), to show the change to the person asked to
     * approve it. Answered by run_preview_done. Returns 0 or -1. */
    int (*preview) (void *arg, const char *call_id, const char *name, const json_t *args);
    /* Calls run_wake after delay_ms; wake_cancel drops that. */
    int (*wake) (void *arg, uint64_t delay_ms);
    void (*wake_cancel) (void *arg);
    /* Records one event of kind (data, built by EVK, stolen; NULL when
     * it could not be built: the event is dropped). */
    void (*emit) (void *arg, evk_kind_t kind, json_t *data);
    /* The run has ended and is done with sandbox_id, a sandbox it created
     * (or took over from its thread): keep it for the thread's next runs
     * (keep), or destroy it. Called before ended. */
    void (*sandbox_done) (void *arg, const char *sandbox_id, bool keep);
    /* The run's state changed: run_to_json has something new to keep. */
    void (*save) (void *arg);
    /* The run ended (completed or not), after its last event and save. */
    void (*ended) (void *arg);
    /* Asks for the working memory the run reads before each model turn
     * (whose document is the host's choice). Answered by run_memory_done.
     * Returns -1 when the run has none (memory is off): the model is then
     * asked at once, without memory or its tool. May be NULL. */
    int (*memory) (void *arg);
} run_host_t;

/* How a run starts: the caller's checked choices. */
typedef struct {
    const char *id, *thread, *model, *user, *task;
    bool op;                        /* the starter is an operator */
    const json_t *history;          /* the thread's conversation so far (may be NULL) */
    const json_t *policy;           /* effective policy (see policy.h) */
    const json_t *client_tools;     /* from client_tools_check, or NULL */
    run_budgets_t max;
    int64_t started_ms;             /* wall clock */
    const json_t *client_input;     /* from client_input_check, or NULL */
} run_spec_t;

/* A new run, not yet started (run_advance starts it). host is borrowed
 * and must outlive the run. */
run_t *run_new (const run_host_t *host, void *arg, const run_spec_t *spec);
/* A run from its JSON form (borrowed), resumed where it was, or NULL with
 * why filled when json is not a run's. */
run_t *run_from_json (const run_host_t *host, void *arg, const json_t *json, char *why,
                      size_t whylen);
/* Makes a new run (not yet started) a tool run: it has no model, makes
 * tool_call ({name, args}, checked; borrowed), gated as any call, and
 * ends with its result. Returns 0, or -1 when out of memory. */
int run_make_tool_run (run_t *self, const json_t *tool_call);
/* Destroys a run; what it had in flight is the host's to drop. */
void run_destroy (run_t **self_p);

/* The run's JSON form (new): the id, status, conversation, calls,
 * budgets (`max`, and `used` with seconds and tokens counted), token
 * counts, the last verify round's `checks` and the start's choices. */
json_t *run_to_json (const run_t *self);

const char *run_id (const run_t *self);
const char *run_user (const run_t *self);
const char *run_model (const run_t *self);
const char *run_thread (const run_t *self);
/* The profile version it uses, `name@version`, or `builtin`. */
const char *run_profile (const run_t *self);
/* The system prompt the model is given: the profile's, or prompt.h's. */
const char *run_system_prompt (const run_t *self);
/* The task, as the person gave it. */
const char *run_task (const run_t *self);
/* The status, and its wire name (proto/runs.def). */
proto_run_status_t run_status_code (const run_t *self);
const char *run_status (const run_t *self);
bool run_op (const run_t *self);
/* The model turns taken so far: the current turn's step while one is out. */
uint64_t run_steps (const run_t *self);
/* True while the model call out asks for a summary of older turns
 * (condensation): its text is not the run's, so it is not streamed. */
bool run_summarising (const run_t *self);
/* The conversation so far (borrowed): what a run leaves its thread. */
const json_t *run_messages (const run_t *self);
/* What an ended run leaves its thread for the next run's model (new):
 * its conversation; one that did not complete also gets an answer for
 * each tool call it left unanswered ("not run") and a note saying how it
 * ended, so its turns stay in the thread marked as what they were. */
json_t *run_thread_convo (const run_t *self);
/* A completed run that was its thread's first (it started with no
 * earlier conversation): its task and answer (borrowed), for the
 * thread's title; NULL otherwise. */
const char *run_first_answer (const run_t *self, const char **task);
/* When the wall-clock budget runs out (ms since the epoch). */
int64_t run_deadline (const run_t *self);
/* True while the run has not ended (running or awaiting someone). */
bool run_live (const run_t *self);
/* The call the run awaits ({toolCallId, name, args, client?}, new), or NULL. */
json_t *run_pending (const run_t *self);

/* Event: go on from where the state says: call the model, send the next
 * tool call, or keep waiting for a human. Nothing when something is in
 * flight. The start of a new run, a resumed one, and the catalogue's
 * arrival are all this. */
void run_advance (run_t *self);
/* Event: the model's turn (borrowed). */
void run_model_done (run_t *self, const llm_turn_t *turn);
/* Event: the model call failed for good after attempts tries. */
void run_model_failed (run_t *self, int attempts, const char *error);
/* Event: the model gateway refused the call for budget (its budget name,
 * e.g. `user.cost.month`, and its sentence): the run ends
 * budget_exhausted, `failed.budget` = `gateway:<budget>`. */
void run_model_over_budget (run_t *self, const char *budget, const char *error);
/* Event: the tool call in flight was answered. result (stolen) is the
 * tool's result, or an error shape; busy: tool-runner had no room (the
 * run sends it again after a back-off while its budget allows). */
void run_tool_done (run_t *self, bool ok, bool busy, json_t *result, uint64_t duration_ms,
                    const char *served_by);
/* Event: the dry run the run asked for (host preview) of call_id was
 * answered: ok with tool-runner's result {files, skipped, patch}, or not
 * with an error shape {error: {code, message}} (result stolen, may be
 * NULL). The run then asks for approval, showing it; an answer for a call
 * no longer previewed is ignored. */
void run_preview_done (run_t *self, const char *call_id, bool ok, json_t *result);
/* Event: the working memory the run asked for (host memory): ok with its
 * document (content, borrowed), version and size limit max; not ok when
 * it could not be read (the turn goes on without it, and without the
 * tool). The model is asked then, shown the document fenced as data. */
void run_memory_done (run_t *self, bool ok, const char *content, uint64_t version,
                      uint64_t max);
/* Before the run's first step: what the automatic recall found
 * (recalltool_render's data, copied; NULL: nothing), shown to the model
 * fenced before the task in every request, and kept in the snapshot. */
void run_set_recalled (run_t *self, const char *data);
/* Before the run's first step: the profile version it uses
 * (profilefetch_settings', {label, systemPrompt?, toolDescriptions?},
 * borrowed; NULL: builtin), kept in the snapshot. */
void run_set_profile (run_t *self, const json_t *profile);
/* Event: the wake the run asked for. */
void run_wake (run_t *self);
/* Event: the wall-clock budget ran out. */
void run_deadline_passed (run_t *self);
/* Event: a human's decision on the call the run awaits. Returns 0, or -1
 * with why filled when the run does not await that call. */
int run_decide (run_t *self, const char *call_id, bool approve, const char *reason, char *why,
                size_t whylen);
/* run_decide by who (the decider's user, may be NULL): a tool run that is
 * declined fails with `declined by <who>: <reason>`. */
int run_decide_as (run_t *self, const char *who, const char *call_id, bool approve,
                   const char *reason, char *why, size_t whylen);
/* Event: the client's result of the call the run awaits (content: JSON
 * text, or plain text; failed: the client's tool failed). Returns 0, or
 * -1 with why filled when the run does not await that call. */
int run_tool_result (run_t *self, const char *call_id, const char *content, bool failed,
                     char *why, size_t whylen);
/* Event: end the run with status (not completed) and reason: cancel,
 * a missing catalogue, a restart that cannot go on. A tool call in flight
 * is cancelled and recorded as such (tool_result, code `cancelled`). */
void run_end (run_t *self, proto_run_status_t status, const char *reason);

#endif
