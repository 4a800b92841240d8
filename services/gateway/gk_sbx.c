/* gk_sbx: revoking the keys of sandboxes gone. See gk_sbx.h. */
#include "gk_sbx.h"
#include "gk_keys_int.h"
#include "bus_client.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"
#include "runroute.h"
#include "sandbox_id.h"

#include <stdlib.h>
#include <string.h>

struct gk_sbx_t {
    gk_t *gk;
    zloop_t *loop;
    bus_client_t *client;
    bool sync;
    int timer;
    uint64_t asked_at;          /* ms: the round's questions went out */
    zhashx_t *asked;            /* request id -> instance (string) */
};

typedef struct {
    uint64_t before;            /* keys made before this (ms) */
    json_t *by_inst;            /* instance -> {sandbox id: true} */
} scan_t;

static int
scan_one (MDB_txn *txn, job_t *j, json_t *key)
{
    (void) txn;
    scan_t *s = (scan_t *) j->extra;
    const char *sbx = gk_jstr (key, "sandboxId"), *kind = gk_jstr (key, "kind");
    char inst[SANDBOX_ID_INSTANCE_MAX + 1];
    if (!kind || strcmp (kind, "sandbox") || !sbx || !gk_live (key, gk_now_ms ())
        || gk_jnum (key, "created") >= s->before || sandbox_id_instance (sbx, inst, sizeof inst))
        return 0;
    json_t *set = json_object_get (s->by_inst, inst);
    if (!set)
        json_object_set_new (s->by_inst, inst, set = json_object ());
    json_object_set_new (set, sbx, json_true ());
    return 0;
}

static int
scan_txn (MDB_txn *txn, void *arg)
{
    job_t *j = arg;
    return gk_each_key (txn, j->gk, GK_DB_KEYS, NULL, scan_one, j);
}

/* The live sandbox keys' sandboxes made before `before`, by instance. */
static json_t *
sandboxes_with_keys (gk_t *gk, uint64_t before)
{
    scan_t s = { before, json_object () };
    job_t j = { gk, NULL, NULL, 0, PROTO_ERR_COUNT, "", &s };
    if (store_read (gk->store, scan_txn, &j)) {
        json_decref (s.by_inst);
        return NULL;
    }
    return s.by_inst;
}

static void
revoke_sandbox (gk_sbx_t *self, const char *sandbox)
{
    proto_msg_t *req = proto_msg_new (PROTO_gkey_revoke, NULL);
    req->env.op = true;
    proto_set_str (&req->env.user, "sandbox gone");
    proto_set_str (&req->body.gkey_revoke.sandbox_id, sandbox);
    proto_msg_t *rep = gk_keys_revoke (self->gk, req, self->sync);
    if (rep->type == PROTO_gkey_ack && rep->body.gkey_ack.count)
        clog_info (NULL, "sandbox %s is gone: %llu keys revoked", sandbox,
                   (unsigned long long) rep->body.gkey_ack.count);
    else if (rep->type == PROTO_error)
        clog_warn (NULL, "sandbox %s is gone, its keys not revoked: %s", sandbox,
                   rep->body.error.message);
    proto_msg_destroy (&rep);
    proto_msg_destroy (&req);
}

/* inst's answer: revoke the keys of its sandboxes the list does not hold. */
static void
on_list (gk_sbx_t *self, const char *inst, const proto_msg_t *rep)
{
    json_t *by_inst = sandboxes_with_keys (self->gk, self->asked_at);
    json_t *mine = json_object_get (by_inst, inst);
    json_t *listed = mpjson_get (&rep->body.sandbox_listed.sandboxes, 8), *o;
    size_t i;
    json_array_foreach (listed, i, o) {
        const char *st = gk_jstr (o, "status"), *id = gk_jstr (o, "sandbox_id");
        if (id && !(st && !strcmp (st, "destroyed")))
            json_object_del (mine, id);
    }
    const char *sbx;
    json_t *v;
    json_object_foreach (mine, sbx, v)
        revoke_sandbox (self, sbx);
    json_decref (listed);
    json_decref (by_inst);
}

static int
on_reply (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop, (void) sock;
    gk_sbx_t *self = arg;
    proto_msg_t *rep;
    while ((rep = bus_client_recv (self->client, 0, NULL))) {
        const char *inst = rep->env.cause ? zhashx_lookup (self->asked, rep->env.cause) : NULL;
        if (inst && rep->type == PROTO_sandbox_listed)
            on_list (self, inst, rep);
        if (inst)
            zhashx_delete (self->asked, rep->env.cause);
        proto_msg_destroy (&rep);
    }
    return 0;
}

/* A round: sandbox.list to each instance owning a sandbox with a key. */
static int
on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    gk_sbx_t *self = arg;
    zhashx_purge (self->asked);     /* last round's unanswered: nothing */
    uint64_t before = gk_now_ms () - cfg_u64 ("CAISSON_GATEWAY_GC_S") * 1000;
    json_t *by_inst = sandboxes_with_keys (self->gk, before);
    self->asked_at = before;
    const char *inst;
    json_t *set;
    json_object_foreach (by_inst, inst, set) {
        char service[128];
        void *it = json_object_iter (set);
        if (!it || runroute_sandbox (json_object_iter_key (it), service, sizeof service))
            continue;
        proto_msg_t *m = proto_msg_new (PROTO_sandbox_list, NULL);
        m->env.op = true;
        uint8_t *data;
        size_t size;
        if (!proto_encode (m, &data, &size)) {
            if (!bus_client_send (self->client, service, data, size))
                zhashx_insert (self->asked, m->env.id, (void *) inst);
            free (data);
        }
        proto_msg_destroy (&m);
    }
    json_decref (by_inst);
    return 0;
}

gk_sbx_t *
gk_sbx_new (gk_t *gk, zloop_t *loop, const char *endpoint, bool sync)
{
    gk_sbx_t *self = zmalloc (sizeof *self);
    self->gk = gk;
    self->loop = loop;
    self->sync = sync;
    self->timer = -1;
    self->asked = zhashx_new ();
    zhashx_set_duplicator (self->asked, (zhashx_duplicator_fn *) strdup);
    zhashx_set_destructor (self->asked, (zhashx_destructor_fn *) zstr_free);
    self->client = bus_client_new (endpoint);
    size_t every = cfg_u64 ("CAISSON_GATEWAY_GC_S") * 1000;
    if (!self->client || zloop_reader (loop, bus_client_socket (self->client), on_reply, self)
        || (self->timer = zloop_timer (loop, every ? every : 1000, 0, on_tick, self)) < 0) {
        gk_sbx_destroy (&self);
        return NULL;
    }
    return self;
}

void
gk_sbx_destroy (gk_sbx_t **self_p)
{
    gk_sbx_t *self = *self_p;
    if (!self)
        return;
    if (self->client)
        zloop_reader_end (self->loop, bus_client_socket (self->client));
    if (self->timer >= 0)
        zloop_timer_end (self->loop, self->timer);
    bus_client_destroy (&self->client);
    zhashx_destroy (&self->asked);
    free (self);
    *self_p = NULL;
}
