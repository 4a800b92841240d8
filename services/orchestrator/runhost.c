/* runhost: the runs in flight and the host they act through (see
 * runhost.h): the slots, a run's start once event-log stored it, resuming
 * after a restart, the grouped snapshot writes and the wall-clock timers.
 * What a run asks of its host is in runhost_host.c and runhost_tool.c. */
#include "runhost_int.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLUSH_MS 20             /* snapshots of a run's transitions are grouped this long */

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
    if (s->cat) {
        zlist_remove (s->cat->waiting, s);
        if (s->cat->waking)
            zlist_remove (s->cat->waking, s);
        s->cat->slots--;
    }
    runhost_gw_release (s);
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

void
runhost_emit (slot_t *s, evk_kind_t kind, json_t *data, rpc_done_fn *fn, void *arg)
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

/* ---- the running set ---- */

static int
on_flush (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    runhost_t *self = arg;
    for (slot_t *s = zhashx_first (self->dirty); s; s = zhashx_next (self->dirty)) {
        json_t *snap = runhost_snapshot (self, s->run);
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
        if (s && !(s->run = run_from_json (&runhost_vtable, s, snap, why, sizeof why))) {
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
        runhost_emit (s, EVK_resumed,
                      EVK (resumed, .status = run_status (s->run), .orchestrator = me), NULL,
                      NULL);
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
        runhost_save (s);
        st->fn (s->run, NULL, NULL, st->arg);
        recaller_stored (self->recaller, s->run, reply->body.event_ack.run_seq,
                         run_task (s->run));
        if (!runhost_recall_auto (s))
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
runhost_start (runhost_t *self, const run_spec_t *spec, const json_t *profile,
               const char *cause, json_t *data, runhost_started_fn *fn, void *arg)
{
    slot_t *s = slot_new (self);
    starting_t *st = s ? calloc (1, sizeof *st) : NULL;
    if (st)
        s->run = run_new (&runhost_vtable, s, spec);
    if (s && s->run)
        run_set_profile (s->run, profile);
    /* the event says what the run is: a tool run's call is in it */
    json_t *tool_call = json_object_get (data, "toolCall");
    if (st && s->run && tool_call && run_make_tool_run (s->run, tool_call))
        run_destroy (&s->run);
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
    runhost_emit (s, EVK_run_started, data, on_started, st);
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
runhost_catalogue (runhost_t *self, const char *user)
{
    runcat_t *cat = zhashx_lookup (self->cats, user ? user : "");
    return cat ? cat->tools : NULL;
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
    bool via = cfg_u64 ("CAISSON_GATEWAY_ORCHESTRATOR") != 0;
    if (self->rpc && via)
        self->keys = userkey_new (self->rpc);
    if (self->llm && self->rpc && cfg_u64 ("CAISSON_THREAD_TITLES"))
        self->titler = titler_new (self->llm, self->rpc, self->keys);
    self->wmem = self->rpc ? wmem_new (self->rpc) : NULL;
    self->recaller = self->rpc ? recaller_new (self->loop, self->rpc, self->keys) : NULL;
    self->runs = zhashx_new ();
    self->dirty = zhashx_new ();
    self->cats = zhashx_new ();
    self->starting = zlist_new ();
    self->catalogue_ttl = (int64_t) cfg_u64 ("CAISSON_TOOLS_CATALOGUE_TTL_MS");
    self->flush_timer = zloop_timer (self->loop, FLUSH_MS, 0, on_flush, self);
    if (!self->rpc || !self->sandboxes || !self->llm || !self->wmem || !self->recaller
        || (via && !self->keys)
        || !self->runs || !self->dirty
        || !self->cats || !self->starting || self->flush_timer < 0) {
        runhost_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->runs, drop_slot);
    zhashx_set_destructor (self->cats, runhost_cat_free);
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
    titler_destroy (&self->titler);
    llm_client_destroy (&self->llm);
    runhost_sbx_destroy (&self->sandboxes);
    wmem_destroy (&self->wmem);
    recaller_destroy (&self->recaller);
    userkey_destroy (&self->keys);
    rpc_destroy (&self->rpc);       /* no fetch's answer comes after */
    zhashx_destroy (&self->cats);
    free (self);
    *self_p = NULL;
}
