/* runhost: the runs in flight and the host they act through.
 *
 * run.c is a state machine with no I/O; runhost carries out its actions
 * (run_host_t): model turns on the model client, tool calls and events on
 * the bus (rpc), timers on the zloop, snapshots to the store, and turns
 * the answers back into the run's events. It loads the tool catalogue
 * once, for every run, and resumes unfinished runs after a restart. orch
 * (the service) starts runs here and answers the runs family.
 *
 * Each run lives in a slot that holds what the run must not see: its
 * model call, its tool request, its timers, the causation id of its next
 * event. Snapshots of live runs are grouped: a transition marks the run
 * dirty, and every 20 ms one transaction writes every dirty run's (a
 * finished run's is staged at once, since it leaves memory). */
#ifndef CAISSON_RUNHOST_H
#define CAISSON_RUNHOST_H

#include "run.h"
#include "runstore.h"
#include "rpc.h"
#include "svc.h"

typedef struct _runhost_t runhost_t;

/* Told once whether a started run's run_started was stored: code NULL
 * when it was (the run goes on), else event-log's error code and why
 * (the run is dropped after). run NULL: the host is going away and the
 * run with it; arg is the caller's to free. */
typedef void (runhost_started_fn) (run_t *run, const char *code, const char *why, void *arg);

/* A host for svc's runs over store (borrowed). NULL when it cannot. */
runhost_t *runhost_new (svc_t *svc, runstore_t *store);
/* Writes what is dirty and drops every run. */
void runhost_destroy (runhost_t **self_p);

/* Starts a run: emits run_started (data, from EVK, stolen) and, once event-log has
 * stored it, takes the run in and advances it; fn is told either way.
 * cause: the request's id, the causation of run_started. profile: the
 * run's (run_set_profile's, borrowed; NULL: builtin). Returns 0, or -1
 * (nothing started, fn not called). */
int runhost_start (runhost_t *self, const run_spec_t *spec, const json_t *profile,
                   const char *cause, json_t *data, runhost_started_fn *fn, void *arg);
/* The live run id (borrowed), or NULL. */
run_t *runhost_run (runhost_t *self, const char *id);
/* A live run's snapshot as stored (new): run_to_json and its `owner`. */
json_t *runhost_snapshot (runhost_t *self, const run_t *run);
/* How many runs of user's (NULL: "") are live, or starting. */
size_t runhost_live_of (runhost_t *self, const char *user);
/* The host's bus requests (borrowed), for requests of its service's own. */
rpc_t *runhost_rpc (runhost_t *self);
/* user's tool catalogue (NULL: runs without a user), when loaded
 * (borrowed), or NULL. */
const json_t *runhost_catalogue (runhost_t *self, const char *user);
/* Resumes the store's unfinished runs that are this instance's and not in
 * memory yet (each emits `resumed` naming this instance), and takes up the
 * sandboxes kept for threads. Returns 0, or -1 when the store cannot be
 * read. */
int runhost_resume (runhost_t *self);

#endif
