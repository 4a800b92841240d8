/* userkey: see userkey.h. */
#include "userkey.h"
#include "cid.h"
#include "clog.h"

#include <stdlib.h>
#include <string.h>

/* a key this close to its expiry is replaced before use: a call may last
 * this long (CAISSON_LLM_TIMEOUT_MS's default is 2 min) */
#define RENEW_MS (10 * 60 * 1000)

typedef struct {
    userkey_fn *fn;
    void *arg;
} waiter_t;

typedef struct {
    userkey_t *owner;
    char *user;
    char *key;                  /* the held key, or NULL */
    uint64_t expires;           /* its expiry, ms since the epoch */
    zlist_t *waiters;           /* waiter_t, while a mint is in flight */
    char req[CID_SIZE];         /* the mint in flight, or "" */
} entry_t;

struct _userkey_t {
    rpc_t *rpc;
    zhashx_t *users;            /* user -> entry_t */
};

static void
entry_destroy (entry_t **e_p)
{
    entry_t *e = *e_p;
    if (!e)
        return;
    if (e->req[0])
        rpc_forget (e->owner->rpc, e->req);
    for (waiter_t *w = zlist_pop (e->waiters); w; w = zlist_pop (e->waiters))
        free (w);
    zlist_destroy (&e->waiters);
    if (e->key)
        memset (e->key, 0, strlen (e->key));
    free (e->key);
    free (e->user);
    free (e);
    *e_p = NULL;
}

static void
drop_entry (void **item)
{
    entry_destroy ((entry_t **) item);
}

userkey_t *
userkey_new (rpc_t *rpc)
{
    userkey_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->rpc = rpc;
    if (!(self->users = zhashx_new ())) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->users, drop_entry);
    return self;
}

void
userkey_destroy (userkey_t **self_p)
{
    userkey_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->users);
    free (self);
    *self_p = NULL;
}

/* gateway-keys answered entry e's mint: every waiter gets the key or why
 * not. A callback may ask again (or forget): the waiters are taken first. */
static void
on_made (const proto_msg_t *reply, const char *error, void *arg)
{
    entry_t *e = arg;
    e->req[0] = '\0';
    char why[300] = "";
    if (reply && reply->type == PROTO_gkey_made && reply->body.gkey_made.key) {
        free (e->key);
        e->key = strdup (reply->body.gkey_made.key);
        e->expires = (uint64_t) zclock_time () + USERKEY_TTL_MS;
    }
    else
        snprintf (why, sizeof why, "model gateway: no key for %s: %s", e->user,
                  reply && reply->type == PROTO_error ? reply->body.error.message
                  : error ? error : "gateway-keys did not answer");
    if (*why)
        clog_warn (NULL, "%s", why);
    zlist_t *waiters = e->waiters;
    e->waiters = zlist_new ();
    char *key = e->key ? strdup (e->key) : NULL;
    for (waiter_t *w = zlist_pop (waiters); w; w = zlist_pop (waiters)) {
        w->fn (key, key ? NULL : why, w->arg);
        free (w);
    }
    zlist_destroy (&waiters);
    if (key)
        memset (key, 0, strlen (key));
    free (key);
}

/* Sends e's mint. 0 or -1. */
static int
mint (userkey_t *self, entry_t *e)
{
    proto_msg_t *req = proto_msg_new (PROTO_gkey_create, NULL);
    if (!req)
        return -1;
    proto_set_str (&req->env.user, e->user);
    req->env.op = true;
    proto_set_str (&req->body.gkey_create.user, e->user);
    proto_set_str (&req->body.gkey_create.kind, "run");
    proto_set_str (&req->body.gkey_create.name, "orchestrator");
    req->body.gkey_create.expires_at = (uint64_t) zclock_time () + USERKEY_TTL_MS;
    int rc = rpc_call (self->rpc, "gateway-keys", req, 5000, 2, on_made, e);
    if (!rc)
        snprintf (e->req, sizeof e->req, "%s", req->env.id);
    proto_msg_destroy (&req);
    return rc ? -1 : 0;
}

int
userkey_get (userkey_t *self, const char *user, const char **key, userkey_fn *fn, void *arg)
{
    user = user ? user : "";
    entry_t *e = zhashx_lookup (self->users, user);
    if (!e) {
        e = calloc (1, sizeof *e);
        if (!e || !(e->user = strdup (user)) || !(e->waiters = zlist_new ())) {
            if (e)
                zlist_destroy (&e->waiters);
            free (e ? e->user : NULL);
            free (e);
            return -1;
        }
        e->owner = self;
        zhashx_insert (self->users, user, e);
    }
    if (e->key && e->expires > (uint64_t) zclock_time () + RENEW_MS) {
        *key = e->key;
        return 1;
    }
    waiter_t *w = malloc (sizeof *w);
    if (!w || (!e->req[0] && mint (self, e))) {
        free (w);
        return -1;
    }
    *w = (waiter_t) { fn, arg };
    zlist_append (e->waiters, w);
    return 0;
}

void
userkey_forget (userkey_t *self, const void *arg)
{
    for (entry_t *e = zhashx_first (self->users); e; e = zhashx_next (self->users))
        for (waiter_t *w = zlist_first (e->waiters); w;) {
            if (w->arg != arg) {
                w = zlist_next (e->waiters);
                continue;
            }
            zlist_remove (e->waiters, w);
            free (w);
            w = zlist_first (e->waiters);
        }
}
