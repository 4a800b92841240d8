/* handler: tools.list and tools.call on job threads. See handler.h. */
#define _GNU_SOURCE
#include "handler.h"
#include "calls.h"
#include "catalogue.h"
#include "cfg.h"
#include "clog.h"
#include "forge.h"
#include "guard.h"
#include "mpjson.h"
#include "jsoncap.h"
#include "mcpc.h"
#include "mcpc_config.h"
#include "mcpc_limits.h"
#include "mcpc_store.h"
#include "mcpc_users.h"
#include "runroute.h"
#include "bus_tap.h"
#include "sandbox_call.h"
#include "schema.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WAITERS 8
#define MAX_CANCELLED 256

typedef enum { JOB_WAITING, JOB_RUNNING } job_state_t;

typedef struct _job_t job_t;
struct _job_t {
    handler_t *owner;
    job_state_t state;
    const tool_def_t *tool;
    mcpc_t *set;                /* an MCP tool's server set, held while the job lives */
    char call_id[129];
    char fp[CID_SIZE];
    char corr[CID_SIZE];
    char *user;
    char *run;                  /* the call's run, for its artifacts */
    bool op;
    json_t *args;
    guard_t *guard;
    bool dry_run;
    unsigned timeout_s;
    int64_t started;            /* zclock_usecs */
    int64_t give_up;            /* zclock_mono: a waiting job stops waiting */
    bus_pending_t *pending[MAX_WAITERS];
    int npending;
    pthread_t thread;
    tool_cancel_t cancel;
    json_t *result;
    job_t *next;
};

struct _handler_t {
    svc_t *svc;
    catalogue_t *catalogue;
    mcpc_t *mcp;                /* the MCP servers of CAISSON_MCP_SERVERS */
    mcpc_users_t *users;        /* users' own MCP servers */
    bus_client_t *store;        /* to event-log, which keeps users' mcp.json */
    guard_t *guard;
    calls_t *calls;
    forge_t *forge;
    int pipe[2];
    size_t running;
    size_t max_running;
    size_t per_user;            /* running calls one user may hold */
    uint64_t ticks;
    job_t *jobs;
    bus_tap_t *cancels;         /* tools.cancel.* */
    bus_client_t *ctl;          /* sandbox.exec.cancel, answers only logged */
    /* call ids cancelled here, so a call that arrives after its cancel
     * is not started; a ring */
    char cancelled[MAX_CANCELLED][129];
    unsigned cancelled_next;
};

static void
job_free (job_t *job)
{
    mcpc_users_release (job->owner->users, &job->set);
    json_decref (job->args);
    json_decref (job->result);
    guard_destroy (&job->guard);
    pthread_mutex_destroy (&job->cancel.lock);
    free (job->user);
    free (job->run);
    free (job);
}

/* ---- replies ------------------------------------------------------------ */

static proto_msg_t *
result_msg (const proto_msg_t *cause, const char *call_id, const char *name,
            const json_t *result, bool ok, int64_t duration_us)
{
    proto_msg_t *rep = proto_msg_new (PROTO_tools_result, cause);
    if (!rep)
        return NULL;
    proto_tools_result_t *b = &rep->body.tools_result;
    proto_set_str (&b->call_id, call_id);
    proto_set_str (&b->name, name);
    b->ok = ok;
    b->duration_us = duration_us > 0 ? (uint64_t) duration_us : 0;
    if (mpjson_set (&b->result, result, 32)) {
        json_t *e = tool_error ("output_too_large", NULL, "the result could not be encoded");
        mpjson_set (&b->result, e, 32);
        b->ok = false;
        json_decref (e);
    }
    return rep;
}

static void
answer_all (handler_t *self, job_t *job, const json_t *result, bool ok)
{
    int64_t took = zclock_usecs () - job->started;
    for (int i = 0; i < job->npending; i++) {
        proto_msg_t *rep = result_msg (bus_pending_request (job->pending[i]), job->call_id,
                                       job->tool->name, result, ok, took);
        if (rep)
            proto_set_str (&rep->body.tools_result.instance, svc_instance (self->svc));
        bus_worker_answer (svc_worker (self->svc), &job->pending[i], rep);
    }
    job->npending = 0;
}

