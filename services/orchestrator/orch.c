/* orch: the orchestrator service (see orch.h). Each run lives in a slot
 * that holds what the run must not see: its model call, its tool request,
 * its timers, the causation id of its next event. The slot is the run's
 * host arg: the run's actions (s_host) land here, and the answers (model
 * turns, tool results, timers, bus requests) go back to it as events. */
#include "orch.h"
#include "budgets.h"
#include "cfg.h"
#include "client_tools.h"
#include "clog.h"
#include "llm_client.h"
#include "mpjson.h"
#include "policy.h"
#include "prompt.h"
#include "rpc.h"
#include "run.h"
#include "runstore.h"
#include "svc.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLUSH_MS 20             /* snapshots of a run's transitions are grouped this long */

typedef struct _orch_t orch_t;

typedef struct {
    orch_t *orch;
    run_t *run;
    const llm_provider_t *provider;
    const char *model_name;     /* inside the run's model */
    llm_req_t *llm;
    char tool_req[CID_SIZE];    /* tools.call in flight, or "" */
    int wall_timer, wake_timer;
    bool waiting;               /* for the catalogue */
    char last_event[CID_SIZE];  /* causation of the next event */
} slot_t;

struct _orch_t {
    svc_t *svc;
    zloop_t *loop;
    rpc_t *rpc;
    llm_client_t *llm;
    runstore_t *store;
    zhashx_t *runs;             /* id -> slot_t *, the runs in flight */
    zhashx_t *dirty;            /* id -> slot_t *, to snapshot at the next flush */
    int flush_timer;
    /* the catalogue: [{name, description?, inputSchema?, mutates?, runsTests?}] */
    json_t *tools;
    bool catalogue_pending;
    zlist_t *waiting;           /* slots waiting for the catalogue */
    zlist_t *starting;          /* run.starts waiting for run_started to be stored */
    run_budgets_t defaults;
};

static const run_host_t s_host;

static slot_t *
slot_new (orch_t *self)
{
    slot_t *s = calloc (1, sizeof *s);
    if (s) {
        s->orch = self;
        s->wall_timer = -1;
        s->wake_timer = -1;
    }
    return s;
}

static void
slot_destroy (slot_t **s_p)
{
    slot_t *s = *s_p;
    if (!s)
        return;
    orch_t *self = s->orch;
    llm_req_cancel (&s->llm);
    if (s->tool_req[0])
        rpc_forget (self->rpc, s->tool_req);
    if (s->wall_timer >= 0)
        zloop_timer_end (self->loop, s->wall_timer);
    if (s->wake_timer >= 0)
        zloop_timer_end (self->loop, s->wake_timer);
    if (s->run && zhashx_lookup (self->dirty, run_id (s->run)) == s)
        zhashx_delete (self->dirty, run_id (s->run));
    zlist_remove (self->waiting, s);
    run_destroy (&s->run);
    free (s);
    *s_p = NULL;
}

static void
drop_slot (void **item)
{
    slot_destroy ((slot_t **) item);
}

/* ---- events out ---- */

/* Appends one event of the slot's run (data stolen) to event-log, with
 * fn told of event-log's answer when it is not NULL. */
static void
emit (slot_t *s, const char *kind, json_t *data, rpc_done_fn *fn, void *arg)
{
    proto_msg_t *msg = proto_msg_new (PROTO_event_append, NULL);
    const char *id = run_id (s->run), *user = run_user (s->run);
    if (msg && data) {
        proto_set_str (&msg->env.corr, id);
        proto_set_str (&msg->env.run, id);
        proto_set_str (&msg->env.cause, s->last_event[0] ? s->last_event : NULL);
        proto_set_str (&msg->env.user, *user ? user : NULL);
        proto_set_str (&msg->body.event_append.kind, kind);
        mpjson_set (&msg->body.event_append.data, data, 64);
        snprintf (s->last_event, sizeof s->last_event, "%s", msg->env.id);
        rpc_call (s->orch->rpc, "event-log", msg, 5000, 3, fn, arg);
    }
    proto_msg_destroy (&msg);
    json_decref (data);
}

