/* mcpc_users: users' own MCP server sets, made on use, ended when idle. */
#include "mcpc_users.h"

#include "clog.h"
#include "xalloc.h"

#include <czmq.h>

#include <pthread.h>
#include <stdatomic.h>

struct _mcpc_users_t {
    const mcpc_t *deployment;
    zhashx_t *sets;             /* user -> mcpc_t *, a reference each */
    atomic_int ending;          /* sets ending on threads of their own */
};

mcpc_users_t *
mcpc_users_new (const mcpc_t *deployment)
{
    mcpc_users_t *self = xcalloc (1, sizeof *self);
    self->deployment = deployment;
    self->sets = zhashx_new ();
    return self;
}

static void *
end_main (void *arg)
{
    void **pair = arg;
    mcpc_users_t *self = pair[0];
    mcpc_t *set = pair[1];
    free (pair);
    mcpc_destroy (&set);
    atomic_fetch_sub (&self->ending, 1);
    return NULL;
}

void
mcpc_users_release (mcpc_users_t *self, mcpc_t **set_p)
{
    if (!*set_p)
        return;
    if (mcpc_refs (*set_p) > 1) {
        mcpc_destroy (set_p);
        return;
    }
    /* the last: ending it waits on sandbox-manager and servers */
    void **pair = xcalloc (2, sizeof *pair);
    pair[0] = self;
    pair[1] = *set_p;
    *set_p = NULL;
    atomic_fetch_add (&self->ending, 1);
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    if (pthread_create (&thread, &attr, end_main, pair)) {
        end_main (pair);        /* no thread: here, then */
    }
    pthread_attr_destroy (&attr);
}

void
mcpc_users_destroy (mcpc_users_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcpc_users_t *self = *self_p;
    for (mcpc_t *set = zhashx_first (self->sets); set; set = zhashx_next (self->sets))
        mcpc_users_release (self, &set);
    zhashx_destroy (&self->sets);
    while (atomic_load (&self->ending) > 0)
        zclock_sleep (20);
    free (self);
    *self_p = NULL;
}

mcpc_t *
mcpc_users_get (mcpc_users_t *self, const char *user)
{
    if (!user || !*user)
        return NULL;
    mcpc_t *set = zhashx_lookup (self->sets, user);
    if (!set) {
        set = mcpc_new_user (user, self->deployment);
        zhashx_insert (self->sets, user, set);
    }
    mcpc_touch (set);
    return set;
}

void
mcpc_users_drop (mcpc_users_t *self, const char *user)
{
    mcpc_t *set = user ? zhashx_lookup (self->sets, user) : NULL;
    if (!set)
        return;
    zhashx_delete (self->sets, user);
    mcpc_users_release (self, &set);
}

void
mcpc_users_expire (mcpc_users_t *self, int64_t idle_ms)
{
    zlist_t *idle = zlist_new ();
    zlist_autofree (idle);      /* copies: dropping a set frees its key */
    for (mcpc_t *set = zhashx_first (self->sets); set; set = zhashx_next (self->sets))
        if (mcpc_refs (set) == 1 && mcpc_idle_ms (set) >= idle_ms)
            zlist_append (idle, (char *) zhashx_cursor (self->sets));
    for (const char *user = zlist_first (idle); user; user = zlist_next (idle)) {
        clog_info (NULL, "MCP servers of %s stopped: unused for %lld s", user,
                   (long long) idle_ms / 1000);
        mcpc_users_drop (self, user);
    }
    zlist_destroy (&idle);
}
