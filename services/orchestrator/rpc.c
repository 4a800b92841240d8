/* rpc: see rpc.h. Pending requests are kept by id in a hash (which does
 * not own them: a callback may run after its entry is gone); one timer
 * sweeps them for deadlines every 50 ms. At most WINDOW requests are on
 * the wire at once, the rest wait here: the broker's socket towards us
 * drops replies past its high-water mark (1000), and a burst of a
 * thousand runs' events would otherwise lose tool results. */
#include "rpc.h"
#include "bus_client.h"
#include "clog.h"

#include <stdlib.h>
#include <string.h>

#define WINDOW 256

typedef struct {
    char id[CID_SIZE];
    char service[64];
    char type[32];
    uint8_t *data;
    size_t size;
    int timeout_ms, retries;
    int64_t deadline;
    rpc_done_fn *fn;
    void *arg;
    bool sent;
} pending_t;

struct _rpc_t {
    zloop_t *loop;
    bus_client_t *client;
    zhashx_t *pending;
    zlist_t *queue;             /* waiting for room in the window */
    size_t inflight;
    int timer;
};

static void
transmit (rpc_t *self, pending_t *p)
{
    p->sent = true;
    p->deadline = zclock_mono () + p->timeout_ms;
    self->inflight++;
    bus_client_send (self->client, p->service, p->data, p->size);
}

/* A sent request is answered or abandoned: room for a queued one. */
static void
settle (rpc_t *self, pending_t *p)
{
    zhashx_delete (self->pending, p->id);
    if (!p->sent) {
        zlist_remove (self->queue, p);
        return;
    }
    self->inflight--;
    pending_t *next;
    while (self->inflight < WINDOW && (next = zlist_pop (self->queue)))
        transmit (self, next);
}

static void
pending_free (void **item)
{
    pending_t *p = *item;
    if (p) {
        free (p->data);
        free (p);
        *item = NULL;
    }
}

static int
on_reply (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop;
    (void) sock;
    rpc_t *self = arg;
    proto_msg_t *reply;
    proto_err_t err;
    while ((reply = bus_client_recv (self->client, 0, &err)) || errno == EPROTO) {
        if (!reply)
            continue;
        pending_t *p = reply->env.cause ? zhashx_lookup (self->pending, reply->env.cause) : NULL;
        if (p && p->sent) {
            settle (self, p);
            if (p->fn)
                p->fn (reply, NULL, p->arg);
            else if (reply->type == PROTO_error)
                clog_warn (reply->env.corr, "%s to %s failed: %s: %s", p->type, p->service,
                           reply->body.error.code, reply->body.error.message);
            pending_free ((void **) &p);
        }
        proto_msg_destroy (&reply);
    }
    return 0;
}

static int
on_sweep (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    rpc_t *self = arg;
    int64_t now = zclock_mono ();
    zlist_t *expired = NULL;
    for (pending_t *p = zhashx_first (self->pending); p; p = zhashx_next (self->pending)) {
        if (!p->sent || p->deadline > now)
            continue;
        if (p->retries-- > 0) {
            p->deadline = now + p->timeout_ms;
            bus_client_send (self->client, p->service, p->data, p->size);
        }
        else {
            if (!expired)
                expired = zlist_new ();
            zlist_append (expired, p->id);
        }
    }
    for (char *id = expired ? zlist_first (expired) : NULL; id; id = zlist_next (expired)) {
        pending_t *p = zhashx_lookup (self->pending, id);
        settle (self, p);
        char why[128];
        snprintf (why, sizeof why, "%s got no answer from %s", p->type, p->service);
        if (p->fn)
            p->fn (NULL, why, p->arg);
        else
            clog_warn (NULL, "%s", why);
        pending_free ((void **) &p);
    }
    zlist_destroy (&expired);
    return 0;
}

rpc_t *
rpc_new (zloop_t *loop, const char *endpoint)
{
    rpc_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->client = bus_client_new (endpoint);
    self->pending = zhashx_new ();
    self->queue = zlist_new ();
    if (!self->client || !self->pending || !self->queue) {
        rpc_destroy (&self);
        return NULL;
    }
    zloop_reader (loop, bus_client_socket (self->client), on_reply, self);
    self->timer = zloop_timer (loop, 50, 0, on_sweep, self);
    return self;
}

void
rpc_destroy (rpc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rpc_t *self = *self_p;
    if (self->client) {
        zloop_reader_end (self->loop, bus_client_socket (self->client));
        zloop_timer_end (self->loop, self->timer);
    }
    for (void *p = self->pending ? zhashx_first (self->pending) : NULL; p;
         p = zhashx_next (self->pending))
        pending_free (&p);
    zhashx_destroy (&self->pending);
    zlist_destroy (&self->queue);
    bus_client_destroy (&self->client);
    free (self);
    *self_p = NULL;
}

int
rpc_call (rpc_t *self, const char *service, const proto_msg_t *req, int timeout_ms,
          int retries, rpc_done_fn *fn, void *arg)
{
    pending_t *p = calloc (1, sizeof *p);
    if (!p || proto_encode (req, &p->data, &p->size)) {
        free (p);
        return -1;
    }
    snprintf (p->id, sizeof p->id, "%s", req->env.id);
    snprintf (p->service, sizeof p->service, "%s", service);
    snprintf (p->type, sizeof p->type, "%s", proto_type_name (req->type));
    p->timeout_ms = timeout_ms;
    p->retries = retries;
    p->fn = fn;
    p->arg = arg;
    zhashx_update (self->pending, p->id, p);
    if (self->inflight < WINDOW)
        transmit (self, p);
    else
        zlist_append (self->queue, p);
    return 0;
}

void
rpc_forget (rpc_t *self, const char *req_id)
{
    pending_t *p = zhashx_lookup (self->pending, req_id);
    if (p) {
        settle (self, p);
        pending_free ((void **) &p);
    }
}
