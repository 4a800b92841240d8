/* broker: Majordomo broker with credit, instance addressing, and the
 * event proxy. See broker.h and mdp.h.
 *
 * Hot path: a request's frames are received into a busio_msg_t and moved
 * (never copied) to the chosen worker; a reply's likewise to the client. */
#include "broker.h"
#include "busio.h"
#include "buskey.h"
#include "bus_worker.h"     /* bus_route_t, for the broker's own rows */
#include "cfg.h"
#include "clog.h"
#include "mdp.h"
#include "mpjson.h"
#include "proto.h"

#include <ctype.h>
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SERVICES 4096
#define MAX_CREDIT 10000

typedef struct _request_t request_t;
struct _request_t {
    zmq_msg_t client;
    zmq_msg_t body;
    int64_t expiry;
    request_t *next;
};

typedef struct _worker_t worker_t;

typedef struct {
    char name[MDP_MAX_SERVICE + 1];
    worker_t **workers;
    size_t nworkers;
    size_t rr;                  /* where the next round-robin scan starts */
    request_t *head, *tail;
    size_t queued;
    /* For a `service.instance` name: when its last worker left (0 while one
     * serves it, or when none ever did). Requests wait for a restarting
     * instance until gone_at + the grace, then get `not_found`. */
    int64_t gone_at;
} service_t;

struct _worker_t {
    char key[64];               /* hex of the ROUTER identity */
    zmq_msg_t identity;
    service_t *service;         /* by name */
    service_t *instance;        /* by name.instance */
    uint32_t credit;
    uint32_t inflight;
    int64_t expiry;
};

struct _broker_t {
    zsock_t *router, *xsub, *xpub;
    void *rraw, *xsub_raw, *xpub_raw;
    zsock_t *zap;               /* ZAP handler; NULL when CURVE is off */
    zhashx_t *keys;             /* Z85 public key -> role name, the allow-list */
    int64_t refusal_logged;     /* when a refusal (handshake, READY) was last logged */
    uint64_t refusals_unlogged; /* refused since then */
    zhashx_t *services;         /* name -> service_t */
    zhashx_t *workers;          /* key -> worker_t */
    char instance[64];
    int64_t started;
    int64_t heartbeat_ms;
    int64_t liveness;
    int64_t request_ttl;
    int64_t instance_grace;     /* how long a gone instance's requests wait */
    size_t queue_max;           /* requests per service */
    size_t queued_bytes;        /* bodies held in all queues */
    size_t queued_bytes_max;
};

static void
identity_key (zmq_msg_t *id, char key[64])
{
    const uint8_t *p = zmq_msg_data (id);
    size_t n = zmq_msg_size (id);
    if (n > 31)
        n = 31;
    for (size_t i = 0; i < n; i++)
        snprintf (key + 2 * i, 3, "%02x", p[i]);
    key[2 * n] = '\0';
}

/* True when a refusal may be logged now: one line a second at most, so a
 * peer looping on refused handshakes or READYs cannot fill the disk with
 * the log. Counts the refusals it silences; *silenced receives how many
 * went unlogged before this one. */
static bool
refusal_log_due (broker_t *self, uint64_t *silenced)
{
    int64_t now = zclock_mono ();
    if (self->refusal_logged && now - self->refusal_logged < 1000) {
        self->refusals_unlogged++;
        return false;
    }
    *silenced = self->refusals_unlogged;
    self->refusals_unlogged = 0;
    self->refusal_logged = now;
    return true;
}

/* ---- sending ------------------------------------------------------------ */

static void
send_to_worker (broker_t *self, worker_t *w, const char *cmd, zmq_msg_t *client,
                zmq_msg_t *body)
{
    zmq_msg_t id;
    zmq_msg_init (&id);
    zmq_msg_copy (&id, &w->identity);
    busio_send_move (self->rraw, &id, true);
    busio_send_copy (self->rraw, "", 0, true);
    busio_send_copy (self->rraw, MDP_WORKER, strlen (MDP_WORKER), true);
    busio_send_copy (self->rraw, cmd, 1, client != NULL);
    if (client) {
        busio_send_move (self->rraw, client, true);
        busio_send_copy (self->rraw, "", 0, true);
        busio_send_move (self->rraw, body, false);
    }
}

