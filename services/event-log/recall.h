/* recall: event-log's index of each user's earlier messages, for
 * `recall.search` (docs/recall.md).
 *
 * What is indexed: a run's task (role `user`, from its `run_started`) and
 * each model turn's text (role `assistant`, from `text`), in the journal's
 * write transaction, so the index never disagrees with the events. Tool
 * results are not: they are the tools' data, large and noisy, and their
 * gist is in the model's next text.
 *
 * Everything lives in one LMDB database whose keys open with a tag byte
 * and, past the user's record, the user's number, so one user's entries
 * are contiguous and no lookup can reach another's:
 *   'N'                          -> next user number (be32)
 *   'U' user                     -> the user's record (counts, dims, model)
 *   'M' uid msg                  -> a message: ts, run, seq, role, thread, text
 *   'E' run seq                  -> uid msg (the event's message)
 *   'C' uid thread-hash msg      -> "" (a thread's messages in order: windows)
 *   'P' uid term 0 block         -> up to 96 postings {msg, thread-hash, tf, len}
 *   'V' uid msg                  -> thread-hash, unit-length float32 vector
 *   'S' uid block                -> up to 256 {msg, thread-hash, 256-bit signature}
 * (uid be32, msg be64, block be32). Lexical ranking is BM25 over the
 * postings; semantic ranking is cosine over the vectors, exact up to
 * RECALL_EXACT_MAX vectors and above that from the signatures (random
 * hyperplanes), whose best candidates are reranked exactly. */
#ifndef CAISSON_RECALL_H
#define CAISSON_RECALL_H

#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECALL_QUERY_MAX 4096       /* bytes of a query */
#define RECALL_TERMS_MAX 32         /* distinct words of a query used */
#define RECALL_K_MAX 50
#define RECALL_WINDOW_MAX 5
#define RECALL_DIMS_MAX 4096
#define RECALL_TEXT_MAX 16384       /* bytes of a message kept and indexed */
#define RECALL_EXACT_MAX 4096       /* vectors scanned exactly; above, signatures first */

typedef enum { RECALL_LEXICAL, RECALL_SEMANTIC, RECALL_HYBRID } recall_mode_t;

typedef struct {
    const char *text;           /* the query's words */
    const float *vec;           /* its embedding, or NULL */
    size_t dims;
    const char *model;          /* the embedding model of vec, or NULL */
    recall_mode_t mode;
    size_t k, window;
    const char *exclude_thread; /* or NULL */
    bool exact;                 /* semantic: scan every vector, whatever their number */
} recall_query_t;

/* What a search found: hits is a JSON array (see recall.results in
 * proto/recall.def), mode the ranking used. */
typedef struct {
    json_t *hits;
    recall_mode_t mode;
    bool approximate;
} recall_found_t;

/* A message to index (strings borrowed). */
typedef struct {
    const char *user;           /* "" for an anonymous run */
    const char *thread;
    const char *run;
    uint64_t seq;               /* run_seq of its event */
    uint64_t ts;                /* microseconds since the epoch */
    bool assistant;             /* else the user's task */
    const char *text;
    size_t len;
} recall_msg_t;

/* The name of mode ("lexical"...), and back (-1 when unknown). */
const char *recall_mode_name (recall_mode_t mode);
int recall_mode_lookup (const char *name);

/* Indexes m inside txn (a write transaction). Returns 0 or an LMDB code. */
int recall_add (MDB_txn *txn, MDB_dbi dbi, const recall_msg_t *m);

/* Indexes the stored event of run at seq when it is one worth recalling
 * (kind run_started or text; data its msgpack); rec is the run's record
 * after the event (user, thread). Returns 0 or an LMDB code. */
int recall_add_event (MDB_txn *txn, MDB_dbi dbi, const json_t *rec, const char *run,
                      uint64_t seq, uint64_t ts, const char *kind, const uint8_t *data,
                      size_t size);

/* Stores the unit-scaled vector of the message of run's event seq, when
 * that message is user's. Returns 0; RECALL_E_* (negative) with why; or
 * an LMDB code. A message that has a vector keeps it (*stored false). */
#define RECALL_E_NOT_FOUND (-1)     /* no such message of this user */
#define RECALL_E_VALUE (-2)         /* zero, non-finite, wrong dims or model */
/* True when rc is one of those refusals, not a store failure (LMDB's
 * codes are negative too: MDB_MAP_FULL must reach store_write). */
#define RECALL_REFUSED(rc) ((rc) == RECALL_E_NOT_FOUND || (rc) == RECALL_E_VALUE)
int recall_put_vector (MDB_txn *txn, MDB_dbi dbi, const char *user, const char *run,
                       uint64_t seq, const char *model, const float *vec, size_t dims,
                       bool *stored, char *why, size_t whylen);

/* Searches user's messages in txn (a read transaction). Returns 0 with
 * *out filled; RECALL_E_VALUE with why (a vector of the wrong dims or
 * model, a semantic search without one); or an LMDB code. */
int recall_search (MDB_txn *txn, MDB_dbi dbi, const char *user, const recall_query_t *q,
                   recall_found_t *out, char *why, size_t whylen);

/* Forgets run's messages (retention, deletion): their records, windows
 * and vectors go; postings and signatures naming them are skipped by
 * searches from then on. Returns 0 or an LMDB code. */
int recall_forget_run (MDB_txn *txn, MDB_dbi dbi, const char *run);

/* Bytes the index occupies in the store (its database's pages). */
uint64_t recall_bytes (MDB_txn *txn, MDB_dbi dbi);

#endif