/* Publishes a text delta (not stored) on run.<id>.text_delta. */
static void
on_delta (const char *text, size_t len, void *arg)
{
    slot_t *s = arg;
    proto_msg_t *msg = proto_msg_new (PROTO_event, NULL);
    json_t *data = json_pack ("{s:s%}", "text", text, len);
    const char *id = run_id (s->run);
    if (msg && data) {
        proto_set_str (&msg->env.corr, id);
        proto_set_str (&msg->env.run, id);
        proto_set_str (&msg->env.cause, s->last_event[0] ? s->last_event : NULL);
        proto_set_str (&msg->body.event.kind, "text_delta");
        mpjson_set (&msg->body.event.data, data, 64);
        char topic[256];
        snprintf (topic, sizeof topic, "run.%s.text_delta", id);
        bus_pub_send (svc_pub (s->orch->svc), topic, msg);
    }
    proto_msg_destroy (&msg);
    json_decref (data);
}

/* ---- the catalogue ---- */

static void
on_catalogue (const proto_msg_t *reply, const char *error, void *arg)
{
    orch_t *self = arg;
    self->catalogue_pending = false;
    char why[256] = "";
    json_t *list = NULL;
    if (!reply)
        snprintf (why, sizeof why, "%s", error);
    else if (reply->type != PROTO_tools_catalogue)
        snprintf (why, sizeof why, "tools.list failed: %s",
                  reply->type == PROTO_error ? reply->body.error.message : "unexpected reply");
    else
        list = mpjson_decode (reply->body.tools_catalogue.tools.data,
                              reply->body.tools_catalogue.tools.size, 64, why, sizeof why);
    if (json_is_array (list)) {
        json_decref (self->tools);
        self->tools = json_array ();
        size_t i;
        json_t *t;
        json_array_foreach (list, i, t) {
            const char *name = json_string_value (json_object_get (t, "name"));
            if (!name)
                continue;
            /* what the model sees, and the flags the run judges calls by */
            json_t *tool = json_pack ("{s:s, s:O?, s:O?}", "name", name, "description",
                                      json_object_get (t, "description"), "inputSchema",
                                      json_object_get (t, "inputSchema"));
            if (json_is_true (json_object_get (t, "mutates")))
                json_object_set_new (tool, "mutates", json_true ());
            if (json_is_true (json_object_get (t, "runsTests")))
                json_object_set_new (tool, "runsTests", json_true ());
            json_array_append_new (self->tools, tool);
        }
        clog_info (NULL, "tool catalogue: %zu tools", json_array_size (self->tools));
    }
    json_decref (list);
    slot_t *s;
    while ((s = zlist_pop (self->waiting))) {
        s->waiting = false;
        if (self->tools)
            run_advance (s->run);
        else {
            char reason[320];
            snprintf (reason, sizeof reason, "no tool catalogue: %s", why);
            run_end (s->run, "failed", reason);
        }
    }
}

/* ---- the run's host ---- */

static int64_t host_now_ms (void *arg) { (void) arg; return zclock_time (); }
static int64_t host_clock_us (void *arg) { (void) arg; return zclock_usecs (); }

static const json_t *
host_catalogue (void *arg)
{
    slot_t *s = arg;
    orch_t *self = s->orch;
    if (self->tools)
        return self->tools;
    if (!s->waiting) {
        s->waiting = true;
        zlist_append (self->waiting, s);
    }
    if (!self->catalogue_pending) {
        proto_msg_t *req = proto_msg_new (PROTO_tools_list, NULL);
        if (req && rpc_call (self->rpc, "tool-runner", req, 5000, 2, on_catalogue, self) == 0)
            self->catalogue_pending = true;
        proto_msg_destroy (&req);
    }
    return NULL;
}

static void
on_model (const llm_result_t *res, void *arg)
{
    slot_t *s = arg;
    s->llm = NULL;
    if (res->turn)
        run_model_done (s->run, res->turn);
    else
        run_model_failed (s->run, res->attempts, res->error);
}