static void
send_to_client (broker_t *self, zmq_msg_t *client, const char *service,
                zmq_msg_t *body)
{
    busio_send_move (self->rraw, client, true);
    busio_send_copy (self->rraw, "", 0, true);
    busio_send_copy (self->rraw, MDP_CLIENT, strlen (MDP_CLIENT), true);
    busio_send_copy (self->rraw, service, strlen (service), true);
    busio_send_move (self->rraw, body, false);
}

/* Answers a client with a proto message made here (errors, and the
 * broker's own health). */
static void
answer (broker_t *self, zmq_msg_t *client, const char *service, proto_msg_t *reply)
{
    uint8_t *data;
    size_t size;
    if (reply && proto_encode (reply, &data, &size) == 0) {
        zmq_msg_t body;
        zmq_msg_init_size (&body, size);
        memcpy (zmq_msg_data (&body), data, size);
        free (data);
        send_to_client (self, client, service, &body);
    }
    proto_msg_destroy (&reply);
}

/* ---- services and workers ----------------------------------------------- */

static service_t *
service_require (broker_t *self, const char *name)
{
    service_t *s = zhashx_lookup (self->services, name);
    if (s || zhashx_size (self->services) >= MAX_SERVICES)
        return s;
    s = calloc (1, sizeof *s);
    if (!s)
        return NULL;
    snprintf (s->name, sizeof s->name, "%s", name);
    zhashx_insert (self->services, s->name, s);
    return s;
}

static void
service_attach (service_t *s, worker_t *w)
{
    worker_t **grown = realloc (s->workers, (s->nworkers + 1) * sizeof *grown);
    if (!grown)
        return;
    s->workers = grown;
    s->workers[s->nworkers++] = w;
}

static void
service_detach (service_t *s, const worker_t *w)
{
    for (size_t i = 0; s && i < s->nworkers; i++)
        if (s->workers[i] == w) {
            s->workers[i] = s->workers[--s->nworkers];
            return;
        }
}

static void
worker_delete (broker_t *self, worker_t *w, const char *why)
{
    clog_info (NULL, "worker %s of %s dropped: %s", w->key,
               w->service ? w->service->name : "?", why);
    service_detach (w->service, w);
    service_detach (w->instance, w);
    if (w->instance && !w->instance->nworkers)
        w->instance->gone_at = zclock_mono ();
    zmq_msg_close (&w->identity);
    zhashx_delete (self->workers, w->key);
    free (w);
}

/* True when requests to the `service.instance` name (s: its entry, or NULL
 * when the broker has none) get `not_found` now rather than wait: no
 * worker serves it, and it is not within its grace. Workers that served
 * it before a broker restart register again within a heartbeat timeout
 * of the start, so that long every instance name may wait. */
static bool
instance_absent (broker_t *self, const char *name, const service_t *s, int64_t now)
{
    if (!strchr (name, '.') || (s && s->nworkers))
        return false;
    if (now < self->started + self->heartbeat_ms * self->liveness)
        return false;
    return !s || !s->gone_at || now >= s->gone_at + self->instance_grace;
}

/* Answers the request body (to the absent instance name) `not_found`,
 * as the reply to it: the client matches replies by their cause. */
static void
answer_absent (broker_t *self, zmq_msg_t *client, const char *name, zmq_msg_t *body)
{
    const char *dot = strchr (name, '.');
    proto_err_t err;
    proto_msg_t *req = proto_decode (zmq_msg_data (body), zmq_msg_size (body), &err);
    answer (self, client, name, proto_error_new (req, PROTO_ERR_not_found,
            "bus: no %.*s instance '%s' is registered (it never was, or it is gone)",
            (int) (dot - name), name, dot + 1));
    proto_msg_destroy (&req);
}

