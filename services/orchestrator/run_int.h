/* run_int: the run's struct, shared by the files of the run module only
 * (run.c, run_model.c, run_calls.c, run_end.c, run_mem.c, run_recall.c,
 * run_condense.c, run_json.c; each declares below what the others call).
 * Nothing else includes it; everyone else sees run.h's opaque run_t. */
#ifndef CAISSON_RUN_INT_H
#define CAISSON_RUN_INT_H

#include "run.h"

#define MAX_VERIFY_ROUNDS 2
#define MAX_CONTINUES 2         /* asks to continue a turn cut at the output limit */

/* The working memory read for the next model turn. */
typedef enum {
    MEM_NONE,                   /* none asked for */
    MEM_ASKED,                  /* a read in flight */
    MEM_READY,                  /* read: mem_text, at mem_read_us */
} mem_read_t;

#define MEM_FRESH_US 1000000    /* a read older than this is read again */

/* What the run waits for while its status is `running`. */
typedef enum {
    PHASE_IDLE,                 /* nothing: the next event is run_advance */
    PHASE_CATALOGUE,            /* the host's catalogue */
    PHASE_MODEL,                /* a model turn */
    PHASE_TOOL,                 /* a tool call's answer */
    PHASE_BUSY,                 /* a wake, to send a `busy` call again */
    PHASE_MEMORY,               /* the working memory, before a model turn */
} phase_t;

struct _run_t {
    const run_host_t *host;
    void *arg;
    char *id, *thread, *model, *user, *task, *answer;
    bool op;
    bool tool_run;              /* no model: its one call, then its end */
    proto_run_status_t status;
    char reason[512];
    json_t *messages;           /* the conversation: thread history, then this run */
    size_t own_from;            /* messages[own_from] is this run's task: its own start */
    json_t *sandboxes;          /* ids of the sandboxes it created or took over */
    json_t *policy;             /* effective */
    json_t *client_tools;       /* [{name, description?, inputSchema}], or NULL */
    json_t *client_input;       /* the caller's context, state, history, or NULL */
    json_t *checks;             /* the last verify round's [{name, ok, detail}], or NULL */
    json_t *profile;            /* {label, systemPrompt?, toolDescriptions?}, or NULL: builtin */
    /* the current turn's tool calls: [{id, name, args, state, ...}], state
     * pending | asked | approved | client | done; next: the first not done */
    json_t *calls;
    size_t next;
    run_budgets_t max;
    uint64_t steps, tool_calls; /* used; seconds and tokens are derived */
    uint64_t in_tokens, out_tokens, cached_tokens;
    int64_t started_ms, ended_ms;
    int verify_rounds;
    int continues;              /* asks to continue since the last whole turn */
    json_t *condense;           /* condensation state (condense.h), or NULL */
    size_t summarising;         /* the model call out is for a summary up to here */
    uint64_t summary_fixed;     /* its estimate of the system prompt and tools */
    phase_t phase;
    unsigned busy_tries;        /* `busy` answers to the call in flight so far */
    /* working memory: read for each turn (while the turn's tool calls run,
     * when none of them changes it); mem_on, mem_version, mem_max: what
     * the model was last shown (a replace is checked against it) */
    bool mem_on;
    uint64_t mem_version, mem_max;
    mem_read_t mem;
    bool mem_ok;
    char *mem_text;
    uint64_t mem_read_version, mem_read_max;
    int64_t mem_read_us;
    int64_t tool_sent_us;
    char *recalled;             /* the automatic recall's data (run_recall.c), or NULL */
    /* orchestration overhead: time between getting control back (a model
     * turn or a tool result arrived) and handing it off again, reported
     * per step in step_started's overheadUs */
    int64_t mark_us;
    uint64_t overhead_us;
};

/* A zeroed run of host (NULL when out of memory). */
run_t *run_alloc (const run_host_t *host, void *arg);

/* Every event goes out through here, its payload built by evkind's
 * constructors (EVK): the keys and types proto/events.def declares. */
static inline void
run_emit (run_t *r, evk_kind_t kind, json_t *data)
{
    r->host->emit (r->arg, kind, data);
}

static inline const char *
run_str_of (const json_t *c, const char *key)
{
    return json_string_value (json_object_get (c, key));
}

/* run.c */
/* Adds the time since the host last handed the run back (mark_us) to
 * its overhead: the run's own time, not its model's or tools'. */
