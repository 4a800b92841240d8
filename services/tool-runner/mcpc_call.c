/* mcpc_call: tools/call of an MCP tool on its server: one at a time on a
 * stdio server (started again first when it has exited), any number at
 * once on a remote one, each with back-off while its server fails. */
#include "mcpc_int.h"

#include "clog.h"
#include "mcpc_tools.h"

#include <czmq.h>

#include <stdio.h>
#include <string.h>

/* A server that has exited (or lost its sandbox: its TTL, an operator) is
 * started again before a call needs it, at most once per back-off (1 s,
 * doubling to a minute while restarts fail). Its tools stay as first
 * listed. Under the server's call_lock. 0, or -1 with why. */
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
        srv->backoff = srv->backoff ? srv->backoff * 2 : 1000;
        if (srv->backoff > BACKOFF_MAX_MS)
            srv->backoff = BACKOFF_MAX_MS;
        srv->retry_at = zclock_mono () + srv->backoff;
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
    mcpc_set_state (self, i, "ready", NULL);
    return 0;
}

/* tools/call with params on stdio server i (one call at a time, started
 * again first when it has exited): 0 with *result, or -1 with why. */
static int
stdio_call (mcpc_t *self, size_t i, const json_t *params, json_t **result, char *why,
            size_t whylen)
{
    server_t *srv = &self->servers[i];
    pthread_mutex_lock (&srv->call_lock);
    int rc = restart_if_gone (self, i, why, whylen);
    if (rc == 0)
        rc = mcpc_stdio_request (srv->conn, "tools/call", params, result, why, whylen);
    /* Not delivered (its sandbox was gone): once more on a fresh start. */
    if (rc == -2 && restart_if_gone (self, i, why, whylen) == 0)
        rc = mcpc_stdio_request (srv->conn, "tools/call", params, result, why, whylen);
    if (rc && mcpc_stdio_exited (srv->conn))
        mcpc_set_state (self, i, "failed", why);
    pthread_mutex_unlock (&srv->call_lock);
    return rc;
}

/* tools/call with params on remote server i in user's session, other
 * calls running at once. A server that could not be reached is `failed` and not asked again
 * before its back-off (1 s, doubling to a minute) has passed; once it
 * answers it is `ready` again. 0 with *result, or non-zero with why. */
static int
http_call (mcpc_t *self, size_t i, const char *user, const json_t *params, json_t **result,
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
    int rc = mcpc_http_request (srv->http, user, "tools/call", params, result, why, whylen);
    pthread_mutex_lock (&srv->call_lock);
    if (rc == MCPC_HTTP_UNREACHABLE) {
        srv->backoff = srv->backoff ? srv->backoff * 2 : 1000;
        if (srv->backoff > BACKOFF_MAX_MS)
            srv->backoff = BACKOFF_MAX_MS;
        srv->retry_at = zclock_mono () + srv->backoff;
        clog_warn (NULL, "%s", why);
        mcpc_set_state (self, i, "failed", why);
    }
    else if (srv->backoff) {            /* it answers again */
        srv->backoff = 0;
        srv->retry_at = 0;
        clog_info (NULL, "MCP server %s reachable again", mcpc_config_at (self->config, i)->name);
        mcpc_set_state (self, i, "ready", NULL);
    }
    pthread_mutex_unlock (&srv->call_lock);
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
    int rc = s->kind == MCPC_HTTP ? http_call (self, t->server, ctx->user, params, &result,
                                               why, sizeof why)
                                  : stdio_call (self, t->server, params, &result, why,
                                                sizeof why);
    json_decref (params);
    if (rc)
        return tool_error ("mcp_error", NULL, "%s", why);
    bool ok;
    json_t *mapped = mcpc_call_result (s, result, &ok);
    json_decref (result);
    return mapped;
}
