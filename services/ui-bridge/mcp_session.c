/* mcp_session: see mcp_session.h. A flat table scanned under a mutex: it
 * holds at most MAX_TOTAL sessions, few enough to scan per request. */
#include "mcp_session.h"
#include "tokens.h"

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_TOTAL 4096

typedef struct {
    char id[MCP_SESSION_ID_LEN + 1];
    char user[TOKENS_USER_MAX + 1];
    char version[16];
    bool elicits;           /* the client declared the elicitation capability */
    int64_t used_ms;
} session_t;

struct _mcp_sessions_t {
    pthread_mutex_t lock;
    session_t *s;
    size_t n;
    size_t per_user;
    int64_t idle_ms;
};

mcp_sessions_t *
mcp_sessions_new (size_t per_user, unsigned idle_s)
{
    mcp_sessions_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->s = calloc (MAX_TOTAL, sizeof *self->s);
    if (!self->s) {
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    self->per_user = per_user ? per_user : 1;
    self->idle_ms = (int64_t) idle_s * 1000;
    return self;
}

void
mcp_sessions_destroy (mcp_sessions_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcp_sessions_t *self = *self_p;
    pthread_mutex_destroy (&self->lock);
    free (self->s);
    free (self);
    *self_p = NULL;
}

static void
s_drop (mcp_sessions_t *self, size_t i)
{
    self->s[i] = self->s[--self->n];
}

/* Forgets idle sessions; called with the lock held. */
static void
s_expire (mcp_sessions_t *self, int64_t now)
{
    for (size_t i = 0; i < self->n;)
        if (now - self->s[i].used_ms > self->idle_ms)
            s_drop (self, i);
        else
            i++;
}

/* Drops the least recently used session among those of user (or all,
 * user NULL); called with the lock held. */
static void
s_drop_oldest (mcp_sessions_t *self, const char *user)
{
    size_t best = self->n;
    for (size_t i = 0; i < self->n; i++)
        if ((!user || !strcmp (self->s[i].user, user))
            && (best == self->n || self->s[i].used_ms < self->s[best].used_ms))
            best = i;
    if (best < self->n)
        s_drop (self, best);
}

int
mcp_sessions_open (mcp_sessions_t *self, const char *user, const char *version, bool elicits,
                   char *id)
{
    unsigned char raw[MCP_SESSION_ID_LEN / 2];
    if (getrandom (raw, sizeof raw, 0) != (ssize_t) sizeof raw)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf (id + 2 * i, 3, "%02x", raw[i]);
    int64_t now = zclock_mono ();
    pthread_mutex_lock (&self->lock);
    s_expire (self, now);
    size_t mine = 0;
    for (size_t i = 0; i < self->n; i++)
        mine += !strcmp (self->s[i].user, user);
    if (mine >= self->per_user)
        s_drop_oldest (self, user);
    if (self->n == MAX_TOTAL)
        s_drop_oldest (self, NULL);
    session_t *s = &self->s[self->n++];
    snprintf (s->id, sizeof s->id, "%s", id);
    snprintf (s->user, sizeof s->user, "%s", user);
    snprintf (s->version, sizeof s->version, "%s", version);
    s->elicits = elicits;
    s->used_ms = now;
    pthread_mutex_unlock (&self->lock);
    return 0;
}

/* The index of user's session id, or self->n; called with the lock held. */
static size_t
s_find (mcp_sessions_t *self, const char *user, const char *id)
{
    for (size_t i = 0; i < self->n; i++)
        if (!strcmp (self->s[i].id, id) && !strcmp (self->s[i].user, user))
            return i;
    return self->n;
}

int
mcp_sessions_check (mcp_sessions_t *self, const char *user, const char *id, char *version,
                    size_t len, bool *elicits)
{
    int64_t now = zclock_mono ();
    pthread_mutex_lock (&self->lock);
    s_expire (self, now);
    size_t i = s_find (self, user, id);
    int rc = -1;
    if (i < self->n) {
        self->s[i].used_ms = now;
        if (version)
            snprintf (version, len, "%s", self->s[i].version);
        if (elicits)
            *elicits = self->s[i].elicits;
        rc = 0;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
mcp_sessions_close (mcp_sessions_t *self, const char *user, const char *id)
{
    pthread_mutex_lock (&self->lock);
    size_t i = s_find (self, user, id);
    int rc = i < self->n ? 0 : -1;
    if (!rc)
        s_drop (self, i);
    pthread_mutex_unlock (&self->lock);
    return rc;
}
