/* handler: sandbox-manager's bus requests, one handler per request type
 * (sbx_routes, at the end), each reading the sandbox id through its own
 * type's body; svc's worker answers other types `unknown_type`. Every request naming a sandbox is checked against its owner (the
 * envelope's user at create; operators excepted) and answers `not_found`
 * for anyone else; a list shows only the caller's. Lifecycle requests
 * (create, get, list, destroy, set_timeout, pause, resume) are answered
 * here from the records; exec, run_code and the file operations are
 * forwarded to the sandbox's init and answered when it replies
 * (bus_worker_defer), so the loop never waits on a sandbox's process. */
#define _GNU_SOURCE
#include "sbx_mgr.h"
#include "sbx_adopt.h"
#include "sbx_cgroup.h"
#include "sbx_egress.h"
#include "sbx_gkey.h"
#include "sbx_netreq.h"
#include "cfg.h"
#include "sandbox_id.h"
#include "clog.h"
#include "mpjson.h"

#include <string.h>

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
    json_object_set_new (box->rec, "diskMb", json_integer ((json_int_t) cfg_u64 ("CAISSON_SANDBOX_DISK_MB")));
    json_object_set_new (box->rec, "inodes", json_integer ((json_int_t) cfg_u64 ("CAISSON_SANDBOX_INODES")));
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
    json_object_set_new (box->rec, "memoryMb", json_integer ((json_int_t) cfg_u64 ("CAISSON_SANDBOX_MEMORY_MB")));
    json_object_set_new (box->rec, "cpus", json_integer ((json_int_t) cfg_u64 ("CAISSON_SANDBOX_CPUS")));
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

static bool
visible (box_t *b)
{
    return !json_is_true (json_object_get (b->rec, "pool"));
}

/* True when req may act on b: its envelope's user is b's owner (a request
 * with no user is user ""), or an operator's. A record with no owner (one
 * refused on restore) is the operators' alone. */
static bool
owned (box_t *b, const proto_msg_t *req)
{
    if (req->env.op)
        return true;
    const char *owner = json_string_value (json_object_get (b->rec, "user"));
    return owner && !strcmp (owner, req->env.user ? req->env.user : "");
}

static proto_msg_t *
create (sbx_mgr_t *m, const proto_msg_t *req)
{
    const proto_sandbox_create_t *c = &req->body.sandbox_create;
    const char *user = req->env.user ? req->env.user : "";
    size_t mine = 0;
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes))
        if (visible (b) && !strcmp (json_string_value (json_object_get (b->rec, "user")) ?: "", user))
            mine++;
    if (mine >= cfg_u64 ("CAISSON_SANDBOX_MAX_PER_USER"))
        return proto_error_new (req, PROTO_ERR_too_many_sandboxes, "user '%s' already has %zu sandboxes "
                                "(CAISSON_SANDBOX_MAX_PER_USER)", user, mine);
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
    if (c->memory_mb > cfg_u64 ("CAISSON_SANDBOX_MEMORY_MAX_MB") || c->cpus > cfg_u64 ("CAISSON_SANDBOX_CPUS_MAX")
        || c->ttl_seconds > cfg_u64 ("CAISSON_SANDBOX_TTL_MAX_S"))
        return proto_error_new (req, PROTO_ERR_over_limit, "%s: over the operator's maximum",
                                c->memory_mb > cfg_u64 ("CAISSON_SANDBOX_MEMORY_MAX_MB") ? "memory_mb"
                                : c->cpus > cfg_u64 ("CAISSON_SANDBOX_CPUS_MAX") ? "cpus" : "ttl_seconds");
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
        json_object_set_new (box->rec, "memoryMb", json_integer ((json_int_t) (c->memory_mb ?: cfg_u64 ("CAISSON_SANDBOX_MEMORY_MB"))));
        json_object_set_new (box->rec, "cpus", json_integer ((json_int_t) (c->cpus ?: cfg_u64 ("CAISSON_SANDBOX_CPUS"))));
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
    json_object_set_new (box->rec, "expiresAt", json_integer ((json_int_t) ((uint64_t) zclock_time () + ttl * 1000)));
    sbx_gkey_mint (m->gkey, box, req->env.run);
    if (!box->wire && sbx_host_spawn (box)) {
        proto_msg_t *rep = proto_error_new (req, PROTO_ERR_create_failed, "%s",
                                            json_string_value (json_object_get (box->rec, "reason")));
        sbx_host_destroy (box);
        return rep;
    }
    /* Re-send the defaults: a pooled init was configured before its owner was known. */
    if (box->wire)
        sbx_host_configure (box);
    json_object_set_new (box->rec, "status", json_string ("ready"));
    sbx_host_save (box);
    if (allow)
        return sbx_netreq_await (box, req, true);
    /* none with a model key: the proxy serves its gateway path alone (a
     * set it misses is sent again; the create does not wait for it) */
    if (sbx_egress_proxied (box))
        sbx_egress_set (m->egress, box, req, NULL, NULL);
    return sbx_host_info (box, req);
}

