/* mcpc_call: tools/call of an MCP tool on its server: one at a time on a
 * stdio server (started again first when it has exited), any number at
 * once on a remote one, each with back-off while its server fails; the
 * server's tools listed again when it says they changed; a cancelled call
 * (mcpc_cancel) answered at once and its server told. */
#include "mcpc_int.h"

#include "clog.h"
#include "mcpc_tools.h"

#include <czmq.h>

#include <stdio.h>
#include <string.h>

void
mcpc_backoff (server_t *srv)
{
    srv->backoff = srv->backoff ? srv->backoff * 2 : 1000;
    if (srv->backoff > BACKOFF_MAX_MS)
        srv->backoff = BACKOFF_MAX_MS;
    srv->retry_at = zclock_mono () + srv->backoff;
}

/* A server that has exited (or lost its sandbox: its TTL, an operator) is
 * started again before a call needs it, at most once per back-off (1 s,
 * doubling to a minute while restarts fail), and its tools listed again.
 * Under the server's call_lock. 0, or -1 with why. */
static int
restart_if_gone (mcpc_t *self, size_t i, char *why, size_t whylen)
{
    server_t *srv = &self->servers[i];
    if (!mcpc_stdio_exited (srv->conn))
        return 0;
    const mcpc_server_t *s = mcpc_config_at (self->config, i);
    int64_t now = zclock_mono ();
    if (now < srv->retry_at) {
        pthread_mutex_lock (&self->lock);
        snprintf (why, whylen, "%s (restarting it again in %lld s)",
                  srv->reason ? srv->reason : "it has exited",
                  (long long) (srv->retry_at - now + 999) / 1000);
        pthread_mutex_unlock (&self->lock);
        return -1;
    }
    mcpc_set_state (self, i, "starting", NULL);
    char reason[1024];
    mcpc_stdio_t *fresh = mcpc_stdio_start (s, mcpc_sandbox_user (self), &self->stop, reason,
                                            sizeof reason);
    if (!fresh) {
        mcpc_backoff (srv);
        clog_warn (NULL, "%s", reason);
        mcpc_set_state (self, i, "failed", reason);
        snprintf (why, whylen, "%s", reason);
        return -1;
    }
    clog_info (NULL, "MCP server %s restarted", s->name);
    mcpc_stdio_destroy (&srv->conn);
    srv->conn = fresh;
    srv->backoff = 0;
    srv->retry_at = 0;
    mcpc_relist (self, i);              /* a fresh start may list other tools */
    mcpc_set_state (self, i, "ready", NULL);
    return 0;
}

void
mcpc_cancel (mcpc_t *self, const void *key, const char *reason)
{
    pthread_mutex_lock (&self->lock);
    for (inflight_t *c = self->inflight; c; c = c->next)
        if (c->key == key) {
            snprintf (c->reason, sizeof c->reason, "%s", reason);
            c->cancelled = true;
        }
    pthread_mutex_unlock (&self->lock);
}

/* Tells server i that request id of call was cancelled, with the reason
 * mcpc_cancel gave; a failure is logged only (the call is answered
 * cancelled either way). */
static void
tell_cancelled (mcpc_t *self, size_t i, long long id, inflight_t *call)
{
    pthread_mutex_lock (&self->lock);
    char reason[sizeof call->reason];
    memcpy (reason, call->reason, sizeof reason);
    pthread_mutex_unlock (&self->lock);
    server_t *srv = &self->servers[i];
    const mcpc_server_t *s = mcpc_config_at (self->config, i);
    json_t *params = json_pack ("{s:I, s:s}", "requestId", (json_int_t) id, "reason", reason);
    char why[512];
    int rc = s->kind == MCPC_HTTP
                 ? mcpc_http_notify (srv->http, call->user, "notifications/cancelled", params,
                                     why, sizeof why)
                 : mcpc_stdio_notify (srv->conn, "notifications/cancelled", params, why,
                                      sizeof why);
    json_decref (params);
    if (rc)
        clog_warn (NULL, "MCP server %s: could not be told request %lld was cancelled: %s",
                   s->name, id, why);
}

/* tools/call with params on stdio server i (one call at a time, started
 * again first when it has exited): 0 with *result, -3 when call was
 * cancelled (the server told), or -1 with why. */
static int
stdio_call (mcpc_t *self, size_t i, const json_t *params, inflight_t *call, json_t **result,
            char *why, size_t whylen)
{
    server_t *srv = &self->servers[i];
    long long id = -1;
    pthread_mutex_lock (&srv->call_lock);
    int rc = restart_if_gone (self, i, why, whylen);
    if (rc == 0)
        rc = mcpc_stdio_call (srv->conn, "tools/call", params, &call->cancelled, &id, result,
                              why, whylen);
    /* Not delivered (its sandbox was gone): once more on a fresh start. */
    if (rc == -2 && restart_if_gone (self, i, why, whylen) == 0)
        rc = mcpc_stdio_call (srv->conn, "tools/call", params, &call->cancelled, &id, result,
                              why, whylen);
    if (rc == -3) {
        tell_cancelled (self, i, id, call);
    }
    else if (rc && mcpc_stdio_exited (srv->conn))
        mcpc_set_state (self, i, "failed", why);
    else if (mcpc_stdio_tools_changed (srv->conn))
        mcpc_relist (self, i);
    pthread_mutex_unlock (&srv->call_lock);
    return rc;
}