static int
host_model (void *arg, const json_t *messages, const json_t *tools, uint64_t max_out,
            uint64_t deadline_ms)
{
    slot_t *s = arg;
    char *body = s->provider->proto == LLM_ANTHROPIC
        ? llm_anthropic_request (s->model_name, prompt_system (), messages, tools, max_out)
        : llm_openai_request (s->model_name, prompt_system (), messages, tools, 0);
    uint64_t deadline = (uint64_t) zclock_mono () + (deadline_ms - (uint64_t) zclock_time ());
    s->llm = body ? llm_client_post (s->orch->llm, s->provider, body, deadline, on_delta,
                                     on_model, s)
                  : NULL;
    free (body);
    return s->llm ? 0 : -1;
}

static void
host_model_cancel (void *arg)
{
    slot_t *s = arg;
    llm_req_cancel (&s->llm);
}

/* True when tool-runner had no room for the call: a `busy` error, or a
 * `busy` result (the call still runs on an instance that went away). */
static bool
busy (const proto_msg_t *reply, const json_t *result)
{
    if (reply && reply->type == PROTO_error)
        return strcmp (reply->body.error.code, "busy") == 0;
    if (!reply || reply->type != PROTO_tools_result || reply->body.tools_result.ok)
        return false;
    return strcmp (json_string_value (json_object_get (json_object_get (result, "error"),
                                                       "code")) ?: "", "busy") == 0;
}

static json_t *
error_result (const char *code, const char *message)
{
    return json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code", code, "message",
                      message);
}

static void
on_tool (const proto_msg_t *reply, const char *error, void *arg)
{
    slot_t *s = arg;
    s->tool_req[0] = '\0';
    json_t *result = NULL;
    bool ok = false;
    uint64_t us = 0;
    const char *served_by = NULL;
    if (!reply)
        result = error_result ("tool_runner_unavailable", error);
    else if (reply->type == PROTO_error)
        result = error_result (reply->body.error.code, reply->body.error.message);
    else if (reply->type == PROTO_tools_result) {
        const proto_tools_result_t *b = &reply->body.tools_result;
        char why[128];
        result = mpjson_decode (b->result.data, b->result.size, 64, why, sizeof why);
        ok = b->ok;
        us = b->duration_us;
        served_by = b->instance;
    }
    run_tool_done (s->run, ok, busy (reply, result), result, us / 1000, served_by);
}

static int
host_tool (void *arg, const char *call_id, const char *name, const json_t *args,
           uint64_t timeout_ms)
{
    slot_t *s = arg;
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    const char *id = run_id (s->run), *user = run_user (s->run);
    if (req) {
        proto_set_str (&req->env.corr, id);
        proto_set_str (&req->env.run, id);
        proto_set_str (&req->env.cause, s->last_event[0] ? s->last_event : NULL);
        /* the run's starter: tool-runner acts on their sandboxes only */
        proto_set_str (&req->env.user, *user ? user : NULL);
        req->env.op = run_op (s->run);
        proto_set_str (&req->body.tools_call.name, name);
        proto_set_str (&req->body.tools_call.call_id, call_id);
        req->body.tools_call.timeout_ms = timeout_ms;
        mpjson_set (&req->body.tools_call.args, args, 64);
    }
    /* resent every 10 s until the budget ends: a lost reply costs 10 s,
     * and tool-runner answers a resent id from its cache */
    int retries = (int) (timeout_ms / 10000 < 360 ? timeout_ms / 10000 : 360);
    int rc = req ? rpc_call (s->orch->rpc, "tool-runner", req, 10000, retries, on_tool, s) : -1;
    if (rc == 0)
        snprintf (s->tool_req, sizeof s->tool_req, "%s", req->env.id);
    proto_msg_destroy (&req);
    return rc ? -1 : 0;
}

/* Forgets the request, so tool-runner's late answer is ignored, and
 * publishes tools.cancel: whichever tool-runner runs it stops it. */
