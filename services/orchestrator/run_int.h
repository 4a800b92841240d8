/* run_int: the run's struct, shared by the two files of the run module
 * only: run.c (the transitions) and run_json.c (its JSON form). Nothing
 * else includes it; everyone else sees run.h's opaque run_t. */
#ifndef CAISSON_RUN_INT_H
#define CAISSON_RUN_INT_H

#include "run.h"

#define MAX_VERIFY_ROUNDS 2

/* What the run waits for while its status is `running`. */
typedef enum {
    PHASE_IDLE,                 /* nothing: the next event is run_advance */
    PHASE_CATALOGUE,            /* the host's catalogue */
    PHASE_MODEL,                /* a model turn */
    PHASE_TOOL,                 /* a tool call's answer */
    PHASE_BUSY,                 /* a wake, to send a `busy` call again */
} phase_t;

struct _run_t {
    const run_host_t *host;
    void *arg;
    char *id, *thread, *model, *user, *task, *answer;
    bool op;
    char status[32];
    char reason[512];
    json_t *messages;           /* the conversation: thread history, then this run */
    json_t *policy;             /* effective */
    json_t *client_tools;       /* [{name, description?, inputSchema}], or NULL */
    /* the current turn's tool calls: [{id, name, args, state, ...}], state
     * pending | asked | approved | client | done; next: the first not done */
    json_t *calls;
    size_t next;
    run_budgets_t max;
    uint64_t steps, tool_calls; /* used; seconds and tokens are derived */
    uint64_t in_tokens, out_tokens, cached_tokens;
    int64_t started_ms, ended_ms;
    int verify_rounds;
    phase_t phase;
    unsigned busy_tries;        /* `busy` answers to the call in flight so far */
    int64_t tool_sent_us;
    /* orchestration overhead: time between getting control back (a model
     * turn or a tool result arrived) and handing it off again, reported
     * per step in step_started's overheadUs */
    int64_t mark_us;
    uint64_t overhead_us;
};

/* A zeroed run of host (NULL when out of memory). */
run_t *run_alloc (const run_host_t *host, void *arg);

#endif
