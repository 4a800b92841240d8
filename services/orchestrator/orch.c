/* orch: the orchestrator service (see orch.h): answers the runs family.
 * run.start is orch_start.c's; the other requests act on a live run
 * (run.c) or read a stored one (runstore.c). */
#include "orch_int.h"
#include "orch.h"
#include "budgets.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"
#include "policy.h"
#include "runhost.h"
#include "runlease.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when req's user may act on what owner owns: their own, and
 * everything for an operator. Anyone else is told it does not exist. */
static bool
may_act (const proto_msg_t *req, const char *owner)
{
    return req->env.op || strcmp (req->env.user ? req->env.user : "", owner ? owner : "") == 0;
}

/* run.info from a snapshot (a live run's or a stored one). */
static proto_msg_t *
info (const proto_msg_t *req, const json_t *snap, const json_t *pending)
{
    proto_msg_t *rep = proto_msg_new (PROTO_run_info, req);
    proto_run_info_t *b = &rep->body.run_info;
    proto_set_str (&b->run_id, json_string_value (json_object_get (snap, "id")));
    proto_set_str (&b->status, json_string_value (json_object_get (snap, "status")));
    proto_set_str (&b->task, json_string_value (json_object_get (snap, "task")));
    proto_set_str (&b->thread_id, json_string_value (json_object_get (snap, "thread")));
    proto_set_str (&b->model, json_string_value (json_object_get (snap, "model")));
    const char *profile = json_string_value (json_object_get (json_object_get (snap, "profile"),
                                                              "label"));
    proto_set_str (&b->profile, profile ? profile : "builtin");
    proto_set_str (&b->answer, json_string_value (json_object_get (snap, "answer")));
    const char *reason = json_string_value (json_object_get (snap, "reason"));
    proto_set_str (&b->reason, reason && *reason ? reason : NULL);
    if (pending)
        mpjson_set (&b->pending, pending, 32);
    json_t *used = json_object_get (snap, "used"), *tok = json_object_get (snap, "tokens");
    json_t *usage = json_pack ("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "steps",
                               json_object_get (used, "steps"), "toolCalls",
                               json_object_get (used, "toolCalls"), "inputTokens",
                               json_object_get (tok, "input"), "outputTokens",
                               json_object_get (tok, "output"), "cachedTokens",
                               json_object_get (tok, "cached"), "seconds",
                               json_object_get (used, "seconds"));
    mpjson_set (&b->usage, usage, 8);
    json_decref (usage);
    json_t *budgets = json_pack ("{s:O?, s:O?}", "limits", json_object_get (snap, "max"),
                                 "used", used);
    mpjson_set (&b->budgets, budgets, 8);
    json_decref (budgets);
    json_t *policy = json_object_get (snap, "policy"), *none = json_array ();
    json_t *verify = json_object_get (policy, "verify");
    json_t *on_change = json_object_get (policy, "verifyOnChange");
    json_t *latest = json_object_get (snap, "checks");
    json_t *checks = json_pack ("{s:O, s:O, s:O}", "configured", verify ? verify : none,
                                "onChange", on_change ? on_change : none, "latest",
                                latest ? latest : none);
    mpjson_set (&b->checks, checks, 8);
    json_decref (checks);
    json_decref (none);
    return rep;
}

/* run.info for run_id: the live run's state (with the call it awaits
 * when with_pending), else the stored one; not_found when there is none
 * that req's user may see. */
static proto_msg_t *
info_of (orch_t *self, const proto_msg_t *req, const char *run_id, bool with_pending)
{
    run_t *r = runhost_run (self->runs, run_id);
    json_t *snap = r ? runhost_snapshot (self->runs, r) : runstore_load (self->store, run_id);
    if (!snap || !may_act (req, json_string_value (json_object_get (snap, "user")))) {
        json_decref (snap);
        return proto_error_new (req, PROTO_ERR_not_found, "run_id: no run %s", run_id);
    }
    json_t *pending = r && with_pending ? run_pending (r) : NULL;
    proto_msg_t *rep = info (req, snap, pending);
    json_decref (pending);
    json_decref (snap);
    return rep;
}

static proto_msg_t *
get (const proto_msg_t *req, void *arg)
{
    return info_of (svc_state (arg), req, req->body.run_get.run_id, true);
}

static proto_msg_t *
cancel (const proto_msg_t *req, void *arg)
{
    orch_t *self = svc_state (arg);
    const char *id = req->body.run_cancel.run_id;
    run_t *r = runhost_run (self->runs, id);
    if (r && may_act (req, run_user (r)))
        run_end (r, PROTO_RUN_cancelled, "cancelled on request");
    return info_of (self, req, id, false);
}

/* The live run id that req's user may act on, or NULL with *err set:
 * not_found, or conflict for a run that has ended. */
static run_t *
live_run (orch_t *self, const proto_msg_t *req, const char *id, proto_msg_t **err)
{
    run_t *r = runhost_run (self->runs, id);
    if (r && may_act (req, run_user (r)))
        return r;
    json_t *snap = r ? NULL : runstore_load (self->store, id);
    if (r || (snap && !may_act (req, json_string_value (json_object_get (snap, "user")))))
        *err = proto_error_new (req, PROTO_ERR_not_found, "run_id: no run %s", id);
    else
        *err = proto_error_new (req, snap ? PROTO_ERR_conflict : PROTO_ERR_not_found,
                                "run_id: run %s is %s", id,
                                snap ? json_string_value (json_object_get (snap, "status"))
                                     : "unknown");
    json_decref (snap);
    return NULL;
}

