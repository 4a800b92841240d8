/* mcp_gate: see mcp_gate.h. The waiting is mcp_run's run-following
 * stream; this module adds what a gated call needs on it (asking the
 * client, the deadline, the tool-shaped result), the table of questions a
 * 2025-era client may answer, the 2026 requestState (sealed: mcp_seal.h)
 * and the reaper of 2026 runs whose client never came back. */
#include "mcp_gate.h"
#include "api.h"
#include "cfg.h"
#include "mcp_seal.h"
#include "mcp_tools.h"

#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ASK_MAX 256
#define PARK_MAX 256
#define RUN_MAX 129
#define EID_PREFIX "caisson-approval-"
#define EID_MAX 64
#define ARGS_SHOWN 400      /* bytes of a call's arguments its question shows */
#define REASON_MAX 4000     /* bytes of a decline's reason kept: run.decline takes 4096 */

/* An elicitation a 2025-era client may answer. */
typedef struct {
    char eid[EID_MAX];
    char user[TOKENS_USER_MAX + 1];
    char session[80];
    char run[RUN_MAX], call[RUN_MAX];
} ask_t;

/* A 2026-era run left awaiting the client's retry, until its deadline. */
typedef struct {
    char user[TOKENS_USER_MAX + 1];
    char corr[CID_SIZE];
    char run[RUN_MAX];
    time_t deadline;
} park_t;

struct _mcp_gate_t {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    mcp_seal_t *seal;           /* 2026 requestStates */
    ask_t asks[ASK_MAX];
    park_t parked[PARK_MAX];
    app_t *app;                 /* for the reaper's cancellations */
    pthread_t reaper;
    bool reaping, stop;
};

/* One gated call on its stream (the follow hooks' arg). */
typedef struct {
    mcp_gate_t *gate;
    app_t *app;
    http_req_t req;             /* the user and corr the run is acted on as */
    mcp_gate_via_t via;
    char session[80];
    char name[128], run[RUN_MAX], call[RUN_MAX];
    char decided_call[RUN_MAX]; /* a 2026 retry: the call its answer decided */
    char eid[EID_MAX];          /* the elicitation out, when one is */
    char what[MCP_SEAL_DIGEST]; /* the tool and arguments a 2026 state is for */
    json_t *args;
    time_t deadline;
    bool decided;
} gated_t;

