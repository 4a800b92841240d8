/* handler: sandbox-manager's bus requests, one handler per request type
 * (sbx_routes, at the end), each reading the sandbox id through its own
 * type's body; svc's worker answers other types `unknown_type`. Every request naming a sandbox is checked against its owner (the
 * envelope's user at create; operators excepted) and answers `not_found`
 * for anyone else; a list shows only the caller's. Lifecycle requests
 * (get, list, destroy, set_timeout, pause, resume) are answered here
 * from the records (create in sbx_create.c); exec, run_code and the file operations are
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
ON_BOX (sandbox_exec_input, sbx_host_forward)
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
    return sbx_create (svc_state ((svc_t *) arg), req);
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
    ROW (sandbox_exec_input),
    ROW (sandbox_write_file), ROW (sandbox_write_files), ROW (sandbox_read_file),
    ROW (sandbox_list_files), ROW (sandbox_delete_file), ROW (sandbox_create_directory),
    ROW (sandbox_get_file_info), ROW (sandbox_check_file_exists), ROW (sandbox_get_file_size),
    ROW (sandbox_watch_start), ROW (sandbox_watch_stop), ROW (sandbox_net_update),
    BUS_ROUTES_END,
};
