/* orch: the orchestrator service: answers the runs family on the bus,
 * keeps the runs it owns, loads the tool catalogue, sends events, and
 * resumes unfinished runs after a restart (see orch.h). */
#include "orch.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"
#include "policy.h"
#include "prompt.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _orch_t {
    svc_t *svc;
    zloop_t *loop;
    rpc_t *rpc;
    llm_client_t *llm;
    zhashx_t *runs;             /* id -> run_t *, the runs in flight */
    json_t *tools;              /* for the model: [{name, description, inputSchema}] */
    json_t *mutates;            /* name -> true */
    bool catalogue_pending;
    zlist_t *waiting;           /* runs waiting for the catalogue */
    zlist_t *starting;          /* run.starts waiting for run_started to be stored */
    budgets_t defaults;
};

static void
drop_run (void **item)
{
    run_free ((run_t **) item);
}

zloop_t *orch_loop (orch_t *self) { return self->loop; }
const char *orch_instance (orch_t *self) { return svc_instance (self->svc); }
llm_client_t *orch_llm (orch_t *self) { return self->llm; }
rpc_t *orch_rpc (orch_t *self) { return self->rpc; }
const json_t *orch_tools (orch_t *self) { return self->tools; }

bool
orch_mutates (orch_t *self, const char *tool)
{
    return json_is_true (json_object_get (self->mutates, tool));
}

void
orch_forget (orch_t *self, run_t *r)
{
    runstore_save (r);
    zlist_remove (self->waiting, r);
    zhashx_delete (self->runs, r->id);
}

/* orch_emit, with fn told of event-log's answer when fn is not NULL. */
static void
emit (orch_t *self, run_t *r, const char *kind, json_t *data, rpc_done_fn *fn, void *arg)
{
    proto_msg_t *msg = proto_msg_new (PROTO_event_append, NULL);
    if (msg && data) {
        proto_set_str (&msg->env.corr, r->id);
        proto_set_str (&msg->env.run, r->id);
        proto_set_str (&msg->env.cause, r->last_event[0] ? r->last_event : NULL);
        proto_set_str (&msg->env.user, r->user[0] ? r->user : NULL);
        proto_set_str (&msg->body.event_append.kind, kind);
        mpjson_set (&msg->body.event_append.data, data, 64);
        snprintf (r->last_event, sizeof r->last_event, "%s", msg->env.id);
        rpc_call (self->rpc, "event-log", msg, 5000, 3, fn, arg);
    }
    proto_msg_destroy (&msg);
    json_decref (data);
}

void
orch_emit (orch_t *self, run_t *r, const char *kind, json_t *data)
{
    emit (self, r, kind, data, NULL, NULL);
}

void
orch_delta (orch_t *self, run_t *r, const char *kind, json_t *data)
{
    proto_msg_t *msg = proto_msg_new (PROTO_event, NULL);
    if (msg && data) {
        proto_set_str (&msg->env.corr, r->id);
        proto_set_str (&msg->env.run, r->id);
        proto_set_str (&msg->env.cause, r->last_event[0] ? r->last_event : NULL);
        proto_set_str (&msg->body.event.kind, kind);
        mpjson_set (&msg->body.event.data, data, 64);
        char topic[256];
        snprintf (topic, sizeof topic, "run.%s.%s", r->id, kind);
        bus_pub_send (svc_pub (self->svc), topic, msg);
    }
    proto_msg_destroy (&msg);
    json_decref (data);
}

void
orch_cancel_tool (orch_t *self, const char *call_id, const char *reason)
{
    proto_msg_t *msg = proto_msg_new (PROTO_tools_cancel, NULL);
    char topic[256];
    snprintf (topic, sizeof topic, "tools.cancel.%s", call_id);
    proto_set_str (&msg->body.tools_cancel.call_id, call_id);
    proto_set_str (&msg->body.tools_cancel.reason, reason);
    if (bus_pub_send (svc_pub (self->svc), topic, msg))
        clog_error (NULL, "cannot publish %s", topic);
    proto_msg_destroy (&msg);
}

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
        json_decref (self->mutates);
        self->tools = json_array ();
        self->mutates = json_object ();
        size_t i;
        json_t *t;
        json_array_foreach (list, i, t) {
            const char *name = json_string_value (json_object_get (t, "name"));
            if (!name)
                continue;
            json_array_append_new (self->tools, json_pack ("{s:s, s:O?, s:O?}", "name", name,
                                                           "description",
                                                           json_object_get (t, "description"),
                                                           "inputSchema",
                                                           json_object_get (t, "inputSchema")));
            if (json_is_true (json_object_get (t, "mutates")))
                json_object_set_new (self->mutates, name, json_true ());
        }
        clog_info (NULL, "tool catalogue: %zu tools", json_array_size (self->tools));
    }
    json_decref (list);
    run_t *r;
    while ((r = zlist_pop (self->waiting))) {
        r->waiting_catalogue = false;
        if (self->tools)
            run_advance (r);
        else {
            char reason[320];
            snprintf (reason, sizeof reason, "no tool catalogue: %s", why);
            run_end (r, "failed", reason);
        }
    }
}

