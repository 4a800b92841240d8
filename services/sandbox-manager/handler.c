/* handler: sandbox-manager's bus requests. Every request naming a sandbox
 * is checked against its owner (the envelope's user at create; operators
 * excepted) and answers `not_found` for anyone else; a list shows only the
 * caller's. Lifecycle requests (create, get, list, destroy, set_timeout,
 * pause, resume) are answered here from the records; exec, runCode and the file operations are forwarded to the
 * sandbox's init and answered when it replies (bus_worker_defer), so the
 * loop never waits on a sandbox's process. */
#define _GNU_SOURCE
#include "sbx_mgr.h"
#include "sbx_cgroup.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"

#include <string.h>

/* A host uid of the sandbox range that no sandbox of this manager holds. */
static uint64_t
free_uid (sbx_mgr_t *m)
{
    uint64_t base = cfg_u64 ("CAISSON_SANDBOX_UID_BASE"), count = cfg_u64 ("CAISSON_SANDBOX_UID_COUNT");
    for (uint64_t tries = 0; tries < count; tries++) {
        uint64_t uid = base + m->next_uid++ % count;
        bool used = false;
        for (box_t *b = zhashx_first (m->boxes); b && !used; b = zhashx_next (m->boxes))
            used = (uint64_t) json_integer_value (json_object_get (b->rec, "uid")) == uid;
        if (!used)
            return uid;
    }
    return base + m->next_uid++ % count;
}

static box_t *
box_new (sbx_mgr_t *m)
{
    box_t *box = calloc (1, sizeof *box);
    box->mgr = m;
    box->fd = -1;
    box->spawn_fd = -1;
    char token[CID_SIZE];
    cid_new (token);
    snprintf (box->id, sizeof box->id, "%s-%.12s", svc_instance (m->svc), token + 14);
    for (char *c = box->id + strlen (svc_instance (m->svc)) + 1; *c; c++)
        *c = (char) tolower ((unsigned char) *c);
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
    const char *net = c->network ? c->network : "none";
    if (strcmp (net, "none") && strcmp (net, "host"))
        return proto_error_new (req, PROTO_ERR_bad_network, "network: expected none or host, got '%s'", net);
    if (!strcmp (net, "host") && !cfg_u64 ("CAISSON_SANDBOX_ALLOW_HOST_NET"))
        return proto_error_new (req, PROTO_ERR_forbidden, "network: host is not allowed here "
                                "(CAISSON_SANDBOX_ALLOW_HOST_NET=0)");
    /* The host's network reaches the bus and every loopback service: an
     * operator's choice, never a tenant's, even where it is allowed. */
    if (!strcmp (net, "host") && !req->env.op)
        return proto_error_new (req, PROTO_ERR_forbidden, "network: host is for operators only");
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
    bool defaults = !c->memory_mb && !c->cpus && !strcmp (net, "none");
    box_t *box = defaults ? pool_take (m) : NULL;
    if (!box) {
        box = box_new (m);
        json_object_set_new (box->rec, "memoryMb", json_integer ((json_int_t) (c->memory_mb ?: cfg_u64 ("CAISSON_SANDBOX_MEMORY_MB"))));
        json_object_set_new (box->rec, "cpus", json_integer ((json_int_t) (c->cpus ?: cfg_u64 ("CAISSON_SANDBOX_CPUS"))));
        json_object_set_new (box->rec, "network", json_string (net));
        zhashx_insert (m->boxes, box->id, box);
        box = zhashx_lookup (m->boxes, box->id);
    }
    json_object_del (box->rec, "pool");
    json_object_set_new (box->rec, "name", json_string (c->name ? c->name : ""));
    json_object_set_new (box->rec, "language", json_string (c->language ? c->language : "python"));
    json_object_set_new (box->rec, "user", json_string (user));
    json_object_set_new (box->rec, "labels", labels ? labels : json_object ());
    json_object_set_new (box->rec, "envVars", env ? env : json_object ());
    uint64_t ttl = c->ttl_seconds ? c->ttl_seconds : cfg_u64 ("CAISSON_SANDBOX_TTL_S");
    json_object_set_new (box->rec, "expiresAt", json_integer ((json_int_t) ((uint64_t) zclock_time () + ttl * 1000)));
    if (!box->wire && sbx_host_spawn (box)) {
        proto_msg_t *rep = proto_error_new (req, PROTO_ERR_create_failed, "%s",
                                            json_string_value (json_object_get (box->rec, "reason")));
        sbx_host_destroy (box);
        return rep;
    }
    if (box->wire) {
        /* Re-send the defaults: a pooled init was configured before its owner was known. */
        proto_msg_t *cfgmsg = proto_msg_new (PROTO_sandbox_create, NULL);
        proto_set_str (&cfgmsg->body.sandbox_create.language, json_string_value (json_object_get (box->rec, "language")));
        mpjson_set (&cfgmsg->body.sandbox_create.env_vars, json_object_get (box->rec, "envVars"), 2);
        sbx_wire_send (box->wire, cfgmsg);
        proto_msg_destroy (&cfgmsg);
    }
    json_object_set_new (box->rec, "status", json_string ("ready"));
    sbx_host_save (box);
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
        if (!strcmp (key, "envVars") || !strcmp (key, "uid"))
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
    json_object_set_new (o, "workspace", json_string ("/workspace"));
    return o;
}