/* tools/call with params on remote server i in the call's user's
 * session, other calls running at once. A server that could not be
 * reached is `failed` and not asked again before its back-off (1 s,
 * doubling to a minute) has passed; once it
 * answers it is `ready` again. 0 with *result, MCPC_HTTP_CANCELLED when
 * call was cancelled (the server told), or another failure with why. */
static int
http_call (mcpc_t *self, size_t i, const json_t *params, inflight_t *call, json_t **result,
           char *why, size_t whylen)
{
    server_t *srv = &self->servers[i];
    pthread_mutex_lock (&srv->call_lock);
    int64_t wait = srv->retry_at - zclock_mono ();
    if (wait > 0) {
        pthread_mutex_lock (&self->lock);
        snprintf (why, whylen, "%s (trying it again in %lld s)",
                  srv->reason ? srv->reason : "it was unreachable",
                  (long long) (wait + 999) / 1000);
        pthread_mutex_unlock (&self->lock);
    }
    pthread_mutex_unlock (&srv->call_lock);
    if (wait > 0)
        return MCPC_HTTP_UNREACHABLE;
    long long id = -1;
    int rc = mcpc_http_call (srv->http, call->user, "tools/call", params, &call->cancelled, &id,
                             result, why, whylen);
    if (rc == MCPC_HTTP_CANCELLED) {
        tell_cancelled (self, i, id, call);
        return rc;
    }
    bool relist = false;
    pthread_mutex_lock (&srv->call_lock);
    if (rc == MCPC_HTTP_UNREACHABLE) {
        mcpc_backoff (srv);
        clog_warn (NULL, "%s", why);
        mcpc_set_state (self, i, "failed", why);
    }
    else if (srv->backoff) {            /* it answers again, maybe with other tools */
        srv->backoff = 0;
        srv->retry_at = 0;
        relist = true;
        clog_info (NULL, "MCP server %s reachable again", mcpc_config_at (self->config, i)->name);
        mcpc_set_state (self, i, "ready", NULL);
    }
    pthread_mutex_unlock (&srv->call_lock);
    /* One thread takes the flag; the list runs beside other calls. */
    if (mcpc_http_tools_changed (srv->http) || relist)
        mcpc_relist (self, i);
    return rc;
}

json_t *
mcpc_tool_fn (tool_ctx_t *ctx, json_t *args)
{
    mtool_t *t = (mtool_t *) ctx->def;     /* def is t's first member */
    mcpc_t *self = t->set;
    const mcpc_server_t *s = mcpc_config_at (self->config, t->server);
    if (ctx->dry_run)
        return json_pack ("{s:b, s:b, s:s}", "success", 1, "dryRun", 1, "wouldDo",
                          "call this MCP tool");
    json_t *params = json_pack ("{s:s, s:O}", "name", json_string_value (json_object_get (
                                    json_object_get (t->entry, "mcp"), "tool")),
                                "arguments", args);
    char why[1024];
    json_t *result = NULL;
    /* In flight from here: mcpc_cancel finds it. A cancel that came before
     * is seen by tool_cancelled, read after the call is listed. */
    inflight_t call = { .key = ctx->cancel, .user = ctx->user,
                        .reason = "the call was cancelled" };
    pthread_mutex_lock (&self->lock);
    call.next = self->inflight;
    self->inflight = &call;
    pthread_mutex_unlock (&self->lock);
    if (ctx->cancel && tool_cancelled (ctx))
        call.cancelled = true;
    int rc = s->kind == MCPC_HTTP ? http_call (self, t->server, params, &call, &result, why,
                                               sizeof why)
                                  : stdio_call (self, t->server, params, &call, &result, why,
                                                sizeof why);
    pthread_mutex_lock (&self->lock);
    for (inflight_t **p = &self->inflight; *p; p = &(*p)->next)
        if (*p == &call) {
            *p = call.next;
            break;
        }
    pthread_mutex_unlock (&self->lock);
    json_decref (params);
    if (rc == -3)       /* MCPC_HTTP_CANCELLED, or stdio's */
        return tool_error ("cancelled", NULL, "the call was cancelled: %s", call.reason);
    if (rc)
        return tool_error ("mcp_error", NULL, "%s", why);
    bool ok;
    json_t *mapped = mcpc_call_result (s, result, &ok);
    json_decref (result);
    return mapped;
}
