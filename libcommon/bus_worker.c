/* bus_worker: Majordomo worker with heartbeats, reconnect and a reply
 * cache. See bus_worker.h and mdp.h. */
#include "bus_worker.h"
#include "xalloc.h"
#include "busio.h"
#include "buskey.h"
#include "cfg.h"
#include "cid.h"
#include "clog.h"
#include "mdp.h"
#include "svc_ident.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define REPLY_CACHE 1024

typedef struct {
    char id[CID_SIZE];
    uint8_t *data;
    size_t size;
} cached_t;

proto_msg_t bus_deferred;

/* A resend that arrives while its id is pending waits for the answer
 * too, rather than being dropped: a client that took over from one that
 * died (a tool-runner retrying a dead instance's call) gets it as soon as
 * it exists, and every request the broker handed over is answered. The
 * broker's credit per worker bounds how many can wait. */
struct _bus_pending_t {
    proto_msg_t *req;           /* the request's envelope; its body is empty */
    proto_type_t type;          /* the request's type, to check the answer's */
    zmq_msg_t client;
    zmq_msg_t *waiters;         /* the resends' clients */
    size_t nwaiters;
};

struct _bus_worker_t {
    char *endpoint;
    char service[MDP_MAX_SERVICE];
    char instance[64];
    char version[32];
    bus_handler_fn *handler;
    void *arg;
    bool routed;                /* route[] replaces handler */
    bus_handler_fn *route[PROTO_TYPE_COUNT];
    zsock_t *sock;
    void *raw;
    zloop_t *loop;
    int timer;
    int64_t started;
    bool stopped;               /* bus_worker_stop: off the loop, silent */
    int64_t heartbeat_ms;
    int64_t liveness;           /* heartbeats missed before giving up */
    int64_t broker_expiry;      /* when a silent broker is taken for dead */
    int64_t next_heartbeat;
    zhashx_t *cache_index;      /* request id -> cached_t */
    zhashx_t *pending;          /* request id -> bus_pending_t, deferred */
    const proto_msg_t *current; /* the request the handler is running */
    zmq_msg_t *current_client;
    cached_t cache[REPLY_CACHE];
    size_t cache_next;          /* ring position of the oldest entry */
};

static void
pending_free (bus_pending_t *p)
{
    proto_msg_destroy (&p->req);
    zmq_msg_close (&p->client);
    for (size_t i = 0; i < p->nwaiters; i++)
        zmq_msg_close (&p->waiters[i]);
    free (p->waiters);
    free (p);
}

/* Adds client to the resends waiting for p's answer. Returns 0 or -1. */
static int
pending_join (bus_pending_t *p, zmq_msg_t *client)
{
    zmq_msg_t *grown = realloc (p->waiters, (p->nwaiters + 1) * sizeof *grown);
    if (!grown)
        return -1;
    p->waiters = grown;
    zmq_msg_init (&p->waiters[p->nwaiters]);
    zmq_msg_copy (&p->waiters[p->nwaiters++], client);
    return 0;
}

static int
send_command (bus_worker_t *self, const char *cmd, int n, const void *const extra[],
              const size_t sizes[])
{
    const void *parts[8] = { "", MDP_WORKER, cmd };
    size_t psizes[8] = { 0, strlen (MDP_WORKER), 1 };
    for (int i = 0; i < n; i++) {
        parts[3 + i] = extra[i];
        psizes[3 + i] = sizes[i];
    }
    return busio_send (self->raw, 3 + n, parts, psizes);
}

static int s_on_input (zloop_t *loop, zsock_t *sock, void *arg);

/* Announces the worker to the broker. Sent at start, and again whenever the
 * broker has been silent too long or says it does not know us: the DEALER
 * socket reconnects by itself, so a restarted broker learns of us from the
 * READY that follows, and the broker treats a repeated READY as an update. */
static void
send_ready (bus_worker_t *self)
{
    char credit[24];
    snprintf (credit, sizeof credit, "%llu",
              (unsigned long long) cfg_u64 ("CAISSON_WORKER_CREDIT"));
    const void *extra[] = { self->service, self->instance, credit };
    size_t sizes[] = { strlen (self->service), strlen (self->instance), strlen (credit) };
    send_command (self, MDP_READY, 3, extra, sizes);
    int64_t now = zclock_mono ();
    self->broker_expiry = now + self->heartbeat_ms * self->liveness;
    self->next_heartbeat = now + self->heartbeat_ms;
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    bus_worker_t *self = arg;
    int64_t now = zclock_mono ();
    if (self->stopped)
        return 0;
    if (now >= self->broker_expiry) {
        clog_warn (NULL, "broker at %s silent; registering again", self->endpoint);
        send_ready (self);
        return 0;
    }
    if (now >= self->next_heartbeat) {
        send_command (self, MDP_HEARTBEAT, 0, NULL, NULL);
        self->next_heartbeat = now + self->heartbeat_ms;
    }
    return 0;
}

