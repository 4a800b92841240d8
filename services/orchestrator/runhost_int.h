/* runhost_int: what the three files of the runhost module share; nothing
 * else includes it (everyone else sees runhost.h's opaque runhost_t).
 * runhost.c keeps the slots, starts, resumes and answers runhost.h;
 * runhost_host.c is the run_host_t a run acts through (the catalogue,
 * model turns, timers, events, snapshots, the run's end); runhost_tool.c
 * carries out its tool calls: tool-runner's, dry runs, and the
 * orchestrator's own (working memory, recall), with the automatic recall
 * of a new run. */
#ifndef CAISSON_RUNHOST_INT_H
#define CAISSON_RUNHOST_INT_H

#include "runhost.h"
#include "llm_client.h"
#include "recaller.h"
#include "rpc.h"
#include "runhost_sbx.h"
#include "titler.h"
#include "wmem.h"

/* One user's tool catalogue: tools.list asked as that user (the
 * deployment's tools and MCP servers' and the user's own servers'):
 * [{name, description?, inputSchema?, mutates?, runsTests?, effect?}],
 * fetched again once older than CAISSON_TOOLS_CATALOGUE_TTL_MS (runs go
 * on with it meanwhile), and at each model turn while an MCP server was
 * still starting at the last fetch (incomplete: the turn waits for it).
 * Kept while a slot uses it, then until it is 10 TTLs old. */
typedef struct {
    runhost_t *host;
    char *user;                 /* whose ("": runs without a user) */
    json_t *tools;
    size_t listed;              /* rows in tools.list's last answer */
    bool pending;               /* mcp.list, then tools.list, in flight */
    int64_t fetch_sent;         /* zclock_mono when the fetch in flight began */
    bool fetch_incomplete;      /* its mcp.list named a server still starting */
    int64_t fetched_at;         /* zclock_mono when the loaded one's fetch began */
    bool incomplete;            /* an MCP server was starting when it was fetched */
    zlist_t *waiting;           /* slots waiting for it */
    zlist_t *waking;            /* those a fetch's answer is advancing now */
    size_t slots;               /* slots using it */
} runcat_t;

typedef struct {
    runhost_t *host;            /* the slot's owner */
    runcat_t *cat;              /* its run's user's catalogue, once asked for */
    run_t *run;
    const llm_provider_t *provider;
    const char *model_name;     /* inside the run's model */
    llm_req_t *llm;
    char tool_req[CID_SIZE];    /* tools.call (or updateWorkingMemory's memory.put), or "" */
    char mem_req[CID_SIZE];     /* memory.get in flight (beside a tool call), or "" */
    char preview_req[CID_SIZE]; /* a dry run's tools.call in flight, or "" */
    char preview_call[300];     /* its call_id */
    recaller_ask_t *recall;     /* the automatic recall's search, or the recall tool's */
    int64_t recall_us;          /* when the tool's search was asked */
    char *recall_query;         /* its query */
    int wall_timer, wake_timer;
    bool waiting;               /* for the catalogue */
    run_cat_need_t wait_need;   /* what it waits for */
    bool fresh_turn;            /* a fetch anew for the coming turn is in */
    bool fresh_call;            /* one for a call of an unlisted tool is in, this turn */
    char last_event[CID_SIZE];  /* causation of the next event */
    /* Through the model gateway (CAISSON_GATEWAY_ORCHESTRATOR=1): the
     * run's virtual key (minted at its first model turn here), the mint
     * in flight, and the turn that waits for it. */
    char *gkey;
    char gkey_req[CID_SIZE];
    json_t *gw_messages, *gw_tools;
    uint64_t gw_max_out, gw_deadline;
} slot_t;

/* A run whose run_started event-log has not stored yet. */
typedef struct {
    slot_t *slot;
    runhost_started_fn *fn;
    void *arg;
} starting_t;

struct _runhost_t {
    svc_t *svc;
    zloop_t *loop;
    rpc_t *rpc;
    runhost_sbx_t *sandboxes;   /* what ended runs left */
    wmem_t *wmem;               /* the runs' working memory */
    recaller_t *recaller;       /* recall: automatic, the tool, vectors */
    llm_client_t *llm;
    titler_t *titler;           /* thread titles by the model (NULL: CAISSON_THREAD_TITLES=0) */
    userkey_t *keys;            /* the users' gateway keys for the titler and recall's
                                   embeddings (NULL: CAISSON_GATEWAY_ORCHESTRATOR=0) */
    runstore_t *store;          /* borrowed */
    zhashx_t *runs;             /* id -> slot_t *, the runs in flight */
    zhashx_t *dirty;            /* id -> slot_t *, to snapshot at the next flush */
    int flush_timer;
    zhashx_t *cats;             /* user -> runcat_t *, the users' catalogues */
    int64_t catalogue_ttl;      /* ms */
    zlist_t *starting;          /* starting_t: run_started not yet stored */
};

/* Ends a catalogue (a zhashx destructor). */
void runhost_cat_free (void **item);

/* The host every slot's run acts through (runhost_host.c); the run's
 * arg is its slot. */
extern const run_host_t runhost_vtable;

/* Appends one event of the slot's run (data stolen) to event-log, with
 * fn told of event-log's answer when it is not NULL (runhost.c). */
void runhost_emit (slot_t *s, evk_kind_t kind, json_t *data, rpc_done_fn *fn, void *arg);

/* Revokes the run's gateway key (when it has one) and forgets a mint in
 * flight (runhost_host.c); the slot is going. */
void runhost_gw_release (slot_t *s);

/* run_host_t's save: a live run's snapshot waits for the next flush, a
 * finished one is staged at once (runhost_host.c). */
void runhost_save (void *arg);

/* run_host_t's tool entries (runhost_tool.c); arg is the slot. */
int runhost_tool_call (void *arg, const char *call_id, const char *name, const json_t *args,
                       uint64_t timeout_ms);
void runhost_tool_cancel (void *arg, const char *call_id, const char *reason);
int runhost_tool_preview (void *arg, const char *call_id, const char *name,
                          const json_t *args);
int runhost_memory_read (void *arg);

/* Asks for the automatic recall of a new run (its task, its thread left
 * out), which advances the run when it answers; false when it is off or
 * could not be asked (runhost_tool.c). */
bool runhost_recall_auto (slot_t *s);

#endif