static void
host_tool_cancel (void *arg, const char *call_id, const char *reason)
{
    slot_t *s = arg;
    if (s->tool_req[0])
        rpc_forget (s->orch->rpc, s->tool_req);
    s->tool_req[0] = '\0';
    proto_msg_t *msg = proto_msg_new (PROTO_tools_cancel, NULL);
    char topic[256];
    snprintf (topic, sizeof topic, "tools.cancel.%s", call_id);
    if (!msg || proto_set_str (&msg->body.tools_cancel.call_id, call_id)
        || proto_set_str (&msg->body.tools_cancel.reason, reason)
        || bus_pub_send (svc_pub (s->orch->svc), topic, msg))
        clog_error (NULL, "cannot publish %s", topic);
    proto_msg_destroy (&msg);
}

static int
on_wake (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    slot_t *s = arg;
    s->wake_timer = -1;
    run_wake (s->run);
    return 0;
}

static int
host_wake (void *arg, uint64_t delay_ms)
{
    slot_t *s = arg;
    s->wake_timer = zloop_timer (s->orch->loop, delay_ms, 1, on_wake, s);
    return s->wake_timer < 0 ? -1 : 0;
}

static void
host_wake_cancel (void *arg)
{
    slot_t *s = arg;
    if (s->wake_timer >= 0)
        zloop_timer_end (s->orch->loop, s->wake_timer);
    s->wake_timer = -1;
}

static void
host_emit (void *arg, const char *kind, json_t *data)
{
    emit (arg, kind, data, NULL, NULL);
}

/* The run's snapshot as stored: its JSON form and the instance that owns it. */
static json_t *
snapshot (const slot_t *s)
{
    json_t *snap = run_to_json (s->run);
    json_object_set_new (snap, "owner", json_string (svc_instance (s->orch->svc)));
    return snap;
}

/* A live run's snapshot waits for the next flush (a run that moved three
 * times meanwhile is written once); a finished one is staged at once,
 * since the run is about to be freed. */
static void
host_save (void *arg)
{
    slot_t *s = arg;
    orch_t *self = s->orch;
    const char *id = run_id (s->run);
    if (run_live (s->run)) {
        zhashx_update (self->dirty, id, s);
        return;
    }
    zhashx_delete (self->dirty, id);
    json_t *snap = snapshot (s);
    if (!snap || runstore_put (self->store, id, snap, false))
        clog_error (id, "cannot save the run's last state");
    json_decref (snap);
}

/* A run ended: a completed one leaves its conversation to its thread;
 * its snapshot is staged, and it leaves memory. */
static void
host_ended (void *arg)
{
    slot_t *s = arg;
    orch_t *self = s->orch;
    if (strcmp (run_status (s->run), "completed") == 0
        && runstore_save_thread (self->store, run_thread (s->run), run_messages (s->run)))
        clog_error (run_id (s->run), "cannot keep the thread's conversation");
    zhashx_delete (self->runs, run_id (s->run));
}

static const run_host_t s_host = {
    host_now_ms, host_clock_us, host_catalogue, host_model, host_model_cancel, host_tool,
    host_tool_cancel, host_wake, host_wake_cancel, host_emit, host_save, host_ended,
};

static int
on_flush (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    orch_t *self = arg;
    for (slot_t *s = zhashx_first (self->dirty); s; s = zhashx_next (self->dirty)) {
        json_t *snap = snapshot (s);
        if (!snap || runstore_put (self->store, run_id (s->run), snap, true))
            clog_error (run_id (s->run), "cannot save the run's state");
        json_decref (snap);
    }
    zhashx_purge (self->dirty);
    runstore_flush (self->store);
    return 0;
}

static int
on_wall (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    slot_t *s = arg;
    s->wall_timer = -1;
    run_deadline_passed (s->run);
    return 0;
}

/* Takes the slot into the running set with its wall-clock timer. */
static void
adopt (orch_t *self, slot_t *s)
{
    zhashx_update (self->runs, run_id (s->run), s);
    int64_t left = run_deadline (s->run) - zclock_time ();
    s->wall_timer = zloop_timer (self->loop, left > 0 ? (size_t) left : 0, 1, on_wall, s);
}


