/* recall_client: see recall_client.h. */
#define _GNU_SOURCE /* pipe2 */
#include "recall_client.h"
#include "xalloc.h"

#include <fcntl.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct job {
    struct job *next;
    char **texts;
    size_t n;
    long timeout_ms;
    char *base, *key;           /* through the gateway, or NULL */
    recall_embedded_fn *fn;
    void *arg;
    llm_embeddings_t out;
    int rc;
    char why[512];
} job_t;

struct _recall_embedder_t {
    zloop_t *loop;
    char *spec;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job_t *queue, *last;        /* waiting, under lock */
    bool quit;
    int pipe[2];                /* thread -> loop: a finished job's pointer */
    bool polling, started;
};

static void
job_free (job_t *j)
{
    for (size_t i = 0; i < j->n; i++)
        free (j->texts[i]);
    free (j->texts);
    free (j->base);
    if (j->key)
        memset (j->key, 0, strlen (j->key));
    free (j->key);
    llm_embeddings_clear (&j->out);
    free (j);
}

static void *
worker (void *arg)
{
    recall_embedder_t *self = arg;
    pthread_mutex_lock (&self->lock);
    for (;;) {
        while (!self->queue && !self->quit)
            pthread_cond_wait (&self->wake, &self->lock);
        if (self->quit)
            break;
        job_t *j = self->queue;
        if (!(self->queue = j->next))
            self->last = NULL;
        pthread_mutex_unlock (&self->lock);
        j->rc = llm_embed_fetch_via (self->spec, j->base, j->key,
                                     (const char *const *) j->texts, j->n, j->timeout_ms,
                                     &j->out, j->why, sizeof j->why);
        if (write (self->pipe[1], &j, sizeof j) != sizeof j)
            job_free (j);       /* the loop is gone */
        pthread_mutex_lock (&self->lock);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

static int
on_done (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop, (void) item;
    recall_embedder_t *self = arg;
    job_t *j;
    if (read (self->pipe[0], &j, sizeof j) != sizeof j)
        return 0;
    j->fn (j->rc ? NULL : &j->out, j->rc ? j->why : NULL, j->arg);
    job_free (j);
    return 0;
}

recall_embedder_t *
recall_embedder_new (zloop_t *loop, const char *spec)
{
    if (!spec || !*spec)
        return NULL;
    recall_embedder_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->spec = xstrdup (spec);
    self->pipe[0] = self->pipe[1] = -1;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    if (pipe2 (self->pipe, O_CLOEXEC)) {
        recall_embedder_destroy (&self);
        return NULL;
    }
    zmq_pollitem_t item = { .fd = self->pipe[0], .events = ZMQ_POLLIN };
    if (zloop_poller (loop, &item, on_done, self)) {
        recall_embedder_destroy (&self);
        return NULL;
    }
    self->polling = true;
    if (pthread_create (&self->thread, NULL, worker, self)) {
        recall_embedder_destroy (&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void
recall_embedder_destroy (recall_embedder_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    recall_embedder_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock (&self->lock);
        self->quit = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->thread, NULL);
    }
    if (self->polling) {
        zmq_pollitem_t item = { .fd = self->pipe[0], .events = ZMQ_POLLIN };
        zloop_poller_end (self->loop, &item);
    }
    if (self->pipe[0] >= 0) {
        job_t *j;
        fcntl (self->pipe[0], F_SETFL, O_NONBLOCK);
        while (read (self->pipe[0], &j, sizeof j) == sizeof j)
            job_free (j);
        close (self->pipe[0]);
        close (self->pipe[1]);
    }
    while (self->queue) {
        job_t *j = self->queue;
        self->queue = j->next;
        job_free (j);
    }
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->wake);
    free (self->spec);
    free (self);
    *self_p = NULL;
}

int
recall_embedder_embed (recall_embedder_t *self, const char *const *texts, size_t n,
                       long timeout_ms, recall_embedded_fn *fn, void *arg)
{
    return recall_embedder_embed_via (self, NULL, NULL, texts, n, timeout_ms, fn, arg);
}

int
recall_embedder_embed_via (recall_embedder_t *self, const char *base, const char *key,
                           const char *const *texts, size_t n, long timeout_ms,
                           recall_embedded_fn *fn, void *arg)
{
    if (!n || n > LLM_EMBED_INPUTS_MAX)
        return -1;
    job_t *j = calloc (1, sizeof *j);
    if (!j || !(j->texts = calloc (n, sizeof *j->texts))) {
        free (j);
        return -1;
    }
    for (j->n = 0; j->n < n; j->n++)
        j->texts[j->n] = xstrdup (texts[j->n]);
    j->timeout_ms = timeout_ms;
    j->base = base ? xstrdup (base) : NULL;
    j->key = base && key ? xstrdup (key) : NULL;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock (&self->lock);
    if (self->last)
        self->last->next = j;
    else
        self->queue = j;
    self->last = j;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    return 0;
}

const char *
recall_embedder_model (recall_embedder_t *self)
{
    return self->spec;
}

static void
pack_vector (msgpack_packer *pk, const float *v, size_t dims)
{
    msgpack_pack_array (pk, dims);
    for (size_t i = 0; i < dims; i++)
        msgpack_pack_float (pk, v[i]);
}

/* Moves the packed bytes of sb into field. */
static void
take (proto_bytes_t *field, msgpack_sbuffer *sb)
{
    field->data = (uint8_t *) sb->data;
    field->size = sb->size;
    sb->data = NULL;
    msgpack_sbuffer_destroy (sb);
}

proto_msg_t *
recall_search_new (const proto_msg_t *cause, const char *query, const float *vec, size_t dims,
                   const char *model, size_t k, size_t window, const char *exclude_thread)
{
    proto_msg_t *m = proto_msg_new (PROTO_recall_search, cause);
    proto_recall_search_t *b = &m->body.recall_search;
    proto_set_str (&b->query, query);
    proto_set_str (&b->model, vec ? model : NULL);
    proto_set_str (&b->exclude_thread, exclude_thread);
    b->k = k;
    b->window = window;
    if (vec) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init (&sb);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
        pack_vector (&pk, vec, dims);
        take (&b->vector, &sb);
    }
    return m;
}

proto_msg_t *
recall_vectors_new (const proto_msg_t *cause, const char *run, const char *model,
                    const uint64_t *seqs, const llm_embeddings_t *e)
{
    proto_msg_t *m = proto_msg_new (PROTO_recall_vectors, cause);
    proto_recall_vectors_t *b = &m->body.recall_vectors;
    proto_set_str (&b->run, run);
    proto_set_str (&b->model, model);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, e->count);
    for (size_t i = 0; i < e->count; i++) {
        msgpack_pack_map (&pk, 2);
        msgpack_pack_str_with_body (&pk, "seq", 3);
        msgpack_pack_uint64 (&pk, seqs[i]);
        msgpack_pack_str_with_body (&pk, "vector", 6);
        pack_vector (&pk, e->data + i * e->dims, e->dims);
    }
    take (&b->items, &sb);
    return m;
}