static void
unlink_job (handler_t *self, job_t *job)
{
    for (job_t **p = &self->jobs; *p; p = &(*p)->next)
        if (*p == job) {
            *p = job->next;
            return;
        }
}

/* ---- job threads -------------------------------------------------------- */

static void *
job_main (void *arg)
{
    job_t *job = arg;
    tool_ctx_t ctx = {
        .call_id = job->call_id, .tool = job->tool->name, .corr = job->corr,
        .user = job->user, .run = job->run,
        .op = job->op,
        .dry_run = job->dry_run,
        .guard = job->guard, .timeout_s = job->timeout_s, .forge = job->owner->forge,
        .calls = job->owner->calls, .cancel = &job->cancel, .def = job->tool,
    };
    /* Past the tool's timeout, a little time for sandbox-manager to report
     * the timeout itself (timedOut) before tool-runner gives up waiting. */
    int64_t margin = (int64_t) job->timeout_s * 200;
    margin = margin < 1000 ? 1000 : margin > 5000 ? 5000 : margin;
    ctx.deadline = zclock_mono () + (int64_t) job->timeout_s * 1000 + margin;
    ctx.client = bus_client_new (cfg_str ("CAISSON_BUS"));
    json_t *result = ctx.client ? job->tool->fn (&ctx, job->args)
                                : tool_error ("internal", NULL, "cannot reach the bus");
    bus_client_destroy (&ctx.client);
    if (!result)
        result = tool_error ("internal", NULL, "the tool failed without saying why");
    /* too large: cut inside the value, so what is returned is still JSON
     * of the tool's shape and says it was truncated */
    json_t *fit = jsoncap_fit (result, job->tool->max_output + (job->tool->max_output >> 2));
    json_decref (result);
    job->result = fit ? fit : tool_error ("internal", NULL, "out of memory");
    ssize_t w = write (job->owner->pipe[1], &job, sizeof job);
    (void) w;
    return NULL;
}

/* How many calls of user (NULL or "" is one anonymous user) run here. */
static size_t
running_for (handler_t *self, const char *user)
{
    size_t n = 0;
    for (job_t *j = self->jobs; j; j = j->next)
        if (j->state == JOB_RUNNING && !strcmp (j->user ? j->user : "", user ? user : ""))
            n++;
    return n;
}

static int
start_job (handler_t *self, job_t *job)
{
    sigset_t all, old;
    sigfillset (&all);
    /* Signals stay with the service loop's thread. */
    pthread_sigmask (SIG_BLOCK, &all, &old);
    job->state = JOB_RUNNING;
    job->started = zclock_usecs ();
    int rc = pthread_create (&job->thread, NULL, job_main, job);
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    if (rc) {
        job->state = JOB_WAITING;
        return -1;
    }
    self->running++;
    return 0;
}

static int
on_job_done (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop, (void) item;
    handler_t *self = arg;
    job_t *job;
    while (read (self->pipe[0], &job, sizeof job) == (ssize_t) sizeof job) {
        pthread_join (job->thread, NULL);
        self->running--;
        if (job->cancel.cancelled) {
            /* whatever the tool made of its killed process, the call did
             * not do its work: say so */
            json_decref (job->result);
            job->result = tool_error ("cancelled", NULL, "the call was cancelled (its run "
                                      "ended); what it had done before stays done");
        }
        bool ok = !tool_failed (job->result), kept_ok;
        json_t *kept;
        if (calls_finish (self->calls, job->call_id, job->result, ok, &kept, &kept_ok))
            clog_error (job->corr, "call %s: result not stored", job->call_id);
        clog_info (job->corr, "call %s %s: %s in %lld ms", job->call_id, job->tool->name,
                   ok ? "ok" : "error", (long long) (zclock_usecs () - job->started) / 1000);
        answer_all (self, job, kept, kept_ok);
        json_decref (kept);
        unlink_job (self, job);
        job_free (job);
    }
    return 0;
}