/* ---- requests ---- */

/* The model to use when the request names none. */
static const char *
default_model (void)
{
    const char *m = cfg_str ("MODEL");
    if (*m)
        return m;
    const llm_provider_t *p = llm_provider_configured ();
    if (p && strcmp (p->name, "anthropic") == 0)
        return "anthropic/claude-sonnet-4-5";
    if (p && strcmp (p->name, "openai") == 0)
        return "openai/gpt-4o-mini";
    return "replay/demo";
}

/* True when req's user may act on what owner owns: their own, and
 * everything for an operator. Anyone else is told it does not exist. */
static bool
may_act (const proto_msg_t *req, const char *owner)
{
    return req->env.op || strcmp (req->env.user ? req->env.user : "", owner ? owner : "") == 0;
}

static json_t *
decode_map (const proto_bytes_t *f, const char *field, char *why, size_t whylen)
{
    if (!f->size)
        return NULL;
    json_t *v = mpjson_decode (f->data, f->size, 32, why, whylen);
    if (!json_is_object (v)) {
        json_decref (v);
        snprintf (why, whylen, "%s: expected a map", field);
        return json_false ();
    }
    return v;
}

/* A run.start waiting for its run_started to be stored. */
typedef struct {
    slot_t *slot;
    bus_pending_t *pending;
} starting_t;

/* event-log answered run_started: the run goes on and run.start is
 * answered, or (not stored) the run is dropped and run.start refused
 * with event-log's reason, e.g. store_full. */
static void
on_started (const proto_msg_t *reply, const char *error, void *arg)
{
    starting_t *st = arg;
    slot_t *s = st->slot;
    orch_t *self = s->orch;
    run_t *r = s->run;
    zlist_remove (self->starting, st);
    const proto_msg_t *req = bus_pending_request (st->pending);
    proto_msg_t *rep;
    if (reply && reply->type == PROTO_event_ack) {
        clog_info (run_id (r), "run started: model %s, thread %s", run_model (r), run_thread (r));
        adopt (self, s);
        host_save (s);
        rep = proto_msg_new (PROTO_run_started, req);
        proto_set_str (&rep->body.run_started.run_id, run_id (r));
        proto_set_str (&rep->body.run_started.thread_id, run_thread (r));
        proto_set_str (&rep->body.run_started.model, run_model (r));
        bus_worker_answer (svc_worker (self->svc), &st->pending, rep);
        run_advance (r);
    }
    else {
        const char *code = reply && reply->type == PROTO_error ? reply->body.error.code
                                                               : "unavailable";
        const char *why = reply && reply->type == PROTO_error ? reply->body.error.message
                        : error ? error : "event-log answered with an unexpected message";
        clog_error (run_id (r), "run not started: its first event was not stored: %s: %s",
                    code, why);
        /* event-log's code is passed on; one this build does not declare
         * (a newer peer's) becomes `unavailable`, as no reply does */
        proto_ecode_t ecode = proto_error_lookup (code);
        rep = proto_error_new (req, ecode < PROTO_ERR_COUNT ? ecode : PROTO_ERR_unavailable,
                               "the run was not started: its first event could not be "
                               "stored: %s", why);
        bus_worker_answer (svc_worker (self->svc), &st->pending, rep);
        slot_destroy (&s);
    }
    free (st);
}

/* How many runs of user's (NULL: "") are live here: in flight, or
 * waiting for their run_started to be stored. */
static size_t
live_runs_of (orch_t *self, const char *user)
{
    size_t n = 0;
    user = user ? user : "";
    for (slot_t *s = zhashx_first (self->runs); s; s = zhashx_next (self->runs))
        n += !strcmp (run_user (s->run), user);
    for (starting_t *st = zlist_first (self->starting); st; st = zlist_next (self->starting))
        n += !strcmp (run_user (st->slot->run), user);
    return n;
}

/* run.start's choices checked: the effective policy (new) and client
 * tools (new, or NULL), or NULL with why filled. */
