/* sbx_create: sandbox.create and the warm pool. A create checks the
 * request against the deployment's limits, takes a pooled sandbox or
 * makes a record, then waits for the sandbox's model key (sbx_gkey.h)
 * without blocking the loop: the create's reply slot is held
 * (bus_worker_defer) and the rest (init started or configured with the
 * key in its environment, record saved, answer) runs once gateway-keys
 * has answered or the bounded wait ran out. */
#define _GNU_SOURCE
#include "sbx_mgr.h"
#include "sbx_adopt.h"
#include "sbx_egress.h"
#include "sbx_gkey.h"
#include "sbx_netreq.h"
#include "cfg.h"
#include "mpjson.h"

#include <string.h>

/* A create waiting for its sandbox's model key. */
typedef struct {
    sbx_mgr_t *m;
    char id[SANDBOX_ID_SIZE];
    bus_worker_t *worker;
    bus_pending_t *pending;
} key_wait_t;

static void
set_u64 (box_t *box, const char *key, uint64_t v)
{
    json_object_set_new (box->rec, key, json_integer ((json_int_t) v));
}

/* A host uid of this registry's range that no sandbox of this manager
 * holds (other registries' ranges are apart from it). */
static uint64_t
free_uid (sbx_mgr_t *m)
{
    sbx_home_t *own = &m->own;
    uint64_t base = own->uid_first, count = own->uid_count;
    for (uint64_t tries = 0; tries < count; tries++) {
        uint64_t uid = base + own->next_uid++ % count;
        bool used = false;
        for (box_t *b = zhashx_first (m->boxes); b && !used; b = zhashx_next (m->boxes))
            used = (uint64_t) json_integer_value (json_object_get (b->rec, "uid")) == uid;
        if (!used)
            return uid;
    }
    return base + own->next_uid++ % count;
}

static box_t *
box_new (sbx_mgr_t *m)
{
    box_t *box = calloc (1, sizeof *box);
    box->mgr = m;
    box->home = &m->own;
    box->fd = -1;
    box->spawn_fd = -1;
    sandbox_id_new (svc_instance (m->svc), box->id);   /* setup checked the instance */
    box->rec = json_pack ("{s:s, s:s, s:I, s:I}", "sandboxId", box->id, "status", "provisioning",
                          "createdAt", (json_int_t) (uint64_t) zclock_time (), "uid",
                          (json_int_t) free_uid (m));
    /* The workspace's limits, fixed when its filesystem is made. */
    set_u64 (box, "diskMb", cfg_u64 ("CAISSON_SANDBOX_DISK_MB"));
    set_u64 (box, "inodes", cfg_u64 ("CAISSON_SANDBOX_INODES"));
    return box;
}

/* A started sandbox with default limits, kept unclaimed for a fast create. */
int
sbx_pool_fill (sbx_mgr_t *m)
{
    size_t have = 0;
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes)) {
        have += json_is_true (json_object_get (b->rec, "pool"));
        if (b->spawn_fd >= 0)
            return 0;           /* one start at a time */
    }
    if (have >= cfg_u64 ("CAISSON_SANDBOX_POOL"))
        return 0;
    box_t *box = box_new (m);
    json_object_set_new (box->rec, "pool", json_true ());
    set_u64 (box, "memoryMb", cfg_u64 ("CAISSON_SANDBOX_MEMORY_MB"));
    set_u64 (box, "cpus", cfg_u64 ("CAISSON_SANDBOX_CPUS"));
    json_object_set_new (box->rec, "network", json_string ("none"));
    json_object_set_new (box->rec, "expiresAt", json_integer (INT64_MAX / 2));
    zhashx_insert (m->boxes, box->id, box);
    box = zhashx_lookup (m->boxes, box->id);
    if (sbx_host_spawn_async (box)) {
        sbx_host_destroy (box);
        return -1;
    }
    return 1;
}

static box_t *
pool_take (sbx_mgr_t *m)
{
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes))
        if (json_is_true (json_object_get (b->rec, "pool")) && b->wire)
            return b;
    return NULL;
}

/* The rest of a create once box's model key is settled: its init started
 * (or a pooled one configured again, now with its owner's environment),
 * the record saved, and the answer: box's sandbox.info, or for a policy
 * sandbox BUS_DEFERRED until egress-proxy has its policy (then *pending_p,
 * the create's reply slot through worker, is taken), or an error. */
