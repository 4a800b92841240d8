/* runstore: the orchestrator's own LMDB under $CAISSON_DATA/orchestrator.
 * It stores JSON by key and knows nothing of what a run holds.
 *
 * `runs` maps a run id to its latest snapshot (a JSON map), `live` lists
 * the runs not finished (what a restart resumes), `threads` maps a thread
 * to its conversation after its last completed run, trimmed to a size the
 * model's context can take; `owners` maps a thread to the user who
 * started it (its conversation is theirs alone); `sandboxes` lists the
 * sandboxes ended runs keep for their threads (runhost_sbx.h).
 *
 * Snapshots are staged and written in one transaction by runstore_flush
 * (the caller groups the transitions of a few ms into one write); loads
 * see staged snapshots. The environment runs with MDB_NOSYNC: a killed
 * process loses only what was not flushed, a host crash perhaps a little
 * more. */
#ifndef CAISSON_RUNSTORE_H
#define CAISSON_RUNSTORE_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>

typedef struct _runstore_t runstore_t;

/* Opens (creating) the store in dir. NULL when it cannot. */
runstore_t *runstore_new (const char *dir);
/* Flushes what is staged and closes. */
void runstore_destroy (runstore_t **self_p);

/* Stages snap (borrowed) as run id's snapshot, replacing one staged
 * before; live: the run is unfinished (listed by runstore_live). Returns
 * 0 or -1. */
int runstore_put (runstore_t *self, const char *id, const json_t *snap, bool live);
/* Writes every staged snapshot in one transaction. Returns 0 or -1. */
int runstore_flush (runstore_t *self);
/* The snapshot of run id (new; staged or stored), or NULL. */
json_t *runstore_load (runstore_t *self, const char *id);
/* The ids of the unfinished runs (new list of strings), or NULL when the
 * store cannot be read. */
zlist_t *runstore_live (runstore_t *self);

/* Claims thread for user, or checks that it is theirs: this instance's
 * second check after event-log's (which owns the answer, threads_admit),
 * recorded once event-log stored the run's run_started; an operator's
 * run records no owner. Returns 0 when user (or an operator) may run in
 * it, 1 when it is another user's (or an older thread whose owner was
 * never recorded), -1 when the store fails. */
int runstore_claim_thread (runstore_t *self, const char *thread, const char *user, bool op);
/* The same verdict, recording nothing (before event-log was asked). */
int runstore_check_thread (runstore_t *self, const char *thread, const char *user, bool op);
/* The conversation of a thread so far (new array, maybe empty). */
json_t *runstore_thread (runstore_t *self, const char *thread);
/* Keeps messages as thread's conversation, the oldest exchanges dropped
 * to fit 256 KiB. Returns 0 or -1. */
int runstore_save_thread (runstore_t *self, const char *thread, const json_t *messages);
/* Forgets thread's conversation and owner (the thread was deleted), when
 * user owns it, an operator asks, or no owner was recorded. Returns 1
 * when something was dropped, 0 when nothing was kept, 2 when the thread
 * is another user's (nothing dropped), -1 when the store fails. */
int runstore_drop_thread (runstore_t *self, const char *thread, const char *user, bool op);

/* Keeps info (borrowed: {user, op, thread, idleUntil}) as what sandbox id
 * is kept for; info NULL: it is no longer kept. Written at once. Returns 0
 * or -1. */
int runstore_keep_sandbox (runstore_t *self, const char *id, const json_t *info);
/* The kept sandboxes: a new object, id -> info, or NULL when the store
 * cannot be read. */
json_t *runstore_kept_sandboxes (runstore_t *self);

/* Adoption (runlease.h): takes over from's unfinished runs, their owner
 * set to owner, with the threads, thread owners and kept sandboxes this
 * store lacks; then from keeps none of its runs live and no sandboxes.
 * This store is written first, so a crash between leaves both holding the
 * runs, and taking again only lets go (a run already here is not
 * overwritten). Returns how many runs from had live, or -1. */
int runstore_take (runstore_t *self, runstore_t *from, const char *owner);

#endif
