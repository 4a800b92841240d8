/* runhost_sbx: see runhost_sbx.h. */
#include "runhost_sbx.h"
#include "cfg.h"
#include "clog.h"
#include "runroute.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    runhost_sbx_t *owner;
    char *id, *user, *thread;
    bool op;
    int timer;
} kept_t;

struct _runhost_sbx_t {
    zloop_t *loop;
    rpc_t *rpc;
    runstore_t *store;          /* where kept sandboxes are written */
    zhashx_t *kept;             /* id -> kept_t * */
};

static void
kept_free (void **item)
{
    kept_t *k = *item;
    if (!k)
        return;
    if (k->timer >= 0)
        zloop_timer_end (k->owner->loop, k->timer);
    free (k->id);
    free (k->user);
    free (k->thread);
    free (k);
    *item = NULL;
}

runhost_sbx_t *
runhost_sbx_new (zloop_t *loop, rpc_t *rpc, runstore_t *store)
{
    runhost_sbx_t *self = calloc (1, sizeof *self);
    if (!self || !(self->kept = zhashx_new ())) {
        free (self);
        return NULL;
    }
    self->loop = loop;
    self->rpc = rpc;
    self->store = store;
    zhashx_set_destructor (self->kept, kept_free);
    return self;
}

void
runhost_sbx_destroy (runhost_sbx_t **self_p)
{
    runhost_sbx_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->kept);
    free (self);
    *self_p = NULL;
}

/* Fire and forget: sandbox-manager answers sandbox.info or an error
 * (not_found when it is already gone), and rpc logs a failure. */
static void
destroy_now (runhost_sbx_t *self, const char *id, const char *user, bool op)
{
    char service[160];
    runroute_sandbox (id, service, sizeof service);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_destroy, NULL);
    proto_set_str (&req->env.user, user && *user ? user : NULL);
    req->env.op = op;
    proto_set_str (&req->body.sandbox_destroy.sandbox_id, id);
    if (rpc_call (self->rpc, service, req, 5000, 2, NULL, NULL))
        clog_error (NULL, "cannot ask %s to destroy sandbox %s", service, id);
    else
        clog_info (NULL, "sandbox %s: destroyed with its run", id);
    proto_msg_destroy (&req);
}

/* Sandbox id is no longer kept, in memory or in the store. */
static void
forget (runhost_sbx_t *self, const char *id)
{
    if (runstore_keep_sandbox (self->store, id, NULL))
        clog_error (NULL, "sandbox %s: cannot forget it in the store", id);
    zhashx_delete (self->kept, id);
}

static int
on_idle (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    kept_t *k = arg;
    runhost_sbx_t *self = k->owner;
    k->timer = -1;              /* a once timer: zloop ends it */
    clog_info (NULL, "sandbox %s: idle for thread %s; destroying it", k->id, k->thread);
    destroy_now (self, k->id, k->user, k->op);
    forget (self, k->id);
    return 0;
}

/* Keeps sandbox id in memory with its idle timer, ending at idle_until
 * (ms since the epoch). Returns 0 or -1. */
static int
keep (runhost_sbx_t *self, const char *id, const char *user, bool op, const char *thread,
      int64_t idle_until)
{
    kept_t *k = calloc (1, sizeof *k);
    if (!k || !(k->id = strdup (id)) || !(k->user = strdup (user ? user : ""))
        || !(k->thread = strdup (thread))) {
        if (k)
            k->timer = -1;
        kept_free ((void **) &k);
        return -1;
    }
    k->owner = self;
    k->op = op;
    int64_t left = idle_until - zclock_time ();
    k->timer = zloop_timer (self->loop, left > 0 ? (size_t) left : 1, 1, on_idle, k);
    zhashx_update (self->kept, id, k);
    return 0;
}

void
runhost_sbx_done (runhost_sbx_t *self, const char *id, const char *user, bool op,
                  const char *thread, bool keep_it)
{
    if (!keep_it) {
        if (zhashx_lookup (self->kept, id))
            forget (self, id);
        destroy_now (self, id, user, op);
        return;
    }
    int64_t until = zclock_time () + (int64_t) cfg_u64 ("CAISSON_RUN_SANDBOX_IDLE_S") * 1000;
    /* written first: a restart still ends it once idle */
    json_t *info = json_pack ("{s:s, s:b, s:s, s:I}", "user", user ? user : "", "op", op,
                              "thread", thread, "idleUntil", (json_int_t) until);
    if (!info || runstore_keep_sandbox (self->store, id, info)
        || keep (self, id, user, op, thread, until)) {
        clog_error (NULL, "sandbox %s: cannot keep it for thread %s", id, thread);
        forget (self, id);
        destroy_now (self, id, user, op);
    }
    json_decref (info);
}

int
runhost_sbx_restore (runhost_sbx_t *self)
{
    json_t *all = runstore_kept_sandboxes (self->store);
    if (!all)
        return -1;
    const char *id;
    json_t *info;
    json_object_foreach (all, id, info) {
        const char *thread = json_string_value (json_object_get (info, "thread"));
        if (zhashx_lookup (self->kept, id) || !thread)
            continue;
        if (keep (self, id, json_string_value (json_object_get (info, "user")),
                  json_is_true (json_object_get (info, "op")), thread,
                  json_integer_value (json_object_get (info, "idleUntil"))))
            clog_error (NULL, "sandbox %s: cannot take it up again", id);
    }
    json_decref (all);
    return 0;
}

void
runhost_sbx_used (runhost_sbx_t *self, const char *id, const char *thread)
{
    kept_t *k = id ? zhashx_lookup (self->kept, id) : NULL;
    if (k && strcmp (k->thread, thread) == 0)
        forget (self, id);
}

size_t
runhost_sbx_kept (runhost_sbx_t *self)
{
    return zhashx_size (self->kept);
}
