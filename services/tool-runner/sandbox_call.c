/* sandbox_call: idempotent requests to sandbox-manager. See sandbox_call.h. */
#include "sandbox_call.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"
#include "runroute.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

json_t *
tool_error (const char *code, const char *field, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    json_t *err = json_pack ("{s:s, s:s}", "code", code, "message", msg);
    if (!err)
        err = json_pack ("{s:s, s:s}", "code", code, "message", "(message not UTF-8)");
    if (field && err)
        json_object_set_new (err, "field", json_string (field));
    return json_pack ("{s:b, s:o}", "success", 0, "error", err);
}

bool
tool_failed (const json_t *result)
{
    return json_is_false (json_object_get (result, "success"))
           && json_is_object (json_object_get (result, "error"));
}

bool
tool_cancelled (tool_ctx_t *ctx)
{
    if (!ctx->cancel)
        return false;
    pthread_mutex_lock (&ctx->cancel->lock);
    bool yes = ctx->cancel->cancelled;
    pthread_mutex_unlock (&ctx->cancel->lock);
    return yes;
}

/* Names the process request id will start in sandbox_id (id NULL: none
 * runs any more), so a cancel can kill it. Returns -1, naming nothing,
 * when the call is already cancelled. */
static int
name_process (tool_ctx_t *ctx, const char *sandbox_id, const char *id)
{
    if (!ctx->cancel)
        return 0;
    pthread_mutex_lock (&ctx->cancel->lock);
    int rc = ctx->cancel->cancelled && id ? -1 : 0;
    if (rc == 0) {
        snprintf (ctx->cancel->sandbox_id, sizeof ctx->cancel->sandbox_id, "%s",
                  id && sandbox_id ? sandbox_id : "");
        snprintf (ctx->cancel->request, sizeof ctx->cancel->request, "%s", id ? id : "");
    }
    pthread_mutex_unlock (&ctx->cancel->lock);
    return rc;
}

int
tool_left_ms (const tool_ctx_t *ctx)
{
    int64_t left = ctx->deadline - zclock_mono ();
    return left > 1 ? (int) (left > INT32_MAX ? INT32_MAX : left) : 1;
}

static uint64_t
fnv (const char *s, uint64_t h)
{
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 0x100000001b3ull;
    return h;
}

void
sandbox_call_derive_id (const char *key, char out[CID_SIZE])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint64_t h1 = fnv (key, 0xcbf29ce484222325ull);
    uint64_t h2 = fnv (key, h1 ^ 0x9e3779b97f4a7c15ull);
    out[0] = alphabet[h1 >> 61];
    for (int i = 1; i < CID_LEN; i++) {
        uint64_t h = i <= 12 ? h1 >> (5 * (i - 1)) : h2 >> (5 * (i - 13));
        out[i] = alphabet[h & 31];
    }
    out[CID_LEN] = '\0';
}

proto_msg_t *
sandbox_call_new (tool_ctx_t *ctx, proto_type_t type)
{
    proto_msg_t *m = proto_msg_new (type, NULL);
    if (m && ctx->corr && cid_valid (ctx->corr))
        proto_set_str (&m->env.corr, ctx->corr);
    if (m && ctx->user)
        proto_set_str (&m->env.user, ctx->user);
    /* the run a call works for: sandbox-manager tells egress-proxy, whose
     * net events then reach that run */
    if (m && ctx->run)
        proto_set_str (&m->env.run, ctx->run);
    if (m)
        m->env.op = ctx->op;
    return m;
}


json_t *
sandbox_call_text (const char *s, size_t len)
{
    json_t *v = json_stringn (s, len);
    if (v)
        return v;
    /* Not UTF-8: keep the valid sequences, replace each bad byte. */
    char *out = malloc (len * 3 + 1);
    size_t o = 0;
    if (!out)
        return json_string ("");
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char) s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        json_t *probe = n && i + n <= len && c ? json_stringn (s + i, n) : NULL;
        if (probe) {
            memcpy (out + o, s + i, n);
            o += n;
            i += n;
            json_decref (probe);
        }
        else {
            memcpy (out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    v = json_stringn (out, o);
    free (out);
    return v ? v : json_string ("");
}

/* True for the declared codes that say "try again", not "no". */
static bool
transient (const char *code)
{
    proto_ecode_t c = proto_error_lookup (code);
    return c == PROTO_ERR_service_busy || c == PROTO_ERR_busy || c == PROTO_ERR_unavailable
           || c == PROTO_ERR_internal;
}

proto_msg_t *
sandbox_call (tool_ctx_t *ctx, const char *sandbox_id, proto_msg_t *req,
              json_t **error)
{
    char service[160];
    runroute_sandbox (sandbox_id, service, sizeof service);
    unsigned step = ctx->step++;
    /* only processes are stopped: other requests are quick, and cleanups
     * (watch_stop) must still get through */
    bool process = req->type == PROTO_sandbox_exec || req->type == PROTO_sandbox_run_code;
    int try_ms = (int) cfg_u64 ("CAISSON_TOOLS_SANDBOX_TRY_MS");
    proto_msg_t *rep = NULL;
    *error = NULL;
    for (unsigned attempt = 0; !rep; attempt++) {
        char key[256], id[CID_SIZE];
        snprintf (key, sizeof key, "%s/%u/%u", ctx->call_id, step, attempt);
        sandbox_call_derive_id (key, id);
        proto_set_str (&req->env.id, id);
        if (process && name_process (ctx, sandbox_id, id)) {
            *error = tool_error ("cancelled", NULL, "the call was cancelled");
            break;
        }
        int left = tool_left_ms (ctx);
        int each = try_ms < left ? try_ms : left;
        bus_client_set_timeout (ctx->client, each, left / (each > 0 ? each : 1));
        rep = bus_client_request (ctx->client, service, req);
        if (process)
            name_process (ctx, NULL, NULL);
        if (!rep) {
            *error = tool_error ("sandbox_unavailable", NULL, "sandbox-manager did not answer "
                                 "%s in time; try again later", proto_type_name (req->type));
            break;
        }
        if (rep->type == PROTO_error && transient (rep->body.error.code)
            && tool_left_ms (ctx) > 200) {
            uint32_t jitter;
            if (getrandom (&jitter, sizeof jitter, 0) != sizeof jitter)
                jitter = 0;
            int backoff = (int) ((50u << (attempt < 6 ? attempt : 6)) + jitter % 100);
            clog_info (ctx->corr, "call %s: sandbox-manager said %s; retrying in %d ms",
                       ctx->call_id, rep->body.error.code, backoff);
            proto_msg_destroy (&rep);
            zclock_sleep (backoff < tool_left_ms (ctx) ? backoff : tool_left_ms (ctx));
        }
    }
    proto_msg_destroy (&req);
    if (rep && rep->type == PROTO_error) {
        *error = tool_error (rep->body.error.code, NULL, "%s", rep->body.error.message);
        proto_msg_destroy (&rep);
    }
    return rep;
}

int
sandbox_call_check (tool_ctx_t *ctx, const char *sandbox_id, json_t **error)
{
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_get);
    proto_set_str (&req->body.sandbox_get.sandbox_id, sandbox_id);
    proto_msg_t *rep = sandbox_call (ctx, sandbox_id, req, error);
    if (!rep)
        return -1;
    proto_msg_destroy (&rep);
    return 0;
}
