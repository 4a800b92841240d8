/* runhost_host: the run_host_t a run acts through (run.h), one per slot:
 * the tool catalogue (one per user, shared by their runs, kept current:
 * tools.list asked as the user, whose own MCP servers' tools join it),
 * model turns on the
 * model client with their text deltas, wakes, events, snapshots, and what
 * is left when a run ends. Tool calls are runhost_tool.c's. */
#include "runhost_int.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"
#include "prompt.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Whether mcp.list's answer (NULL: none) names a server whose tools may
 * still join the catalogue: one `starting`, or a stdio one tool-runner's
 * starter has not reached yet (`configured`; a remote one stays so, not
 * connected). The hook for what a new kind of server adds. */
static bool
servers_starting (const proto_msg_t *reply)
{
    if (!reply || reply->type != PROTO_mcp_servers)
        return false;           /* a tool-runner without MCP servers' states */
    char why[128];
    json_t *list = mpjson_decode (reply->body.mcp_servers.servers.data,
                                  reply->body.mcp_servers.servers.size, 16, why, sizeof why);
    bool starting = false;
    size_t i;
    json_t *srv;
    json_array_foreach (list, i, srv) {
        const char *state = json_string_value (json_object_get (srv, "state")) ?: "";
        const char *transport = json_string_value (json_object_get (srv, "transport")) ?: "";
        if (!strcmp (state, "starting") || (!strcmp (state, "configured")
                                            && !strcmp (transport, "stdio")))
            starting = true;
    }
    json_decref (list);
    return starting;
}

/* Whether tool name can be offered to a model: its wire spelling fits
 * both providers' rule and is not one an earlier tool's has (wires maps
 * those; a model's call names the tool by it). One that cannot is kept
 * from models (logged when log): every model request would be refused,
 * or a call be read back as the wrong tool. MCP servers' names make
 * such tools (`srv_.a` and `srv._a`; 64 bytes with a dot). */
static bool
offerable (json_t *wires, const char *name, bool log)
{
    char *wire = llm_wire_name_ok (name) ? llm_wire_name (name) : NULL;
    const char *other = wire ? json_string_value (json_object_get (wires, wire)) : NULL;
    if (wire && !other)
        json_object_set_new (wires, wire, json_string (name));
    else if (log)
        clog_warn (NULL, "tool %s left out of what models are offered: %s", name,
                   other ? "its wire spelling is also another tool's"
                         : "its wire spelling is not 1-64 of A-Z a-z 0-9 _ - (a dot counts two)");
    free (wire);
    return wire && !other;
}

void
runhost_cat_free (void **item)
{
    runcat_t *cat = *item;
    if (!cat)
        return;
    json_decref (cat->tools);
    zlist_destroy (&cat->waiting);
    free (cat->user);
    free (cat);
    *item = NULL;
}

/* The catalogue of the slot's run's user, made (empty, not fetched) when
 * there is none; others no slot uses, no fetch awaits and 10 TTLs old
 * are dropped then, so users gone cost nothing. */
static runcat_t *
cat_of (slot_t *s)
{
    if (s->cat)
        return s->cat;
    runhost_t *self = s->host;
    const char *user = run_user (s->run) ? run_user (s->run) : "";
    runcat_t *cat = zhashx_lookup (self->cats, user);
    if (!cat) {
        zlist_t *old = zlist_new ();
        zlist_autofree (old);
        for (runcat_t *c = zhashx_first (self->cats); c; c = zhashx_next (self->cats))
            if (!c->slots && !c->pending
                && zclock_mono () - c->fetched_at > 10 * self->catalogue_ttl)
                zlist_append (old, c->user);
        for (char *u = zlist_first (old); u; u = zlist_next (old))
            zhashx_delete (self->cats, u);
        zlist_destroy (&old);
        cat = xcalloc (1, sizeof *cat);
        cat->user = xstrdup (user);
        cat->waiting = zlist_new ();
        cat->host = self;
        zhashx_insert (self->cats, user, cat);
    }
    cat->slots++;
    s->cat = cat;
    return cat;
}