static worker_t *
ready_worker (service_t *s)
{
    for (size_t i = 0; i < s->nworkers; i++) {
        worker_t *w = s->workers[(s->rr + i) % s->nworkers];
        if (w->inflight < w->credit) {
            s->rr = (s->rr + i + 1) % s->nworkers;
            return w;
        }
    }
    return NULL;
}

static void
request_free (broker_t *self, request_t *r)
{
    self->queued_bytes -= zmq_msg_size (&r->body);
    zmq_msg_close (&r->client);
    zmq_msg_close (&r->body);
    free (r);
}

/* Forgets a name no worker serves, with any requests queued for it: an
 * instance's get `not_found`; others' clients time out, as they do for an
 * expired request. */
static void
service_forget (broker_t *self, service_t *s)
{
    bool instance = strchr (s->name, '.') != NULL;
    while (s->head) {
        request_t *r = s->head;
        s->head = r->next;
        if (instance)
            answer_absent (self, &r->client, s->name, &r->body);
        request_free (self, r);
    }
    s->tail = NULL;
    s->queued = 0;
    zhashx_delete (self->services, s->name);
}

/* Forgets up to max names no worker serves: those with nothing queued
 * and instance names past their grace (instance_absent) only, unless
 * also_queued. Clients may name anything (a tenant's made-up
 * sandbox id names an instance), so names that only clients have used
 * must not hold the table's slots for good. */
static void
services_prune (broker_t *self, size_t max, bool also_queued)
{
    zlistx_t *idle = zlistx_new ();
    int64_t now = zclock_mono ();
    for (service_t *s = zhashx_first (self->services); s && zlistx_size (idle) < max;
         s = zhashx_next (self->services))
        if (!s->nworkers && (also_queued || (strchr (s->name, '.')
                                             ? instance_absent (self, s->name, s, now)
                                             : !s->head)))
            zlistx_add_end (idle, s);
    for (service_t *s = zlistx_first (idle); s; s = zlistx_next (idle))
        service_forget (self, s);
    zlistx_destroy (&idle);
}

/* Sends queued requests of s to its workers while any has credit; drops
 * those whose client has given up on them by now (and resent). */
static void
service_dispatch (broker_t *self, service_t *s)
{
    int64_t now = zclock_mono ();
    worker_t *w = NULL;
    while (s->head && (s->head->expiry <= now || (w = ready_worker (s)))) {
        request_t *r = s->head;
        s->head = r->next;
        if (!s->head)
            s->tail = NULL;
        s->queued--;
        if (r->expiry > now) {
            w->inflight++;
            send_to_worker (self, w, MDP_REQUEST, &r->client, &r->body);
        }
        request_free (self, r);
    }
}

/* ---- client requests ---------------------------------------------------- */

static proto_msg_t *
health (const proto_msg_t *req, void *arg)
{
    broker_t *self = arg;
    proto_msg_t *rep = proto_msg_new (PROTO_health_rep, req);
    proto_health_rep_t *b = &rep->body.health_rep;
    proto_set_str (&b->service, MDP_BROKER_SERVICE);
    proto_set_str (&b->instance, self->instance);
    proto_set_str (&b->version, CAISSON_VERSION);
    b->pid = (uint64_t) getpid ();
    b->uptime_ms = (uint64_t) (zclock_mono () - self->started);
    return rep;
}

static proto_msg_t *
ping (const proto_msg_t *req, void *arg)
{
    (void) arg;
    proto_msg_t *rep = proto_msg_new (PROTO_pong, req);
    proto_set_bytes (&rep->body.pong.data, req->body.ping.data.data, req->body.ping.data.size);
    return rep;
}

/* The answer to bus.instances: the instance part of each registered
 * worker's `service.instance` name. */
