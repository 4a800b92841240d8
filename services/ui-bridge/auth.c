/* auth: bearer tokens, per-user rate and in-flight limits, and per-address
 * throttling of failed attempts. See auth.h. */
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
    size_t inflight;            /* the user's requests being served */
} bucket_t;

/* An address's failed attempts in the current minute. */
typedef struct {
    uint64_t window_us;         /* when the minute began */
    unsigned fails;
    uint64_t blocked_until_us;
} strikes_t;

#define STRIKE_WINDOW_US 60000000ull
#define MAX_ADDRESSES 100000    /* addresses remembered; the stale go first */

struct _auth_t {
    tokens_t *tokens;
    pthread_mutex_t lock;
    zhashx_t *buckets;          /* user -> bucket_t */
    zhashx_t *strikes;          /* address -> strikes_t */
    double rate;
    double burst;
    size_t max_inflight;        /* per user */
    unsigned max_fails;
    uint64_t cooldown_us;
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
    self->strikes = zhashx_new ();
    if (!self->buckets || !self->strikes) {
        zhashx_destroy (&self->buckets);
        zhashx_destroy (&self->strikes);
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->buckets, s_free_bucket);
    zhashx_set_destructor (self->strikes, s_free_bucket);
    self->max_inflight = cfg_u64 ("CAISSON_HTTP_MAX_PER_USER");
    self->max_fails = (unsigned) cfg_u64 ("CAISSON_HTTP_AUTH_FAILS");
    self->cooldown_us = cfg_u64 ("CAISSON_HTTP_AUTH_COOLDOWN_S") * 1000000;
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
    zhashx_destroy (&self->strikes);
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

/* res (a 429), saying to come back after wait seconds. */
static http_res_t *
s_retry_after (http_res_t *res, int wait)
{
    char secs[16];
    snprintf (secs, sizeof secs, "%d", wait > 0 ? wait : 1);
    if (res)
        http_res_header (res, "Retry-After", secs);
    return res;
}

/* Seconds addr must still wait after too many failures, or 0. Called
 * with the lock held. */
static int
s_blocked (auth_t *self, const char *addr, uint64_t now)
{
    strikes_t *s = zhashx_lookup (self->strikes, addr);
    return s && s->blocked_until_us > now
         ? (int) ((s->blocked_until_us - now + 999999) / 1000000) : 0;
}

/* Counts a failed attempt from addr; the one that reaches the limit
 * starts the cool-down. Called with the lock held. */
static void
s_strike (auth_t *self, const char *addr, uint64_t now)
{
    strikes_t *s = zhashx_lookup (self->strikes, addr);
    if (!s) {
        if (zhashx_size (self->strikes) >= MAX_ADDRESSES) {
            /* forget the addresses whose minute and cool-down are over */
            zlist_t *stale = zlist_new ();
            for (strikes_t *o = zhashx_first (self->strikes); o && stale;
                 o = zhashx_next (self->strikes))
                if (o->blocked_until_us <= now && now - o->window_us > STRIKE_WINDOW_US)
                    zlist_append (stale, (void *) zhashx_cursor (self->strikes));
            for (const char *k = stale ? zlist_first (stale) : NULL; k; k = zlist_next (stale))
                zhashx_delete (self->strikes, k);
            zlist_destroy (&stale);
        }
        if (zhashx_size (self->strikes) >= MAX_ADDRESSES || !(s = calloc (1, sizeof *s)))
            return;
        zhashx_insert (self->strikes, addr, s);
    }
    if (now - s->window_us > STRIKE_WINDOW_US) {
        s->window_us = now;
        s->fails = 0;
    }
    if (++s->fails >= self->max_fails)
        s->blocked_until_us = now + self->cooldown_us;
}

http_res_t *
auth_check (auth_t *self, http_req_t *req)
{
    uint64_t now = (uint64_t) zclock_usecs ();
    pthread_mutex_lock (&self->lock);
    int wait = s_blocked (self, req->addr, now);
    pthread_mutex_unlock (&self->lock);
    /* refused before the token is looked at: a guess that lands during
     * the cool-down learns nothing */
    if (wait)
        return s_retry_after (http_res_error (429, "too_many_failures", "%u or more failed "
                                              "authentications from %s within a minute; wait "
                                              "before trying again", self->max_fails, req->addr),
                              wait);
    const char *h = http_header (req, "Authorization");
    const char *why = NULL;
    int rc;
    if (!h || strncasecmp (h, "Bearer ", 7) != 0 || !h[7])
        why = "missing bearer token (Authorization: Bearer <token>; "
              "make one with `caisson token create --user NAME`)";
    else if ((rc = tokens_lookup (self->tokens, h + 7, req->user, &req->operator_)))
        why = rc == TOKENS_EXPIRED ? "expired token (make a new one with `caisson token create`)"
                                   : "unknown or revoked token";
    if (why) {
        /* a request with no token at all is a client that does not know
         * better yet, not a guess */
        if (h) {
            pthread_mutex_lock (&self->lock);
            s_strike (self, req->addr, now);
            pthread_mutex_unlock (&self->lock);
        }
        req->user[0] = '\0';
        req->operator_ = false;
        return http_res_error (401, "unauthorized", "%s", why);
    }
    wait = s_charge (self, req->user);
    if (wait)
        return s_retry_after (http_res_error (429, "rate_limited", "more than %g requests per "
                                              "second for user '%s'", self->rate, req->user),
                              wait);
    if (http_req_authenticated (req, req->user)) {
        http_res_t *res = http_res_error (429, "too_many_connections", "user '%s' holds as "
                                          "many connections as one user may "
                                          "(CAISSON_HTTP_MAX_CONN_PER_USER)", req->user);
        if (res)
            http_res_header (res, "Connection", "close");
        return s_retry_after (res, 1);
    }
    bool room = false;
    pthread_mutex_lock (&self->lock);
    bucket_t *b = zhashx_lookup (self->buckets, req->user);
    if (b && b->inflight < self->max_inflight) {
        b->inflight++;
        room = true;
    }
    pthread_mutex_unlock (&self->lock);
    if (!room)
        return s_retry_after (http_res_error (429, "too_many_requests", "%zu requests of user "
                                              "'%s' are being served already, the most one user "
                                              "may have at once (CAISSON_HTTP_MAX_PER_USER)",
                                              self->max_inflight, req->user), 1);
    req->counted = true;
    return NULL;
}

void
auth_release (auth_t *self, const http_req_t *req)
{
    if (!req->counted)
        return;
    pthread_mutex_lock (&self->lock);
    bucket_t *b = zhashx_lookup (self->buckets, req->user);
    if (b && b->inflight)
        b->inflight--;
    pthread_mutex_unlock (&self->lock);
}