bus_worker_t *
bus_worker_new (const char *endpoint, const char *service, const char *instance,
                const char *version, bus_handler_fn *handler, void *arg)
{
    if (!endpoint || !service || !*service || strlen (service) >= 64 || strchr (service, '.'))
        return NULL;
    bus_worker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    snprintf (self->service, sizeof self->service, "%s", service);
    if (!instance || !*instance)
        instance = cfg_str ("CAISSON_INSTANCE");
    if (!strcmp (instance, "@hostname"))
        svc_ident_hostname (self->instance);
    else if (*instance)
        snprintf (self->instance, sizeof self->instance, "%s", instance);
    if (!self->instance[0])
        cid_token (self->instance, 8);
    snprintf (self->version, sizeof self->version, "%s", version ? version : "");
    self->handler = handler;
    self->arg = arg;
    self->started = zclock_mono ();
    self->heartbeat_ms = (int64_t) cfg_u64 ("CAISSON_HEARTBEAT_MS");
    self->liveness = (int64_t) cfg_u64 ("CAISSON_HEARTBEAT_LIVENESS");
    self->cache_index = zhashx_new ();
    self->pending = zhashx_new ();
    if (!self->endpoint || !self->cache_index || !self->pending)
        bus_worker_destroy (&self);
    return self;
}