static bool
labels_match (box_t *b, json_t *want)
{
    const char *k;
    json_t *v;
    json_t *have = json_object_get (b->rec, "labels");
    json_object_foreach (want, k, v) {
        if (!json_equal (json_object_get (have, k), v))
            return false;
    }
    return true;
}

/* A sandbox.listed entry: the record's public part, keyed by the wire names
 * of sandbox.info's fields (the record keeps the camelCase keys it has
 * always been stored and sealed with). */
static json_t *
list_entry (const json_t *rec)
{
    json_t *o = json_object (), *v;
    const char *key;
    json_object_foreach ((json_t *) rec, key, v) {
        if (!strcmp (key, "envVars") || !strcmp (key, "uid") || !strcmp (key, "gatewayKey")
            || !strcmp (key, "gatewayReason"))
            continue;
        char wire[64];
        size_t n = 0;
        for (const char *c = key; *c && n + 2 < sizeof wire; c++) {
            if (*c >= 'A' && *c <= 'Z' && n) {
                wire[n++] = '_';
                wire[n++] = (char) (*c - 'A' + 'a');
            }
            else
                wire[n++] = *c;
        }
        wire[n] = 0;
        json_object_set (o, wire, v);
    }
    json_object_set_new (o, "workspace", json_string (PROTO_SANDBOX_WORKSPACE));
    return o;
}

static proto_msg_t *
list (sbx_mgr_t *m, const proto_msg_t *req)
{
    const proto_sandbox_list_t *l = &req->body.sandbox_list;
    json_t *want = mpjson_get (&l->labels, 2), *arr = json_array ();
    /* Each instance lists its own (lists ask every instance and merge):
     * an adopted registry's sandboxes through its instance's worker. */
    sbx_home_t *home = sbx_adopt_current (m);
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes)) {
        if (b->home != home || !visible (b) || !owned (b, req)
            || (want && !labels_match (b, want))
            || (l->user && strcmp (l->user, json_string_value (json_object_get (b->rec, "user")) ?: ""))
            || (l->status && strcmp (l->status, json_string_value (json_object_get (b->rec, "status")))))
            continue;
        json_array_append_new (arr, list_entry (b->rec));
    }
    json_decref (want);
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_listed, req);
    mpjson_set (&rep->body.sandbox_listed.sandboxes, arr, 4);
    json_decref (arr);
    return rep;
}

/* True when request was cancelled, through box (an owner can refuse in
 * advance only the requests to their own sandboxes). */
static bool
was_cancelled (box_t *box, const char *request)
{
    sbx_mgr_t *m = box->mgr;
    char key[sizeof m->cancelled[0]];
    snprintf (key, sizeof key, "%s %s", box->id, request);
    for (size_t i = 0; i < sizeof m->cancelled / sizeof m->cancelled[0]; i++)
        if (!strcmp (m->cancelled[i], key))
            return true;
    return false;
}

/* Stops the foreground process a request started. One not forwarded yet
 * is remembered, so that it is refused when it comes; one already
 * answered is a no-op (retries of it get the worker's cached reply). */