/* tools.list answered: the catalogue is what it says (a failed fetch
 * keeps the one loaded), and the slots waiting for it go on. */
static void
on_catalogue (const proto_msg_t *reply, const char *error, void *arg)
{
    runcat_t *cat = arg;
    runhost_t *self = cat->host;
    cat->pending = false;
    cat->fetched_at = cat->fetch_sent;      /* tried: not again before the TTL */
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
        bool changed = !cat->tools || json_array_size (list) != cat->listed;    /* logged */
        cat->listed = json_array_size (list);
        json_decref (cat->tools);
        cat->tools = json_array ();
        cat->incomplete = cat->fetch_incomplete;
        json_t *wires = json_object ();     /* wire spelling -> the tool that has it */
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
            if (!offerable (wires, name, changed))   /* still judged by its flags */
                json_object_set_new (tool, "unoffered", json_true ());
            json_array_append_new (cat->tools, tool);
        }
        json_decref (wires);
        if (recaller_tool (self->recaller))     /* the orchestrator's own, beside them */
            json_array_append_new (cat->tools, recalltool_spec ());
        if (changed)
            clog_info (NULL, "tool catalogue of %s: %zu tools%s", *cat->user ? cat->user : "-",
                       json_array_size (cat->tools),
                       cat->incomplete ? " (an MCP server is still starting)" : "");
    }
    else if (cat->tools)
        clog_warn (NULL, "tool catalogue of %s not refreshed: %s", *cat->user ? cat->user : "-",
                   why);
    json_decref (list);
    /* advanced from a list of their own: a slot that asks again waits for
     * the next fetch, not this one's answer */
    zlist_t *woken = cat->waking = cat->waiting;
    cat->waiting = zlist_new ();
    slot_t *s;
    while ((s = zlist_pop (woken))) {
        s->waiting = false;
        s->fresh_turn = s->wait_need == RUN_CAT_TURN;
        s->fresh_call = s->wait_need == RUN_CAT_FRESH;
        if (cat->tools)
            run_advance (s->run);
        else {
            char reason[320];
            snprintf (reason, sizeof reason, "no tool catalogue: %s", why);
            run_end (s->run, PROTO_RUN_failed, reason);
        }
    }
    cat->waking = NULL;
    zlist_destroy (&woken);
}

/* A request of type to tool-runner as cat's user (not an operator: what
 * the user's runs may use). */
static proto_msg_t *
ask_as (const runcat_t *cat, proto_type_t type)
{
    proto_msg_t *req = proto_msg_new (type, NULL);
    if (req && *cat->user)
        proto_set_str (&req->env.user, cat->user);
    return req;
}

/* mcp.list answered (or not): whether a server is still starting (the
 * deployment's or the user's own), then tools.list. States first: a
 * server ready in between has its tools in the list, and is merely looked
 * at again. */
static void
on_servers (const proto_msg_t *reply, const char *error, void *arg)
{
    (void) error;
    runcat_t *cat = arg;
    cat->fetch_incomplete = servers_starting (reply);
    proto_msg_t *req = ask_as (cat, PROTO_tools_list);
    if (!req || rpc_call (cat->host->rpc, "tool-runner", req, 5000, 2, on_catalogue, cat))
        on_catalogue (NULL, "cannot ask tool-runner for its tools", cat);
    proto_msg_destroy (&req);
}

/* Fetches cat unless a fetch of it is in flight. */
static void
fetch (runcat_t *cat)
{
    if (cat->pending)
        return;
    proto_msg_t *req = ask_as (cat, PROTO_mcp_list);
    cat->fetch_sent = zclock_mono ();
    if (req && rpc_call (cat->host->rpc, "tool-runner", req, 5000, 2, on_servers, cat) == 0)
        cat->pending = true;
    proto_msg_destroy (&req);
}

/* ---- the run's host ---- */

static int64_t host_now_ms (void *arg) { (void) arg; return zclock_time (); }
static int64_t host_clock_us (void *arg) { (void) arg; return zclock_usecs (); }

