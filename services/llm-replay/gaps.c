/* gaps: see gaps.h. Replies waiting for their continuation sit in a ring
 * (so the oldest is the one forgotten when it is full), each chained into
 * a bucket of its key in arrival order, so the first match in a chain is
 * the oldest reply with that key. */
#include "gaps.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 4096u

typedef struct {
    uint64_t key;
    int64_t at_us;
    size_t next;                /* the next slot in its bucket, + 1; 0: none */
    bool used;
} slot_t;

struct _gaps_t {
    pthread_mutex_t lock;
    slot_t *ring;
    size_t cap, head;           /* head: the next slot to fill (the oldest) */
    size_t bucket[NBUCKETS];    /* the first slot of each chain, + 1 */
    uint64_t *samples;
    size_t nsamples, max_samples;
    uint64_t unmatched, pending, forgotten, dropped;
};

gaps_t *
gaps_new (size_t max_pending, size_t max_samples)
{
    gaps_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = max_pending ? max_pending : 1;
    self->ring = calloc (self->cap, sizeof *self->ring);
    self->max_samples = max_samples;
    self->samples = calloc (max_samples ? max_samples : 1, sizeof *self->samples);
    if (!self->ring || !self->samples) {
        free (self->ring);
        free (self->samples);
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
gaps_destroy (gaps_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gaps_t *self = *self_p;
    pthread_mutex_destroy (&self->lock);
    free (self->ring);
    free (self->samples);
    free (self);
    *self_p = NULL;
}

/* FNV-1a over s and its terminating NUL, so fields cannot run together. */
static uint64_t
mix (uint64_t h, const char *s)
{
    const unsigned char *p = (const unsigned char *) (s ? s : "");
    do {
        h ^= *p;
        h *= 1099511628211ull;
    } while (*p++);
    return h;
}

static uint64_t
mix_message (uint64_t h, const char *role, const char *content, const char *name)
{
    return mix (mix (mix (h, role), content), name);
}

static uint64_t
hash_upto (const json_t *conv, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get (conv, i);
        /* memory's fenced blocks carry a new nonce in every request (and
         * the memory may change between them): not part of the key */
        if (strstr (json_string_value (json_object_get (m, "content")) ?: "",
                    "<<<caisson-data nonce="))
            continue;
        h = mix_message (h, json_string_value (json_object_get (m, "role")),
                         json_string_value (json_object_get (m, "content")),
                         json_string_value (json_object_get (m, "name")));
    }
    return h;
}

uint64_t
gaps_reply_key (const json_t *conv, const char *text)
{
    return mix_message (hash_upto (conv, json_array_size (conv)), "assistant", text ? text : "",
                        NULL);
}

bool
gaps_request_key (const json_t *conv, uint64_t *key)
{
    for (size_t i = json_array_size (conv); i-- > 0;) {
        const char *role = json_string_value (json_object_get (json_array_get (conv, i), "role"));
        if (role && strcmp (role, "assistant") == 0) {
            *key = hash_upto (conv, i + 1);
            return true;
        }
    }
    return false;
}

/* Takes slot index s out of its bucket's chain. */
static void
unlink_slot (gaps_t *self, size_t s)
{
    size_t *link = &self->bucket[self->ring[s].key % NBUCKETS];
    while (*link && *link != s + 1)
        link = &self->ring[*link - 1].next;
    if (*link)
        *link = self->ring[s].next;
    self->ring[s].used = false;
    self->pending--;
}

void
gaps_reply_end (gaps_t *self, uint64_t key, int64_t at_us)
{
    pthread_mutex_lock (&self->lock);
    size_t s = self->head;
    self->head = (self->head + 1) % self->cap;
    if (self->ring[s].used) {
        unlink_slot (self, s);
        self->forgotten++;
    }
    self->ring[s] = (slot_t) { .key = key, .at_us = at_us, .used = true };
    size_t *link = &self->bucket[key % NBUCKETS];
    while (*link)
        link = &self->ring[*link - 1].next;
    *link = s + 1;
    self->pending++;
    pthread_mutex_unlock (&self->lock);
}

void
gaps_request (gaps_t *self, uint64_t key, int64_t at_us)
{
    pthread_mutex_lock (&self->lock);
    size_t link = self->bucket[key % NBUCKETS];
    while (link && self->ring[link - 1].key != key)
        link = self->ring[link - 1].next;
    if (!link)
        self->unmatched++;
    else {
        int64_t gap = at_us - self->ring[link - 1].at_us;
        unlink_slot (self, link - 1);
        if (self->nsamples < self->max_samples)
            self->samples[self->nsamples++] = gap > 0 ? (uint64_t) gap : 0;
        else
            self->dropped++;
    }
    pthread_mutex_unlock (&self->lock);
}

static int
cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank percentile bench-agent uses: v[floor((n - 1) p)]. */
static json_int_t
pct (const uint64_t *v, size_t n, double p)
{
    return n ? (json_int_t) v[(size_t) ((double) (n - 1) * p)] : 0;
}

char *
gaps_json (gaps_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->nsamples;
    uint64_t *v = malloc ((n ? n : 1) * sizeof *v);
    if (!v) {
        pthread_mutex_unlock (&self->lock);
        return NULL;
    }
    memcpy (v, self->samples, n * sizeof *v);
    uint64_t unmatched = self->unmatched, pending = self->pending,
             forgotten = self->forgotten, dropped = self->dropped;
    pthread_mutex_unlock (&self->lock);
    qsort (v, n, sizeof *v, cmp_u64);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    json_t *o = json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                           "gaps", (json_int_t) n, "p50Us", pct (v, n, 0.5), "p90Us",
                           pct (v, n, 0.9), "p99Us", pct (v, n, 0.99), "maxUs", pct (v, n, 1),
                           "meanUs", (json_int_t) (n ? sum / n : 0), "totalUs",
                           (json_int_t) sum, "unmatched", (json_int_t) unmatched, "pending",
                           (json_int_t) pending, "forgotten", (json_int_t) forgotten, "dropped",
                           (json_int_t) dropped);
    free (v);
    char *out = o ? json_dumps (o, JSON_COMPACT) : NULL;
    json_decref (o);
    return out;
}