bool
orch_need_catalogue (orch_t *self, run_t *r)
{
    if (self->tools)
        return false;
    if (!r->waiting_catalogue) {
        r->waiting_catalogue = true;
        zlist_append (self->waiting, r);
    }
    if (!self->catalogue_pending) {
        proto_msg_t *req = proto_msg_new (PROTO_tools_list, NULL);
        if (req && rpc_call (self->rpc, "tool-runner", req, 5000, 2, on_catalogue, self) == 0)
            self->catalogue_pending = true;
        proto_msg_destroy (&req);
    }
    return true;
}

static int
on_wall (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    run_t *r = arg;
    r->wall_timer = -1;
    char why[128];
    snprintf (why, sizeof why, "budget exhausted: wallSeconds (limit %llu)",
              (unsigned long long) r->max.seconds);
    run_end (r, "budget_exhausted", why);
    return 0;
}

/* Takes r into the running set with its wall-clock timer. */
static void
adopt (orch_t *self, run_t *r)
{
    zhashx_update (self->runs, r->id, r);
    int64_t left = (int64_t) (r->started_wall + r->max.seconds * 1000) - zclock_time ();
    r->wall_timer = zloop_timer (self->loop, left > 0 ? (size_t) left : 0, 1, on_wall, r);
}

/* The model to use when the request names none. */
static const char *
default_model (void)
{
    return llm_provider_default_model ();
}

/* A run's budgets (b, may be NULL) within the deployment's, which are
 * both the defaults and the ceilings. Returns 0, or -1 with why naming
 * the field that is not a positive integer, is unknown, or asks more. */
static int
budgets_within (const json_t *b, const budgets_t *ceiling, budgets_t *out, char *why,
                size_t whylen)
{
    static const struct { const char *key, *setting; size_t at; } fields[] = {
        { "steps", "CAISSON_RUN_MAX_STEPS", offsetof (budgets_t, steps) },
        { "toolCalls", "CAISSON_RUN_MAX_TOOL_CALLS", offsetof (budgets_t, tool_calls) },
        { "wallSeconds", "CAISSON_RUN_MAX_SECONDS", offsetof (budgets_t, seconds) },
        { "tokens", "CAISSON_RUN_MAX_TOKENS", offsetof (budgets_t, tokens) },
    };
    *out = *ceiling;
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) b, key, v) {
        size_t i = 0;
        size_t count = sizeof fields / sizeof fields[0];
        while (i < count && strcmp (fields[i].key, key))
            i++;
        if (i == count) {
            snprintf (why, whylen, "budgets.%.64s: unknown (expected steps, toolCalls, "
                      "wallSeconds or tokens)", key);
            return -1;
        }
        uint64_t limit = *(const uint64_t *) ((const char *) ceiling + fields[i].at);
        if (!json_is_integer (v) || json_integer_value (v) <= 0) {
            snprintf (why, whylen, "budgets.%s: expected a positive integer", key);
            return -1;
        }
        if ((uint64_t) json_integer_value (v) > limit) {
            snprintf (why, whylen, "budgets.%s: %lld is above this deployment's ceiling of "
                      "%llu (%s)", key, (long long) json_integer_value (v),
                      (unsigned long long) limit, fields[i].setting);
            return -1;
        }
        *(uint64_t *) ((char *) out + fields[i].at) = (uint64_t) json_integer_value (v);
    }
    return 0;
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
    orch_t *orch;
    run_t *run;
    bus_pending_t *pending;
} starting_t;

/* event-log answered run_started: the run goes on and run.start is
 * answered, or (not stored) the run is dropped and run.start refused
 * with event-log's reason, e.g. store_full. */