static json_t *
start_choices (orch_t *self, const proto_msg_t *req, run_budgets_t *max, json_t **client_tools,
               char *why, size_t whylen)
{
    const proto_run_start_t *b = &req->body.run_start;
    json_t *budgets = decode_map (&b->budgets, "budgets", why, whylen);
    json_t *policy = decode_map (&b->policy, "policy", why, whylen);
    *client_tools = NULL;
    if (!json_is_false (budgets) && !json_is_false (policy) && b->client_tools.size) {
        json_t *list = mpjson_decode (b->client_tools.data, b->client_tools.size, 32, why,
                                      whylen);
        /* tool-runner's names when the catalogue is loaded; a clash found
         * only once it loads fails the run (run.c, call_model) */
        *client_tools = list ? client_tools_check (list, self->tools, why, whylen) : NULL;
        json_decref (list);
        if (!*client_tools)
            *client_tools = json_false ();
    }
    json_t *effective = NULL;
    if (!json_is_false (budgets) && !json_is_false (policy) && !json_is_false (*client_tools)
        && budgets_within (budgets, &self->defaults, max, why, whylen) == 0)
        effective = policy_effective (policy, req->env.op, why, whylen);
    json_decref (budgets);
    json_decref (policy);
    if (!effective) {
        json_decref (*client_tools);
        *client_tools = NULL;
    }
    return effective;
}

static proto_msg_t *
start (const proto_msg_t *req, void *arg)
{
    orch_t *self = svc_state (arg);
    const proto_run_start_t *b = &req->body.run_start;
    const char *model = b->model && *b->model ? b->model : default_model ();
    const char *name;
    const llm_provider_t *p = llm_provider_find (model, &name);
    if (!p || !*name)
        return proto_error_new (req, PROTO_ERR_bad_value, "model: unknown provider in '%s' "
                                "(expected provider/model, e.g. openai/gpt-4o-mini)", model);
    /* the deployment's default provider, or one it gave a key or a URL:
     * never a default URL nobody chose (llamacpp's is ui-bridge's port) */
    const llm_provider_t *own = llm_provider_find (default_model (), NULL);
    if (p != own && !llm_provider_set_up (p))
        return proto_error_new (req, PROTO_ERR_bad_value, "model: provider '%.*s' is not set "
                                "up in this deployment (no key or URL in its environment)",
                                (int) (name - 1 - model), model);
    char why[256] = "";
    run_budgets_t max = self->defaults;
    json_t *client_tools;
    json_t *effective = start_choices (self, req, &max, &client_tools, why, sizeof why);
    if (!effective)
        return proto_error_new (req, PROTO_ERR_bad_value, "%s", why);
    size_t live = req->env.op ? 0 : live_runs_of (self, req->env.user);
    if (live >= cfg_u64 ("CAISSON_RUN_MAX_LIVE_PER_USER")) {
        json_decref (effective);
        json_decref (client_tools);
        return proto_error_new (req, PROTO_ERR_limit, "user '%s' has %zu live runs, the most "
                                "one user may (CAISSON_RUN_MAX_LIVE_PER_USER): wait for one "
                                "to end, or cancel one", req->env.user ? req->env.user : "",
                                live);
    }
    char id[CID_SIZE];
    cid_new (id);
    const char *thread = b->thread_id && *b->thread_id ? b->thread_id : id;
    int claim = runstore_claim_thread (self->store, thread, req->env.user, req->env.op);
    if (claim) {
        json_decref (effective);
        json_decref (client_tools);
        /* another user's thread is answered as if it did not exist */
        return claim > 0 ? proto_error_new (req, PROTO_ERR_not_found, "thread_id: no thread %s",
                                            thread)
                         : proto_error_new (req, PROTO_ERR_store_failed, "thread_id: the "
                                            "thread's owner could not be recorded");
    }
    json_t *history = runstore_thread (self->store, thread);
    run_spec_t spec = { id, thread, model, req->env.user, b->task, req->env.op, history,
                        effective, client_tools, max, zclock_time () };
    slot_t *s = slot_new (self);
    if (s)
        s->run = run_new (&s_host, s, &spec);
    json_decref (history);
    json_decref (client_tools);
    /* answered once run_started is stored: a run event-log cannot keep
     * is refused, never acknowledged and then lost */
    starting_t *st = s && s->run ? calloc (1, sizeof *st) : NULL;
    if (st)
        st->pending = bus_worker_defer (svc_worker (self->svc));
    if (!st || !st->pending) {
        free (st);
        slot_destroy (&s);
        json_decref (effective);
        return NULL;
    }
    s->provider = llm_provider_find (run_model (s->run), &s->model_name);
    snprintf (s->last_event, sizeof s->last_event, "%s", req->env.id);
    st->slot = s;
    zlist_append (self->starting, st);
    json_t *data = json_pack ("{s:s, s:s?, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I}, s:O}",
                              "task", b->task, "user", req->env.user, "threadId", thread,
                              "model", model, "orchestrator", svc_instance (self->svc),
                              "promptVersion", PROMPT_VERSION, "budgets", "steps",
                              (json_int_t) max.steps, "toolCalls", (json_int_t) max.tool_calls,
                              "wallSeconds", (json_int_t) max.seconds, "tokens",
                              (json_int_t) max.tokens, "policy", effective);
    json_decref (effective);
    emit (s, "run_started", data, on_started, st);
    return BUS_DEFERRED;
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
    return rep;
}