static proto_msg_t *
finish (box_t *box, const proto_msg_t *req, bus_worker_t *worker, bus_pending_t **pending_p)
{
    sbx_mgr_t *m = box->mgr;
    if (!box->wire && sbx_host_spawn (box)) {
        const char *why = json_string_value (json_object_get (box->rec, "reason"));
        proto_msg_t *rep = proto_error_new (req, PROTO_ERR_create_failed, "%s", why);
        sbx_host_destroy (box);
        return rep;
    }
    /* Re-send the defaults: a pooled init was configured before its owner was known. */
    if (box->wire)
        sbx_host_configure (box);
    json_object_set_new (box->rec, "status", json_string ("ready"));
    sbx_host_save (box);
    const char *net = json_string_value (json_object_get (box->rec, "network"));
    if (net && !strcmp (net, "policy")) {
        bus_pending_t *pending = *pending_p;
        *pending_p = NULL;
        return sbx_netreq_await_slot (box, req, true, worker, pending);
    }
    /* none with a model key: the proxy serves its gateway path alone (a
     * set it misses is sent again; the create does not wait for it) */
    if (sbx_egress_proxied (box))
        sbx_egress_set (m->egress, box, req, NULL, NULL);
    return sbx_host_info (box, req);
}

/* gateway-keys answered a create's mint, or its wait ran out: the create
 * goes on (its body is in the record by now: the slot keeps only the
 * envelope). */
static void
on_key (const char *id, bool stopping, void *arg)
{
    key_wait_t *w = arg;
    box_t *box = zhashx_lookup (w->m->boxes, id);
    const proto_msg_t *req = bus_pending_request (w->pending);
    proto_msg_t *rep;
    if (stopping || !box)
        rep = proto_error_new (req, PROTO_ERR_unavailable, "sandboxId: %s: %s", w->id,
                               stopping ? "sandbox-manager is stopping"
                                        : "destroyed while its model key was being made");
    else
        rep = finish (box, req, w->worker, &w->pending);
    if (rep != BUS_DEFERRED)
        bus_worker_answer (w->worker, &w->pending, rep);
    w->m->net_waiting--;
    free (w);
}