/* Renews the leases of running calls; looks again at calls waiting on
 * another instance: done (answer), lapsed (take over) or still running. */
static int
on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    handler_t *self = arg;
    const char *ids[256];
    size_t n = 0;
    for (job_t *j = self->jobs; j && n < 256; j = j->next)
        if (j->state == JOB_RUNNING)
            ids[n++] = j->call_id;
    calls_renew (self->calls, ids, n);
    mcpc_users_expire (self->users, (int64_t) cfg_u64 ("CAISSON_MCP_USER_IDLE_S") * 1000);
    /* Old results go a few at a time, so no tick holds the store long. */
    uint64_t keep = cfg_u64 ("CAISSON_TOOLS_KEEP_HOURS") * 3600000;
    if (++self->ticks % 60 == 0 && calls_now_ms () > keep)
        calls_expire (self->calls, calls_now_ms () - keep, 1000);
    for (job_t *j = self->jobs, *next; j; j = next) {
        next = j->next;
        if (j->state != JOB_WAITING)
            continue;
        json_t *result = NULL;
        bool ok = false;
        calls_state_t st = calls_claim (self->calls, j->call_id, j->fp, &result, &ok);
        if (st == CALLS_DONE)
            answer_all (self, j, result, ok);
        else if (st == CALLS_MINE && start_job (self, j) == 0)
            continue;
        else if (st == CALLS_BUSY && zclock_mono () < j->give_up)
            continue;
        else {
            json_t *e = tool_error ("busy", NULL, "the call is still running elsewhere; ask "
                                    "again with the same callId later");
            answer_all (self, j, e, false);
            json_decref (e);
        }
        json_decref (result);
        unlink_job (self, j);
        job_free (j);
    }
    return 0;
}

/* ---- cancellation ------------------------------------------------------- */

static bool
was_cancelled (handler_t *self, const char *call_id)
{
    for (size_t i = 0; i < MAX_CANCELLED; i++)
        if (!strcmp (self->cancelled[i], call_id))
            return true;
    return false;
}

/* Asks the sandbox-manager that owns sandbox_id to kill the process
 * request started. Not waited for: the job's own exec request ends when
 * the process does. */
static void
kill_exec (handler_t *self, const job_t *job, const char *sandbox_id, const char *request)
{
    char service[160];
    const char *corr = job->corr;
    if (runroute_sandbox (sandbox_id, service, sizeof service))
        return;
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_cancel, NULL);
    uint8_t *data = NULL;
    size_t size = 0;
    if (cid_valid (corr))
        proto_set_str (&req->env.corr, corr);
    /* on behalf of the call's user, as its exec was */
    if (job->user)
        proto_set_str (&req->env.user, job->user);
    req->env.op = job->op;
    proto_set_str (&req->body.sandbox_exec_cancel.sandbox_id, sandbox_id);
    proto_set_str (&req->body.sandbox_exec_cancel.request, request);
    if (proto_encode (req, &data, &size)
        || bus_client_send (self->ctl, service, data, size))
        clog_error (corr, "cannot ask %s to cancel request %s", service, request);
    free (data);
    proto_msg_destroy (&req);
}