void
bus_worker_destroy (bus_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bus_worker_t *self = *self_p;
    if (self->loop && !self->stopped) {
        zloop_timer_end (self->loop, self->timer);
        if (self->sock)
            zloop_reader_end (self->loop, self->sock);
    }
    zsock_destroy (&self->sock);
    zhashx_destroy (&self->cache_index);
    if (self->pending) {
        for (bus_pending_t *p = zhashx_first (self->pending); p; p = zhashx_next (self->pending))
            pending_free (p);
        zhashx_destroy (&self->pending);
    }
    for (size_t i = 0; i < REPLY_CACHE; i++)
        free (self->cache[i].data);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

int
bus_worker_start (bus_worker_t *self, zloop_t *loop)
{
    self->loop = loop;
    /* The broker lets only a stack service's own key serve its requests,
     * so a worker for one uses that key, whatever the process's role. */
    self->sock = busio_socket_as (ZMQ_DEALER, self->endpoint, false,
                                  buskey_is_service (self->service) ? self->service : NULL);
    if (!self->sock)
        return -1;
    self->raw = zsock_resolve (self->sock);
    if (zloop_reader (loop, self->sock, s_on_input, self))
        return -1;
    send_ready (self);
    size_t tick = (size_t) (self->heartbeat_ms / 4 > 0 ? self->heartbeat_ms / 4 : 1);
    self->timer = zloop_timer (loop, tick, 0, s_on_timer, self);
    return self->timer < 0 ? -1 : 0;
}

void
bus_worker_stop (bus_worker_t *self)
{
    if (self->sock && !self->stopped)
        send_command (self, MDP_DISCONNECT, 0, NULL, NULL);
    /* Off the loop now; zloop drops a timer or reader only on its next
     * pass, so one may still fire this pass, and does nothing. */
    if (self->loop && !self->stopped) {
        zloop_timer_end (self->loop, self->timer);
        if (self->sock)
            zloop_reader_end (self->loop, self->sock);
    }
    self->stopped = true;
}

int
bus_worker_set_routes (bus_worker_t *self, const bus_route_t *routes)
{
    memset (self->route, 0, sizeof self->route);
    for (const bus_route_t *r = routes; r->type != PROTO_TYPE_COUNT; r++) {
        const char *why = NULL;
        if (r->type > PROTO_TYPE_COUNT || !r->handler)
            why = "a row with no type or no handler";
        else if (proto_reply_of (r->type) == PROTO_TYPE_COUNT)
            why = "not a request (no R row in proto/)";
        else if (r->type == PROTO_health_req || r->type == PROTO_ping)
            why = "answered by the worker itself";
        else if (self->route[r->type])
            why = "routed twice";
        if (why) {
            clog_error (NULL, "%s: route %s: %s", self->service, proto_type_name (r->type), why);
            return -1;
        }
        self->route[r->type] = r->handler;
    }
    self->routed = true;
    return 0;
}

const char *
bus_worker_instance (bus_worker_t *self)
{
    return self->instance;
}

static void
cache_put (bus_worker_t *self, const char *id, const uint8_t *data, size_t size)
{
    cached_t *slot = &self->cache[self->cache_next];
    self->cache_next = (self->cache_next + 1) % REPLY_CACHE;
    if (slot->data)
        zhashx_delete (self->cache_index, slot->id);
    free (slot->data);
    slot->data = malloc (size);
    if (!slot->data)
        return;
    memcpy (slot->data, data, size);
    slot->size = size;
    snprintf (slot->id, sizeof slot->id, "%s", id);
    zhashx_insert (self->cache_index, slot->id, slot);
}

static proto_msg_t *
builtin (bus_worker_t *self, const proto_msg_t *req)
{
    proto_msg_t *rep = NULL;
    if (req->type == PROTO_health_req) {
        rep = proto_msg_new (PROTO_health_rep, req);
        proto_health_rep_t *b = &rep->body.health_rep;
        proto_set_str (&b->service, self->service);
        proto_set_str (&b->instance, self->instance);
        proto_set_str (&b->version, self->version);
        b->pid = (uint64_t) getpid ();
        b->uptime_ms = (uint64_t) (zclock_mono () - self->started);
    }
    else if (req->type == PROTO_ping) {
        rep = proto_msg_new (PROTO_pong, req);
        if (req->body.ping.data.data)
            proto_set_bytes (&rep->body.pong.data, req->body.ping.data.data,
                             req->body.ping.data.size);
    }
    return rep;
}

/* rep itself when it is the reply proto/ declares for a request of type
 * (or an `error`); else an `internal` error naming the mismatch, which is
 * logged (the handler's fault, not the caller's). rep is taken. A type
 * that is not a request has no declaration to hold a reply to: only a
 * stand-in worker with one handler for everything runs for one. */
static proto_msg_t *
checked (bus_worker_t *self, proto_type_t type, const proto_msg_t *cause, proto_msg_t *rep)
{
    proto_type_t want = proto_reply_of (type);
    if (!rep || rep->type == PROTO_error || rep->type == want || want == PROTO_TYPE_COUNT)
        return rep;
    clog_error (cause->env.corr, "%s answered %s with %s, not the declared %s", self->service,
                proto_type_name (type), proto_type_name (rep->type), proto_type_name (want));
    proto_msg_t *err = proto_error_new (cause, PROTO_ERR_internal,
                                        "%s answered %s with %s, not the declared %s",
                                        self->service, proto_type_name (type),
                                        proto_type_name (rep->type), proto_type_name (want));
    proto_msg_destroy (&rep);
    return err;
}

/* Sends one encoded reply to the client whose routing frame is client. */
static void
send_reply (bus_worker_t *self, zmq_msg_t *client, const uint8_t *data, size_t size)
{
    busio_send_copy (self->raw, "", 0, true);
    busio_send_copy (self->raw, MDP_WORKER, strlen (MDP_WORKER), true);
    busio_send_copy (self->raw, MDP_REPLY, 1, true);
    busio_send_move (self->raw, client, true);
    busio_send_copy (self->raw, "", 0, true);
    busio_send_copy (self->raw, data, size, false);
}

/* Works out the reply to one request frame, from the cache, the built-in
 * handlers or the service's handler, and sends it to client unless the
 * handler deferred it. */
static void
serve (bus_worker_t *self, zmq_msg_t *client, zmq_msg_t *body)
{
    proto_err_t err;
    proto_msg_t *req = proto_decode (zmq_msg_data (body), zmq_msg_size (body), &err);
    proto_msg_t *rep = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    const cached_t *hit = req ? zhashx_lookup (self->cache_index, req->env.id) : NULL;

    bus_pending_t *waiting = req && !hit ? zhashx_lookup (self->pending, req->env.id) : NULL;
    if (waiting) {
        clog_debug (req->env.corr, "retry of %s waits for its pending answer", req->env.id);
        pending_join (waiting, client);
        proto_msg_destroy (&req);
        return;
    }
    if (hit) {
        clog_debug (req->env.corr, "retry of %s answered from cache", req->env.id);
        data = hit->data;
        size = hit->size;
    }
    else {
        if (!req) {
            clog_warn (NULL, "undecodable request: %s", err.text);
            rep = proto_error_from (&err);
        }
        else if (!(rep = builtin (self, req))) {
            bus_handler_fn *fn = self->routed ? self->route[req->type] : self->handler;
            if (!fn)
                rep = proto_error_new (req, PROTO_ERR_unknown_type, "%s does not serve %s",
                                       self->service, proto_type_name (req->type));
            else {
                self->current = req;
                self->current_client = client;
                rep = fn (req, self->arg);
                self->current = NULL;
                self->current_client = NULL;
                if (rep == BUS_DEFERRED) {
                    proto_msg_destroy (&req);
                    return;
                }
                if (!rep)
                    rep = proto_error_new (req, PROTO_ERR_internal, "%s: no answer to %s",
                                           self->service, proto_type_name (req->type));
                rep = checked (self, req->type, req, rep);
            }
        }
        if (rep && proto_encode (rep, &data, &size) == 0 && req)
            cache_put (self, req->env.id, data, size);
    }
    if (data)
        send_reply (self, client, data, size);
    if (!hit)
        free (data);
    proto_msg_destroy (&req);
    proto_msg_destroy (&rep);
}

bus_pending_t *
bus_worker_defer (bus_worker_t *self)
{
    const proto_msg_t *cur = self->current;
    if (!cur)
        return NULL;
    bus_pending_t *p = xcalloc (1, sizeof *p);
    proto_msg_t *copy = xcalloc (1, sizeof *copy);
    /* Only the envelope is kept: enough to address the reply and carry the
     * correlation, run, user and operator flag on. The body type with no
     * fields to free keeps proto_msg_destroy from touching the empty body. */
    copy->type = PROTO_health_req;
    copy->env = (proto_env_t) { .v = cur->env.v, .ts = cur->env.ts, .op = cur->env.op };
    p->req = copy;
    p->type = cur->type;
    zmq_msg_init (&p->client);
    proto_set_str (&copy->env.type, cur->env.type);
    proto_set_str (&copy->env.id, cur->env.id);
    proto_set_str (&copy->env.corr, cur->env.corr);
    proto_set_str (&copy->env.cause, cur->env.cause);
    proto_set_str (&copy->env.run, cur->env.run);
    proto_set_str (&copy->env.user, cur->env.user);
    if (zmq_msg_copy (&p->client, self->current_client)) {
        pending_free (p);
        return NULL;
    }
    zhashx_insert (self->pending, copy->env.id, p);
    return p;
}

bool
bus_worker_dispatching (const bus_worker_t *self)
{
    return self && self->current;
}

const proto_msg_t *
bus_pending_request (const bus_pending_t *pending)
{
    return pending->req;
}

int
bus_worker_answer (bus_worker_t *self, bus_pending_t **pending_p, proto_msg_t *rep)
{
    if (!pending_p || !*pending_p) {
        proto_msg_destroy (&rep);
        return -1;
    }
    bus_pending_t *p = *pending_p;
    if (!rep)
        rep = proto_error_new (p->req, PROTO_ERR_internal, "%s: no answer to %s", self->service,
                               p->req->env.type);
    rep = checked (self, p->type, p->req, rep);
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = -1;
    if (rep && proto_encode (rep, &data, &size) == 0) {
        cache_put (self, p->req->env.id, data, size);
        send_reply (self, &p->client, data, size);
        for (size_t i = 0; i < p->nwaiters; i++)
            send_reply (self, &p->waiters[i], data, size);
        rc = 0;
    }
    free (data);
    proto_msg_destroy (&rep);
    zhashx_delete (self->pending, p->req->env.id);
    pending_free (p);
    *pending_p = NULL;
    return rc;
}

static int
s_on_input (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop, (void) sock;
    bus_worker_t *self = arg;
    busio_msg_t m;
    if (self->stopped)
        return 0;
    /* Drain what is queued: one zloop wake-up per batch, not per request. */
    for (int batch = 0; batch < 256; batch++) {
        if (busio_recv (self->raw, &m, ZMQ_DONTWAIT)) {
            if (errno == EPROTO)
                continue;       /* too many frames: dropped */
            return 0;
        }
        self->broker_expiry = zclock_mono () + self->heartbeat_ms * self->liveness;
        if (m.n >= 3 && busio_is (&m.f[1], MDP_WORKER)) {
            zmq_msg_t *cmd = &m.f[2];
            if (busio_is (cmd, MDP_REQUEST) && m.n == 6)
                serve (self, &m.f[3], &m.f[5]);
            else if (busio_is (cmd, MDP_DISCONNECT)) {
                clog_info (NULL, "broker does not know us; registering again");
                send_ready (self);
            }
        }
        busio_close (&m);
    }
    return 0;
}