static proto_msg_t *
decide (const proto_msg_t *req, void *arg, const char *run_id, const char *call_id,
        bool approve, const char *reason)
{
    orch_t *self = svc_state (arg);
    proto_msg_t *err = NULL;
    run_t *r = live_run (self, req, run_id, &err);
    char why[256];
    if (!r)
        return err;
    if (run_decide_as (r, req->env.user, call_id, approve, reason, why, sizeof why))
        return proto_error_new (req, PROTO_ERR_conflict, "%s", why);
    return info_of (self, req, run_id, false);
}

static proto_msg_t *
approve (const proto_msg_t *req, void *arg)
{
    const proto_run_approve_t *b = &req->body.run_approve;
    return decide (req, arg, b->run_id, b->tool_call_id, true, b->reason);
}

static proto_msg_t *
decline (const proto_msg_t *req, void *arg)
{
    const proto_run_decline_t *b = &req->body.run_decline;
    return decide (req, arg, b->run_id, b->tool_call_id, false, b->reason);
}

static proto_msg_t *
tool_result (const proto_msg_t *req, void *arg)
{
    orch_t *self = svc_state (arg);
    const proto_run_tool_result_t *t = &req->body.run_tool_result;
    proto_msg_t *err = NULL;
    run_t *r = live_run (self, req, t->run_id, &err);
    char why[256];
    if (!r)
        return err;
    if (run_tool_result (r, t->tool_call_id, t->content, t->failed, why, sizeof why))
        return proto_error_new (req, PROTO_ERR_conflict, "%s", why);
    return info_of (self, req, t->run_id, false);
}

static int
setup (svc_t *svc)
{
    orch_t *self = calloc (1, sizeof *self);
    if (!self)
        return -1;
    self->svc = svc;
    self->defaults = (run_budgets_t) { cfg_u64 ("CAISSON_RUN_MAX_STEPS"),
                                       cfg_u64 ("CAISSON_RUN_MAX_TOOL_CALLS"),
                                       cfg_u64 ("CAISSON_RUN_MAX_SECONDS"),
                                       cfg_u64 ("CAISSON_RUN_MAX_TOKENS") };
    svc_set_state (svc, self);
    /* the deployment's own policy (CAISSON_RUN_VERIFY_DEFAULT's checks):
     * refused here, not at every run.start */
    char why[256];
    json_t *floor = policy_effective (NULL, false, why, sizeof why);
    if (!floor) {
        clog_error (NULL, "cannot start: %s", why);
        return -1;
    }
    json_decref (floor);
    char dir[4096];
    if (svc_store_dir (svc, dir, sizeof dir) || !(self->store = runstore_new (dir))
        || !(self->runs = runhost_new (svc, self->store)))
        return -1;
    if (runhost_resume (self->runs))
        return -1;
    /* a store of its own: its lease, and the stores of those gone for good */
    if (cfg_u64 ("CAISSON_STORE_PER_INSTANCE")
        && !(self->lease = runlease_new (svc, self->store, self->runs)))
        return -1;
    return 0;
}

static void
teardown (svc_t *svc)
{
    orch_t *self = svc_state (svc);
    if (!self)
        return;
    runlease_destroy (&self->lease);
    runhost_destroy (&self->runs);
    runstore_destroy (&self->store);
    free (self);
}

/* thread.drop: a thread was deleted (event-log asks, as its owner or
 * an operator): its conversation and owner are forgotten, so the same id
 * starts afresh. Another user's thread is answered as if it did not
 * exist. */
static proto_msg_t *
drop (const proto_msg_t *req, void *arg)
{
    orch_t *self = svc_state (arg);
    const char *thread = req->body.thread_drop.thread_id;
    int rc = runstore_drop_thread (self->store, thread, req->env.user, req->env.op);
    if (rc < 0)
        return proto_error_new (req, PROTO_ERR_store_failed, "thread %s: not dropped", thread);
    if (rc == 2)
        return proto_error_new (req, PROTO_ERR_not_found, "thread_id: no thread %s", thread);
    proto_msg_t *rep = proto_msg_new (PROTO_thread_dropped, req);
    proto_set_str (&rep->body.thread_dropped.thread_id, thread);
    rep->body.thread_dropped.had = rc == 1;
    clog_info (NULL, "thread %s dropped%s", thread, rc == 1 ? "" : " (nothing kept)");
    return rep;
}

int
orch_main (int argc, char **argv)
{
    /* one handler per request, each reading its own body member */
    static const bus_route_t routes[] = {
        { PROTO_run_start, orch_start },
        { PROTO_run_get, get },
        { PROTO_run_cancel, cancel },
        { PROTO_run_approve, approve },
        { PROTO_run_decline, decline },
        { PROTO_run_tool_result, tool_result },
        { PROTO_thread_drop, drop },
        BUS_ROUTES_END,
    };
    static const svc_def_t def = {
        .name = "orchestrator",
        .summary = "the agent loop: model calls, tool dispatch, approvals and budgets",
        .routes = routes,
        .setup = setup,
        .teardown = teardown,
    };
    return svc_main (argc, argv, &def);
}