static proto_msg_t *
instance_list (const proto_msg_t *req, void *arg)
{
    broker_t *self = arg;
    const char *name = req->body.bus_instances.service;
    service_t *s = zhashx_lookup (self->services, name);
    size_t skip = strlen (name) + 1;
    json_t *ids = json_array ();
    for (size_t i = 0; s && i < s->nworkers; i++) {
        const service_t *inst = s->workers[i]->instance;
        if (inst && strlen (inst->name) > skip)
            json_array_append_new (ids, json_string (inst->name + skip));
    }
    proto_msg_t *rep = proto_msg_new (PROTO_bus_instance_list, req);
    proto_set_str (&rep->body.bus_instance_list.service, name);
    if (mpjson_set (&rep->body.bus_instance_list.instances, ids, 2)) {
        proto_msg_destroy (&rep);
        rep = proto_error_new (req, PROTO_ERR_internal, "bus: cannot list the instances of '%s'", name);
    }
    json_decref (ids);
    return rep;
}

/* What the broker answers itself, as service `bus`: the same rows a
 * worker's table has (bus_worker.h), though the broker is no worker. */
static const bus_route_t s_own[] = {
    { PROTO_health_req, health },
    { PROTO_ping, ping },
    { PROTO_bus_instances, instance_list },
    BUS_ROUTES_END
};

static proto_msg_t *
own_reply (broker_t *self, zmq_msg_t *body)
{
    proto_err_t err;
    proto_msg_t *req = proto_decode (zmq_msg_data (body), zmq_msg_size (body), &err);
    if (!req)
        return proto_error_from (&err);
    const bus_route_t *r = s_own;
    while (r->type != PROTO_TYPE_COUNT && r->type != req->type)
        r++;
    proto_msg_t *rep = r->handler ? r->handler (req, self) : NULL;
    if (!r->handler)
        rep = proto_error_new (req, PROTO_ERR_unknown_type, "%s does not serve %s",
                               MDP_BROKER_SERVICE, proto_type_name (req->type));
    proto_msg_destroy (&req);
    return rep;
}

static void
on_client (broker_t *self, busio_msg_t *m)
{
    if (m->n != 5)
        return;                 /* not MDP: nothing sensible to answer */
    zmq_msg_t *client = &m->f[0], *body = &m->f[4];
    char name[MDP_MAX_SERVICE + 1];
    size_t len = zmq_msg_size (&m->f[3]);
    if (len == 0 || len > MDP_MAX_SERVICE || memchr (zmq_msg_data (&m->f[3]), 0, len)) {
        /* as the reply to the request (its cause), so its client stops waiting */
        proto_err_t err;
        proto_msg_t *req = proto_decode (zmq_msg_data (body), zmq_msg_size (body), &err);
        answer (self, client, "?", proto_error_new (req, PROTO_ERR_bad_service,
                                "service name must be 1 to %d bytes", MDP_MAX_SERVICE));
        proto_msg_destroy (&req);
        return;
    }
    memcpy (name, zmq_msg_data (&m->f[3]), len);
    name[len] = '\0';
    if (strcmp (name, MDP_BROKER_SERVICE) == 0) {
        answer (self, client, name, own_reply (self, body));
        return;
    }
    int64_t now = zclock_mono ();
    if (instance_absent (self, name, zhashx_lookup (self->services, name), now)) {
        answer_absent (self, client, name, body);
        return;
    }
    service_t *s = service_require (self, name);
    worker_t *w = s && !s->head ? ready_worker (s) : NULL;
    if (w) {
        w->inflight++;
        send_to_worker (self, w, MDP_REQUEST, client, body);
        return;
    }
    if (!s) {
        answer (self, client, name, proto_error_new (NULL, PROTO_ERR_service_busy,
                "bus: %d service names in use; '%s' refused", MAX_SERVICES, name));
        return;
    }
    size_t size = zmq_msg_size (body);
    if (s->queued >= self->queue_max || self->queued_bytes + size > self->queued_bytes_max) {
        answer (self, client, name, proto_error_new (NULL, PROTO_ERR_service_busy,
                "bus: no ready worker for '%s' and its queue is full (%zu requests, "
                "%zu bytes queued in all)", name, s->queued, self->queued_bytes));
        return;
    }
    request_t *r = calloc (1, sizeof *r);
    if (!r)
        return;
    zmq_msg_init (&r->client);
    zmq_msg_init (&r->body);
    zmq_msg_move (&r->client, client);
    zmq_msg_move (&r->body, body);
    r->expiry = now + self->request_ttl;
    /* An instance name no worker serves, asked in the start-up grace: kept
     * past the grace, when services_prune answers it not_found; dropped as
     * expired instead, a client that does not resend would hang. */
    int64_t grace_end = self->started + self->heartbeat_ms * (self->liveness + 1);
    if (strchr (name, '.') && !s->nworkers && r->expiry < grace_end)
        r->expiry = grace_end;
    self->queued_bytes += size;
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    s->queued++;
}

