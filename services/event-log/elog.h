/* elog: what the event-log modules share: the service state, the layout of
 * the LMDB databases (docs/storage.md) and the key helpers.
 *
 * journal.c appends (group commit, dedup, sequences, the run record
 * derived from events, publishing); reader.c answers the reading requests;
 * artifact.c keeps content-addressed blobs and applies retention;
 * transcript.c renders a run as JSON Lines or Markdown; recall*.c keep
 * each user's messages searchable (recall.h). */
#ifndef CAISSON_ELOG_H
#define CAISSON_ELOG_H

#include "bus_client.h"
#include "proto.h"
#include "store.h"
#include "svc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* The databases, in the order store_new opens them. */
enum {
    DB_META,        /* "schema" -> version */
    DB_EVENTS,      /* run key + be64 run_seq -> event map (msgpack) */
    DB_GLOBAL,      /* be64 seq -> run key + be64 run_seq */
    DB_IDS,         /* event id -> be64 seq + be64 run_seq (dedup) */
    DB_RUNS,        /* run key -> run record (JSON text) */
    DB_ARTIFACTS,   /* sha256 hex -> artifact record (JSON text) */
    DB_CHUNKS,      /* sha256 hex + be32 index -> up to 1 MiB of bytes */
    DB_REFS,        /* sha256 hex + run key -> "" (which runs use it) */
    DB_RECALL,      /* the recall index (recall.h) */
    DB_THREADS,     /* thread id -> thread record (JSON text) */
    DB_THREAD_ACT,  /* user NUL be64 lastActivity thread id -> "" (newest last) */
    DB_THREAD_RUNS, /* thread id NUL run key -> "" (its runs, in start order) */
    DB_MEMORY,      /* "u" user | "t" user NUL thread -> working memory (JSON text) */
    DB_SPEND,       /* be64 spend seq -> spend record (msgpack) */
    DB_SPEND_IDS,   /* call id -> be64 spend seq (dedup) */
    DB_SPEND_AGG,   /* user NUL be32 day key id NUL model -> 6 x be64 daily totals */
    DB_PROFILES,    /* profile versions and states ('P', 'S' keys: profiles.c) */
    DB_EVALS,       /* eval records and owners' listings ('E', 'e' keys: evals.c) */
    DB_COUNT
};

#define ELOG_RUN_KEY 26             /* run ids are cids */
#define ELOG_EVENT_KEY (ELOG_RUN_KEY + 8)
#define ELOG_HASH_HEX 64
#define ELOG_CHUNK (1u << 20)
#define ELOG_PAGE_BYTES (4u << 20)  /* a reply stops growing past this */

typedef struct _journal_t journal_t;

typedef struct {
    svc_t *svc;
    store_t *store;
    journal_t *journal;
    uint64_t retention_days;
    bus_client_t *client;       /* to the orchestrators (thread.drop), made when first needed */
    char dir[4096];             /* the store's directory */
} elog_t;

/* Writes the fixed-size key of run (NUL padded). */
void elog_run_key (const char *run, uint8_t key[ELOG_RUN_KEY]);
/* True when s is a run id (a cid, as the envelope requires). */
bool elog_run_valid (const char *s);
void elog_be64 (uint8_t out[8], uint64_t v);
uint64_t elog_get64 (const uint8_t in[8]);

/* The run record stored for run, parsed, or NULL when there is none. */
json_t *elog_run_load (MDB_txn *txn, elog_t *el, const char *run);

/* True when req's sender may read the run whose record is rec: an
 * operator, or the user who started it (the envelope's user against the
 * record's). Anyone else is told the run does not exist. */
bool elog_may_read (const proto_msg_t *req, const json_t *rec);

/* True when user has put the artifact whose stored meta is meta (its
 * `users`): only they may reference it from a run (`artifact` event).
 * An artifact stored before putters were recorded has none. */
bool elog_artifact_put_by (const json_t *meta, const char *user);

/* The same for the run of the stored key rk (ELOG_RUN_KEY bytes). */
bool elog_may_read_key (MDB_txn *txn, elog_t *el, const proto_msg_t *req, const uint8_t *rk);

/* One stored event map decoded to JSON (data included), or NULL. */
json_t *elog_event_json (const MDB_val *val);

/* Route handlers (bus_handler_fn), one per request type, named after it:
 * arg is the svc_t whose state is the elog_t. */
proto_msg_t *reader_run_record_get (const proto_msg_t *req, void *arg);
proto_msg_t *reader_runs_list (const proto_msg_t *req, void *arg);
proto_msg_t *reader_events_read (const proto_msg_t *req, void *arg);
proto_msg_t *reader_stats_get (const proto_msg_t *req, void *arg);
proto_msg_t *artifact_put (const proto_msg_t *req, void *arg);
proto_msg_t *artifact_get (const proto_msg_t *req, void *arg);
proto_msg_t *transcript_get (const proto_msg_t *req, void *arg);
proto_msg_t *recall_bus_search (const proto_msg_t *req, void *arg);
proto_msg_t *recall_bus_vectors (const proto_msg_t *req, void *arg);
proto_msg_t *memory_get (const proto_msg_t *req, void *arg);
proto_msg_t *memory_put (const proto_msg_t *req, void *arg);
/* Drops user's working memory of thread, in txn (its thread is deleted);
 * 0 also when there was none. */
int memory_forget_thread (MDB_txn *txn, elog_t *el, const char *user, const char *thread);

/* Deletes one run (its stored key rk and record rec): its events, record
 * and the artifacts no other run references. */
