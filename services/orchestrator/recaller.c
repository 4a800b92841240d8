/* recaller: the runs' recall searches and vectors (see recaller.h). */
#include "recaller.h"
#include "cfg.h"
#include "clog.h"
#include "recall_client.h"
#include "userkey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* embedding a stored message (no run waits) may take this many times
 * CAISSON_RECALL_TIMEOUT_MS: bounded, since a shutdown waits for it */
#define VECTORS_TIMEOUT_FACTOR 4

typedef enum { ASK_EMBEDDING, ASK_SEARCHING, ASK_ACK } stage_t;

/* A search or a vector in flight (vector: fn NULL). */
struct _recaller_ask_t {
    recaller_t *owner;
    stage_t stage;
    bool embedding;             /* an embedder holds it: freed when that ends */
    bool finished;              /* done, waiting for that */
    int timer;                  /* a search's wait for its query's vector, or -1 */
    char *run, *user, *query, *mode, *exclude;
    bool op;
    size_t k, window;
    uint64_t seq;               /* a vector's message */
    bool vector;                /* the search in flight carries the query's vector */
    recaller_fn *fn;
    void *arg;
    char req[CID_SIZE];         /* the request in flight while searching */
    /* the embedding that waits for the user's gateway key */
    recall_embedder_t *em;
    long em_timeout_ms;
    recall_embedded_fn *em_fn;
};

struct _recaller_t {
    zloop_t *loop;
    rpc_t *rpc;
    /* NULL: lexical only; queries and stored messages apart, so that a
     * backlog of the latter never holds up a run's search */
    recall_embedder_t *embedder, *indexer;
    userkey_t *keys;                /* through the gateway with the user's key, or NULL */
    zlist_t *asks;                  /* recaller_ask_t, in flight */
    size_t auto_k;
    bool tool;
    int timeout_ms;
    recalltool_floor_t floor;
};

static void
ask_free (recaller_ask_t *a)
{
    free (a->run);
    free (a->user);
    free (a->query);
    free (a->mode);
    free (a->exclude);
    free (a);
}

/* a is done: it leaves the list and is freed (once no embedder holds it). */
static void
ask_done (recaller_ask_t *a)
{
    if (a->timer >= 0)
        zloop_timer_end (a->owner->loop, a->timer);
    a->timer = -1;
    a->finished = true;
    if (a->embedding)
        return;
    zlist_remove (a->owner->asks, a);
    ask_free (a);
}

static double
setting_double (const char *name, double fallback)
{
    char *end;
    const char *s = cfg_str (name);
    double v = strtod (s, &end);
    if (end == s || *end || v < 0) {
        clog_warn (NULL, "%s: expected a non-negative number, got '%s': using %g", name, s,
                   fallback);
        return fallback;
    }
    return v;
}

recaller_t *
recaller_new (zloop_t *loop, rpc_t *rpc, userkey_t *keys)
{
    recaller_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->rpc = rpc;
    self->keys = keys;
    self->asks = zlist_new ();
    self->auto_k = (size_t) cfg_u64 ("CAISSON_RECALL_AUTO_K");
    if (self->auto_k > RECALLTOOL_K_MAX)
        self->auto_k = RECALLTOOL_K_MAX;
    self->tool = cfg_u64 ("CAISSON_RECALL_TOOL") != 0;
    self->timeout_ms = (int) cfg_u64 ("CAISSON_RECALL_TIMEOUT_MS");
    self->floor.min_bm25 = setting_double ("CAISSON_RECALL_AUTO_MIN_SCORE", 1.0);
    self->floor.min_cosine = setting_double ("CAISSON_RECALL_AUTO_MIN_COSINE", 0.5);
    const char *spec = cfg_str ("CAISSON_EMBED_MODEL");
    if (*spec && (!(self->embedder = recall_embedder_new (loop, spec))
                  || !(self->indexer = recall_embedder_new (loop, spec)))) {
        recall_embedder_destroy (&self->embedder);
        clog_error (NULL, "CAISSON_EMBED_MODEL=%s: cannot start the embedder; recall is "
                    "lexical only", spec);
    }
    if (!self->asks)
        recaller_destroy (&self);
    return self;
}

void
recaller_destroy (recaller_t **self_p)
{
    recaller_t *self = *self_p;
    if (!self)
        return;
    recall_embedder_destroy (&self->embedder);
    recall_embedder_destroy (&self->indexer);
    for (recaller_ask_t *a = self->asks ? zlist_pop (self->asks) : NULL; a;
         a = zlist_pop (self->asks)) {
        if (a->timer >= 0)
            zloop_timer_end (self->loop, a->timer);
        if (a->req[0])
            rpc_forget (self->rpc, a->req);
        if (self->keys)
            userkey_forget (self->keys, a);
        ask_free (a);
    }
    zlist_destroy (&self->asks);
    free (self);
    *self_p = NULL;
}

size_t recaller_auto_k (const recaller_t *self) { return self->auto_k; }
bool recaller_tool (const recaller_t *self) { return self->tool; }
const recalltool_floor_t *recaller_floor (const recaller_t *self) { return &self->floor; }
bool recaller_embeds (const recaller_t *self) { return self->embedder != NULL; }