static int
on_cancel (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop, (void) sock;
    handler_t *self = arg;
    char topic[256] = "";
    proto_err_t err;
    proto_msg_t *msg = bus_tap_recv (self->cancels, topic, sizeof topic, 0, &err);
    if (!msg || msg->type != PROTO_tools_cancel) {
        if (msg || err.code)
            clog_error (NULL, "%s: ignored (%s)", topic, msg ? proto_type_name (msg->type)
                                                             : err.text);
        proto_msg_destroy (&msg);
        return 0;
    }
    const char *call_id = msg->body.tools_cancel.call_id;
    if (!was_cancelled (self, call_id))
        snprintf (self->cancelled[self->cancelled_next++ % MAX_CANCELLED],
                  sizeof self->cancelled[0], "%s", call_id);
    for (job_t *j = self->jobs; j; j = j->next) {
        /* a waiting job's call runs on another instance, which stops it */
        if (j->state != JOB_RUNNING || strcmp (j->call_id, call_id))
            continue;
        char sandbox_id[sizeof j->cancel.sandbox_id], request[CID_SIZE];
        pthread_mutex_lock (&j->cancel.lock);
        j->cancel.cancelled = true;
        snprintf (sandbox_id, sizeof sandbox_id, "%s", j->cancel.sandbox_id);
        snprintf (request, sizeof request, "%s", j->cancel.request);
        pthread_mutex_unlock (&j->cancel.lock);
        clog_info (j->corr, "call %s cancelled (%s)%s%s", call_id,
                   msg->body.tools_cancel.reason ? msg->body.tools_cancel.reason : "no reason given",
                   request[0] ? "; killing exec " : "", request);
        if (request[0])
            kill_exec (self, j, sandbox_id, request);
        if (j->set)     /* an MCP tool's: its wait for the server ends, the server told */
            mcpc_cancel (j->set, &j->cancel, msg->body.tools_cancel.reason
                                             ? msg->body.tools_cancel.reason
                                             : "the call was cancelled");
    }
    proto_msg_destroy (&msg);
    return 0;
}

static int
on_ctl_reply (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop, (void) sock;
    handler_t *self = arg;
    proto_msg_t *rep = bus_client_recv (self->ctl, 0, NULL);
    if (rep && rep->type == PROTO_error)
        clog_error (rep->env.corr, "sandbox.exec.cancel: %s: %s", rep->body.error.code,
                    rep->body.error.message);
    proto_msg_destroy (&rep);
    return 0;
}

/* ---- requests ----------------------------------------------------------- */

static proto_msg_t *
refuse (const proto_msg_t *req, const char *name, json_t *error)
{
    proto_msg_t *rep = result_msg (req, req->body.tools_call.call_id, name, error, false, 0);
    json_decref (error);
    return rep;
}

static void
fingerprint (const char *name, const json_t *args, bool dry, char out[CID_SIZE])
{
    char *text = json_dumps (args, JSON_COMPACT | JSON_SORT_KEYS);
    size_t len = strlen (name) + (text ? strlen (text) : 0) + 8;
    char *key = malloc (len);
    if (key) {
        snprintf (key, len, "%s\n%s\n%d", name, text ? text : "", dry);
        sandbox_call_derive_id (key, out);
    }
    else
        sandbox_call_derive_id (name, out);
    free (key);
    free (text);
}

