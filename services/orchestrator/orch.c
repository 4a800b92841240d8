/* orch: the orchestrator service (see orch.h): answers the runs family.
 * It checks a run.start's choices and starts the run in runhost; the
 * other requests act on a live run (run.c) or read a stored one
 * (runstore.c). */
#include "orch.h"
#include "cid.h"
#include "budgets.h"
#include "cfg.h"
#include "client_input.h"
#include "client_tools.h"
#include "clog.h"
#include "llm_provider.h"
#include "mpjson.h"
#include "policy.h"
#include "prompt.h"
#include "runhost.h"
#include "runlease.h"
#include "threadfetch.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    svc_t *svc;
    runstore_t *store;
    runhost_t *runs;
    runlease_t *lease;          /* with a store per instance, else NULL */
    run_budgets_t defaults;
} orch_t;

/* ---- requests ---- */

/* The model to use when the request names none. */
static const char *
default_model (void)
{
    return llm_provider_default_model ();
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

/* A run.start waiting for its thread's conversation (when this instance
 * has none of it) and then for its run_started to be stored. */
typedef struct {
    orch_t *orch;
    bus_pending_t *pending;
    char id[CID_SIZE];
    char *task, *thread, *model;  /* the request's (a deferred one keeps no body) */
    json_t *local;              /* the thread's conversation as this instance keeps it */
    json_t *input;              /* the caller's context, state and history (client_input.h) */
    json_t *effective, *client_tools;
    json_t *tool_call;          /* a tool run's {name, args}, or NULL */
    run_budgets_t max;
} starting_t;

static void
starting_free (starting_t *st)
{
    free (st->task);
    free (st->thread);
    free (st->model);
    json_decref (st->local);
    json_decref (st->input);
    json_decref (st->effective);
    json_decref (st->client_tools);
    json_decref (st->tool_call);
    free (st);
}

/* run_started stored (code NULL): run.start is answered; or not: it is
 * refused with event-log's reason, e.g. store_full. */
static void
on_started (run_t *r, const char *code, const char *why, void *arg)
{
    starting_t *st = arg;
    if (!r) {                   /* the service is going away */
        starting_free (st);
        return;
    }
    bus_worker_t *worker = svc_worker (st->orch->svc);
    const proto_msg_t *req = bus_pending_request (st->pending);
    proto_msg_t *rep;
    if (!code) {
        clog_info (run_id (r), "run started: model %s, thread %s", run_model (r), run_thread (r));
        /* event-log admitted it on the thread: this instance records the
         * owner for its own check */
        if (runstore_claim_thread (st->orch->store, run_thread (r), run_user (r), run_op (r)))
            clog_error (run_id (r), "thread %s: its owner was not recorded here",
                        run_thread (r));
        rep = proto_msg_new (PROTO_run_started, req);
        proto_set_str (&rep->body.run_started.run_id, run_id (r));
        proto_set_str (&rep->body.run_started.thread_id, run_thread (r));
        proto_set_str (&rep->body.run_started.model, run_model (r));
    }
    else {
        clog_error (run_id (r), "run not started: its first event was not stored: %s: %s",
                    code, why);
        /* event-log's code is passed on; one this build does not declare
         * (a newer peer's) becomes `unavailable`, as no reply does */
        proto_ecode_t ecode = proto_error_lookup (code);
        rep = proto_error_new (req, ecode < PROTO_ERR_COUNT ? ecode : PROTO_ERR_unavailable,
                               "the run was not started: its first event could not be "
                               "stored: %s", why);
    }
    bus_worker_answer (worker, &st->pending, rep);
    starting_free (st);
}

/* A decoded ANY field (new), NULL when absent, json_false () (why
 * filled) when it cannot be decoded. */
static json_t *
decode_any (const proto_bytes_t *f, const char *field, char *why, size_t whylen)
{
    if (!f->size)
        return NULL;
    char inner[200] = "";
    json_t *v = mpjson_decode (f->data, f->size, 32, inner, sizeof inner);
    if (!v) {
        snprintf (why, whylen, "%s: %s", field, inner);
        return json_false ();
    }
    return v;
}

/* The caller's context, state and client history, checked (new; see
 * client_input.h), or NULL with why filled. */
static json_t *
start_input (const proto_run_start_t *b, char *why, size_t whylen)
{
    json_t *context = decode_any (&b->context, "context", why, whylen);
    json_t *state = decode_any (&b->state, "state", why, whylen);
    json_t *history = decode_any (&b->client_history, "client_history", why, whylen);
    json_t *input = json_is_false (context) || json_is_false (state) || json_is_false (history)
                  ? NULL : client_input_check (context, state, history, why, whylen);
    json_decref (context);
    json_decref (state);
    json_decref (history);
    return input;
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
        /* tool-runner's names for this user when their catalogue is
         * loaded; a clash found only once it loads fails the run (run.c,
         * call_model) */
        const json_t *catalogue = runhost_catalogue (self->runs, req->env.user);
        *client_tools = list ? client_tools_check (list, catalogue, why, whylen) : NULL;
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

static void start_run (starting_t *st, json_t *history);
static threadfetch_fn on_history;
static proto_msg_t *start_checked (const proto_msg_t *req, void *arg, json_t *tool_call,
                                   const char *task);

/* run.start: a tool run's call checked first (it needs no model), and
 * the task it then defaults to */
static proto_msg_t *
start (const proto_msg_t *req, void *arg)
{
    orch_t *self = svc_state (arg);
    const proto_run_start_t *b = &req->body.run_start;
    char why[256] = "";
    json_t *raw = decode_any (&b->tool_call, "tool_call", why, sizeof why);
    json_t *tool_call = raw && !json_is_false (raw)
                      ? client_tools_call_check (raw, runhost_catalogue (self->runs,
                                                                         req->env.user),
                                                 why, sizeof why) : NULL;
    json_decref (raw);
    if (raw && !tool_call)
        return proto_error_new (req, PROTO_ERR_bad_value, "%s", why);
    if (!tool_call && (!b->task || !*b->task))
        return proto_error_new (req, PROTO_ERR_bad_value, "task: required unless tool_call "
                                "is given");
    char task[200] = "";
    if (tool_call)
        snprintf (task, sizeof task, "tool call %s",
                  json_string_value (json_object_get (tool_call, "name")));
    proto_msg_t *rep = start_checked (req, arg, tool_call, b->task && *b->task ? b->task : task);
    json_decref (tool_call);
    return rep;
}

/* run.start with its task, and tool_call checked (borrowed; NULL: a run
 * of the model) */
static proto_msg_t *
start_checked (const proto_msg_t *req, void *arg, json_t *tool_call, const char *task)
{
    orch_t *self = svc_state (arg);
    const proto_run_start_t *b = &req->body.run_start;
    const char *model = b->model && *b->model ? b->model : default_model ();
    const char *name;
    const llm_provider_t *p = llm_provider_find (model, &name);
    /* a tool run calls no model: its name is only a label */
    if (!tool_call && (!p || !*name))
        return proto_error_new (req, PROTO_ERR_bad_value, "model: unknown provider in '%s' "
                                "(expected provider/model, e.g. openai/gpt-4o-mini)", model);
    /* the deployment's default provider, or one it gave a key or a URL:
     * never a default URL nobody chose (llamacpp's is ui-bridge's port) */
    const llm_provider_t *own = llm_provider_find (default_model (), NULL);
    if (!tool_call && p != own && !llm_provider_set_up (p))
        return proto_error_new (req, PROTO_ERR_bad_value, "model: provider '%.*s' is not set "
                                "up in this deployment (no key or URL in its environment)",
                                (int) (name - 1 - model), model);
    char why[256] = "";
    run_budgets_t max = self->defaults;
    json_t *client_tools;
    json_t *effective = start_choices (self, req, &max, &client_tools, why, sizeof why);
    if (!effective)
        return proto_error_new (req, PROTO_ERR_bad_value, "%s", why);
    json_t *input = start_input (b, why, sizeof why);
    if (!input) {
        json_decref (effective);
        json_decref (client_tools);
        return proto_error_new (req, PROTO_ERR_bad_value, "%s", why);
    }
    size_t live = req->env.op ? 0 : runhost_live_of (self->runs, req->env.user);
    if (live >= cfg_u64 ("CAISSON_RUN_MAX_LIVE_PER_USER")) {
        json_decref (effective);
        json_decref (client_tools);
        json_decref (input);
        return proto_error_new (req, PROTO_ERR_limit, "user '%s' has %zu live runs, the most "
                                "one user may (CAISSON_RUN_MAX_LIVE_PER_USER): wait for one "
                                "to end, or cancel one", req->env.user ? req->env.user : "",
                                live);
    }
    if (b->thread_id && *b->thread_id && !cid_name_ok (b->thread_id, 128)) {
        json_decref (effective);
        json_decref (client_tools);
        json_decref (input);
        return proto_error_new (req, PROTO_ERR_bad_value, "thread_id: 1 to 128 letters, digits, "
                                "'.', '_', ':' or '-'");
    }
    char id[CID_SIZE];
    cid_new (id);
    const char *thread = b->thread_id && *b->thread_id ? b->thread_id : id;
    int claim = runstore_check_thread (self->store, thread, req->env.user, req->env.op);
    if (claim) {
        json_decref (effective);
        json_decref (client_tools);
        json_decref (input);
        /* another user's thread is answered as if it did not exist */
        return claim > 0 ? proto_error_new (req, PROTO_ERR_not_found, "thread_id: no thread %s",
                                            thread)
                         : proto_error_new (req, PROTO_ERR_store_failed, "thread_id: the "
                                            "thread's owner could not be read");
    }
    /* answered once run_started is stored: a run event-log cannot keep
     * is refused, never acknowledged and then lost */
    starting_t *st = calloc (1, sizeof *st);
    if (st) {
        st->effective = effective;
        st->client_tools = client_tools;
        st->input = input;
        st->task = strdup (task);
        st->tool_call = json_incref (tool_call);
        st->thread = strdup (thread);
        st->model = strdup (model);
    }
    if (st && st->task && st->thread && st->model)
        st->pending = bus_worker_defer (svc_worker (self->svc));
    if (!st || !st->pending) {
        if (st)
            starting_free (st);
        else {
            json_decref (effective);
            json_decref (client_tools);
            json_decref (input);
        }
        return NULL;
    }
    st->orch = self;
    snprintf (st->id, sizeof st->id, "%s", id);
    st->max = max;
    /* a thread whose last run was on another instance (one now gone):
     * its conversation comes from event-log's record, not blank or stale;
     * a store shared by every instance is never stale */
    st->local = runstore_thread (self->store, thread);
    bool held = json_array_size (st->local) > 0;
    if (b->thread_id && *b->thread_id && (!held || self->lease)
        && threadfetch_start (runhost_rpc (self->runs), req, thread,
                              held ? svc_instance (self->svc) : NULL, on_history, st) == 0)
        return BUS_DEFERRED;
    start_run (st, NULL);
    return BUS_DEFERRED;
}

/* Starts st's run on its thread's conversation so far (history, taken;
 * NULL: the one this instance keeps). */
static void
start_run (starting_t *st, json_t *history)
{
    orch_t *self = st->orch;
    if (!history)
        history = json_incref (st->local);
    const proto_msg_t *req = bus_pending_request (st->pending);
    const char *model = st->model, *id = st->id, *thread = st->thread;
    json_t *effective = st->effective, *client_tools = st->client_tools;
    run_budgets_t max = st->max;
    run_spec_t spec = { id, thread, model, req->env.user, st->task, req->env.op, history,
                        effective, client_tools, max, zclock_time (),
                        json_is_object (st->input) ? st->input : NULL };
    json_t *budgets = json_pack ("{s:I, s:I, s:I, s:I}", "steps", (json_int_t) max.steps,
                                 "toolCalls", (json_int_t) max.tool_calls, "wallSeconds",
                                 (json_int_t) max.seconds, "tokens", (json_int_t) max.tokens);
    json_t *data = EVK (run_started, .task = st->task, .user = req->env.user, .threadId = thread,
                        .model = model, .orchestrator = svc_instance (self->svc),
                        .promptVersion = PROMPT_VERSION, .budgets = budgets,
                        .policy = effective, .toolCall = st->tool_call);
    json_decref (budgets);
    int rc = runhost_start (self->runs, &spec, req->env.id, data, on_started, st);
    json_decref (history);
    if (rc) {
        bus_worker_answer (svc_worker (self->svc), &st->pending,
                           proto_error_new (req, PROTO_ERR_no_memory, "the run could not be "
                                            "made"));
        starting_free (st);
    }
}

static void
on_history (json_t *messages, void *arg)
{
    start_run (arg, messages);
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
        { PROTO_run_start, start },
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
