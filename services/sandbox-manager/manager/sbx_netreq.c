/* sbx_netreq: see sbx_netreq.h. A request waiting for the proxy holds
 * its reply slot (bus_worker_defer, through whichever worker it came) and
 * is counted in the manager's net_waiting, so an adopted registry's worker
 * is not let go under it. */
#define _GNU_SOURCE
#include "sbx_netreq.h"
#include "sbx_adopt.h"
#include "sbx_egress.h"
#include "clog.h"
#include "mpjson.h"

#include <string.h>

/* A create or net.update of a policy sandbox, waiting for egress-proxy. */
typedef struct {
    sbx_mgr_t *m;
    char id[SANDBOX_ID_SIZE];
    bus_pending_t *pending;
    bus_worker_t *worker;
    bool fresh;                 /* a create: no answer destroys the sandbox */
} net_wait_t;

/* egress-proxy's answer (or none) to the policy a request waits for. A
 * create fails closed: without the proxy's socket the sandbox is no use
 * to what asked for network, so it goes. */
static void
on_policy (const proto_msg_t *ack, const char *why, void *arg)
{
    net_wait_t *w = arg;
    box_t *box = zhashx_lookup (w->m->boxes, w->id);
    const proto_msg_t *req = bus_pending_request (w->pending);
    proto_msg_t *rep;
    if (ack && box)
        rep = sbx_host_info (box, req);
    else {
        rep = proto_error_new (req, PROTO_ERR_unavailable, "sandboxId: %s: %s%s", w->id,
                               box ? why : "destroyed while its policy was being set",
                               box && w->fresh ? "; the sandbox was destroyed" : "");
        if (box && w->fresh) {
            clog_warn (req->env.corr, "sandbox %s: %s; destroying it (fail closed)", w->id, why);
            sbx_host_destroy (box);
        }
    }
    bus_worker_answer (w->worker, &w->pending, rep);
    w->m->net_waiting--;
    free (w);
}

proto_msg_t *
sbx_netreq_await_slot (box_t *box, const proto_msg_t *req, bool fresh, bus_worker_t *worker,
                       bus_pending_t *pending)
{
    net_wait_t *w = calloc (1, sizeof *w);
    w->m = box->mgr;
    w->fresh = fresh;
    snprintf (w->id, sizeof w->id, "%s", box->id);
    w->pending = pending;
    w->worker = worker;
    if (w->pending && sbx_egress_set (box->mgr->egress, box, req, on_policy, w) == 0) {
        box->mgr->net_waiting++;
        return BUS_DEFERRED;
    }
    proto_msg_t *rep = proto_error_new (req, PROTO_ERR_unavailable, "sandboxId: %s: cannot "
                                        "reach the egress proxy", box->id);
    bool deferred = w->pending != NULL;
    if (deferred)
        bus_worker_answer (w->worker, &w->pending, rep);
    free (w);
    if (fresh)
        sbx_host_destroy (box);
    return deferred ? BUS_DEFERRED : rep;
}

proto_msg_t *
sbx_netreq_await (box_t *box, const proto_msg_t *req, bool fresh)
{
    bus_worker_t *worker;
    bus_pending_t *pending = sbx_adopt_defer (box->mgr, &worker);
    return sbx_netreq_await_slot (box, req, fresh, worker, pending);
}

/* sandbox.net.update: a policy sandbox's rules changed at run time (an
 * approved requestNetworkAccess, an operator). The record is resealed
 * first, so a restart's resync sends what was decided even when the proxy
 * misses this one; the answer waits for the proxy. */
proto_msg_t *
sbx_netreq_update (box_t *box, const proto_msg_t *req)
{
    const proto_sandbox_net_update_t *u = &req->body.sandbox_net_update;
    const char *net = json_string_value (json_object_get (box->rec, "network"));
    if (!net || strcmp (net, "policy"))
        return proto_error_new (req, PROTO_ERR_bad_network, "sandboxId: %s has network %s; "
                                "rules apply to network policy only", box->id, net ? net : "none");
    json_t *add = mpjson_get (&u->allow_add, 2), *rm = mpjson_get (&u->allow_remove, 2);
    json_t *dadd = mpjson_get (&u->deny_add, 2), *allow = NULL, *deny = NULL;
    char why[700];
    int code = sbx_egress_update (json_object_get (box->rec, "networkAllow"),
                                  json_object_get (box->rec, "networkDeny"), add, rm, dadd, &allow,
                                  &deny, why, sizeof why);
    json_decref (add);
    json_decref (rm);
    json_decref (dadd);
    if (code)
        return proto_error_new (req, (proto_ecode_t) code, "%s", why);
    json_object_set_new (box->rec, "networkAllow", allow);
    json_object_set_new (box->rec, "networkDeny", deny);
    sbx_host_save (box);
    clog_info (req->env.corr, "sandbox %s: network rules updated by %s%s (%zu allow, %zu deny): "
               "%s%s%s", box->id, req->env.user ? req->env.user : "",
               req->env.op ? " (operator)" : "", json_array_size (allow), json_array_size (deny),
               u->reason ? u->reason : "", u->tool_call_id ? "; tool call " : "",
               u->tool_call_id ? u->tool_call_id : "");
    return sbx_netreq_await (box, req, false);
}
