/* runhost: the runs in flight and the host they act through (see
 * runhost.h). */
#include "runhost.h"
#include "cfg.h"
#include "clog.h"
#include "llm_client.h"
#include "mpjson.h"
#include "prompt.h"
#include "rpc.h"
#include "runhost_sbx.h"
#include "titler.h"
#include "memtool.h"
#include "recaller.h"
#include "wmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLUSH_MS 20             /* snapshots of a run's transitions are grouped this long */

typedef struct {
    runhost_t *host;            /* the slot's owner */
    run_t *run;
    const llm_provider_t *provider;
    const char *model_name;     /* inside the run's model */
    llm_req_t *llm;
    char tool_req[CID_SIZE];    /* tools.call (or updateWorkingMemory's memory.put), or "" */
    char mem_req[CID_SIZE];     /* memory.get in flight (beside a tool call), or "" */
    char preview_req[CID_SIZE]; /* a dry run's tools.call in flight, or "" */
    char preview_call[300];     /* its call_id */
    recaller_ask_t *recall;     /* the automatic recall's search, or the recall tool's */
    int64_t recall_us;          /* when the tool's search was asked */
    char *recall_query;         /* its query */
    int wall_timer, wake_timer;
    bool waiting;               /* for the catalogue */
    char last_event[CID_SIZE];  /* causation of the next event */
} slot_t;

/* A run whose run_started event-log has not stored yet. */
typedef struct {
    slot_t *slot;
    runhost_started_fn *fn;
    void *arg;
} starting_t;

struct _runhost_t {
    svc_t *svc;
    zloop_t *loop;
    rpc_t *rpc;
    runhost_sbx_t *sandboxes;   /* what ended runs left */
    wmem_t *wmem;               /* the runs' working memory */
    recaller_t *recaller;       /* recall: automatic, the tool, vectors */
    llm_client_t *llm;
    titler_t *titler;           /* thread titles by the model (NULL: CAISSON_THREAD_TITLES=0) */
    runstore_t *store;          /* borrowed */
    zhashx_t *runs;             /* id -> slot_t *, the runs in flight */
    zhashx_t *dirty;            /* id -> slot_t *, to snapshot at the next flush */
    int flush_timer;
    /* the catalogue: [{name, description?, inputSchema?, mutates?, runsTests?, effect?}] */
    json_t *tools;
    bool catalogue_pending;
    zlist_t *waiting;           /* slots waiting for the catalogue */
    zlist_t *starting;          /* starting_t: run_started not yet stored */
};

static const run_host_t s_host;