void run_handed_off (run_t *r);
/* The catalogue as need asks, or NULL with the run waiting for it. */
const json_t *run_catalogue (run_t *r, run_cat_need_t need);

/* run_calls.c */
/* Carries out the next of the turn's calls, or asks for the next turn
 * when none is left. */
void run_dispatch_next (run_t *r);
/* Records call c's result (stolen) and moves past it. */
void run_finish_call (run_t *r, json_t *c, bool ok, json_t *result, uint64_t duration_ms,
                      const char *served_by);
/* `<run>/<toolCallId>` of the current call. */
void run_call_id (const run_t *r, char *buf, size_t len);

/* run_model.c */
/* Starts the next model turn, or ends the run when no budget is left. */
void run_call_model (run_t *r);
/* Counts turn t's tokens in the run's and emits its `usage` event. */
void run_count_usage (run_t *r, const llm_turn_t *t);

/* Asks the model for the next turn over the catalogue cat, the client's
 * tools and (when on) the memory tool, showing memory (may be NULL). */
void run_model_turn (run_t *r, const json_t *cat, const char *memory);

/* run_mem.c */
/* The conversation the model is shown: view (the run's own, perhaps
 * condensed; borrowed) after a user message with memory fenced as data
 * when it is not empty (new). */
json_t *run_mem_messages (run_t *r, const json_t *view, const char *memory);
/* About how many tokens that memory message takes. */
uint64_t run_mem_tokens (run_t *r, const char *memory);
/* About how many tokens len bytes of data cut to max take once fenced and
 * introduced (0 for none): what a data message counts in condensation. */
uint64_t run_fenced_tokens (size_t len, size_t max);
/* Asks the host for the memory the next turn shows, once. False when the
 * run has none. */
bool run_mem_ask (run_t *r);
/* The next model turn, once its memory is read (or asked for). */
void run_mem_next_turn (run_t *r, const json_t *cat);
/* A turn with calls was taken in: the next turn's memory is read while
 * they run, unless one of them changes it. */
void run_mem_ahead (run_t *r, const json_t *calls);
/* The agent's updateWorkingMemory call changed the document (result:
 * {version, bytes, scope, thread?}): later replaces are checked against
 * this version, and the change is an event. */
void run_mem_changed (run_t *r, const json_t *result);
/* messages (stolen) with m (stolen; NULL: none) just before this run's
 * task (new): where data shown for this run alone goes (the client's
 * input, recalled messages). The task is kept verbatim by condensation
 * (condense.h): the last message equal to it is it; without one, m goes
 * first. */
json_t *run_before_task (run_t *r, json_t *messages, json_t *m);

/* run_condense.c */
/* The messages to send next (new), condensed to fit the model's window
 * beside extra_tokens the host adds (the memory message); NULL when the
 * run now waits for a summary, or has ended. */
json_t *run_condense_request (run_t *r, const json_t *tools, uint64_t max_out,
                              uint64_t extra_tokens);
/* The summary call's reply, or its failure. */
void run_condense_summary_done (run_t *r, const llm_turn_t *t);
void run_condense_summary_failed (run_t *r, int attempts, const char *error);

/* run_recall.c */
/* messages (the request's, stolen: the run's conversation as condensed,
 * perhaps after the memory message; possibly the run's own array) with
 * the recalled data, fenced anew, as a user message just before the
 * run's task (new: a shallow copy; messages itself when nothing was
 * recalled). */
json_t *run_recall_messages (run_t *r, json_t *messages);
/* What that message costs, estimated as condense.c does (bytes / 4). */
uint64_t run_recall_tokens (const run_t *r);

/* run_end.c */
/* Ends the run (not completed); budget, check: what ran out or failed. */
void run_end_with (run_t *r, proto_run_status_t status, const char *reason, const char *budget,
                   const char *check);
void run_exhausted (run_t *r, const char *budget, uint64_t limit);
/* The model answered without calls: verify, then complete or feedback. */
void run_answered (run_t *r, const char *text);
/* Whether a turn was cut at the output limit, or stopped by a filter. */
bool run_turn_cut (const llm_turn_t *t);
bool run_turn_filtered (const llm_turn_t *t);
/* A cut turn: ask to continue within budget, or end truncated. */
void run_cut_off (run_t *r);
/* A tool run's call is done: complete with its result as compact JSON,
 * or fail with its error or decline. */
void run_tool_run_end (run_t *r);
/* Notes the sandbox call c created, or took over from the thread. */
void run_track_sandboxes (run_t *r, const json_t *c, const json_t *result);

#endif