/* run.info for run_id: the live run's state (with the call it awaits
 * when with_pending), else the stored one; not_found when there is none
 * that req's user may see. */
static proto_msg_t *
info_of (orch_t *self, const proto_msg_t *req, const char *run_id, bool with_pending)
{
    slot_t *s = zhashx_lookup (self->runs, run_id);
    json_t *snap = s ? snapshot (s) : runstore_load (self->store, run_id);
    if (!snap || !may_act (req, json_string_value (json_object_get (snap, "user")))) {
        json_decref (snap);
        return proto_error_new (req, PROTO_ERR_not_found, "run_id: no run %s", run_id);
    }
    json_t *pending = s && with_pending ? run_pending (s->run) : NULL;
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
    slot_t *s = zhashx_lookup (self->runs, id);
    if (s && may_act (req, run_user (s->run)))
        run_end (s->run, "cancelled", "cancelled on request");
    return info_of (self, req, id, false);
}

/* The live run id that req's user may act on, or NULL with *err set:
 * not_found, or conflict for a run that has ended. */
static run_t *
live_run (orch_t *self, const proto_msg_t *req, const char *id, proto_msg_t **err)
{
    slot_t *s = zhashx_lookup (self->runs, id);
    if (s && may_act (req, run_user (s->run)))
        return s->run;
    json_t *snap = s ? NULL : runstore_load (self->store, id);
    if (s || (snap && !may_act (req, json_string_value (json_object_get (snap, "user")))))
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
    if (run_decide (r, call_id, approve, reason, why, sizeof why))
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

static proto_msg_t *
handle (const proto_msg_t *req, void *arg)
{
    switch (req->type) {
        case PROTO_run_start: return start (req, arg);
        case PROTO_run_get: return get (req, arg);
        case PROTO_run_cancel: return cancel (req, arg);
        case PROTO_run_approve: return approve (req, arg);
        case PROTO_run_decline: return decline (req, arg);
        case PROTO_run_tool_result: return tool_result (req, arg);
        default:
            return proto_error_new (req, PROTO_ERR_unknown_type, "orchestrator does not "
                                    "answer %s", proto_type_name (req->type));
    }
}

/* ---- restart ---- */

/* Resumes the unfinished runs of the store this instance owns.
 * Instances that share the store have stable ids (the launcher's slots,
 * a container's host name) and resume only the runs they started, since
 * a run is addressed to its owner (runroute.h). A process with a random
 * id is alone with its store and resumes every run, whoever started it. */
static int
resume_all (orch_t *self)
{
    zlist_t *ids = runstore_live (self->store);
    if (!ids)
        return -1;
    bool shared = *cfg_str ("CAISSON_INSTANCE") != '\0';
    for (char *id = zlist_first (ids); id; id = zlist_next (ids)) {
        json_t *snap = runstore_load (self->store, id);
        const char *owner = json_string_value (json_object_get (snap, "owner"));
        if (!snap || (shared && owner && strcmp (owner, svc_instance (self->svc)) != 0)) {
            json_decref (snap);
            continue;
        }
        char why[256];
        slot_t *s = slot_new (self);
        if (s && !(s->run = run_from_json (&s_host, s, snap, why, sizeof why))) {
            clog_error (id, "cannot resume the run: its snapshot is malformed: %s", why);
            slot_destroy (&s);
        }
        json_decref (snap);
        if (!s)
            continue;
        adopt (self, s);
        s->provider = llm_provider_find (run_model (s->run), &s->model_name);
        if (!s->provider) {
            run_end (s->run, "orchestrator_restarted", "the run's model is no longer known");
            continue;
        }
        clog_info (id, "resumed after a restart (%s)", run_status (s->run));
        emit (s, "resumed", json_pack ("{s:s}", "status", run_status (s->run)), NULL, NULL);
        run_advance (s->run);
    }
    zlist_destroy (&ids);
    return 0;
}

static int
setup (svc_t *svc)
{
    orch_t *self = calloc (1, sizeof *self);
    if (!self)
        return -1;
    self->svc = svc;
    self->loop = svc_loop (svc);
    self->rpc = rpc_new (self->loop, cfg_str ("CAISSON_BUS"));
    self->llm = llm_client_new (self->loop);
    self->runs = zhashx_new ();
    self->dirty = zhashx_new ();
    self->waiting = zlist_new ();
    self->starting = zlist_new ();
    self->flush_timer = -1;
    zhashx_set_destructor (self->runs, drop_slot);
    self->defaults = (run_budgets_t) { cfg_u64 ("CAISSON_RUN_MAX_STEPS"),
                                       cfg_u64 ("CAISSON_RUN_MAX_TOOL_CALLS"),
                                       cfg_u64 ("CAISSON_RUN_MAX_SECONDS"),
                                       cfg_u64 ("CAISSON_RUN_MAX_TOKENS") };
    svc_set_state (svc, self);
    char dir[4096];
    if (!self->rpc || !self->llm || svc_store_dir (svc, dir, sizeof dir)
        || !(self->store = runstore_new (dir)))
        return -1;
    uint64_t total = cfg_u64 ("CAISSON_LLM_TIMEOUT_MS");
    llm_client_set_limits (self->llm, (int) cfg_u64 ("CAISSON_LLM_RETRIES"), total, total / 10);
    self->flush_timer = zloop_timer (self->loop, FLUSH_MS, 0, on_flush, self);
    clog_info (NULL, "default model %s%s", default_model (),
               strncmp (default_model (), "replay/", 7) == 0
                   ? " (the scripted model: no provider key is configured)" : "");
    return resume_all (self);
}

static void
teardown (svc_t *svc)
{
    orch_t *self = svc_state (svc);
    if (!self)
        return;
    for (starting_t *st = self->starting ? zlist_pop (self->starting) : NULL; st;
         st = zlist_pop (self->starting)) {
        slot_destroy (&st->slot);
        free (st);
    }
    if (self->store && self->dirty)
        on_flush (self->loop, self->flush_timer, self);
    if (self->flush_timer >= 0)
        zloop_timer_end (self->loop, self->flush_timer);
    zlist_destroy (&self->starting);
    zhashx_destroy (&self->runs);
    zhashx_destroy (&self->dirty);
    zlist_destroy (&self->waiting);
    llm_client_destroy (&self->llm);
    rpc_destroy (&self->rpc);
    json_decref (self->tools);
    runstore_destroy (&self->store);
    free (self);
}

int
orch_main (int argc, char **argv)
{
    static const svc_def_t def = {
        .name = "orchestrator",
        .summary = "the agent loop: model calls, tool dispatch, approvals and budgets",
        .handler = handle,
        .setup = setup,
        .teardown = teardown,
    };
    return svc_main (argc, argv, &def);
}