mcp_gate_t *
mcp_gate_new (void)
{
    mcp_gate_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->seal = mcp_seal_new ();
    if (!self->seal) {
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    return self;
}

void
mcp_gate_destroy (mcp_gate_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcp_gate_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    pthread_cond_signal (&self->wake);
    bool reaping = self->reaping;
    pthread_mutex_unlock (&self->lock);
    if (reaping)
        pthread_join (self->reaper, NULL);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    mcp_seal_destroy (&self->seal);
    free (self);
    *self_p = NULL;
}

/* The seconds a call may wait for approval. */
static time_t
s_timeout (void)
{
    return (time_t) cfg_u64 ("CAISSON_MCP_APPROVAL_TIMEOUT_S");
}

/* A CallToolResult saying text, as an error when is_error. */
static json_t *
s_text (const char *text, bool is_error)
{
    return json_pack ("{s:[{s:s, s:o}], s:b}", "content", "type", "text", "text",
                      mcp_text (text), "isError", is_error);
}

/* The call's result once its run ended with status (answer, the tool's
 * result as compact JSON, or reason). */
static json_t *
s_outcome (const char *tool, const char *status, const char *answer, const char *reason)
{
    if (!strcmp (status, "completed")) {
        json_t *out = s_text (answer ? answer : "", false);
        json_t *doc = answer ? json_loads (answer, JSON_DECODE_ANY, NULL) : NULL;
        if (out && json_is_object (doc))
            json_object_set (out, "structuredContent", doc);
        json_decref (doc);
        return out;
    }
    char text[1024];
    if (!strcmp (status, "timed_out"))
        snprintf (text, sizeof text, "%s: %s", tool, reason);
    else
        snprintf (text, sizeof text, "%s %s: %s", tool, !strcmp (status, "failed") ? "failed"
                  : status, reason ? reason : "the run did not complete");
    return s_text (text, true);
}

/* The approval form asked of the client, for call of tool with args. */
static json_t *
s_form (const gated_t *g)
{
    char *args = json_dumps (g->args, JSON_COMPACT);
    size_t cut = args ? strlen (args) : 0;
    if (cut > ARGS_SHOWN + 3) {
        /* cut on a character's first byte: the message must stay UTF-8 */
        for (cut = ARGS_SHOWN; cut && ((unsigned char) args[cut] & 0xc0) == 0x80; cut--)
            ;
        memcpy (args + cut, "...", 4);
    }
    char message[1400];
    snprintf (message, sizeof message, "Caisson asks you to approve %s %s (run %s, call %s). "
              "You may also answer in Caisson: caisson approve %s %s", g->name,
              args ? args : "{}", g->run, g->call, g->run, g->call);
    free (args);
    return json_pack ("{s:o, s:{s:s, s:{s:{s:s, s:s, s:[s, s]}, s:{s:s, s:s, s:s}}, s:[s]}}",
                      "message", mcp_text (message), "requestedSchema", "type", "object",
                      "properties", "decision", "type", "string", "title", "Decision", "enum",
                      "approve", "decline", "reason", "type", "string", "title", "Reason",
                      "description", "Why (a decline's reason is shown to whoever asked)",
                      "required", "decision");
}

/* A client's reason (UTF-8) as a decline carries it, into out: control
 * characters become spaces (it is shown in terminals and the UI), and it
 * is cut on a character's first byte at REASON_MAX bytes, since
 * run.decline refuses a longer one and the decline would be lost. */
static void
s_reason (const char *reason, char out[REASON_MAX + 1])
{
    size_t n = 0;
    for (; n < REASON_MAX && reason[n]; n++)
        out[n] = (unsigned char) reason[n] < 0x20 || reason[n] == 0x7f ? ' ' : reason[n];
    if (reason[n])
        while (n && ((unsigned char) reason[n] & 0xc0) == 0x80)
            n--;
    out[n] = '\0';
}

/* Approves or declines run's call as req's user, by the client's
 * ElicitResult response (accept with decision approve approves;
 * anything else declines with its reason). An error (someone answered
 * first, the run is not req's user's) changes nothing. */
static void
s_decide (app_t *app, http_req_t *req, const char *run, const char *call, const json_t *response)
{
    const char *action = json_string_value (json_object_get (response, "action")) ?: "";
    json_t *content = json_object_get (response, "content");
    const char *decision = json_string_value (json_object_get (content, "decision")) ?: "";
    const char *given = json_string_value (json_object_get (content, "reason"));
    bool approve = !strcmp (action, "accept") && !strcmp (decision, "approve");
    char reason[REASON_MAX + 1];
    s_reason (given && *given ? given : !strcmp (action, "cancel")
              ? "the MCP client cancelled the question" : "declined in the MCP client", reason);
    json_t *record;
    http_res_t *err = api_run_record (app, req, run, &record);
    if (!err) {
        err = api_run_decide (app, req, record, run, call, approve, approve ? NULL : reason);
        json_decref (record);
    }
    http_res_destroy (&err);
}

/* Forgets g's elicitation; true when it was still out (unanswered). */
static bool
s_unask (gated_t *g)
{
    bool out = false;
    mcp_gate_t *self = g->gate;
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; *g->eid && i < ASK_MAX; i++)
        if (!strcmp (self->asks[i].eid, g->eid)) {
            self->asks[i].eid[0] = '\0';
            out = true;
        }
    pthread_mutex_unlock (&self->lock);
    return out;
}

/* Records g's elicitation under a fresh id (g->eid). -1 when the table is
 * full or randomness fails: the client is then not asked. */