static proto_msg_t *
cancel (box_t *box, const proto_msg_t *req)
{
    sbx_mgr_t *m = box->mgr;
    const char *request = req->body.sandbox_exec_cancel.request;
    if (sbx_host_pending (box, request))
        return sbx_host_forward (box, req);
    if (!was_cancelled (box, request)) {
        size_t slots = sizeof m->cancelled / sizeof m->cancelled[0];
        snprintf (m->cancelled[m->cancelled_next++ % slots], sizeof m->cancelled[0], "%s %s",
                  box->id, request);
    }
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_ack, req);
    proto_set_str (&rep->body.sandbox_ack.sandbox_id, box->id);
    json_t *detail = json_pack ("{s:b}", "cancelled", 0);
    mpjson_set (&rep->body.sandbox_ack.detail, detail, 2);
    json_decref (detail);
    return rep;
}

static proto_msg_t *
destroy (box_t *box, const proto_msg_t *req)
{
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_info, req);
    proto_set_str (&rep->body.sandbox_info.sandbox_id, box->id);
    proto_set_str (&rep->body.sandbox_info.status, "destroyed");
    proto_set_str (&rep->body.sandbox_info.workspace, PROTO_SANDBOX_WORKSPACE);
    sbx_host_destroy (box);
    return rep;
}

static proto_msg_t *
set_timeout (box_t *box, const proto_msg_t *req)
{
    uint64_t ttl = req->body.sandbox_set_timeout.ttl_seconds;
    uint64_t max = cfg_u64 ("CAISSON_SANDBOX_TTL_MAX_S");
    if (ttl > max)
        return proto_error_new (req, PROTO_ERR_over_limit, "ttlSeconds: %llu is over the maximum "
                                "%llu", (unsigned long long) ttl, (unsigned long long) max);
    uint64_t expires = (uint64_t) zclock_time () + ttl * 1000;
    json_object_set_new (box->rec, "expiresAt", json_integer ((json_int_t) expires));
    sbx_gkey_context (box->mgr->gkey, box, box->net_run);
    sbx_host_save (box);
    return sbx_host_info (box, req);
}

/* sandbox.pause (pause) and sandbox.resume. */
static proto_msg_t *
freeze (box_t *box, const proto_msg_t *req, bool pause)
{
    const char *status = json_string_value (json_object_get (box->rec, "status"));
    if (strcmp (status, pause ? "ready" : "paused"))
        return proto_error_new (req, PROTO_ERR_bad_state, "sandboxId: %s is %s", box->id, status);
    if (sbx_cgroup_freeze (box->id, pause))
        return proto_error_new (req, PROTO_ERR_unsupported, "sandboxId: no freezer cgroup for %s",
                                box->id);
    json_object_set_new (box->rec, "status", json_string (pause ? "paused" : "ready"));
    sbx_host_save (box);
    return sbx_host_info (box, req);
}

static proto_msg_t *
pause_box (box_t *box, const proto_msg_t *req)
{
    return freeze (box, req, true);
}

static proto_msg_t *
resume_box (box_t *box, const proto_msg_t *req)
{
    return freeze (box, req, false);
}

/* sandbox.exec and sandbox.run_code: forwarded unless cancelled first.
 * A policy sandbox's connections are reported to the run it now works
 * for. */
static proto_msg_t *
start (box_t *box, const proto_msg_t *req)
{
    if (was_cancelled (box, req->env.id))
        return proto_error_new (req, PROTO_ERR_cancelled, "request %s was cancelled before it "
                                "started", req->env.id);
    sbx_egress_context (box->mgr->egress, box, req);
    return sbx_host_forward (box, req);
}

/* The box that id names for req's sender, or NULL with *err set: someone
 * else's sandbox answers as one that does not exist, so its id tells a
 * caller nothing; an id of another manager's answers wrong_instance. */