static proto_msg_t *
call (handler_t *self, const proto_msg_t *req)
{
    const proto_tools_call_t *c = &req->body.tools_call;
    size_t index;
    const tool_def_t *tool = catalogue_find (self->catalogue, c->name, &index);
    const json_t *input = tool ? catalogue_input (self->catalogue, index) : NULL;
    mcpc_t *set = NULL;         /* an MCP tool's: the deployment's or the caller's own */
    if (!tool) {
        set = self->mcp;
        tool = mcpc_tool_find (set, c->name, &input);
        mcpc_t *mine = tool ? NULL : mcpc_users_get (self->users, req->env.user);
        if (mine) {
            set = mine;
            tool = mcpc_tool_find (mine, c->name, &input);
        }
    }
    if (!tool)
        return refuse (req, c->name, tool_error ("unknown_tool", "name", "there is no tool named "
                                                 "%s; tools.list gives the catalogue", c->name));
    char why[160];
    json_t *args = c->args.size ? mpjson_decode (c->args.data, c->args.size, 24, why, sizeof why)
                                : json_object ();
    if (!args)
        return refuse (req, c->name, tool_error ("invalid_arguments", NULL, "arguments are not "
                                                 "valid JSON: %s", why));
    json_t *error = NULL;
    if (schema_validate (input, args, &error)) {
        json_decref (args);
        return refuse (req, c->name, error);
    }
    json_t *limits = c->limits.size ? mpjson_decode (c->limits.data, c->limits.size, 8, why,
                                                     sizeof why)
                                    : NULL;
    guard_t *guard = c->limits.size && !limits ? NULL
                                               : guard_narrow (self->guard, limits, &error);
    json_decref (limits);
    if (!guard) {
        json_decref (args);
        return refuse (req, c->name, error ? error : tool_error ("bad_limits", "limits",
                                                                 "limits are not valid"));
    }
    job_t *job = calloc (1, sizeof *job);
    if (!job) {
        json_decref (args);
        guard_destroy (&guard);
        return NULL;
    }
    *job = (job_t) { .owner = self, .tool = tool, .args = args, .guard = guard,
                     .set = set ? mcpc_ref (set) : NULL,
                     .dry_run = c->dry_run, .op = req->env.op,
                     .user = req->env.user ? strdup (req->env.user) : NULL,
                     .run = req->env.run && *req->env.run ? strdup (req->env.run) : NULL };
    pthread_mutex_init (&job->cancel.lock, NULL);
    snprintf (job->call_id, sizeof job->call_id, "%s", c->call_id);
    snprintf (job->corr, sizeof job->corr, "%s", req->env.corr);
    fingerprint (tool->name, args, c->dry_run, job->fp);
    unsigned t = tool->timeout_s < guard_timeout (guard) ? tool->timeout_s : guard_timeout (guard);
    if (c->timeout_ms && (c->timeout_ms + 999) / 1000 < t)
        t = (unsigned) ((c->timeout_ms + 999) / 1000);
    job->timeout_s = t ? t : 1;
    job->give_up = zclock_mono () + (int64_t) job->timeout_s * 1000 + 10000;

    /* Already running here (a retry that reached us again): wait for it. */
    for (job_t *j = self->jobs; j; j = j->next)
        if (!strcmp (j->call_id, job->call_id) && !strcmp (j->fp, job->fp)
            && j->npending < MAX_WAITERS) {
            j->pending[j->npending] = bus_worker_defer (svc_worker (self->svc));
            job_free (job);
            return j->pending[j->npending++] ? BUS_DEFERRED : NULL;
        }
    if (self->running >= self->max_running) {
        job_free (job);
        return proto_error_new (req, PROTO_ERR_busy, "tool-runner %s runs %zu calls already",
                                svc_instance (self->svc), self->running);
    }
    /* A user's share: the slots one user cannot take stay for the others. */
    size_t mine = running_for (self, req->env.user);
    if (mine >= self->per_user) {
        job_free (job);
        return proto_error_new (req, PROTO_ERR_busy, "user '%s' runs %zu calls on tool-runner %s, "
                                "the most one user may (CAISSON_TOOLS_SLOTS_PER_USER)",
                                req->env.user ? req->env.user : "", mine,
                                svc_instance (self->svc));
    }
    json_t *stored = NULL;
    bool ok = false;
    calls_state_t st = calls_claim (self->calls, job->call_id, job->fp, &stored, &ok);
    if (st == CALLS_MINE && was_cancelled (self, job->call_id)) {
        /* its cancel came first: recorded as cancelled, never started */
        json_t *e = tool_error ("cancelled", NULL, "the call was cancelled before it started");
        st = calls_finish (self->calls, job->call_id, e, false, &stored, &ok) ? CALLS_ERROR
                                                                             : CALLS_DONE;
        json_decref (e);
    }
    proto_msg_t *rep = NULL;
    switch (st) {
    case CALLS_DONE:
        rep = result_msg (req, job->call_id, tool->name, stored, ok, 0);
        break;
    case CALLS_CONFLICT:
        rep = refuse (req, tool->name, tool_error ("call_id_reused", "callId", "callId %s was "
                                                   "already used for a different call",
                                                   job->call_id));
        break;
    case CALLS_ERROR:
        rep = proto_error_new (req, PROTO_ERR_store_failed, "the call could not be recorded");
        break;
    case CALLS_BUSY:
    case CALLS_MINE:
        job->pending[job->npending++] = bus_worker_defer (svc_worker (self->svc));
        if (!job->pending[0] || (st == CALLS_MINE && start_job (self, job))) {
            clog_error (job->corr, "call %s could not be started", job->call_id);
            if (job->pending[0]) {
                json_t *e = tool_error ("internal", NULL, "the call could not be started");
                answer_all (self, job, e, false);
                json_decref (e);
                rep = BUS_DEFERRED;
            }
            break;
        }
        job->next = self->jobs;
        self->jobs = job;
        if (st == CALLS_BUSY)
            clog_info (job->corr, "call %s runs on another instance; waiting", job->call_id);
        return BUS_DEFERRED;
    }
    json_decref (stored);
    job_free (job);
    return rep;
}

