/* gk_sync: the store's flusher thread. See gk_sync.h. */
#include "gk_sync.h"

#include <stdlib.h>

struct gk_sync_t {
    zactor_t *actor;
    zloop_t *loop;
    gk_sync_done_fn *done;
    void *arg;
    bool busy;
};

/* The thread: one flush per "SYNC", answered with the LMDB code. */
static void
flusher (zsock_t *pipe, void *arg)
{
    store_t *store = arg;
    zsock_signal (pipe, 0);
    while (true) {
        char *cmd = zstr_recv (pipe);
        bool stop = !cmd || !streq (cmd, "SYNC");
        zstr_free (&cmd);
        if (stop)
            break;
        int err = store_sync (store) ? store_error (store) : 0;
        zsock_send (pipe, "i", err);
    }
}

static int
on_flushed (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop;
    gk_sync_t *self = arg;
    int err = 0;
    if (zsock_recv (sock, "i", &err))
        return 0;
    self->busy = false;
    self->done (self->arg, err);
    return 0;
}

gk_sync_t *
gk_sync_new (store_t *store, zloop_t *loop, gk_sync_done_fn *done, void *arg)
{
    gk_sync_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->done = done;
    self->arg = arg;
    self->actor = zactor_new (flusher, store);
    if (!self->actor
        || zloop_reader (loop, (zsock_t *) zactor_sock (self->actor), on_flushed, self)) {
        zactor_destroy (&self->actor);
        free (self);
        return NULL;
    }
    return self;
}

void
gk_sync_destroy (gk_sync_t **self_p)
{
    gk_sync_t *self = *self_p;
    if (!self)
        return;
    zloop_reader_end (self->loop, (zsock_t *) zactor_sock (self->actor));
    /* $TERM waits for the thread, which ends its flush first. */
    zactor_destroy (&self->actor);
    free (self);
    *self_p = NULL;
}

bool
gk_sync_start (gk_sync_t *self)
{
    if (self->busy)
        return false;
    self->busy = zstr_send (self->actor, "SYNC") == 0;
    return self->busy;
}

bool
gk_sync_busy (const gk_sync_t *self)
{
    return self->busy;
}