/* The loaded catalogue of the run's user, fetched again in the background
 * once older than the TTL. A model turn waits for a fetch anew while an MCP server was
 * starting at the last one (so it sees the server's tools at the first
 * turn after it is ready); a call of a tool it lacks waits for one, at
 * most once a turn (a tool still missing is not listed). */
static const json_t *
host_catalogue (void *arg, run_cat_need_t need)
{
    slot_t *s = arg;
    runcat_t *cat = cat_of (s);
    bool anew = need == RUN_CAT_TURN ? cat->incomplete && !s->fresh_turn
              : need == RUN_CAT_FRESH ? !s->fresh_call : false;
    if (need == RUN_CAT_TURN)
        s->fresh_turn = s->fresh_call = false;
    if (cat->tools && !anew) {
        if (zclock_mono () - cat->fetched_at >= s->host->catalogue_ttl)
            fetch (cat);
        return cat->tools;
    }
    if (!s->waiting) {
        s->waiting = true;
        s->wait_need = need;
        zlist_append (cat->waiting, s);
    }
    fetch (cat);
    return NULL;
}

static void
on_model (const llm_result_t *res, void *arg)
{
    slot_t *s = arg;
    s->llm = NULL;
    if (res->turn)
        run_model_done (s->run, res->turn);
    else if (res->budget)
        run_model_over_budget (s->run, res->budget, res->error);
    else
        run_model_failed (s->run, res->attempts, res->error);
}

static int host_model (void *arg, const json_t *messages, const json_t *tools,
                       uint64_t max_out, uint64_t deadline_ms);

static void
gw_drop_turn (slot_t *s)
{
    json_decref (s->gw_messages);
    json_decref (s->gw_tools);
    s->gw_messages = s->gw_tools = NULL;
}

/* gateway-keys answered the run key's mint: the waiting turn goes on, or
 * fails with the reason (the run's model cannot be reached without it). */
static void
on_gkey (const proto_msg_t *reply, const char *error, void *arg)
{
    slot_t *s = arg;
    s->gkey_req[0] = 0;
    json_t *messages = s->gw_messages, *tools = s->gw_tools;
    s->gw_messages = s->gw_tools = NULL;
    if (reply && reply->type == PROTO_gkey_made && reply->body.gkey_made.key)
        s->gkey = strdup (reply->body.gkey_made.key);
    if (!s->gkey || host_model (s, messages, tools, s->gw_max_out, s->gw_deadline)) {
        char why[600];
        snprintf (why, sizeof why, "model gateway: no key for the run: %s",
                  reply && reply->type == PROTO_error ? reply->body.error.message
                  : error ? error : "gateway-keys did not answer");
        run_model_failed (s->run, 1, why);
    }
    json_decref (messages);
    json_decref (tools);
}

/* Asks gateway-keys for the run's key (kind run, the run's user, as a
 * service) and keeps the turn until it answers. 0 or -1. */
static int
gw_mint (slot_t *s, const json_t *messages, const json_t *tools, uint64_t max_out,
         uint64_t deadline_ms)
{
    proto_msg_t *req = proto_msg_new (PROTO_gkey_create, NULL);
    proto_set_str (&req->env.user, run_user (s->run));
    req->env.op = true;
    proto_set_str (&req->body.gkey_create.user, run_user (s->run));
    proto_set_str (&req->body.gkey_create.kind, "run");
    proto_set_str (&req->body.gkey_create.name, run_id (s->run));
    proto_set_str (&req->body.gkey_create.run, run_id (s->run));
    snprintf (s->gkey_req, sizeof s->gkey_req, "%s", req->env.id ? req->env.id : "");
    int rc = rpc_call (s->host->rpc, "gateway-keys", req, 5000, 2, on_gkey, s);
    proto_msg_destroy (&req);
    if (rc)
        return -1;
    s->gw_messages = json_incref ((json_t *) messages);
    s->gw_tools = json_incref ((json_t *) tools);
    s->gw_max_out = max_out;
    s->gw_deadline = deadline_ms;
    return 0;
}