static proto_msg_t *
on_list (const proto_msg_t *req, void *arg)
{
    handler_t *self = svc_state (arg);
    proto_msg_t *rep = proto_msg_new (PROTO_tools_catalogue, req);
    json_t *all = mcpc_catalogue (self->mcp, catalogue_json (self->catalogue));
    mcpc_t *mine = mcpc_users_get (self->users, req->env.user);
    if (mine) {                 /* the asker's own servers join their catalogue alone */
        json_t *more = mcpc_catalogue (mine, all);
        json_decref (all);
        all = more;
    }
    if (rep && mpjson_set (&rep->body.tools_catalogue.tools, all, 32))
        proto_msg_destroy (&rep);
    json_decref (all);
    return rep;
}

static proto_msg_t *
on_call (const proto_msg_t *req, void *arg)
{
    return call (svc_state (arg), req);
}

static proto_msg_t *
on_mcp_list (const proto_msg_t *req, void *arg)
{
    handler_t *self = svc_state (arg);
    proto_msg_t *rep = proto_msg_new (PROTO_mcp_servers, req);
    json_t *list = mcpc_list_json (self->mcp);
    mcpc_t *mine = mcpc_users_get (self->users, req->env.user);
    if (mine) {
        json_t *more = mcpc_list_json (mine);
        json_array_extend (list, more);
        json_decref (more);
    }
    if (rep && mpjson_set (&rep->body.mcp_servers.servers, list, 32))
        proto_msg_destroy (&rep);
    json_decref (list);
    return rep;
}

/* mcp.config.get: the user's own mcp.json, as event-log keeps it. Waits
 * for event-log on the service loop: a rare request, answered at once. */
static proto_msg_t *
on_mcp_config_get (const proto_msg_t *req, void *arg)
{
    handler_t *self = svc_state (arg);
    return mcpc_store_ask (self->store, req);
}

/* mcp.config.put: a user's own mcp.json checked by the parser and the
 * limits tool-runner starts it with, then stored; the user's servers
 * restart with it at their next use. */
static proto_msg_t *
on_mcp_config_put (const proto_msg_t *req, void *arg)
{
    handler_t *self = svc_state (arg);
    const proto_mcp_config_put_t *b = &req->body.mcp_config_put;
    const char *text = b->content ? b->content : "";
    char err[1024];
    if (*text) {
        mcpc_config_t *config = mcpc_config_parse_user (text, strlen (text), err, sizeof err);
        int bad = !config || mcpc_limits_check (config, mcpc_config_of (self->mcp), err,
                                                sizeof err);
        mcpc_config_destroy (&config);
        if (bad)
            return proto_error_new (req, PROTO_ERR_bad_value, "mcp.json refused: %s", err);
    }
    proto_msg_t *rep = mcpc_store_ask (self->store, req);
    if (rep && rep->type == PROTO_mcp_config) {
        const char *user = b->user ? b->user : req->env.user;
        clog_info (req->env.corr, "mcp.json of %s: version %llu stored; their servers restart",
                   user ? user : "", (unsigned long long) rep->body.mcp_config.version);
        mcpc_users_drop (self->users, user);
    }
    return rep;
}

