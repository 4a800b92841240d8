/* orch_start: run.start for the orchestrator service (see orch_int.h):
 * the request's choices checked (model, budgets, client tools, a tool
 * run's call, the caller's input), its profile version asked of
 * event-log and laid under them, the thread's conversation fetched when
 * this instance has none of it, then the run started in runhost. */
#include "orch_int.h"
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
#include "profilefetch.h"
#include "prompt.h"
#include "runhost.h"
#include "runlease.h"
#include "threadfetch.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The model to use when the request names none. */
static const char *
default_model (void)
{
    return llm_provider_default_model ();
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
    char profile[PROFILE_NAME_MAX + 1];
    uint64_t version;           /* pinned, or 0 */
    bool profile_asked, model_asked;    /* the request named a profile, a model */
    json_t *settings;           /* profilefetch_settings', or NULL: builtin */
    json_t *asked;              /* the request's {budgets?, policy?} */
    bool thread_asked;          /* the request named its thread */
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
    json_decref (st->settings);
    json_decref (st->asked);
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
        proto_set_str (&rep->body.run_started.profile, run_profile (r));
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

/* The run's budgets (into max) and effective policy (new), from the
 * request's budgets and policy maps (either may be NULL) over the
 * profile's budgets and checks (either may be NULL); NULL with why
 * filled. */
static json_t *
effective_with (orch_t *self, const json_t *budgets, const json_t *policy, bool op,
                const json_t *pbudgets, const json_t *pchecks, run_budgets_t *max, char *why,
                size_t whylen)
{
    if (budgets_with_defaults (budgets, pbudgets, &self->defaults, max, why, whylen))
        return NULL;
    return policy_effective_checks (policy, pchecks, op, why, whylen);
}

/* run.start's choices checked: the effective policy (new) and client
 * tools (new, or NULL), and the request's budgets and policy maps as
 * given (*asked, new: {budgets?, policy?}; a deferred request keeps no
 * body, and they are laid over the profile's once it is known); or NULL
 * with why filled. */
static json_t *
start_choices (orch_t *self, const proto_msg_t *req, run_budgets_t *max, json_t **client_tools,
               json_t **asked, char *why, size_t whylen)
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
    if (!json_is_false (budgets) && !json_is_false (policy) && !json_is_false (*client_tools))
        effective = effective_with (self, budgets, policy, req->env.op, NULL, NULL, max, why,
                                    whylen);
    *asked = effective ? json_object () : NULL;
    if (*asked && budgets)
        json_object_set (*asked, "budgets", budgets);
    if (*asked && policy)
        json_object_set (*asked, "policy", policy);
    json_decref (budgets);
    json_decref (policy);
    if (effective && !*asked) {
        json_decref (effective);
        effective = NULL;
        snprintf (why, whylen, "out of memory");
    }
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
proto_msg_t *
orch_start (const proto_msg_t *req, void *arg)
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

/* NULL when model may run: an error reply to req otherwise. A tool run
 * calls no model: its name is only a label. */
static proto_msg_t *
model_refused (const proto_msg_t *req, const char *model, bool tool_run)
{
    const char *name;
    const llm_provider_t *p = llm_provider_find (model, &name);
    if (!tool_run && (!p || !*name))
        return proto_error_new (req, PROTO_ERR_bad_value, "model: unknown provider in '%s' "
                                "(expected provider/model, e.g. openai/gpt-4o-mini)", model);
    /* the deployment's default provider, or one it gave a key or a URL:
     * never a default URL nobody chose (llamacpp's is ui-bridge's port) */
    const llm_provider_t *own = llm_provider_find (default_model (), NULL);
    if (!tool_run && p != own && !llm_provider_set_up (p))
        return proto_error_new (req, PROTO_ERR_bad_value, "model: provider '%.*s' is not set "
                                "up in this deployment (no key or URL in its environment)",
                                (int) (name - 1 - model), model);
    return NULL;
}

static profilefetch_fn on_profile;

/* run.start with its task, and tool_call checked (borrowed; NULL: a run
 * of the model). Its own choices are checked here, before event-log is
 * asked for its profile; they are checked again over the profile's. */
static proto_msg_t *
start_checked (const proto_msg_t *req, void *arg, json_t *tool_call, const char *task)
{
    orch_t *self = svc_state (arg);
    const proto_run_start_t *b = &req->body.run_start;
    const char *model = b->model && *b->model ? b->model : default_model ();
    proto_msg_t *refused = model_refused (req, model, tool_call != NULL);
    if (refused)
        return refused;
    char why[256] = "", profile[PROFILE_NAME_MAX + 1];
    uint64_t version;
    if (profilefetch_parse (b->profile, profile, &version, why, sizeof why))
        return proto_error_new (req, PROTO_ERR_bad_value, "%s", why);
    run_budgets_t max = self->defaults;
    json_t *client_tools, *asked;
    json_t *effective = start_choices (self, req, &max, &client_tools, &asked, why,
                                       sizeof why);
    if (!effective)
        return proto_error_new (req, PROTO_ERR_bad_value, "%s", why);
    json_t *input = start_input (b, why, sizeof why);
    if (!input) {
        json_decref (asked);
        json_decref (effective);
        json_decref (client_tools);
        return proto_error_new (req, PROTO_ERR_bad_value, "%s", why);
    }
    size_t live = req->env.op ? 0 : runhost_live_of (self->runs, req->env.user);
    if (live >= cfg_u64 ("CAISSON_RUN_MAX_LIVE_PER_USER")) {
        json_decref (asked);
        json_decref (effective);
        json_decref (client_tools);
        json_decref (input);
        return proto_error_new (req, PROTO_ERR_limit, "user '%s' has %zu live runs, the most "
                                "one user may (CAISSON_RUN_MAX_LIVE_PER_USER): wait for one "
                                "to end, or cancel one", req->env.user ? req->env.user : "",
                                live);
    }
    if (b->thread_id && *b->thread_id && !cid_name_ok (b->thread_id, 128)) {
        json_decref (asked);
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
        json_decref (asked);
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
        st->asked = asked;
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
            json_decref (asked);
            json_decref (effective);
            json_decref (client_tools);
            json_decref (input);
        }
        return NULL;
    }
    st->orch = self;
    snprintf (st->id, sizeof st->id, "%s", id);
    st->max = max;
    snprintf (st->profile, sizeof st->profile, "%s", profile);
    st->version = version;
    st->profile_asked = b->profile && *b->profile;
    st->model_asked = b->model && *b->model;
    st->thread_asked = b->thread_id && *b->thread_id;
    /* asked at every run.start: an activation or a rollback takes effect
     * for the next run */
    if (profilefetch_start (runhost_rpc (self->runs), req, profile, version, thread, on_profile,
                            st))
        on_profile (NULL, "unavailable", "the request could not be sent", st);
    return BUS_DEFERRED;
}