/* ---- worker commands ---------------------------------------------------- */

static bool
valid_name (zmq_msg_t *f, size_t max, bool dots, char *out)
{
    size_t len = zmq_msg_size (f);
    const char *p = zmq_msg_data (f);
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum ((unsigned char) p[i]) || p[i] == '-' || p[i] == '_'
              || (dots && p[i] == '.')))
            return false;
    memcpy (out, p, len);
    out[len] = '\0';
    return true;
}

static void
on_ready (broker_t *self, busio_msg_t *m, worker_t *w, const char *key)
{
    char service[64], instance[64], credit_s[16];
    if (m->n != 7 || !valid_name (&m->f[4], 63, false, service)
        || !valid_name (&m->f[5], 63, false, instance)
        || !valid_name (&m->f[6], 5, false, credit_s)) {
        clog_warn (NULL, "malformed READY from %s dropped", key);
        return;
    }
    /* A stack service's requests carry its tenants' files, commands and
     * approvals: only the holder of that service's key may serve them. The
     * ZAP handler named the connection's key (User-Id) at the handshake. */
    const char *holder = self->zap ? zmq_msg_gets (&m->f[1], "User-Id") : NULL;
    if (self->zap && buskey_is_service (service) && (!holder || strcmp (holder, service))) {
        uint64_t silenced;
        if (refusal_log_due (self, &silenced))
            clog_warn (NULL, "READY for %s.%s from %s refused: the connection holds the %s key, "
                       "not %s's (%llu more refusals unlogged)", service, instance, key,
                       holder ? holder : "no", service, (unsigned long long) silenced);
        return;
    }
    /* A worker's two names (service, service.instance) come before names
     * only clients have used: a full table makes room for them. */
    if (zhashx_size (self->services) + 2 > MAX_SERVICES)
        services_prune (self, 2, false);
    if (zhashx_size (self->services) + 2 > MAX_SERVICES)
        services_prune (self, 2, true);
    if (w) {                    /* a repeated READY updates the registration */
        service_detach (w->service, w);
        service_detach (w->instance, w);
    }
    else {
        if (!(w = calloc (1, sizeof *w)))
            return;
        snprintf (w->key, sizeof w->key, "%s", key);
        zmq_msg_init (&w->identity);
        zmq_msg_copy (&w->identity, &m->f[0]);
        zhashx_insert (self->workers, w->key, w);
    }
    char full[MDP_MAX_SERVICE + 1];
    snprintf (full, sizeof full, "%s.%s", service, instance);
    /* An instance id names one process: a restarted process registering
     * the same id replaces its dead predecessor at once, rather than share
     * its requests with it until heartbeats expire. */
    service_t *same = zhashx_lookup (self->services, full);
    while (same && same->nworkers)     /* w itself was detached above */
        worker_delete (self, same->workers[0], "replaced by a new registration");
    w->service = service_require (self, service);
    w->instance = service_require (self, full);
    long credit = strtol (credit_s, NULL, 10);
    w->credit = credit < 1 ? 1 : credit > MAX_CREDIT ? MAX_CREDIT : (uint32_t) credit;
    w->inflight = 0;
    w->expiry = zclock_mono () + self->heartbeat_ms * self->liveness;
    if (w->service)
        service_attach (w->service, w);
    if (w->instance) {
        service_attach (w->instance, w);
        w->instance->gone_at = 0;
    }
    clog_info (NULL, "worker %s ready for %s (credit %u)", key, full, w->credit);
    if (w->service)
        service_dispatch (self, w->service);
    if (w->instance)
        service_dispatch (self, w->instance);
}