static int
s_ask (gated_t *g)
{
    unsigned char raw[16];
    char hex[33];
    if (gnutls_rnd (GNUTLS_RND_NONCE, raw, sizeof raw))
        return -1;
    mcp_seal_hex (raw, sizeof raw, hex);
    mcp_gate_t *self = g->gate;
    int rc = -1;
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < ASK_MAX && rc; i++) {
        ask_t *a = &self->asks[i];
        if (*a->eid)
            continue;
        snprintf (g->eid, sizeof g->eid, EID_PREFIX "%s", hex);
        snprintf (a->eid, sizeof a->eid, "%s", g->eid);
        snprintf (a->user, sizeof a->user, "%s", g->req.user);
        snprintf (a->session, sizeof a->session, "%s", g->session);
        snprintf (a->run, sizeof a->run, "%s", g->run);
        snprintf (a->call, sizeof a->call, "%s", g->call);
        rc = 0;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

/* The reaper: cancels parked 2026 runs past their deadline. */
static void *
s_reap (void *arg)
{
    mcp_gate_t *self = arg;
    pthread_mutex_lock (&self->lock);
    while (!self->stop) {
        struct timespec at;
        clock_gettime (CLOCK_REALTIME, &at);
        at.tv_sec += 1;
        pthread_cond_timedwait (&self->wake, &self->lock, &at);
        time_t now = time (NULL);
        for (size_t i = 0; i < PARK_MAX && !self->stop; i++) {
            park_t p = self->parked[i];
            if (!*p.run || now < p.deadline)
                continue;
            self->parked[i].run[0] = '\0';
            pthread_mutex_unlock (&self->lock);
            http_req_t req = { 0 };
            memcpy (req.user, p.user, sizeof req.user);
            memcpy (req.corr, p.corr, sizeof req.corr);
            mcp_run_cancel_run (self->app, &req, p.run);
            pthread_mutex_lock (&self->lock);
        }
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

/* Parks g's run until its deadline (on), or takes it back. A full table
 * leaves the run to Caisson's UI and CLI. */
static void
s_park (gated_t *g, bool on)
{
    mcp_gate_t *self = g->gate;
    pthread_mutex_lock (&self->lock);
    self->app = g->app;
    if (on && !self->reaping)
        self->reaping = !pthread_create (&self->reaper, NULL, s_reap, self);
    for (size_t i = 0; i < PARK_MAX; i++) {
        park_t *p = &self->parked[i];
        if (on ? !*p->run : !strcmp (p->run, g->run)) {
            snprintf (p->run, sizeof p->run, "%s", on ? g->run : "");
            snprintf (p->user, sizeof p->user, "%s", g->req.user);
            memcpy (p->corr, g->req.corr, sizeof p->corr);
            p->deadline = g->deadline;
            break;
        }
    }
    pthread_mutex_unlock (&self->lock);
}

/* Follow hook: asks the client when the run asks for approval; notes the
 * decision. */
static json_t *
s_seen (void *arg, const char *kind, const json_t *data, bool *is_result)
{
    gated_t *g = arg;
    const char *call = json_string_value (json_object_get (data, "toolCallId")) ?: "";
    if (!strcmp (kind, "approval_decision")) {
        g->decided = true;
        /* answered in Caisson first: the client's question is moot */
        if (s_unask (g))
            return json_pack ("{s:s, s:s, s:{s:s, s:s}}", "jsonrpc", "2.0", "method",
                              "notifications/cancelled", "params", "requestId", g->eid,
                              "reason", "answered in Caisson");
        return NULL;
    }
    if (strcmp (kind, "ask_approval") || !g->via.elicits || !strcmp (call, g->decided_call))
        return NULL;
    snprintf (g->call, sizeof g->call, "%s", call);
    if (g->via.modern) {
        char *state = mcp_seal_make (g->gate->seal, g->req.user, g->run, g->call, g->what,
                                     (int64_t) g->deadline);
        json_t *form = s_form (g);
        json_t *result = state && form
                       ? json_pack ("{s:s, s:{s:{s:s, s:O}}, s:s}", "resultType",
                                    "input_required", "inputRequests", "approval", "method",
                                    "elicitation/create", "params", form, "requestState", state)
                       : NULL;
        free (state);
        json_decref (form);
        if (result) {
            s_park (g, true);
            *is_result = true;
        }
        return result;
    }
    if (s_ask (g))
        return NULL;
    return json_pack ("{s:s, s:s, s:s, s:o}", "jsonrpc", "2.0", "id", g->eid, "method",
                      "elicitation/create", "params", s_form (g));
}

static json_t *
s_ended (void *arg, const char *status, const char *answer, const char *reason)
{
    gated_t *g = arg;
    return s_outcome (g->name, status, answer, reason);
}

static bool
s_expired (void *arg, char *why, size_t whylen)
{
    gated_t *g = arg;
    if (g->decided || time (NULL) < g->deadline)
        return false;
    snprintf (why, whylen, "approval timed out (CAISSON_MCP_APPROVAL_TIMEOUT_S)");
    return true;
}

static void
s_free (void *arg)
{
    gated_t *g = arg;
    s_unask (g);
    json_decref (g->args);
    free (g);
}

static const mcp_follow_hooks_t s_hooks = { s_seen, s_ended, s_expired, s_free };

/* A JSON answer to id: result (taken), extra merged under its keys. */
static http_res_t *
s_json (const json_t *id, json_t *result, const json_t *extra)
{
    if (result && extra)
        json_object_update_missing (result, (json_t *) extra);
    return http_res_json (200, json_pack ("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id,
                                          "result", result));
}

/* A 2026 retry: checks its requestState, applies its answer, and follows
 * the run (g's). NULL with *code for a bad state. */
static http_res_t *
s_retry (mcp_gate_t *self, mcp_run_t *runs, gated_t *g, http_req_t *req, const json_t *id,
         const json_t *params, const json_t *extra, const char *key, int *code, char *why,
         size_t whylen)
{
    const char *state = json_string_value (json_object_get (params, "requestState"));
    int64_t deadline = 0;
    json_t *responses = json_object_get (params, "inputResponses");
    if (!state || (responses && !json_is_object (responses))
        || mcp_seal_open (self->seal, state, g->req.user, g->what, g->run, g->call,
                          sizeof g->run, &deadline, why, whylen)) {
        if (!*why)
            snprintf (why, whylen, "invalid requestState or inputResponses");
        *code = -32602;
        s_free (g);
        return NULL;
    }
    g->deadline = (time_t) deadline;
    s_park (g, false);
    if (time (NULL) >= g->deadline) {
        mcp_run_cancel_run (g->app, &g->req, g->run);
        json_t *out = s_outcome (g->name, "timed_out", NULL,
                                 "approval timed out (CAISSON_MCP_APPROVAL_TIMEOUT_S)");
        s_free (g);
        return s_json (id, out, extra);
    }
    json_t *response = json_object_get (responses, "approval");
    if (json_is_object (response)) {
        s_decide (g->app, &g->req, g->run, g->call, response);
        snprintf (g->decided_call, sizeof g->decided_call, "%s", g->call);
    }
    return mcp_run_follow (runs, g->app, req, id, g->run, params, extra, true, key, &s_hooks,
                           g);
}

http_res_t *
mcp_gate_call (mcp_gate_t *self, mcp_run_t *runs, app_t *app, http_req_t *req,
               const json_t *id, const json_t *params, const json_t *extra,
               const mcp_gate_via_t *via, int *code, char *why, size_t whylen)
{
    *code = 0;
    gated_t *g = calloc (1, sizeof *g);
    if (!g)
        return NULL;
    g->gate = self;
    g->app = app;
    memcpy (g->req.corr, req->corr, sizeof g->req.corr);
    memcpy (g->req.user, req->user, sizeof g->req.user);
    g->req.operator_ = false;           /* MCP acts as the token's user, never more */
    g->via = *via;
    snprintf (g->session, sizeof g->session, "%s", via->session ? via->session : "");
    g->via.session = g->session;
    snprintf (g->name, sizeof g->name, "%s",
              json_string_value (json_object_get (params, "name")) ?: "");
    json_t *args = json_object_get (params, "arguments");
    g->args = args ? json_incref (args) : json_object ();
    mcp_seal_digest (g->name, g->args, g->what);
    g->via.key = NULL;                  /* the caller's: used during this call only */
    if (via->modern && json_object_get (params, "requestState"))
        return s_retry (self, runs, g, req, id, params, extra, via->key, code, why, whylen);
    g->deadline = time (NULL) + s_timeout ();
    char task[200];
    snprintf (task, sizeof task, "tool call %s over MCP", g->name);
    json_t *more = json_pack ("{s:{s:s, s:O}}", "toolCall", "name", g->name, "args", g->args);
    http_res_t *err = more ? api_run_start (app, &g->req, task, NULL, more, g->run) : NULL;
    json_decref (more);
    if (err || !*g->run) {
        char text[512];
        snprintf (text, sizeof text, "%s needs approval, and the run that would ask for it "
                  "could not start (HTTP %d)", g->name, err ? http_res_status (err) : 502);
        http_res_destroy (&err);
        s_free (g);
        return s_json (id, s_text (text, true), extra);
    }
    return mcp_run_follow (runs, app, req, id, g->run, params, extra, via->modern, via->key,
                           &s_hooks, g);
}

void
mcp_gate_answer (mcp_gate_t *self, app_t *app, http_req_t *req, const char *session,
                 const json_t *msg)
{
    const char *eid = json_string_value (json_object_get (msg, "id"));
    json_t *result = json_object_get (msg, "result"), *error = json_object_get (msg, "error");
    if (!eid || strncmp (eid, EID_PREFIX, strlen (EID_PREFIX))
        || !(json_is_object (result) || json_is_object (error)))
        return;
    ask_t a = { .eid = "" };
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < ASK_MAX; i++)
        if (*self->asks[i].eid && !strcmp (self->asks[i].eid, eid)
            && !strcmp (self->asks[i].user, req->user)
            && !strcmp (self->asks[i].session, session ? session : "")) {
            a = self->asks[i];
            self->asks[i].eid[0] = '\0';    /* answered once */
        }
    pthread_mutex_unlock (&self->lock);
    if (!*a.eid)
        return;
    http_req_t as = { 0 };
    memcpy (as.corr, req->corr, sizeof as.corr);
    memcpy (as.user, req->user, sizeof as.user);
    if (json_is_object (result)) {
        s_decide (app, &as, a.run, a.call, result);
        return;
    }
    /* an error answer (the client cannot show forms, its user dismissed
     * it): no approval is coming from there, so waiting would only stall */
    char message[REASON_MAX + 1], reason[REASON_MAX + 64];  /* s_decide cuts it again */
    s_reason (json_string_value (json_object_get (error, "message")) ?: "", message);
    snprintf (reason, sizeof reason, "the MCP client answered error %" JSON_INTEGER_FORMAT
              ": %s", json_integer_value (json_object_get (error, "code")), message);
    json_t *declined = json_pack ("{s:s, s:{s:s}}", "action", "decline", "content", "reason",
                                  reason);
    s_decide (app, &as, a.run, a.call, declined);
    json_decref (declined);
}
