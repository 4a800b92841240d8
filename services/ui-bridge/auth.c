/* auth: bearer tokens and per-token rate limits. See auth.h. */
#include "auth.h"
#include "cfg.h"

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct {
    double tokens;
    uint64_t last_us;
} bucket_t;

struct _auth_t {
    tokens_t *tokens;
    pthread_mutex_t lock;
    zhashx_t *buckets;          /* user -> bucket_t */
    double rate;
    double burst;
};

static void
s_free_bucket (void **item)
{
    free (*item);
    *item = NULL;
}

auth_t *
auth_new (tokens_t *tokens)
{
    auth_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->tokens = tokens;
    self->buckets = zhashx_new ();
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->buckets, s_free_bucket);
    self->rate = (double) cfg_u64 ("CAISSON_HTTP_RATE");
    self->burst = (double) cfg_u64 ("CAISSON_HTTP_BURST");
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
auth_destroy (auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    auth_t *self = *self_p;
    zhashx_destroy (&self->buckets);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

/* Takes one request from the bucket of key (a user: all of a user's
 * tokens share one budget). Returns 0, or the seconds until a request is
 * available again. */
static int
s_charge (auth_t *self, const char *key)
{
    int wait = 0;
    uint64_t now = (uint64_t) zclock_usecs ();
    pthread_mutex_lock (&self->lock);
    bucket_t *b = zhashx_lookup (self->buckets, key);
    if (!b && (b = calloc (1, sizeof *b))) {
        b->tokens = self->burst;
        b->last_us = now;
        zhashx_insert (self->buckets, key, b);
    }
    if (b) {
        b->tokens += (double) (now - b->last_us) / 1e6 * self->rate;
        if (b->tokens > self->burst)
            b->tokens = self->burst;
        b->last_us = now;
        if (b->tokens >= 1.0)
            b->tokens -= 1.0;
        else
            wait = (int) ((1.0 - b->tokens) / (self->rate > 0 ? self->rate : 1)) + 1;
    }
    pthread_mutex_unlock (&self->lock);
    return wait;
}

http_res_t *
auth_check (auth_t *self, http_req_t *req)
{
    const char *h = http_header (req, "Authorization");
    if (!h || strncasecmp (h, "Bearer ", 7) != 0 || !h[7])
        return http_res_error (401, "unauthorized",
                               "missing bearer token (Authorization: Bearer <token>; "
                               "make one with `caisson token create --user NAME`)");
    if (tokens_lookup (self->tokens, h + 7, req->user, &req->operator_))
        return http_res_error (401, "unauthorized", "unknown or revoked token");
    int wait = s_charge (self, req->user);
    if (wait) {
        http_res_t *res = http_res_error (429, "rate_limited",
                                          "more than %g requests per second for user '%s'",
                                          self->rate, req->user);
        char secs[16];
        snprintf (secs, sizeof secs, "%d", wait);
        if (res)
            http_res_header (res, "Retry-After", secs);
        return res;
    }
    return NULL;
}