static void
on_worker (broker_t *self, busio_msg_t *m)
{
    if (m->n < 4)
        return;
    char key[64];
    identity_key (&m->f[0], key);
    worker_t *w = zhashx_lookup (self->workers, key);
    zmq_msg_t *cmd = &m->f[3];
    if (w)
        w->expiry = zclock_mono () + self->heartbeat_ms * self->liveness;

    if (busio_is (cmd, MDP_READY))
        on_ready (self, m, w, key);
    else if (!w) {
        /* Not registered here (e.g. we restarted): ask it to register. */
        zmq_msg_t id;
        zmq_msg_init (&id);
        zmq_msg_copy (&id, &m->f[0]);
        busio_send_move (self->rraw, &id, true);
        busio_send_copy (self->rraw, "", 0, true);
        busio_send_copy (self->rraw, MDP_WORKER, strlen (MDP_WORKER), true);
        busio_send_copy (self->rraw, MDP_DISCONNECT, 1, false);
    }
    else if (busio_is (cmd, MDP_REPLY) && m->n == 7) {
        if (w->inflight)
            w->inflight--;
        send_to_client (self, &m->f[4], w->service ? w->service->name : "?", &m->f[6]);
        if (w->service)
            service_dispatch (self, w->service);
        if (w->instance)
            service_dispatch (self, w->instance);
    }
    else if (busio_is (cmd, MDP_DISCONNECT))
        worker_delete (self, w, "disconnected");
}

/* ---- heartbeats --------------------------------------------------------- */

static void
heartbeat (broker_t *self)
{
    int64_t now = zclock_mono ();
    worker_t *w = zhashx_first (self->workers);
    zlistx_t *dead = zlistx_new ();
    while (w) {
        if (w->expiry <= now)
            zlistx_add_end (dead, w);
        else
            send_to_worker (self, w, MDP_HEARTBEAT, NULL, NULL);
        w = zhashx_next (self->workers);
    }
    for (w = zlistx_first (dead); w; w = zlistx_next (dead))
        worker_delete (self, w, "missed heartbeats");
    zlistx_destroy (&dead);
    for (service_t *s = zhashx_first (self->services); s; s = zhashx_next (self->services))
        service_dispatch (self, s);     /* also expires stale queued requests */
    services_prune (self, SIZE_MAX, false);
}

/* ---- authentication (ZAP, RFC 27) --------------------------------------- */

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

static void
key_name_free (void **item)
{
    free (*item);
    *item = NULL;
}

/* The allow-list: every `<role>.key` in the key directory, named by role.
 * Returns the number of keys, or -1 when the directory cannot be read. */
static int
keys_load (broker_t *self)
{
    char dir[PATH_MAX];
    buskey_dir (dir, sizeof dir);
    DIR *d = opendir (dir);
    if (!d) {
        clog_error (NULL, "cannot read the bus key directory %s: %s", dir, strerror (errno));
        return -1;
    }
    int count = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        size_t len = strlen (e->d_name);
        if (len <= 4 || len > 64 + 4 || strcmp (e->d_name + len - 4, ".key"))
            continue;
        char path[PATH_MAX + sizeof e->d_name + 1];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        zcert_t *cert = zcert_load (path);
        char *name = strndup (e->d_name, len - 4);
        if (cert && name && zhashx_insert (self->keys, zcert_public_txt (cert), name) == 0) {
            name = NULL;
            count++;
        }
        else if (!cert)
            clog_warn (NULL, "%s is not a CURVE key file; ignored", path);
        free (name);
        zcert_destroy (&cert);
    }
    closedir (d);
    return count;
}