proto_msg_t *
sbx_create (sbx_mgr_t *m, const proto_msg_t *req)
{
    const proto_sandbox_create_t *c = &req->body.sandbox_create;
    const char *user = req->env.user ? req->env.user : "";
    size_t mine = 0;
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes))
        if (!json_is_true (json_object_get (b->rec, "pool"))
            && !strcmp (json_string_value (json_object_get (b->rec, "user")) ?: "", user))
            mine++;
    if (mine >= cfg_u64 ("CAISSON_SANDBOX_MAX_PER_USER"))
        return proto_error_new (req, PROTO_ERR_too_many_sandboxes, "user '%s' already has "
                                "%zu sandboxes (CAISSON_SANDBOX_MAX_PER_USER)", user, mine);
    const char *net = c->network ? c->network : cfg_str ("CAISSON_SANDBOX_NETWORK");
    int rank = sbx_egress_mode_rank (net);
    const char *max = cfg_str ("CAISSON_SANDBOX_NETWORK_MAX");
    if (rank < 0)
        return proto_error_new (req, PROTO_ERR_bad_network, "network: expected none, policy or "
                                "host, got '%s'", net);
    if (rank > sbx_egress_mode_rank (max))
        return proto_error_new (req, PROTO_ERR_forbidden, "network: %s is above this "
                                "deployment's ceiling (CAISSON_SANDBOX_NETWORK_MAX=%s)", net, max);
    if (!strcmp (net, "host") && !cfg_u64 ("CAISSON_SANDBOX_ALLOW_HOST_NET"))
        return proto_error_new (req, PROTO_ERR_forbidden, "network: host is not allowed here "
                                "(CAISSON_SANDBOX_ALLOW_HOST_NET=0)");
    /* The host's network reaches the bus and every loopback service: an
     * operator's choice, never a tenant's, even where it is allowed. */
    if (!strcmp (net, "host") && !req->env.op)
        return proto_error_new (req, PROTO_ERR_forbidden, "network: host is for operators only");
    if ((c->network_allow.size || c->network_deny.size) && strcmp (net, "policy"))
        return proto_error_new (req, PROTO_ERR_bad_value, "%s: only for network policy, not %s",
                                c->network_allow.size ? "network_allow" : "network_deny", net);
    bool mem = c->memory_mb > cfg_u64 ("CAISSON_SANDBOX_MEMORY_MAX_MB");
    bool cpus = c->cpus > cfg_u64 ("CAISSON_SANDBOX_CPUS_MAX");
    if (mem || cpus || c->ttl_seconds > cfg_u64 ("CAISSON_SANDBOX_TTL_MAX_S"))
        return proto_error_new (req, PROTO_ERR_over_limit, "%s: over the operator's maximum",
                                mem ? "memory_mb" : cpus ? "cpus" : "ttl_seconds");
    json_t *labels = mpjson_get (&c->labels, 2), *env = mpjson_get (&c->env_vars, 2);
    if ((labels && !json_is_object (labels)) || (env && !json_is_object (env))) {
        json_decref (labels);
        json_decref (env);
        return proto_error_new (req, PROTO_ERR_bad_type, "%s: expected a map of strings",
                                env && !json_is_object (env) ? "env_vars" : "labels");
    }
    json_t *allow = NULL, *deny = NULL;
    if (!strcmp (net, "policy")) {
        json_t *ja = mpjson_get (&c->network_allow, 2), *jd = mpjson_get (&c->network_deny, 2);
        char why[700];
        int code = sbx_egress_rules (c->network_allow.size ? ja : NULL, jd, &allow, &deny, why,
                                     sizeof why);
        json_decref (ja);
        json_decref (jd);
        if (code) {
            json_decref (labels);
            json_decref (env);
            return proto_error_new (req, (proto_ecode_t) code, "%s", why);
        }
    }
    /* A policy sandbox is started for it: its init makes /run/caisson's
     * socket while it can still mount, before it drops its rights. */
    bool defaults = !c->memory_mb && !c->cpus && !strcmp (net, "none");
    box_t *box = defaults ? pool_take (m) : NULL;
    if (!box) {
        box = box_new (m);
        set_u64 (box, "memoryMb", c->memory_mb ?: cfg_u64 ("CAISSON_SANDBOX_MEMORY_MB"));
        set_u64 (box, "cpus", c->cpus ?: cfg_u64 ("CAISSON_SANDBOX_CPUS"));
        zhashx_insert (m->boxes, box->id, box);
        box = zhashx_lookup (m->boxes, box->id);
    }
    json_object_del (box->rec, "pool");
    json_object_set_new (box->rec, "network", json_string (net));
    if (allow) {
        json_object_set_new (box->rec, "networkAllow", allow);
        json_object_set_new (box->rec, "networkDeny", deny);
    }
    json_object_set_new (box->rec, "name", json_string (c->name ? c->name : ""));
    json_object_set_new (box->rec, "language", json_string (c->language ? c->language : "python"));
    json_object_set_new (box->rec, "user", json_string (user));
    json_object_set_new (box->rec, "labels", labels ? labels : json_object ());
    json_object_set_new (box->rec, "envVars", env ? env : json_object ());
    uint64_t ttl = c->ttl_seconds ? c->ttl_seconds : cfg_u64 ("CAISSON_SANDBOX_TTL_S");
    set_u64 (box, "expiresAt", (uint64_t) zclock_time () + ttl * 1000);
    /* The reply slot first, for the key's callback to answer through;
     * with no key to wait for, the create goes on at once through it. */
    key_wait_t *w = calloc (1, sizeof *w);
    w->m = m;
    snprintf (w->id, sizeof w->id, "%s", box->id);
    w->pending = sbx_adopt_defer (m, &w->worker);
    if (w->pending && sbx_gkey_mint (m->gkey, box, req->env.run, on_key, w)) {
        m->net_waiting++;
        return BUS_DEFERRED;
    }
    bus_pending_t *pending = w->pending;
    bus_worker_t *worker = w->worker;
    free (w);
    if (!pending) {
        sbx_host_destroy (box);
        return proto_error_new (req, PROTO_ERR_unavailable, "sandbox-manager cannot hold the "
                                "request's reply");
    }
    proto_msg_t *rep = finish (box, req, worker, &pending);
    if (rep != BUS_DEFERRED)
        bus_worker_answer (worker, &pending, rep);
    return BUS_DEFERRED;
}
