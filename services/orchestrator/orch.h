/* orch: the orchestrator's shared state and the run type, for the modules
 * that make up the service: orch.c (bus requests, catalogue, events),
 * run.c (one run's state machine), runstore.c (persistence and restart).
 *
 * Everything runs on the service's one zloop: model streams (llm_client),
 * tool calls and event appends (rpc), budgets (zloop timers). A run is a
 * plain struct advanced by callbacks; no run has a thread. */
#ifndef CAISSON_ORCH_H
#define CAISSON_ORCH_H

#include <jansson.h>
#include "llm_client.h"
#include "rpc.h"
#include "store.h"
#include "svc.h"

typedef struct _orch_t orch_t;

typedef struct {
    uint64_t steps, tool_calls, seconds, tokens;
} budgets_t;

typedef struct {
    orch_t *orch;
    char id[CID_SIZE];
    char thread[128];
    char model[256];
    char user[128];             /* its starter: only they (and operators) act on it */
    bool op;                    /* the starter is an operator: tool calls say so */
    char *task;
    const llm_provider_t *provider;
    const char *model_name;     /* inside model */
    json_t *messages;           /* the conversation: thread history, then this run */
    json_t *policy;             /* effective */
    json_t *client_tools;       /* the caller's own tools, as the model sees
                                 * them [{name, description?, inputSchema}];
                                 * NULL when none */
    budgets_t max, used;
    uint64_t in_tokens, out_tokens, cached_tokens;
    uint64_t started_wall;      /* ms since the epoch */
    char status[32];
    char *answer;
    char reason[512];
    int verify_rounds;
    /* the current turn's tool calls: [{id, name, args, state, result?}],
     * state pending | asked | client | done (client: the caller runs
     * it, the run waits for run.tool_result); next is the first not done */
    json_t *calls;
    size_t next;
    llm_req_t *llm;
    char tool_req[CID_SIZE];    /* tools.call in flight, or "" */
    int64_t tool_sent;          /* when it was sent, zclock_mono ms */
    /* tool-runner answered `busy`: the call goes again when busy_timer
     * fires (-1: none); busy_tries counts the tries so far */
    int busy_timer;
    unsigned busy_tries;
    int wall_timer;
    char last_event[CID_SIZE];  /* causation of the next event */
    bool waiting_catalogue;
    /* orchestration overhead: time spent between getting control back
     * (a model turn or tool result arrived) and handing it off again;
     * reported per step in step_started's overheadUs */
    int64_t mark_us;
    uint64_t overhead_us;
} run_t;

/* orch.c */
/* The service's main: svc_main with the runs family's handler. */
int orch_main (int argc, char **argv);
zloop_t *orch_loop (orch_t *self);
/* This process's instance id: runs it starts are its own to resume. */
const char *orch_instance (orch_t *self);
llm_client_t *orch_llm (orch_t *self);
rpc_t *orch_rpc (orch_t *self);
const json_t *orch_tools (orch_t *self);
bool orch_mutates (orch_t *self, const char *tool);
/* Appends one event of run r (data stolen) to event-log. */
void orch_emit (orch_t *self, run_t *r, const char *kind, json_t *data);
/* Publishes a delta (not stored) on run.<id>.<kind>. */
void orch_delta (orch_t *self, run_t *r, const char *kind, json_t *data);
/* Publishes tools.cancel for call_id (`<run>/<call>`): whichever
 * tool-runner runs it stops it. */
void orch_cancel_tool (orch_t *self, const char *call_id, const char *reason);
/* A run ended: keep its snapshot and drop it from memory. */
void orch_forget (orch_t *self, run_t *r);
/* Asks for the tool catalogue when it is not loaded; r waits for it. */
bool orch_need_catalogue (orch_t *self, run_t *r);

/* run.c */
run_t *run_new (orch_t *orch, const char *id);
void run_free (run_t **r_p);
/* Advances a run from where its state says: calls the model, dispatches
 * the next tool call, or waits for a human. */
void run_advance (run_t *r);
/* Ends the run with status (not completed) and reason. A tool call in
 * flight is cancelled and recorded as such (tool_result, code
 * `cancelled`); its late answer is ignored. */
void run_end (run_t *r, const char *status, const char *reason);
/* A human's decision on the call the run awaits. Returns 0, or -1 with
 * why filled when the run does not await that call. */
int run_decide (run_t *r, const char *call_id, bool approve, const char *reason,
                char *why, size_t whylen);
/* The client's result of the call the run awaits (content: JSON text, or
 * plain text; failed: the client's tool failed). Returns 0, or -1 with
 * why filled when the run does not await that call. */
int run_tool_result (run_t *r, const char *call_id, const char *content, bool failed,
                     char *why, size_t whylen);
/* The client tools of a run.start (list decoded from msgpack) as the model
 * sees them (new): [{name, description?, inputSchema}]. NULL, with why
 * naming the bad field, when one is malformed or repeated, or is a tool of
 * catalogue (tool-runner's [{name, ...}], when loaded; may be NULL). */
json_t *run_client_tools (const json_t *list, const json_t *catalogue, char *why,
                          size_t whylen);
/* The run's state as JSON (run.info and snapshots). */
json_t *run_pending (const run_t *r);

/* runstore.c */
int runstore_open (orch_t *orch, const char *dir);
void runstore_close (void);
/* Records the run's state: written within 20 ms, or at once when the run
 * has finished. Returns 0 or -1. */
int runstore_save (const run_t *r);
/* Forgets a run about to be freed (its pending save is dropped). */
void runstore_drop (const run_t *r);
/* A live run's state as a snapshot (new). */
json_t *runstore_snapshot (const run_t *r);
/* The stored snapshot of a run (new), or NULL. */
json_t *runstore_load (const char *run_id);
/* Claims thread for user, or checks that it is theirs: a thread belongs
 * to whoever started its first run, recorded durably before that run
 * starts. Returns 0 when user (or an operator) may run in it, 1 when it is
 * another user's (or an older thread whose owner was never recorded), -1
 * when the store fails. */
int runstore_claim_thread (const char *thread, const char *user, bool op);
/* The conversation of a thread so far (new array, maybe empty). */
json_t *runstore_thread (const char *thread);
int runstore_save_thread (const char *thread, const json_t *messages);
/* Rebuilds every unfinished run after a restart; calls fn for each. */
int runstore_resume (orch_t *orch, void (*fn) (run_t *r, void *arg), void *arg);

#endif