/* Answers one ZAP request: 200 with the key's role as User-Id when the
 * client's public key is in the allow-list, else 400 (the handshake fails
 * and the peer gets nothing). */
static void
zap_answer (broker_t *self)
{
    busio_msg_t m;
    if (busio_recv (zsock_resolve (self->zap), &m, ZMQ_DONTWAIT)) {
        if (errno != EPROTO)
            return;
        m.n = 0;                /* too many frames: still owed an answer (REP) */
    }
    const char *name = NULL;
    if (m.n == 7 && busio_is (&m.f[5], "CURVE") && zmq_msg_size (&m.f[6]) == 32) {
        char txt[41];
        zmq_z85_encode (txt, zmq_msg_data (&m.f[6]), 32);
        name = zhashx_lookup (self->keys, txt);
    }
    uint64_t silenced;
    if (!name && refusal_log_due (self, &silenced))
        clog_warn (NULL, "bus connection from %.*s refused: %s (%llu more refusals unlogged)",
                   m.n > 3 ? (int) zmq_msg_size (&m.f[3]) : 0,
                   m.n > 3 ? (const char *) zmq_msg_data (&m.f[3]) : "",
                   m.n == 7 ? "its CURVE key is not in the key directory" : "not a CURVE handshake",
                   (unsigned long long) silenced);
    const char *code = name ? "200" : "400", *text = name ? "OK" : "unknown key";
    const void *parts[] = { "1.0", m.n > 1 ? zmq_msg_data (&m.f[1]) : "", code, text,
                            name ? name : "", "" };
    size_t sizes[] = { 3, m.n > 1 ? zmq_msg_size (&m.f[1]) : 0, 3, strlen (text),
                       name ? strlen (name) : 0, 0 };
    busio_send (zsock_resolve (self->zap), 6, parts, sizes);
    busio_close (&m);
}

/* Binds the ZAP handler before any CURVE socket exists, so no handshake
 * can happen unchecked. Returns 0 or -1. */
static int
zap_start (broker_t *self)
{
    self->keys = zhashx_new ();
    if (!self->keys)
        return -1;
    zhashx_set_destructor (self->keys, key_name_free);
    int n = keys_load (self);
    if (n < 0)
        return -1;
    self->zap = zsock_new (ZMQ_REP);
    if (!self->zap || zsock_bind (self->zap, ZAP_ENDPOINT) < 0) {
        clog_error (NULL, "cannot bind the ZAP handler at %s", ZAP_ENDPOINT);
        return -1;
    }
    clog_info (NULL, "bus authentication: CURVE, %d keys admitted", n);
    return 0;
}

/* ---- life --------------------------------------------------------------- */

static void
service_free (void **item)
{
    service_t *s = *item;
    while (s->head) {
        request_t *r = s->head;
        s->head = r->next;
        zmq_msg_close (&r->client);
        zmq_msg_close (&r->body);
        free (r);
    }
    free (s->workers);
    free (s);
    *item = NULL;
}