static void
on_started (const proto_msg_t *reply, const char *error, void *arg)
{
    starting_t *st = arg;
    orch_t *self = st->orch;
    run_t *r = st->run;
    zlist_remove (self->starting, st);
    const proto_msg_t *req = bus_pending_request (st->pending);
    proto_msg_t *rep;
    if (reply && reply->type == PROTO_event_ack) {
        clog_info (r->id, "run started: model %s, thread %s", r->model, r->thread);
        adopt (self, r);
        runstore_save (r);
        rep = proto_msg_new (PROTO_run_started, req);
        proto_set_str (&rep->body.run_started.run_id, r->id);
        proto_set_str (&rep->body.run_started.thread_id, r->thread);
        proto_set_str (&rep->body.run_started.model, r->model);
        bus_worker_answer (svc_worker (self->svc), &st->pending, rep);
        run_advance (r);
    }
    else {
        const char *code = reply && reply->type == PROTO_error ? reply->body.error.code
                                                               : "unavailable";
        const char *why = reply && reply->type == PROTO_error ? reply->body.error.message
                        : error ? error : "event-log answered with an unexpected message";
        clog_error (r->id, "run not started: its first event was not stored: %s: %s", code, why);
        /* event-log's code is passed on; one this build does not declare
         * (a newer peer's) becomes `unavailable`, as no reply does */
        proto_ecode_t ecode = proto_error_lookup (code);
        rep = proto_error_new (req, ecode < PROTO_ERR_COUNT ? ecode : PROTO_ERR_unavailable,
                               "the run was not started: its first event could not be "
                               "stored: %s", why);
        bus_worker_answer (svc_worker (self->svc), &st->pending, rep);
        run_free (&r);
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
    for (run_t *r = zhashx_first (self->runs); r; r = zhashx_next (self->runs))
        n += !strcmp (r->user, user);
    for (starting_t *st = zlist_first (self->starting); st; st = zlist_next (self->starting))
        n += !strcmp (st->run->user, user);
    return n;
}

static proto_msg_t *
start (orch_t *self, const proto_msg_t *req)
{
    const proto_run_start_t *b = &req->body.run_start;
    const char *model = b->model && *b->model ? b->model : default_model ();
    const char *name;
    const llm_provider_t *p = llm_provider_find (model, &name);
    if (!p || !*name)
        return proto_error_new (req, PROTO_ERR_bad_value, "model: unknown provider in '%s' (expected "
                                "provider/model, e.g. openai/gpt-4o-mini)", model);
    /* the deployment's default provider, or one it gave a key or a URL:
     * never a default URL nobody chose (llamacpp's is ui-bridge's port) */
    const llm_provider_t *own = llm_provider_find (default_model (), NULL);
    if (p != own && !llm_provider_set_up (p))
        return proto_error_new (req, PROTO_ERR_bad_value, "model: provider '%.*s' is not set up in this "
                                "deployment (no key or URL in its environment)",
                                (int) (name - 1 - model), model);
    char why[256] = "";
    json_t *budgets = decode_map (&b->budgets, "budgets", why, sizeof why);
    json_t *policy = decode_map (&b->policy, "policy", why, sizeof why);
    json_t *client_tools = NULL;
    if (!json_is_false (budgets) && !json_is_false (policy) && b->client_tools.size) {
        json_t *list = mpjson_decode (b->client_tools.data, b->client_tools.size, 32, why,
                                      sizeof why);
        /* tool-runner's names when the catalogue is loaded; a clash found
         * only once it loads fails the run (run.c, call_model) */
        client_tools = list ? run_client_tools (list, self->tools, why, sizeof why) : NULL;
        json_decref (list);
        if (!client_tools)
            client_tools = json_false ();
    }
    budgets_t max = self->defaults;
    json_t *effective = NULL;
    if (!json_is_false (budgets) && !json_is_false (policy) && !json_is_false (client_tools)
        && budgets_within (budgets, &self->defaults, &max, why, sizeof why) == 0)
        effective = policy_effective (policy, req->env.op, why, sizeof why);
    json_decref (budgets);
    json_decref (policy);
    if (!effective) {
        json_decref (client_tools);
        return proto_error_new (req, PROTO_ERR_bad_value, "%s", why);
    }
    size_t live = req->env.op ? 0 : live_runs_of (self, req->env.user);
    if (live >= cfg_u64 ("CAISSON_RUN_MAX_LIVE_PER_USER")) {
        json_decref (effective);
        json_decref (client_tools);
        return proto_error_new (req, PROTO_ERR_limit, "user '%s' has %zu live runs, the most one user "
                                "may (CAISSON_RUN_MAX_LIVE_PER_USER): wait for one to end, or "
                                "cancel one", req->env.user ? req->env.user : "", live);
    }
    char id[CID_SIZE];
    cid_new (id);
    const char *thread = b->thread_id && *b->thread_id ? b->thread_id : id;
    int claim = runstore_claim_thread (thread, req->env.user, req->env.op);
    if (claim) {
        json_decref (effective);
        json_decref (client_tools);
        /* another user's thread is answered as if it did not exist */
        return claim > 0 ? proto_error_new (req, PROTO_ERR_not_found, "thread_id: no thread %s", thread)
                         : proto_error_new (req, PROTO_ERR_store_failed, "thread_id: the thread's owner "
                                            "could not be recorded");
    }
    run_t *r = run_new (self, id);
    snprintf (r->thread, sizeof r->thread, "%s", thread);
    snprintf (r->model, sizeof r->model, "%s", model);
    snprintf (r->user, sizeof r->user, "%s", req->env.user ? req->env.user : "");
    r->op = req->env.op;
    r->provider = llm_provider_find (r->model, &r->model_name);
    r->task = strdup (b->task);
    json_decref (r->messages);
    r->messages = runstore_thread (r->thread);
    json_array_append_new (r->messages, json_pack ("{s:s, s:s}", "role", "user", "content",
                                                   b->task));
    r->policy = effective;
    r->client_tools = client_tools;
    r->max = max;
    r->started_wall = (uint64_t) zclock_time ();
    snprintf (r->last_event, sizeof r->last_event, "%s", req->env.id);
    /* answered once run_started is stored: a run event-log cannot keep
     * is refused, never acknowledged and then lost */
    starting_t *st = calloc (1, sizeof *st);
    if (st)
        st->pending = bus_worker_defer (svc_worker (self->svc));
    if (!st || !st->pending) {
        free (st);
        run_free (&r);
        return NULL;
    }
    st->orch = self;
    st->run = r;
    zlist_append (self->starting, st);
    emit (self, r, "run_started",
               json_pack ("{s:s, s:s?, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I}, s:O}", "task",
                          r->task, "user", req->env.user, "threadId", r->thread, "model", r->model,
                          "orchestrator", svc_instance (self->svc),
                          "promptVersion", PROMPT_VERSION, "budgets", "steps",
                          (json_int_t) r->max.steps, "toolCalls", (json_int_t) r->max.tool_calls,
                          "wallSeconds", (json_int_t) r->max.seconds, "tokens",
                          (json_int_t) r->max.tokens, "policy", r->policy), on_started, st);
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
    json_t *usage = json_pack ("{s:O?, s:O?, s:O?, s:O?, s:O?}", "steps",
                               json_object_get (used, "steps"), "toolCalls",
                               json_object_get (used, "toolCalls"), "inputTokens",
                               json_object_get (tok, "input"), "outputTokens",
                               json_object_get (tok, "output"), "cachedTokens",
                               json_object_get (tok, "cached"));
    mpjson_set (&b->usage, usage, 8);
    json_decref (usage);
    return rep;
}

static proto_msg_t *
stored_info (const proto_msg_t *req, const char *run_id)
{
    json_t *snap = runstore_load (run_id);
    if (!snap || !may_act (req, json_string_value (json_object_get (snap, "user")))) {
        json_decref (snap);
        return proto_error_new (req, PROTO_ERR_not_found, "run_id: no run %s", run_id);
    }
    proto_msg_t *rep = info (req, snap, NULL);
    json_decref (snap);
    return rep;
}

static proto_msg_t *
handle (const proto_msg_t *req, void *arg)
{
    svc_t *svc = arg;
    orch_t *self = svc_state (svc);
    switch (req->type) {
        case PROTO_run_start:
            return start (self, req);
        case PROTO_run_get:
        case PROTO_run_cancel: {
            const char *id = req->type == PROTO_run_get ? req->body.run_get.run_id
                                                        : req->body.run_cancel.run_id;
            run_t *r = zhashx_lookup (self->runs, id);
            if (r && !may_act (req, r->user))
                return proto_error_new (req, PROTO_ERR_not_found, "run_id: no run %s", id);
            if (r && req->type == PROTO_run_cancel)
                run_end (r, "cancelled", "cancelled on request");
            else if (r) {
                json_t *pending = run_pending (r);
                json_t *snap = runstore_snapshot (r);
                proto_msg_t *rep = info (req, snap, pending);
                json_decref (snap);
                json_decref (pending);
                return rep;
            }
            return stored_info (req, id);
        }
        case PROTO_run_approve:
        case PROTO_run_decline:
        case PROTO_run_tool_result: {
            const char *id = req->type == PROTO_run_tool_result ? req->body.run_tool_result.run_id
                                                                : req->body.run_approve.run_id;
            run_t *r = zhashx_lookup (self->runs, id);
            char why[256];
            if (r && !may_act (req, r->user))
                return proto_error_new (req, PROTO_ERR_not_found, "run_id: no run %s", id);
            if (!r) {
                json_t *snap = runstore_load (id);
                if (snap && !may_act (req, json_string_value (json_object_get (snap, "user")))) {
                    json_decref (snap);
                    return proto_error_new (req, PROTO_ERR_not_found, "run_id: no run %s", id);
                }
                proto_msg_t *err = proto_error_new (req, snap ? PROTO_ERR_conflict : PROTO_ERR_not_found,
                                                    "run_id: run %s is %s", id,
                                                    snap ? json_string_value (json_object_get (snap, "status"))
                                                         : "unknown");
                json_decref (snap);
                return err;
            }
            const proto_run_tool_result_t *t = &req->body.run_tool_result;
            const proto_run_approve_t *d = &req->body.run_approve;
            if (req->type == PROTO_run_tool_result
                    ? run_tool_result (r, t->tool_call_id, t->content, t->failed, why, sizeof why)
                    : run_decide (r, d->tool_call_id, req->type == PROTO_run_approve, d->reason,
                                  why, sizeof why))
                return proto_error_new (req, PROTO_ERR_conflict, "%s", why);
            return stored_info (req, id);
        }
        default:
            return proto_error_new (req, PROTO_ERR_unknown_type, "orchestrator does not answer %s",
                                    proto_type_name (req->type));
    }
}

static void
resume (run_t *r, void *arg)
{
    orch_t *self = arg;
    adopt (self, r);
    if (!r->provider) {
        run_end (r, "orchestrator_restarted", "the run's model is no longer known");
        return;
    }
    clog_info (r->id, "resumed after a restart (%s)", r->status);
    orch_emit (self, r, "resumed", json_pack ("{s:s}", "status", r->status));
    run_advance (r);
}

static int
setup (svc_t *svc)
{
    orch_t *self = calloc (1, sizeof *self);
    self->svc = svc;
    self->loop = svc_loop (svc);
    self->rpc = rpc_new (self->loop, cfg_str ("CAISSON_BUS"));
    self->llm = llm_client_new (self->loop);
    self->runs = zhashx_new ();
    self->waiting = zlist_new ();
    self->starting = zlist_new ();
    zhashx_set_destructor (self->runs, drop_run);
    uint64_t total = cfg_u64 ("CAISSON_LLM_TIMEOUT_MS");
    llm_client_set_limits (self->llm, (int) cfg_u64 ("CAISSON_LLM_RETRIES"), total, total / 10);
    self->defaults = (budgets_t) { cfg_u64 ("CAISSON_RUN_MAX_STEPS"),
                                   cfg_u64 ("CAISSON_RUN_MAX_TOOL_CALLS"),
                                   cfg_u64 ("CAISSON_RUN_MAX_SECONDS"),
                                   cfg_u64 ("CAISSON_RUN_MAX_TOKENS") };
    svc_set_state (svc, self);
    char dir[4096];
    if (!self->rpc || !self->llm || svc_store_dir (svc, dir, sizeof dir)
        || runstore_open (self, dir))
        return -1;
    clog_info (NULL, "default model %s%s", default_model (),
               strncmp (default_model (), "replay/", 7) == 0
                   ? " (the scripted model: no provider key is configured)" : "");
    return runstore_resume (self, resume, self);
}

static void
teardown (svc_t *svc)
{
    orch_t *self = svc_state (svc);
    if (!self)
        return;
    for (starting_t *st = self->starting ? zlist_pop (self->starting) : NULL; st;
         st = zlist_pop (self->starting)) {
        run_free (&st->run);
        free (st);
    }
    zlist_destroy (&self->starting);
    zhashx_destroy (&self->runs);
    zlist_destroy (&self->waiting);
    llm_client_destroy (&self->llm);
    rpc_destroy (&self->rpc);
    json_decref (self->tools);
    json_decref (self->mutates);
    runstore_close ();
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
