/* recaller: the runs' recall (docs/recall.md, "In runs"): searches of
 * the run's user's earlier messages in event-log (recall.search, made as
 * the run's user, so only theirs are searched), with the query embedded
 * first when CAISSON_EMBED_MODEL is set; and, with it set, the vectors of
 * each stored task and answer (recall.vectors), embedded off the loop
 * (recall_client.h) after event-log acknowledged the message. Failures
 * are logged and never fail a run: a search that cannot embed its query
 * goes lexical, one event-log does not answer within
 * CAISSON_RECALL_TIMEOUT_MS is answered with an error. */
#ifndef CAISSON_RECALLER_H
#define CAISSON_RECALLER_H

#include "recalltool.h"
#include "rpc.h"
#include "run.h"
#include "userkey.h"

typedef struct _recaller_t recaller_t;
typedef struct _recaller_ask_t recaller_ask_t;

/* A search: mode NULL for the default (`hybrid` when the query could be
 * embedded, else `lexical`); exclude_thread may be NULL. */
typedef struct {
    const char *query, *mode, *exclude_thread;
    size_t k, window;
} recaller_query_t;

/* The answer: reply (borrowed) a `recall.results`, or NULL with error. */
typedef void (recaller_fn) (const proto_msg_t *reply, const char *error, void *arg);

/* A recaller on loop, asking through rpc (borrowed), with the settings'
 * embedding model, floors and switches; its embeddings go through the
 * model gateway with the users' keys from keys (borrowed; NULL: straight
 * to the provider). NULL when out of memory. */
recaller_t *recaller_new (zloop_t *loop, rpc_t *rpc, userkey_t *keys);
/* Drops every search and vector in flight (their callbacks never run). */
void recaller_destroy (recaller_t **self_p);

/* CAISSON_RECALL_AUTO_K; CAISSON_RECALL_TOOL; the floors. */
size_t recaller_auto_k (const recaller_t *self);
bool recaller_tool (const recaller_t *self);
const recalltool_floor_t *recaller_floor (const recaller_t *self);
/* True when queries are embedded (CAISSON_EMBED_MODEL set). */
bool recaller_embeds (const recaller_t *self);

/* Searches run's user's messages for q; fn(arg) is called on the loop,
 * later, exactly once unless the search is cancelled. Returns the search,
 * or NULL when it could not be made (fn is not called). */
recaller_ask_t *recaller_search (recaller_t *self, const run_t *run, const recaller_query_t *q,
                                 recaller_fn *fn, void *arg);
/* Forgets a search: its callback never runs. Safe on NULL. */
void recaller_cancel (recaller_t *self, recaller_ask_t **ask_p);

/* Run's message text was stored as its event seq (run_seq): embedded and
 * given to event-log when embedding is on; nothing otherwise. */
void recaller_stored (recaller_t *self, const run_t *run, uint64_t seq, const char *text);
/* The same for a message whose event.append is about to be sent: NULL
 * when embedding is off; else the pending vector, to pass as the arg of
 * recaller_on_ack, the append's rpc callback. */
recaller_ask_t *recaller_pending (recaller_t *self, const run_t *run, const char *text);
void recaller_on_ack (const proto_msg_t *reply, const char *error, void *arg);

#endif