/* The run's request's envelope: as its user, for its run. */
static void
as_run (proto_msg_t *req, const recaller_ask_t *a)
{
    proto_set_str (&req->env.corr, a->run);
    proto_set_str (&req->env.run, a->run);
    proto_set_str (&req->env.user, *a->user ? a->user : NULL);
    req->env.op = a->op;
}

static int send_search (recaller_ask_t *a, const llm_embeddings_t *e);

static void
on_results (const proto_msg_t *reply, const char *error, void *arg)
{
    recaller_ask_t *a = arg;
    a->req[0] = '\0';
    if (a->vector && reply && reply->type == PROTO_error
        && proto_error_lookup (reply->body.error.code) == PROTO_ERR_bad_value) {
        /* the index holds another model's vectors (CAISSON_EMBED_MODEL
         * changed): words still find what it holds */
        clog_warn (a->run, "recall.search refused the query's vector (%s); searching by words",
                   reply->body.error.message);
        if (send_search (a, NULL) == 0)
            return;
    }
    if (reply && reply->type != PROTO_recall_results)
        clog_warn (a->run, "recall.search failed: %s", reply->type == PROTO_error
                   ? reply->body.error.message : "unexpected reply");
    else if (!reply)
        clog_warn (a->run, "recall.search failed: %s", error);
    a->fn (reply, error, a->arg);
    ask_done (a);
}

/* Sends the search of a, with its query's vector (e: may be NULL).
 * Returns 0 or -1. */
static int
send_search (recaller_ask_t *a, const llm_embeddings_t *e)
{
    recaller_t *self = a->owner;
    const char *model = e ? recall_embedder_model (self->embedder) : NULL;
    proto_msg_t *req = recall_search_new (NULL, a->query, e ? e->data : NULL, e ? e->dims : 0,
                                          model, a->k, a->window, a->exclude);
    /* a mode that needs a vector goes lexical without one */
    proto_set_str (&req->body.recall_search.mode, e ? a->mode : "lexical");
    as_run (req, a);
    a->stage = ASK_SEARCHING;
    a->vector = e != NULL;
    int rc = rpc_call (self->rpc, "event-log", req, self->timeout_ms, 0, on_results, a);
    if (rc == 0)
        snprintf (a->req, sizeof a->req, "%s", req->env.id);
    proto_msg_destroy (&req);
    return rc ? -1 : 0;
}

static void
on_query_embedded (const llm_embeddings_t *e, const char *error, void *arg)
{
    recaller_ask_t *a = arg;
    a->embedding = false;
    if (a->finished || a->stage != ASK_EMBEDDING) {
        if (a->finished)    /* cancelled, or answered without the vector */
            ask_done (a);
        return;
    }
    zloop_timer_end (a->owner->loop, a->timer);
    a->timer = -1;
    if (!e)
        clog_warn (a->run, "recall: the query was not embedded (%s); searching by words",
                   error);
    if (send_search (a, e)) {
        a->fn (NULL, "cannot send recall.search", a->arg);
        ask_done (a);
    }
}

/* The query's vector is late: the search goes on by words. */
static int
on_embed_late (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    recaller_ask_t *a = arg;
    a->timer = -1;
    clog_warn (a->run, "recall: the query's embedding is late; searching by words");
    if (send_search (a, NULL)) {
        a->fn (NULL, "cannot send recall.search", a->arg);
        ask_done (a);
    }
    return 0;
}

/* Queues a's query on a->em through the gateway with key. 0 or -1. */
static int
embed_via (recaller_ask_t *a, const char *key)
{
    const char *text = a->query;
    char base[600];
    snprintf (base, sizeof base, "%s/v1", cfg_str ("CAISSON_GATEWAY_URL"));
    return recall_embedder_embed_via (a->em, base, key, &text, 1, a->em_timeout_ms, a->em_fn,
                                      a);
}

/* The user's gateway key came (or did not): a's embedding goes on, or
 * fails as a failed fetch does. */
static void
on_key (const char *key, const char *error, void *arg)
{
    recaller_ask_t *a = arg;
    if (a->finished || a->stage != ASK_EMBEDDING) {
        /* cancelled, or searched by words, while it waited */
        a->embedding = false;
        if (a->finished)
            ask_done (a);
        return;
    }
    if (!key)
        a->em_fn (NULL, error, a);
    else if (embed_via (a, key))
        a->em_fn (NULL, "cannot queue the embedding", a);
}

/* Queues the embedding of a's query on em (fn and timeout as
 * recall_embedder_embed's): through the gateway with a's user's key when
 * the orchestrator's calls go there (CAISSON_GATEWAY_ORCHESTRATOR=1), so
 * the user's budget covers it. a->embedding is set while an embedder (or
 * the key) holds a. 0, or -1 (fn never runs). */
