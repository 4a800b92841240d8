/* recall_client: what the orchestrator needs to use recall (docs/recall.md):
 * the `recall.search` and `recall.vectors` messages built from texts and
 * vectors, and embeddings fetched off the loop.
 *
 * llm_embed_fetch blocks, and the orchestrator's one loop serves every
 * run, so an embedder runs fetches on a thread of its own, one at a
 * time in order, and hands each result back on the loop (a pipe the loop
 * polls): the callback runs on the loop thread, as rpc's do. Typical use:
 * after a run's `text` is stored (its ack gives its seq), embed the text
 * and send recall_vectors_new; before a run, embed the task, send
 * recall_search_new with the vector (or without one when embedding is
 * off or failed: lexical recall still answers). */
#ifndef CAISSON_RECALL_CLIENT_H
#define CAISSON_RECALL_CLIENT_H

#include <czmq.h>
#include "llm_embed.h"
#include "proto.h"

typedef struct _recall_embedder_t recall_embedder_t;

/* e is borrowed for the call (NULL with error set on failure). */
typedef void (recall_embedded_fn) (const llm_embeddings_t *e, const char *error, void *arg);

/* An embedder for model spec (`provider/model`, e.g. CAISSON_EMBED_MODEL)
 * on loop; NULL when spec is empty (semantic recall off) or on failure. */
recall_embedder_t *recall_embedder_new (zloop_t *loop, const char *spec);
/* Waits for the fetch in flight, drops the queued ones (their callbacks
 * never run). Safe on NULL. */
void recall_embedder_destroy (recall_embedder_t **self_p);

/* Queues the embedding of n texts (copied); fn runs on the loop with the
 * outcome. Returns 0, or -1 (too many texts, out of memory). */
int recall_embedder_embed (recall_embedder_t *self, const char *const *texts, size_t n,
                           long timeout_ms, recall_embedded_fn *fn, void *arg);
/* The same through the model gateway at base (its `.../v1`) with the
 * virtual key key (both copied; base NULL: the provider's). */
int recall_embedder_embed_via (recall_embedder_t *self, const char *base, const char *key,
                               const char *const *texts, size_t n, long timeout_ms,
                               recall_embedded_fn *fn, void *arg);

/* The model spec in use (borrowed). */
const char *recall_embedder_model (recall_embedder_t *self);

/* A `recall.search` for query caused by cause (its user is the one
 * searched); vec (dims floats) and model may be NULL; k and window 0 for
 * the defaults; exclude_thread may be NULL. */
proto_msg_t *recall_search_new (const proto_msg_t *cause, const char *query, const float *vec,
                                size_t dims, const char *model, size_t k, size_t window,
                                const char *exclude_thread);

/* A `recall.vectors` giving run's messages at seqs[i] the vectors e's
 * rows i (e->count of them, at most 64). */
proto_msg_t *recall_vectors_new (const proto_msg_t *cause, const char *run, const char *model,
                                 const uint64_t *seqs, const llm_embeddings_t *e);

#endif