static box_t *
find (sbx_mgr_t *m, const proto_msg_t *req, const char *id, proto_msg_t **err)
{
    box_t *box = id ? zhashx_lookup (m->boxes, id) : NULL;
    if (box && visible (box) && owned (box, req))
        return box;
    char owner[SANDBOX_ID_SIZE];
    if (!box && !sandbox_id_instance (id, owner, sizeof owner) && !sbx_adopt_serves (m, owner))
        *err = proto_error_new (req, PROTO_ERR_wrong_instance, "sandboxId: %s belongs to "
                                "sandbox-manager instance '%s', not this one ('%s'); send to "
                                "sandbox-manager.%s", id, owner, svc_instance (m->svc), owner);
    else
        *err = proto_error_new (req, PROTO_ERR_not_found, "sandboxId: no sandbox %s", id ? id : "");
    return NULL;
}

typedef proto_msg_t *(box_fn) (box_t *box, const proto_msg_t *req);

static proto_msg_t *
with_box (void *arg, const proto_msg_t *req, const char *id, box_fn *fn)
{
    proto_msg_t *err = NULL;
    box_t *box = find (svc_state ((svc_t *) arg), req, id, &err);
    return box ? fn (box, req) : err;
}

/* One bus handler per request about a sandbox, each reading the id
 * through its own type's body. */
#define ON_BOX(type, fn) \
    static proto_msg_t *on_##type (const proto_msg_t *req, void *arg) \
    { \
        return with_box (arg, req, req->body.type.sandbox_id, fn); \
    }
ON_BOX (sandbox_get, sbx_host_info)
ON_BOX (sandbox_destroy, destroy)
ON_BOX (sandbox_set_timeout, set_timeout)
ON_BOX (sandbox_pause, pause_box)
ON_BOX (sandbox_resume, resume_box)
ON_BOX (sandbox_exec, start)
ON_BOX (sandbox_run_code, start)
ON_BOX (sandbox_exec_cancel, cancel)
ON_BOX (sandbox_exec_list, sbx_host_forward)
ON_BOX (sandbox_exec_kill, sbx_host_forward)
ON_BOX (sandbox_exec_wait, sbx_host_forward)
ON_BOX (sandbox_exec_output, sbx_host_forward)
ON_BOX (sandbox_write_file, sbx_host_forward)
ON_BOX (sandbox_write_files, sbx_host_forward)
ON_BOX (sandbox_read_file, sbx_host_forward)
ON_BOX (sandbox_list_files, sbx_host_forward)
ON_BOX (sandbox_delete_file, sbx_host_forward)
ON_BOX (sandbox_create_directory, sbx_host_forward)
ON_BOX (sandbox_get_file_info, sbx_host_forward)
ON_BOX (sandbox_check_file_exists, sbx_host_forward)
ON_BOX (sandbox_get_file_size, sbx_host_forward)
ON_BOX (sandbox_watch_start, sbx_host_forward)
ON_BOX (sandbox_watch_stop, sbx_host_forward)
ON_BOX (sandbox_net_update, sbx_netreq_update)

static proto_msg_t *
on_sandbox_create (const proto_msg_t *req, void *arg)
{
    return create (svc_state ((svc_t *) arg), req);
}

static proto_msg_t *
on_sandbox_list (const proto_msg_t *req, void *arg)
{
    return list (svc_state ((svc_t *) arg), req);
}

#define ROW(type) { PROTO_##type, on_##type }
const bus_route_t sbx_routes[] = {
    ROW (sandbox_create), ROW (sandbox_list), ROW (sandbox_get), ROW (sandbox_destroy),
    ROW (sandbox_set_timeout), ROW (sandbox_pause), ROW (sandbox_resume), ROW (sandbox_exec),
    ROW (sandbox_run_code), ROW (sandbox_exec_cancel), ROW (sandbox_exec_list),
    ROW (sandbox_exec_kill), ROW (sandbox_exec_wait), ROW (sandbox_exec_output),
    ROW (sandbox_write_file), ROW (sandbox_write_files), ROW (sandbox_read_file),
    ROW (sandbox_list_files), ROW (sandbox_delete_file), ROW (sandbox_create_directory),
    ROW (sandbox_get_file_info), ROW (sandbox_check_file_exists), ROW (sandbox_get_file_size),
    ROW (sandbox_watch_start), ROW (sandbox_watch_stop), ROW (sandbox_net_update),
    BUS_ROUTES_END,
};
