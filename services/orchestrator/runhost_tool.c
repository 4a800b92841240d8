/* runhost_tool: a run's tool calls (run_host_t's tool entries): sent to
 * tool-runner as the run's user, dry runs before an approval, cancels,
 * and the orchestrator's own tools, the working memory (wmem) and recall
 * (recaller), whose automatic search also runs before a new run's first
 * step. */
#include "runhost_int.h"
#include "clog.h"
#include "memtool.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int
runhost_memory_read (void *arg)
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
    runhost_emit (s, EVK_recalled, EVK (recalled, .how = how, .query = query, .mode = b->mode,
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

bool
runhost_recall_auto (slot_t *s)
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

int
runhost_tool_call (void *arg, const char *call_id, const char *name, const json_t *args,
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
int
runhost_tool_preview (void *arg, const char *call_id, const char *name,
                      const json_t *args)
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
void
runhost_tool_cancel (void *arg, const char *call_id, const char *reason)
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