static proto_msg_t *
list (sbx_mgr_t *m, const proto_msg_t *req)
{
    const proto_sandbox_list_t *l = &req->body.sandbox_list;
    json_t *want = mpjson_get (&l->labels, 2), *arr = json_array ();
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes)) {
        if (!visible (b) || !owned (b, req) || (want && !labels_match (b, want))
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
lifecycle (box_t *box, const proto_msg_t *req)
{
    const char *status = json_string_value (json_object_get (box->rec, "status"));
    switch (req->type) {
    case PROTO_sandbox_get:
        return sbx_host_info (box, req);
    case PROTO_sandbox_destroy: {
        sbx_host_destroy (box);
        proto_msg_t *rep = proto_msg_new (PROTO_sandbox_info, req);
        proto_set_str (&rep->body.sandbox_info.sandbox_id, req->body.sandbox_destroy.sandbox_id);
        proto_set_str (&rep->body.sandbox_info.status, "destroyed");
        proto_set_str (&rep->body.sandbox_info.workspace, "/workspace");
        return rep;
    }
    case PROTO_sandbox_set_timeout: {
        uint64_t ttl = req->body.sandbox_set_timeout.ttl_seconds;
        if (ttl > cfg_u64 ("CAISSON_SANDBOX_TTL_MAX_S"))
            return proto_error_new (req, PROTO_ERR_over_limit, "ttlSeconds: %llu is over the maximum %llu",
                                    (unsigned long long) ttl, (unsigned long long) cfg_u64 ("CAISSON_SANDBOX_TTL_MAX_S"));
        json_object_set_new (box->rec, "expiresAt", json_integer ((json_int_t) ((uint64_t) zclock_time () + ttl * 1000)));
        break;
    }
    case PROTO_sandbox_pause:
    case PROTO_sandbox_resume: {
        bool pause = req->type == PROTO_sandbox_pause;
        if (strcmp (status, pause ? "ready" : "paused"))
            return proto_error_new (req, PROTO_ERR_bad_state, "sandboxId: %s is %s", box->id, status);
        if (sbx_cgroup_freeze (box->id, pause))
            return proto_error_new (req, PROTO_ERR_unsupported, "sandboxId: no freezer cgroup for %s", box->id);
        json_object_set_new (box->rec, "status", json_string (pause ? "paused" : "ready"));
        break;
    }
    case PROTO_sandbox_exec_cancel:
        return cancel (box, req);
    case PROTO_sandbox_exec:
    case PROTO_sandbox_run_code:
        if (was_cancelled (box, req->env.id))
            return proto_error_new (req, PROTO_ERR_cancelled, "request %s was cancelled before it "
                                    "started", req->env.id);
        return sbx_host_forward (box, req);
    default:
        return sbx_host_forward (box, req);
    }
    sbx_host_save (box);
    return sbx_host_info (box, req);
}

proto_msg_t *
sbx_handle (const proto_msg_t *req, void *arg)
{
    sbx_mgr_t *m = svc_state ((svc_t *) arg);
    if (req->type == PROTO_sandbox_create)
        return create (m, req);
    if (req->type == PROTO_sandbox_list)
        return list (m, req);
    /* Every other sandbox request starts with its sandboxId. */
    const char *name = proto_type_name (req->type);
    if (strncmp (name, "sandbox.", 8))
        return proto_error_new (req, PROTO_ERR_unknown_type, "type: sandbox-manager does not serve '%s'", name);
    const char *id = req->body.sandbox_get.sandbox_id;
    box_t *box = id ? zhashx_lookup (m->boxes, id) : NULL;
    /* Someone else's sandbox answers as one that does not exist, so its
     * id tells a caller nothing. */
    if (box && visible (box) && !owned (box, req))
        return proto_error_new (req, PROTO_ERR_not_found, "sandboxId: no sandbox %s", id);
    if (!box || !visible (box)) {
        const char *inst = svc_instance (m->svc);
        if (id && (strncmp (id, inst, strlen (inst)) || id[strlen (inst)] != '-'))
            return proto_error_new (req, PROTO_ERR_wrong_instance, "sandboxId: %s belongs to another "
                                    "sandbox-manager; send to service sandbox-manager.<instance>", id);
        return proto_error_new (req, PROTO_ERR_not_found, "sandboxId: no sandbox %s", id ? id : "");
    }
    return lifecycle (box, req);
}