void
runhost_gw_release (slot_t *s)
{
    if (s->gkey_req[0])
        rpc_forget (s->host->rpc, s->gkey_req);
    s->gkey_req[0] = 0;
    gw_drop_turn (s);
    if (!s->gkey)
        return;
    /* fire and forget: one left live lapses with gateway-keys' sweep */
    proto_msg_t *req = proto_msg_new (PROTO_gkey_revoke, NULL);
    proto_set_str (&req->env.user, run_user (s->run));
    req->env.op = true;
    proto_set_str (&req->body.gkey_revoke.run, run_id (s->run));
    rpc_call (s->host->rpc, "gateway-keys", req, 5000, 0, NULL, NULL);
    proto_msg_destroy (&req);
    free (s->gkey);
    s->gkey = NULL;
}

/* A model turn: straight to the provider, or (CAISSON_GATEWAY_ORCHESTRATOR=1)
 * through the gateway with the run's virtual key and the full
 * `provider/model`, so the run's user's budget covers it. */
static int
host_model (void *arg, const json_t *messages, const json_t *tools, uint64_t max_out,
            uint64_t deadline_ms)
{
    slot_t *s = arg;
    bool via = cfg_u64 ("CAISSON_GATEWAY_ORCHESTRATOR") != 0;
    if (via && !s->gkey)
        return gw_mint (s, messages, tools, max_out, deadline_ms);
    char full[512];
    snprintf (full, sizeof full, "%s/%s", s->provider->name, s->model_name);
    const char *model = via ? full : s->model_name;
    char *body = s->provider->proto == LLM_ANTHROPIC
        ? llm_anthropic_request (model, run_system_prompt (s->run), messages, tools, max_out)
        : llm_openai_request (model, run_system_prompt (s->run), messages, tools, 0);
    uint64_t deadline = (uint64_t) zclock_mono () + (deadline_ms - (uint64_t) zclock_time ());
    /* a summary's text is not the run's answer: not streamed as text_delta */
    llm_delta_fn *delta = run_summarising (s->run) ? NULL : on_delta;
    char base[600];
    snprintf (base, sizeof base, "%s/v1", cfg_str ("CAISSON_GATEWAY_URL"));
    s->llm = !body ? NULL
           : via ? llm_client_post_via (s->host->llm, s->provider, base, s->gkey, body, deadline,
                                        delta, on_model, s)
                 : llm_client_post (s->host->llm, s->provider, body, deadline, delta, on_model,
                                    s);
    free (body);
    return s->llm ? 0 : -1;
}

static void
host_model_cancel (void *arg)
{
    slot_t *s = arg;
    llm_req_cancel (&s->llm);
    if (s->gkey_req[0])
        rpc_forget (s->host->rpc, s->gkey_req);
    s->gkey_req[0] = 0;
    gw_drop_turn (s);
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
    runhost_emit (s, kind, data, vec ? recaller_on_ack : NULL, vec);
}

static void
host_sandbox_done (void *arg, const char *sandbox_id, bool keep)
{
    slot_t *s = arg;
    runhost_sbx_done (s->host->sandboxes, sandbox_id, run_user (s->run), run_op (s->run),
                      run_thread (s->run), keep);
}

/* A live run's snapshot waits for the next flush (a run that moved three
 * times meanwhile is written once); a finished one is staged at once,
 * since the run is about to be freed. */
void
runhost_save (void *arg)
{
    slot_t *s = arg;
    runhost_t *self = s->host;
    const char *id = run_id (s->run);
    if (run_live (s->run)) {
        zhashx_update (self->dirty, id, s);
        return;
    }
    zhashx_delete (self->dirty, id);
    json_t *snap = runhost_snapshot (self, s->run);
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

const run_host_t runhost_vtable = {
    host_now_ms, host_clock_us, host_catalogue, host_model, host_model_cancel, runhost_tool_call,
    runhost_tool_cancel, runhost_tool_preview, host_wake, host_wake_cancel, host_emit,
    host_sandbox_done, runhost_save, host_ended, runhost_memory_read,
};