/* Answers st's run.start with rep and drops it. */
static void
start_refuse (starting_t *st, proto_msg_t *rep)
{
    bus_worker_answer (svc_worker (st->orch->svc), &st->pending, rep);
    starting_free (st);
}

/* The profile's settings laid under the request's: its model when the
 * request names none, its budgets as defaults, its checks as verify.
 * Returns 0, or -1 with the error reply in *rep. */
static int
with_profile (starting_t *st, const json_t *profile, proto_msg_t **rep)
{
    const proto_msg_t *req = bus_pending_request (st->pending);
    char why[256] = "";
    json_t *budgets, *checks;
    char *model;
    st->settings = profilefetch_settings (profile, &budgets, &checks, &model, why, sizeof why);
    if (!st->settings) {
        *rep = proto_error_new (req, PROTO_ERR_bad_value, "profile %s: %s", st->profile, why);
        return -1;
    }
    *rep = NULL;
    if (model && !st->model_asked) {
        *rep = model_refused (req, model, st->tool_call != NULL);
        free (st->model);
        st->model = model;
        model = NULL;
    }
    json_t *effective = NULL;
    if (!*rep) {
        effective = effective_with (st->orch, json_object_get (st->asked, "budgets"),
                                    json_object_get (st->asked, "policy"), req->env.op, budgets,
                                    checks, &st->max, why, sizeof why);
        if (!effective)
            *rep = proto_error_new (req, PROTO_ERR_bad_value, "%s (profile %s)", why,
                                    json_string_value (json_object_get (st->settings,
                                                                        "label")));
    }
    if (effective) {
        json_decref (st->effective);
        st->effective = effective;
    }
    free (model);
    json_decref (budgets);
    json_decref (checks);
    return *rep ? -1 : 0;
}

/* event-log's answer on the run's profile: the run goes on with it, or
 * with the deployment's own settings when none is stored and none was
 * asked for; else run.start is refused. */
static void
on_profile (json_t *profile, const char *code, const char *why, void *arg)
{
    starting_t *st = arg;
    orch_t *self = st->orch;
    const proto_msg_t *req = bus_pending_request (st->pending);
    proto_msg_t *rep = NULL;
    if (profile)
        with_profile (st, profile, &rep);
    else if (!strcmp (code, "not_found") && st->profile_asked) {
        char pinned[32] = "";
        if (st->version)
            snprintf (pinned, sizeof pinned, "@%llu", (unsigned long long) st->version);
        rep = proto_error_new (req, PROTO_ERR_not_found, "profile: no profile %s%s is stored",
                               st->profile, pinned);
    }
    else if (strcmp (code, "not_found")) {
        clog_error (st->id, "run not started: its profile could not be read: %s: %s", code,
                    why);
        proto_ecode_t ecode = proto_error_lookup (code);
        rep = proto_error_new (req, ecode < PROTO_ERR_COUNT ? ecode : PROTO_ERR_unavailable,
                               "the run was not started: its profile could not be read: %s",
                               why);
    }
    json_decref (profile);
    if (rep) {
        start_refuse (st, rep);
        return;
    }
    /* a thread whose last run was on another instance (one now gone):
     * its conversation comes from event-log's record, not blank or stale;
     * a store shared by every instance is never stale */
    st->local = runstore_thread (self->store, st->thread);
    bool held = json_array_size (st->local) > 0;
    if (st->thread_asked && (!held || self->lease)
        && threadfetch_start (runhost_rpc (self->runs), req, st->thread,
                              held ? svc_instance (self->svc) : NULL, on_history, st) == 0)
        return;
    start_run (st, NULL);
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
    /* the profile's label; its prompt's when it gave the system prompt */
    const char *label = json_string_value (json_object_get (st->settings, "label"));
    const char *prompt_version = json_object_get (st->settings, "systemPrompt")
                               ? label : PROMPT_VERSION;
    json_t *budgets = json_pack ("{s:I, s:I, s:I, s:I}", "steps", (json_int_t) max.steps,
                                 "toolCalls", (json_int_t) max.tool_calls, "wallSeconds",
                                 (json_int_t) max.seconds, "tokens", (json_int_t) max.tokens);
    json_t *data = EVK (run_started, .task = st->task, .user = req->env.user, .threadId = thread,
                        .model = model, .orchestrator = svc_instance (self->svc),
                        .promptVersion = prompt_version, .profile = label,
                        .budgets = budgets,
                        .policy = effective, .toolCall = st->tool_call);
    json_decref (budgets);
    int rc = runhost_start (self->runs, &spec, st->settings, req->env.id, data, on_started,
                            st);
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