static int
embed (recaller_ask_t *a, recall_embedder_t *em, long timeout_ms, recall_embedded_fn *fn)
{
    recaller_t *self = a->owner;
    const char *text = a->query, *key = NULL;
    a->em = em;
    a->em_timeout_ms = timeout_ms;
    a->em_fn = fn;
    int rc = !self->keys ? recall_embedder_embed (em, &text, 1, timeout_ms, fn, a)
           : userkey_get (self->keys, a->user, &key, on_key, a);
    if (rc == 1)
        rc = embed_via (a, key);
    a->embedding = rc == 0;
    return rc ? -1 : 0;
}

static recaller_ask_t *
ask_new (recaller_t *self, const run_t *run)
{
    recaller_ask_t *a = calloc (1, sizeof *a);
    if (!a)
        return NULL;
    a->owner = self;
    a->timer = -1;
    a->run = strdup (run_id (run));
    a->user = strdup (run_user (run));
    a->op = run_op (run);
    zlist_append (self->asks, a);
    return a;
}

recaller_ask_t *
recaller_search (recaller_t *self, const run_t *run, const recaller_query_t *q,
                 recaller_fn *fn, void *arg)
{
    recaller_ask_t *a = ask_new (self, run);
    if (!a)
        return NULL;
    a->query = strdup (q->query);
    a->mode = q->mode ? strdup (q->mode) : NULL;
    a->exclude = q->exclude_thread ? strdup (q->exclude_thread) : NULL;
    a->k = q->k;
    a->window = q->window;
    a->fn = fn;
    a->arg = arg;
    bool by_vector = self->embedder && !(q->mode && !strcmp (q->mode, "lexical"));
    if (by_vector) {
        a->stage = ASK_EMBEDDING;
        a->timer = zloop_timer (self->loop, (size_t) self->timeout_ms, 1, on_embed_late, a);
        if (a->timer >= 0 && embed (a, self->embedder, self->timeout_ms, on_query_embedded) == 0)
            return a;
        if (a->timer >= 0)
            zloop_timer_end (self->loop, a->timer);
        a->timer = -1;
    }
    if (send_search (a, NULL)) {
        ask_done (a);
        return NULL;
    }
    return a;
}

void
recaller_cancel (recaller_t *self, recaller_ask_t **ask_p)
{
    recaller_ask_t *a = *ask_p;
    if (!a)
        return;
    *ask_p = NULL;
    if (a->req[0])
        rpc_forget (self->rpc, a->req);
    ask_done (a);
}

static void
on_indexed (const proto_msg_t *reply, const char *error, void *arg)
{
    recaller_ask_t *a = arg;
    a->req[0] = '\0';
    if (!reply || reply->type != PROTO_recall_indexed)
        clog_warn (a->run, "recall.vectors of event %llu failed: %s",
                   (unsigned long long) a->seq, reply && reply->type == PROTO_error
                   ? reply->body.error.message : error ? error : "unexpected reply");
    ask_done (a);
}

static void
on_message_embedded (const llm_embeddings_t *e, const char *error, void *arg)
{
    recaller_ask_t *a = arg;
    recaller_t *self = a->owner;
    a->embedding = false;
    if (!e) {
        clog_warn (a->run, "recall: event %llu not embedded: %s", (unsigned long long) a->seq,
                   error);
        ask_done (a);
        return;
    }
    proto_msg_t *req = recall_vectors_new (NULL, a->run, recall_embedder_model (self->indexer),
                                           &a->seq, e);
    as_run (req, a);
    a->stage = ASK_SEARCHING;
    if (rpc_call (self->rpc, "event-log", req, 5000, 2, on_indexed, a) == 0)
        snprintf (a->req, sizeof a->req, "%s", req->env.id);
    else {
        clog_warn (a->run, "recall: cannot send recall.vectors");
        ask_done (a);
    }
    proto_msg_destroy (&req);
}

/* Embeds a's message (its query field) as event seq. */
static void
embed_message (recaller_ask_t *a, uint64_t seq)
{
    recaller_t *self = a->owner;
    a->seq = seq;
    a->stage = ASK_EMBEDDING;
    if (embed (a, self->indexer, (long) self->timeout_ms * VECTORS_TIMEOUT_FACTOR,
               on_message_embedded)) {
        clog_warn (a->run, "recall: cannot queue the embedding of event %llu",
                   (unsigned long long) seq);
        ask_done (a);
    }
}

recaller_ask_t *
recaller_pending (recaller_t *self, const run_t *run, const char *text)
{
    if (!self->indexer || !text || !*text)
        return NULL;
    recaller_ask_t *a = ask_new (self, run);
    if (a) {
        a->query = strdup (text);
        a->stage = ASK_ACK;
    }
    return a;
}

void
recaller_stored (recaller_t *self, const run_t *run, uint64_t seq, const char *text)
{
    recaller_ask_t *a = recaller_pending (self, run, text);
    if (a)
        embed_message (a, seq);
}

void
recaller_on_ack (const proto_msg_t *reply, const char *error, void *arg)
{
    (void) error;
    recaller_ask_t *a = arg;
    if (reply && reply->type == PROTO_event_ack)
        embed_message (a, reply->body.event_ack.run_seq);
    else
        ask_done (a);           /* not stored: nothing to embed */
}