int artifact_drop_run (MDB_txn *txn, elog_t *el, const uint8_t rk[ELOG_RUN_KEY], json_t *rec);

/* Threads (threads.c): folds a stored event of kind (run_started,
 * complete, failed, thread_titled; others are ignored), with its data
 * (msgpack), of the run whose record is rec into its thread, inside the
 * append transaction. Returns 0 or an LMDB code. */
int threads_fold (MDB_txn *txn, elog_t *el, const json_t *rec, const char *kind,
                  const proto_bytes_t *data, uint64_t ts);
/* Once per store: folds the runs stored before threads were kept (no
 * `threads` mark in meta) into their threads, then sets the mark.
 * Returns 0 or -1. */
int threads_backfill (elog_t *el);
/* The stored thread record (new), or NULL (none, or a tombstone); and
 * its run ids in start order (new array). */
json_t *threads_load (MDB_txn *txn, elog_t *el, const char *thread);
json_t *threads_runs (MDB_txn *txn, elog_t *el, const char *thread);
/* The keys of `thread_act` (owner NUL be64 activity thread) and
 * `thread_runs` (thread NUL run key; run NULL: the thread's prefix),
 * written into out (at least 512 bytes); their lengths. */
size_t threads_act_key (uint8_t *out, const char *user, uint64_t act, const char *thread);
size_t threads_runs_key (uint8_t *out, const char *thread, const char *run);
/* Whether env's run_started (its data) may start on the thread it names:
 * 0, or an error code with why filled: not_found for another user's
 * thread (an operator may), conflict for a deleted or deleting one. */
int threads_admit (MDB_txn *txn, elog_t *el, const proto_msg_t *env, const proto_bytes_t *data,
                   char *why, size_t len);
/* Replaces thread's record by a tombstone {thread, user, deleted: ts}
 * (out of its owner's list; threads_load no longer finds it, and
 * threads_admit refuses runs naming it). */
int threads_bury (MDB_txn *txn, elog_t *el, const char *thread, uint64_t ts);
/* Retention deletes run (its record rec): it leaves its thread, and a
 * thread left with no run is buried. */
int threads_forget_run (MDB_txn *txn, elog_t *el, const json_t *rec, const char *run,
                        uint64_t ts);
proto_msg_t *threads_create (const proto_msg_t *req, void *arg);
proto_msg_t *threads_list (const proto_msg_t *req, void *arg);
proto_msg_t *threads_get (const proto_msg_t *req, void *arg);
proto_msg_t *threads_rename (const proto_msg_t *req, void *arg);
proto_msg_t *threads_delete (const proto_msg_t *req, void *arg);

/* Profiles (profiles.c): the handlers of the profile.* requests. */
proto_msg_t *profiles_create (const proto_msg_t *req, void *arg);
proto_msg_t *profiles_list (const proto_msg_t *req, void *arg);
proto_msg_t *profiles_get (const proto_msg_t *req, void *arg);
proto_msg_t *profiles_activate (const proto_msg_t *req, void *arg);
proto_msg_t *profiles_rollback (const proto_msg_t *req, void *arg);
proto_msg_t *profiles_diff (const proto_msg_t *req, void *arg);
proto_msg_t *profiles_resolve (const proto_msg_t *req, void *arg);
/* True when name is a profile name: ^[a-z][a-z0-9-]{0,31}$. */
bool profile_name_ok (const char *name);
/* 0 when body is a profile version's body as proto/profiles.def allows;
 * else -1 with why naming the key at fault (profile_body.c). */
int profile_body_check (const json_t *body, char *why, size_t len);
/* What changed from body a (version va) to b (vb), as profile.diff
 * answers it (profile_diff.c): "" when equal. The caller frees it. */
char *profile_diff (const json_t *a, const json_t *b, uint64_t va, uint64_t vb);

/* Evals (evals.c): the handlers of eval.put, eval.list and eval.get. */
proto_msg_t *evals_put (const proto_msg_t *req, void *arg);
proto_msg_t *evals_list (const proto_msg_t *req, void *arg);
proto_msg_t *evals_get (const proto_msg_t *req, void *arg);
proto_msg_t *evals_delete (const proto_msg_t *req, void *arg);

/* Spend (spend.c): the gateway's per-call records. Handlers of
 * spend.append (services only) and spend.read (users their own). */
proto_msg_t *spend_append (const proto_msg_t *req, void *arg);
proto_msg_t *spend_read (const proto_msg_t *req, void *arg);
/* The daily totals from since_us's day on, of user's calls (NULL: all):
 * {byUser, byKey, byModel}, each name -> {calls, in, out, cached, nusd,
 * errors}. A new reference. */
json_t *spend_stats (elog_t *el, const char *user, uint64_t since_us);
/* Deletes spend records older than days (0: none); how many went, or -1. */
int spend_retain (elog_t *el, uint64_t days);

/* Deletes runs started before cutoff_us, their events, and the artifacts
 * only they referenced. Returns how many runs went, or -1. */
int artifact_retain (elog_t *el, uint64_t cutoff_us);

/* Append path: a journal queues event.append requests and commits them in
 * batches from the service loop. */
journal_t *journal_new (elog_t *el);
void journal_destroy (journal_t **self_p);
/* Takes an event.append request: defers it and queues it for the next
 * batch, or returns an error reply at once. */
proto_msg_t *journal_append (journal_t *self, const proto_msg_t *req);
/* Batches committed and events stored since start (for stats.get). */
void journal_counts (journal_t *self, uint64_t *batches, uint64_t *events);

#endif