const bus_route_t handler_routes[] = {
    { PROTO_tools_list, on_list },
    { PROTO_tools_call, on_call },
    { PROTO_mcp_list, on_mcp_list },
    { PROTO_mcp_config_get, on_mcp_config_get },
    { PROTO_mcp_config_put, on_mcp_config_put },
    BUS_ROUTES_END
};

handler_t *
handler_new (svc_t *svc)
{
    handler_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->svc = svc;
    self->pipe[0] = self->pipe[1] = -1;
    self->max_running = cfg_u64 ("CAISSON_TOOLS_CONCURRENCY");
    self->per_user = cfg_u64 ("CAISSON_TOOLS_SLOTS_PER_USER");
    if (self->per_user == 0)
        self->per_user = self->max_running > 1 ? self->max_running / 2 : 1;
    if (self->per_user > self->max_running)
        self->per_user = self->max_running;
    curl_global_init (CURL_GLOBAL_DEFAULT);     /* once, before any job thread */
    char dir[4096];
    if (svc_store_dir (svc, dir, sizeof dir)) {
        free (self);
        return NULL;
    }
    uint64_t lease = cfg_u64 ("CAISSON_TOOLS_LEASE_MS");
    self->catalogue = catalogue_new ();
    self->guard = guard_new ();
    self->mcp = mcpc_new (cfg_str ("CAISSON_MCP_SERVERS"));
    self->users = mcpc_users_new (self->mcp);
    self->calls = calls_new (dir, svc_instance (svc), lease);
    self->forge = self->calls ? forge_new (self->calls) : NULL;
    if (!self->catalogue || !self->guard || !self->forge || pipe2 (self->pipe, O_NONBLOCK | O_CLOEXEC)) {
        handler_destroy (&self);
        return NULL;
    }
    self->cancels = bus_tap_new (cfg_str ("CAISSON_BUS_SUB"), "tools.cancel.");
    self->ctl = bus_client_new (cfg_str ("CAISSON_BUS"));
    self->store = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (self->store)
        bus_client_set_timeout (self->store, 3000, 1);
    if (!self->cancels || !self->ctl || !self->store) {
        clog_error (NULL, "cannot connect to the bus for cancellations");
        handler_destroy (&self);
        return NULL;
    }
    zmq_pollitem_t item = { NULL, self->pipe[0], ZMQ_POLLIN, 0 };
    zloop_poller (svc_loop (svc), &item, on_job_done, self);
    zloop_reader (svc_loop (svc), bus_tap_socket (self->cancels), on_cancel, self);
    zloop_reader (svc_loop (svc), bus_client_socket (self->ctl), on_ctl_reply, self);
    zloop_timer (svc_loop (svc), lease / 3 ? lease / 3 : 1, 0, on_timer, self);
    clog_info (NULL, "%zu tools; store %s; lease %llu ms", catalogue_count (self->catalogue), dir,
               (unsigned long long) lease);
    return self;
}

void
handler_destroy (handler_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    handler_t *self = *self_p;
    for (job_t *j = self->jobs, *next; j; j = next) {
        next = j->next;
        if (j->state == JOB_RUNNING)
            pthread_join (j->thread, NULL);
        job_free (j);
    }
    if (self->pipe[0] >= 0) {
        close (self->pipe[0]);
        close (self->pipe[1]);
    }
    if (self->cancels)
        zloop_reader_end (svc_loop (self->svc), bus_tap_socket (self->cancels));
    if (self->ctl)
        zloop_reader_end (svc_loop (self->svc), bus_client_socket (self->ctl));
    bus_tap_destroy (&self->cancels);
    bus_client_destroy (&self->ctl);
    bus_client_destroy (&self->store);
    forge_destroy (&self->forge);
    calls_destroy (&self->calls);
    guard_destroy (&self->guard);
    catalogue_destroy (&self->catalogue);
    mcpc_users_destroy (&self->users);
    mcpc_destroy (&self->mcp);
    curl_global_cleanup ();
    free (self);
    *self_p = NULL;
}