broker_t *
broker_new (const char *requests, const char *events_in, const char *events_out,
            const char *instance)
{
    broker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->instance, sizeof self->instance, "%s", instance);
    self->started = zclock_mono ();
    self->heartbeat_ms = (int64_t) cfg_u64 ("CAISSON_HEARTBEAT_MS");
    self->liveness = (int64_t) cfg_u64 ("CAISSON_HEARTBEAT_LIVENESS");
    self->request_ttl = (int64_t) cfg_u64 ("CAISSON_REQUEST_TIMEOUT_MS");
    self->instance_grace = (int64_t) cfg_u64 ("CAISSON_BROKER_INSTANCE_GRACE_MS");
    self->queue_max = (size_t) cfg_u64 ("CAISSON_BROKER_QUEUE");
    self->queued_bytes_max = (size_t) cfg_u64 ("CAISSON_BROKER_QUEUE_MB") << 20;
    self->services = zhashx_new ();
    self->workers = zhashx_new ();
    if (buskey_curve () && zap_start (self)) {
        broker_destroy (&self);
        return NULL;
    }
    self->router = busio_socket (ZMQ_ROUTER, requests, true);
    self->xsub = busio_socket (ZMQ_XSUB, events_in, true);
    self->xpub = busio_socket (ZMQ_XPUB, events_out, true);
    if (!self->services || !self->workers || !self->router || !self->xsub || !self->xpub) {
        broker_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->services, service_free);
    self->rraw = zsock_resolve (self->router);
    self->xsub_raw = zsock_resolve (self->xsub);
    /* Everything is forwarded to the broker, whoever listens: a publisher
     * waits for this subscription before its first event (see bus_pub.c),
     * and the XPUB side filters by what taps ask for. */
    zmq_send (self->xsub_raw, "\x01", 1, 0);
    self->xpub_raw = zsock_resolve (self->xpub);
    return self;
}

void
broker_destroy (broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    if (self->workers) {
        for (worker_t *w = zhashx_first (self->workers); w; w = zhashx_next (self->workers)) {
            zmq_msg_close (&w->identity);
            free (w);
        }
        zhashx_destroy (&self->workers);
    }
    zhashx_destroy (&self->services);
    zsock_destroy (&self->router);
    zsock_destroy (&self->xsub);
    zsock_destroy (&self->xpub);
    zsock_destroy (&self->zap);         /* last: no CURVE socket is left to ask it */
    zhashx_destroy (&self->keys);
    free (self);
    *self_p = NULL;
}

/* Moves one whole message from one socket to another, for the event
 * proxy. */
static void
relay (void *from, void *to)
{
    busio_msg_t m;
    for (int batch = 0; batch < 256 && busio_recv (from, &m, ZMQ_DONTWAIT) == 0; batch++) {
        for (int i = 0; i < m.n; i++)
            busio_send_move (to, &m.f[i], i + 1 < m.n);
        m.n = 0;
    }
}

int
broker_run (broker_t *self)
{
    zmq_pollitem_t items[] = {
        { self->rraw, 0, ZMQ_POLLIN, 0 },
        { self->xsub_raw, 0, ZMQ_POLLIN, 0 },
        { self->xpub_raw, 0, ZMQ_POLLIN, 0 },
        { self->zap ? zsock_resolve (self->zap) : NULL, 0, ZMQ_POLLIN, 0 },
    };
    int nitems = self->zap ? 4 : 3;
    int64_t next_beat = zclock_mono () + self->heartbeat_ms;
    while (!zsys_interrupted) {
        int64_t wait = next_beat - zclock_mono ();
        int rc = zmq_poll (items, nitems, wait > 0 ? wait : 0);
        if (rc < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN) {
            busio_msg_t m;
            for (int batch = 0; batch < 1024; batch++) {
                if (busio_recv (self->rraw, &m, ZMQ_DONTWAIT)) {
                    if (errno == EPROTO)
                        continue;
                    break;
                }
                if (m.n >= 3 && busio_is (&m.f[2], MDP_CLIENT))
                    on_client (self, &m);
                else if (m.n >= 3 && busio_is (&m.f[2], MDP_WORKER))
                    on_worker (self, &m);
                busio_close (&m);
            }
        }
        if (nitems > 3 && (items[3].revents & ZMQ_POLLIN))
            zap_answer (self);
        if (items[1].revents & ZMQ_POLLIN)
            relay (self->xsub_raw, self->xpub_raw);
        if (items[2].revents & ZMQ_POLLIN)
            relay (self->xpub_raw, self->xsub_raw);
        if (zclock_mono () >= next_beat) {
            heartbeat (self);
            next_beat = zclock_mono () + self->heartbeat_ms;
        }
    }
    return 0;
}