static slot_t *
slot_new (runhost_t *self)
{
    slot_t *s = calloc (1, sizeof *s);
    if (s) {
        s->host = self;
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
    runhost_t *self = s->host;
    llm_req_cancel (&s->llm);
    if (s->tool_req[0])
        rpc_forget (self->rpc, s->tool_req);
    if (s->preview_req[0])
        rpc_forget (self->rpc, s->preview_req);
    if (s->mem_req[0])
        rpc_forget (self->rpc, s->mem_req);
    recaller_cancel (self->recaller, &s->recall);
    free (s->recall_query);
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
emit (slot_t *s, evk_kind_t kind, json_t *data, rpc_done_fn *fn, void *arg)
{
    proto_msg_t *msg = proto_msg_new (PROTO_event_append, NULL);
    const char *id = run_id (s->run), *user = run_user (s->run);
    if (data) {
        proto_set_str (&msg->env.corr, id);
        proto_set_str (&msg->env.run, id);
        proto_set_str (&msg->env.cause, s->last_event[0] ? s->last_event : NULL);
        proto_set_str (&msg->env.user, *user ? user : NULL);
        proto_set_str (&msg->body.event_append.kind, evk_name (kind));
        mpjson_set (&msg->body.event_append.data, data, 64);
        snprintf (s->last_event, sizeof s->last_event, "%s", msg->env.id);
        rpc_call (s->host->rpc, "event-log", msg, 5000, 3, fn, arg);
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
    char *chunk = strndup (text, len);
    json_t *data = chunk ? EVK (text_delta, .text = chunk, .step = run_steps (s->run)) : NULL;
    free (chunk);
    const char *id = run_id (s->run);
    if (data) {
        proto_set_str (&msg->env.corr, id);
        proto_set_str (&msg->env.run, id);
        proto_set_str (&msg->env.cause, s->last_event[0] ? s->last_event : NULL);
        proto_set_str (&msg->body.event.kind, evk_name (EVK_text_delta));
        mpjson_set (&msg->body.event.data, data, 64);
        char topic[256];
        snprintf (topic, sizeof topic, "run.%s.%s", id, evk_name (EVK_text_delta));
        bus_pub_send (svc_pub (s->host->svc), topic, msg);
    }
    proto_msg_destroy (&msg);
    json_decref (data);
}

/* ---- the catalogue ---- */

static void
on_catalogue (const proto_msg_t *reply, const char *error, void *arg)
{
    runhost_t *self = arg;
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
            if (json_is_string (json_object_get (t, "effect")))
                json_object_set (tool, "effect", json_object_get (t, "effect"));
            json_array_append_new (self->tools, tool);
        }
        if (recaller_tool (self->recaller))     /* the orchestrator's own, beside them */
            json_array_append_new (self->tools, recalltool_spec ());
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
            run_end (s->run, PROTO_RUN_failed, reason);
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
    runhost_t *self = s->host;
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
    /* a summary's text is not the run's answer: not streamed as text_delta */
    s->llm = body ? llm_client_post (s->host->llm, s->provider, body, deadline,
                                     run_summarising (s->run) ? NULL : on_delta, on_model, s)
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
        return proto_error_lookup (reply->body.error.code) == PROTO_ERR_busy;
    if (!reply || reply->type != PROTO_tools_result || reply->body.tools_result.ok)
        return false;
    const char *code = json_string_value (json_object_get (json_object_get (result, "error"),
                                                           "code"));
    return code && proto_error_lookup (code) == PROTO_ERR_busy;
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

/* A tools.call of the slot's run, as its user (and op flag). */
static proto_msg_t *
tools_call_new (slot_t *s, const char *call_id, const char *name, const json_t *args,
                uint64_t timeout_ms)
{
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    const char *id = run_id (s->run), *user = run_user (s->run);
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
    return req;
}

static void
on_memory_read (const proto_msg_t *reply, const char *error, void *arg)
{
    slot_t *s = arg;
    s->mem_req[0] = '\0';
    wmem_read_done (reply, error, s->run);
}

static int
host_memory (void *arg)
{
    slot_t *s = arg;
    return wmem_read (s->host->wmem, s->run, on_memory_read, s, s->mem_req);
}

static void
on_memory_write (const proto_msg_t *reply, const char *error, void *arg)
{
    slot_t *s = arg;
    s->tool_req[0] = '\0';
    wmem_write_done (reply, error, s->run);
}

/* ---- recall ---- */

/* The `recalled` event of a search that answered with hits (borrowed). */
static void
emit_recalled (slot_t *s, const char *how, const char *query, const proto_msg_t *reply,
               const json_t *hits, size_t dropped)
{
    const proto_recall_results_t *b = &reply->body.recall_results;
    json_t *refs = recalltool_refs (hits);
    emit (s, EVK_recalled, EVK (recalled, .how = how, .query = query, .mode = b->mode,
                                .hits = refs, .dropped = dropped,
                                .approximate = b->approximate), NULL, NULL);
    json_decref (refs);
}

/* event-log's hits in reply (new), or NULL when it is not recall's answer. */
static json_t *
recall_hits (const proto_msg_t *reply)
{
    if (!reply || reply->type != PROTO_recall_results)
        return NULL;
    char why[128];
    json_t *hits = mpjson_decode (reply->body.recall_results.hits.data,
                                  reply->body.recall_results.hits.size, 16, why, sizeof why);
    if (!json_is_array (hits)) {
        json_decref (hits);
        return NULL;
    }
    return hits;
}

/* The automatic recall answered: what passed the floor goes before the
 * task; the run starts either way. */
static void
on_recall_auto (const proto_msg_t *reply, const char *error, void *arg)
{
    (void) error;
    slot_t *s = arg;
    s->recall = NULL;
    json_t *hits = recall_hits (reply);
    json_t *kept = hits ? recalltool_keep (hits, reply->body.recall_results.mode,
                                           recaller_floor (s->host->recaller),
                                           recaller_auto_k (s->host->recaller)) : NULL;
    if (json_array_size (kept)) {
        char *data = recalltool_render (kept);
        emit_recalled (s, "auto", run_task (s->run), reply, kept,
                       json_array_size (hits) - json_array_size (kept));
        run_set_recalled (s->run, data);
        free (data);
    }
    json_decref (kept);
    json_decref (hits);
    run_advance (s->run);
}

/* Asks for the automatic recall of a new run (its task, its thread left
 * out); false when it is off or could not be asked. */
static bool
recall_auto (slot_t *s)
{
    recaller_t *rc = s->host->recaller;
    size_t k = recaller_auto_k (rc);
    if (!k)
        return false;
    /* by meaning when the task can be embedded, else by words: each has a
     * floor with a meaning (hybrid's fused ranks have none) */
    recaller_query_t q = { run_task (s->run), recaller_embeds (rc) ? "semantic" : "lexical",
                           run_thread (s->run), k * 2, 1 };
    s->recall = recaller_search (rc, s->run, &q, on_recall_auto, s);
    return s->recall != NULL;
}

/* The recall tool's search answered: its result, texts fenced. */
static void
on_recall_tool (const proto_msg_t *reply, const char *error, void *arg)
{
    slot_t *s = arg;
    s->recall = NULL;
    s->tool_req[0] = '\0';
    json_t *hits = recall_hits (reply), *result = NULL;
    if (hits) {
        const proto_recall_results_t *b = &reply->body.recall_results;
        result = recalltool_result (hits, b->mode, b->approximate);
        if (result)
            emit_recalled (s, "tool", s->recall_query ? s->recall_query : "", reply, hits, 0);
    }
    if (!result)
        result = error_result (reply && reply->type == PROTO_error ? reply->body.error.code
                                                                   : "unavailable",
                               reply && reply->type == PROTO_error ? reply->body.error.message
                               : error ? error : "recall could not answer");
    json_decref (hits);
    run_tool_done (s->run, hits != NULL, false, result,
                   (uint64_t) ((zclock_usecs () - s->recall_us) / 1000), NULL);
}

static int
recall_tool (slot_t *s, const json_t *args)
{
    recaller_query_t q = {
        json_string_value (json_object_get (args, "query")),
        json_string_value (json_object_get (args, "mode")),
        json_is_true (json_object_get (args, "includeCurrentThread")) ? NULL : run_thread (s->run),
        (size_t) json_integer_value (json_object_get (args, "k")), 1,
    };
    s->recall_us = zclock_usecs ();
    free (s->recall_query);
    s->recall_query = strdup (q.query);
    s->recall = recaller_search (s->host->recaller, s->run, &q, on_recall_tool, s);
    return s->recall ? 0 : -1;
}

static int
host_tool (void *arg, const char *call_id, const char *name, const json_t *args,
           uint64_t timeout_ms)
{
    slot_t *s = arg;
    if (memtool_is (name))      /* the orchestrator's own: event-log keeps the memory */
        return wmem_write (s->host->wmem, s->run, args, on_memory_write, s, s->tool_req);
    if (recalltool_is (name))   /* the orchestrator's own: event-log searches */
        return recall_tool (s, args);
    runhost_sbx_used (s->host->sandboxes, json_string_value (json_object_get (args, "sandboxId")),
                      run_thread (s->run));
    proto_msg_t *req = tools_call_new (s, call_id, name, args, timeout_ms);
    /* resent every 10 s until the budget ends: a lost reply costs 10 s,
     * and tool-runner answers a resent id from its cache */
    int retries = (int) (timeout_ms / 10000 < 360 ? timeout_ms / 10000 : 360);
    int rc = rpc_call (s->host->rpc, "tool-runner", req, 10000, retries, on_tool, s);
    if (rc == 0)
        snprintf (s->tool_req, sizeof s->tool_req, "%s", req->env.id);
    proto_msg_destroy (&req);
    return rc ? -1 : 0;
}

static void
on_preview (const proto_msg_t *reply, const char *error, void *arg)
{
    slot_t *s = arg;
    s->preview_req[0] = '\0';
    json_t *result = NULL;
    bool ok = false;
    if (!reply)
        result = error_result ("tool_runner_unavailable", error);
    else if (reply->type == PROTO_error)
        result = error_result (reply->body.error.code, reply->body.error.message);
    else if (reply->type == PROTO_tools_result) {
        char why[128];
        result = mpjson_decode (reply->body.tools_result.result.data,
                                reply->body.tools_result.result.size, 64, why, sizeof why);
        ok = reply->body.tools_result.ok && json_is_object (result);
    }
    run_preview_done (s->run, s->preview_call, ok, result);
}

/* The dry run a person sees before approving: tried twice within 60 s;
 * a run still waits for the decision when it fails (it shows why). */
static int
host_preview (void *arg, const char *call_id, const char *name, const json_t *args)
{
    slot_t *s = arg;
    if (s->preview_req[0])
        rpc_forget (s->host->rpc, s->preview_req);
    s->preview_req[0] = '\0';
    proto_msg_t *req = tools_call_new (s, call_id, name, args, 60000);
    req->body.tools_call.dry_run = true;
    int rc = rpc_call (s->host->rpc, "tool-runner", req, 30000, 1, on_preview, s);
    if (rc == 0) {
        snprintf (s->preview_req, sizeof s->preview_req, "%s", req->env.id);
        snprintf (s->preview_call, sizeof s->preview_call, "%s", call_id);
    }
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
        rpc_forget (s->host->rpc, s->tool_req);
    s->tool_req[0] = '\0';
    recaller_cancel (s->host->recaller, &s->recall);
    proto_msg_t *msg = proto_msg_new (PROTO_tools_cancel, NULL);
    char topic[256];
    snprintf (topic, sizeof topic, "tools.cancel.%s", call_id);
    proto_set_str (&msg->body.tools_cancel.call_id, call_id);
    proto_set_str (&msg->body.tools_cancel.reason, reason);
    if (bus_pub_send (svc_pub (s->host->svc), topic, msg))
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
    s->wake_timer = zloop_timer (s->host->loop, delay_ms, 1, on_wake, s);
    return s->wake_timer < 0 ? -1 : 0;
}

static void
host_wake_cancel (void *arg)
{
    slot_t *s = arg;
    if (s->wake_timer >= 0)
        zloop_timer_end (s->host->loop, s->wake_timer);
    s->wake_timer = -1;
}

static void
host_emit (void *arg, evk_kind_t kind, json_t *data)
{
    slot_t *s = arg;
    /* an answer's text is embedded for recall once event-log stored it */
    recaller_ask_t *vec = kind == EVK_text
        ? recaller_pending (s->host->recaller, s->run,
                            json_string_value (json_object_get (data, "text"))) : NULL;
    emit (s, kind, data, vec ? recaller_on_ack : NULL, vec);
}

static void
host_sandbox_done (void *arg, const char *sandbox_id, bool keep)
{
    slot_t *s = arg;
    runhost_sbx_done (s->host->sandboxes, sandbox_id, run_user (s->run), run_op (s->run),
                      run_thread (s->run), keep);
}

static json_t *
snapshot (const slot_t *s)
{
    return runhost_snapshot (s->host, s->run);
}

/* A live run's snapshot waits for the next flush (a run that moved three
 * times meanwhile is written once); a finished one is staged at once,
 * since the run is about to be freed. */
static void
host_save (void *arg)
{
    slot_t *s = arg;
    runhost_t *self = s->host;
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

/* A run ended: it leaves its conversation to its thread (one that did
 * not complete marked as such, run_thread_convo); its snapshot is
 * staged, and it leaves memory. */
static void
host_ended (void *arg)
{
    slot_t *s = arg;
    runhost_t *self = s->host;
    json_t *convo = run_thread_convo (s->run);
    if (!convo || runstore_save_thread (self->store, run_thread (s->run), convo))
        clog_error (run_id (s->run), "cannot keep the thread's conversation");
    json_decref (convo);
    const char *task, *answer = self->titler ? run_first_answer (s->run, &task) : NULL;
    if (answer)
        titler_ask (self->titler, s->provider, s->model_name, run_id (s->run), run_user (s->run),
                    run_thread (s->run), task, answer);
    zhashx_delete (self->runs, run_id (s->run));
}

static const run_host_t s_host = {
    host_now_ms, host_clock_us, host_catalogue, host_model, host_model_cancel, host_tool,
    host_tool_cancel, host_preview, host_wake, host_wake_cancel, host_emit, host_sandbox_done,
    host_save, host_ended, host_memory,
};

static int
on_flush (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    runhost_t *self = arg;
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
    (void) timer_id;
    slot_t *s = arg;
    s->wall_timer = -1;
    /* the timer runs on the monotonic clock, the deadline on the wall
     * clock: a timer a few ms early waits out the rest, so a run never
     * ends for its wall-clock budget before that budget has passed */
    int64_t left = run_deadline (s->run) - zclock_time ();
    if (left > 0) {
        s->wall_timer = zloop_timer (loop, (size_t) left, 1, on_wall, s);
        return 0;
    }
    run_deadline_passed (s->run);
    return 0;
}

/* Takes the slot into the running set with its wall-clock timer. */
static void
adopt (runhost_t *self, slot_t *s)
{
    zhashx_update (self->runs, run_id (s->run), s);
    int64_t left = run_deadline (s->run) - zclock_time ();
    s->wall_timer = zloop_timer (self->loop, left > 0 ? (size_t) left : 0, 1, on_wall, s);
}


/* Every instance keeps its id across restarts (svc_ident.h), so it
 * resumes only the runs it owns: a run is addressed to its owner
 * (runroute.h), and another instance sharing the store answers for its
 * own. A snapshot with no owner (written before owners were kept) is
 * resumed by whoever finds it. A run already in memory is left as it is,
 * so calling this again after an adoption (runlease.h) put more runs in
 * the store resumes those alone. */
int
runhost_resume (runhost_t *self)
{
    zlist_t *ids = runstore_live (self->store);
    if (!ids)
        return -1;
    if (runhost_sbx_restore (self->sandboxes))
        clog_error (NULL, "cannot read the sandboxes kept for threads");
    const char *me = svc_instance (self->svc);
    for (char *id = zlist_first (ids); id; id = zlist_next (ids)) {
        if (zhashx_lookup (self->runs, id))
            continue;
        json_t *snap = runstore_load (self->store, id);
        const char *owner = json_string_value (json_object_get (snap, "owner"));
        if (!snap || (owner && strcmp (owner, me) != 0)) {
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
            run_end (s->run, PROTO_RUN_orchestrator_restarted,
                     "the run's model is no longer known");
            continue;
        }
        clog_info (id, "resumed (%s)", run_status (s->run));
        /* names this instance: event-log's record, and so every client's
         * route to the run (runroute.h), follows it here */
        emit (s, EVK_resumed, EVK (resumed, .status = run_status (s->run), .orchestrator = me),
              NULL, NULL);
        run_advance (s->run);
    }
    zlist_destroy (&ids);
    return 0;
}

/* event-log answered run_started: the run goes on, or (not stored) is
 * dropped; the starter is told either way. */
static void
on_started (const proto_msg_t *reply, const char *error, void *arg)
{
    starting_t *st = arg;
    slot_t *s = st->slot;
    runhost_t *self = s->host;
    zlist_remove (self->starting, st);
    if (reply && reply->type == PROTO_event_ack) {
        adopt (self, s);
        host_save (s);
        st->fn (s->run, NULL, NULL, st->arg);
        recaller_stored (self->recaller, s->run, reply->body.event_ack.run_seq,
                         run_task (s->run));
        if (!recall_auto (s))
            run_advance (s->run);
    }
    else {
        const char *code = reply && reply->type == PROTO_error ? reply->body.error.code
                                                               : "unavailable";
        const char *why = reply && reply->type == PROTO_error ? reply->body.error.message
                        : error ? error : "event-log answered with an unexpected message";
        st->fn (s->run, code, why, st->arg);
        slot_destroy (&s);
    }
    free (st);
}

int
runhost_start (runhost_t *self, const run_spec_t *spec, const char *cause, json_t *data,
               runhost_started_fn *fn, void *arg)
{
    slot_t *s = slot_new (self);
    starting_t *st = s ? calloc (1, sizeof *st) : NULL;
    if (st)
        s->run = run_new (&s_host, s, spec);
    if (!st || !s->run) {
        free (st);
        slot_destroy (&s);
        json_decref (data);
        return -1;
    }
    s->provider = llm_provider_find (run_model (s->run), &s->model_name);
    snprintf (s->last_event, sizeof s->last_event, "%s", cause);
    *st = (starting_t) { s, fn, arg };
    zlist_append (self->starting, st);
    emit (s, EVK_run_started, data, on_started, st);
    return 0;
}

run_t *
runhost_run (runhost_t *self, const char *id)
{
    slot_t *s = zhashx_lookup (self->runs, id);
    return s ? s->run : NULL;
}

json_t *
runhost_snapshot (runhost_t *self, const run_t *run)
{
    json_t *snap = run_to_json (run);
    json_object_set_new (snap, "owner", json_string (svc_instance (self->svc)));
    return snap;
}

size_t
runhost_live_of (runhost_t *self, const char *user)
{
    size_t n = 0;
    user = user ? user : "";
    for (slot_t *s = zhashx_first (self->runs); s; s = zhashx_next (self->runs))
        n += !strcmp (run_user (s->run), user);
    for (starting_t *st = zlist_first (self->starting); st; st = zlist_next (self->starting))
        n += !strcmp (run_user (st->slot->run), user);
    return n;
}

rpc_t *
runhost_rpc (runhost_t *self)
{
    return self->rpc;
}

const json_t *
runhost_catalogue (runhost_t *self)
{
    return self->tools;
}

runhost_t *
runhost_new (svc_t *svc, runstore_t *store)
{
    runhost_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->svc = svc;
    self->store = store;
    self->loop = svc_loop (svc);
    self->rpc = rpc_new (self->loop, cfg_str ("CAISSON_BUS"));
    self->sandboxes = self->rpc ? runhost_sbx_new (self->loop, self->rpc, store) : NULL;
    self->llm = llm_client_new (self->loop);
    if (self->llm && self->rpc && cfg_u64 ("CAISSON_THREAD_TITLES"))
        self->titler = titler_new (self->llm, self->rpc);
    self->wmem = self->rpc ? wmem_new (self->rpc) : NULL;
    self->recaller = self->rpc ? recaller_new (self->loop, self->rpc) : NULL;
    self->runs = zhashx_new ();
    self->dirty = zhashx_new ();
    self->waiting = zlist_new ();
    self->starting = zlist_new ();
    self->flush_timer = zloop_timer (self->loop, FLUSH_MS, 0, on_flush, self);
    if (!self->rpc || !self->sandboxes || !self->llm || !self->wmem || !self->recaller
        || !self->runs || !self->dirty
        || !self->waiting || !self->starting || self->flush_timer < 0) {
        runhost_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->runs, drop_slot);
    uint64_t total = cfg_u64 ("CAISSON_LLM_TIMEOUT_MS");
    llm_client_set_limits (self->llm, (int) cfg_u64 ("CAISSON_LLM_RETRIES"), total, total / 10);
    return self;
}

void
runhost_destroy (runhost_t **self_p)
{
    runhost_t *self = *self_p;
    if (!self)
        return;
    for (starting_t *st = self->starting ? zlist_pop (self->starting) : NULL; st;
         st = zlist_pop (self->starting)) {
        st->fn (NULL, NULL, NULL, st->arg);
        slot_destroy (&st->slot);
        free (st);
    }
    if (self->dirty)
        on_flush (self->loop, self->flush_timer, self);
    if (self->flush_timer >= 0)
        zloop_timer_end (self->loop, self->flush_timer);
    zlist_destroy (&self->starting);
    zhashx_destroy (&self->runs);
    zhashx_destroy (&self->dirty);
    zlist_destroy (&self->waiting);
    titler_destroy (&self->titler);
    llm_client_destroy (&self->llm);
    runhost_sbx_destroy (&self->sandboxes);
    wmem_destroy (&self->wmem);
    recaller_destroy (&self->recaller);
    rpc_destroy (&self->rpc);
    json_decref (self->tools);
    free (self);
    *self_p = NULL;
}
