/* mcp_http: see mcp_http.h. Error bodies are JSON-RPC errors in both
 * eras, so a 2026 client probing the endpoint recognises a modern server
 * (spec 2026-07-28, versioning). */
#include "mcp_http.h"
#include "cfg.h"
#include "jsoncap.h"
#include "mcp_gate.h"
#include "mcp_hangup.h"
#include "mcp_headers.h"
#include "mcp_run.h"
#include "mcp_seal.h"
#include "mcp_session.h"
#include "mcp_tools.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
#define MODERN "2026-07-28"
#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define META_CAPS "io.modelcontextprotocol/clientCapabilities"
#define META_INFO "io.modelcontextprotocol/serverInfo"
#define INSTRUCTIONS "Caisson's agent tools, each run in an isolated Linux sandbox you own: " \
    "createSandbox first, then pass its sandboxId to the other tools."

/* The 2025-era versions served, newest first. */
static const char *const s_versions[] = { "2025-11-25", "2025-06-18", NULL };

struct _mcp_t {
    mcp_sessions_t *sessions;
    mcp_tools_t *tools;
    mcp_run_t *run;
    mcp_gate_t *gate;
};

mcp_t *
mcp_new (void)
{
    mcp_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->sessions = mcp_sessions_new (cfg_u64 ("CAISSON_MCP_SESSIONS_MAX"),
                                       (unsigned) cfg_u64 ("CAISSON_MCP_SESSION_IDLE_S"));
    self->tools = mcp_tools_new ();
    self->run = mcp_run_new ();
    self->gate = mcp_gate_new ();
    if (!self->sessions || !self->tools || !self->run || !self->gate)
        mcp_destroy (&self);
    return self;
}

void
mcp_destroy (mcp_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcp_sessions_destroy (&(*self_p)->sessions);
    mcp_tools_destroy (&(*self_p)->tools);
    mcp_run_destroy (&(*self_p)->run);
    mcp_gate_destroy (&(*self_p)->gate);
    free (*self_p);
    *self_p = NULL;
}

/* A JSON-RPC error answered with HTTP status; id (may be NULL: null) and
 * data (taken, may be NULL) as given. */
static http_res_t *
s_error (int status, const json_t *id, int code, json_t *data, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));
static http_res_t *
s_error (int status, const json_t *id, int code, json_t *data, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    json_t *err = json_pack ("{s:i, s:o}", "code", code, "message", mcp_text (msg));
    if (err && data)
        json_object_set_new (err, "data", data);
    else
        json_decref (data);
    return http_res_json (status, json_pack ("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id",
                                             id ? id : json_null (), "error", err));
}

static http_res_t *
s_result (const json_t *id, json_t *result, const char *session)
{
    http_res_t *res = http_res_json (200, json_pack ("{s:s, s:O, s:o}", "jsonrpc", "2.0",
                                                     "id", id, "result", result));
    if (res && session)
        http_res_header (res, "Mcp-Session-Id", session);
    return res;
}

static http_res_t *
s_accepted (void)
{
    return http_res_bytes (202, "application/json", "", 0, false);
}

static json_t *
s_server_info (void)
{
    return json_pack ("{s:s, s:s, s:s}", "name", "caisson", "title", "Caisson", "version",
                      CAISSON_VERSION);
}

/* The Origin check, then the token. NULL, or the answer. */
static http_res_t *
s_admit (app_t *app, http_req_t *req)
{
    const char *origin = http_header (req, "Origin");
    if (origin && !mcp_headers_origin_ok (origin))
        return s_error (403, NULL, -32000, NULL, "Forbidden: Origin %.200s is not allowed "
                        "(CAISSON_MCP_ORIGINS)", origin);
    http_res_t *denied = auth_check (app->auth, req);
    if (denied && http_res_status (denied) == 401)
        http_res_header (denied, "WWW-Authenticate", "Bearer realm=\"caisson\"");
    return denied;
}

/* MCP's headers repeated with values that disagree (mcp_headers.h): the
 * 400 answer, or NULL. */
static http_res_t *
s_single_headers (http_req_t *req)
{
    const char *name = mcp_headers_conflict (req);
    return name ? s_error (400, NULL, strcmp (name, "MCP-Protocol-Version") ? -32020 : -32022,
                           NULL, "Bad Request: %s headers that disagree", name)
                : NULL;
}

/* -32020 unless header name is present and equals want. */
static http_res_t *
s_header_match (http_req_t *req, const json_t *id, const char *name, const char *want)
{
    const char *h = http_header (req, name);
    char got[512];
    if (!h)
        return s_error (400, id, -32020, NULL, "required %s header is absent", name);
    if (mcp_headers_decode (h, got, sizeof got) || strcmp (got, want))
        return s_error (400, id, -32020, json_pack ("{s:{s:s, s:s}}", "mismatch", "header", h,
                                                    "body", want),
                        "%s header does not match the body", name);
    return NULL;
}

static bool
s_legacy_version (const char *v)
{
    for (size_t i = 0; v && s_versions[i]; i++)
        if (!strcmp (v, s_versions[i]))
            return true;
    return false;
}

static http_res_t *
s_unsupported (const json_t *id, const char *requested, bool modern_only)
{
    json_t *supported = json_pack ("[s]", MODERN);
    for (size_t i = 0; !modern_only && s_versions[i]; i++)
        json_array_append_new (supported, json_string (s_versions[i]));
    return s_error (400, id, -32022, json_pack ("{s:o, s:s}", "supported", supported,
                                                "requested", requested),
                    "Unsupported protocol version: %.64s", requested);
}

/* What names a request for cancellation: its user, its session and its
 * JSON-RPC id, whole (as a digest: two ids alike in their first bytes
 * must not name each other's call). In the 2026 era (modern) there is no
 * session and only a hang-up cancels, so its connection stands for one:
 * two clients of a user both sending id 1 must not name each other's
 * call either. */
static void
s_key (http_req_t *req, const json_t *id, bool modern, char *key, size_t len)
{
    char *text = json_dumps (id, JSON_ENCODE_ANY | JSON_COMPACT);
    unsigned char sum[32] = { 0 };
    char hex[65];
    if (text)
        gnutls_hash_fast (GNUTLS_DIG_SHA256, text, strlen (text), sum);
    mcp_seal_hex (sum, sizeof sum, hex);
    char conn[32] = "";
    if (modern)
        snprintf (conn, sizeof conn, "%p", (void *) req->conn);
    snprintf (key, len, "%s\n%.64s\n%s", req->user,
              modern ? conn : http_header (req, "Mcp-Session-Id") ?: "", hex);
    free (text);
}

/* The 406 for a call that answers on an SSE stream when req's Accept
 * rules one out, or NULL. */
static http_res_t *
s_not_acceptable (http_req_t *req, const json_t *id)
{
    return mcp_headers_takes_sse (req)
           ? NULL
           : s_error (406, id, -32000, NULL, "Not Acceptable: this call answers on an SSE "
                      "stream; Accept must include text/event-stream");
}

typedef struct {
    mcp_tools_t *tools;
    const char *key;
} hangup_t;

/* A 2026-era client closed the stream of its call: that cancels it. */
static void
s_hung_up (void *arg)
{
    hangup_t *h = arg;
    mcp_tools_cancel (h->tools, h->key, "the MCP client closed the request's stream");
}

/* tools/list and tools/call, shared by both eras: the result, or NULL
 * with *res the answer: an error, or a gated call's (mcp_gate.h). via
 * says how the request came (its key is filled here); in the 2026 era a
 * client that hangs up during a call cancels it. extra is merged into a
 * gated call's results. */
static json_t *
s_tools (app_t *app, http_req_t *req, const char *method, const json_t *params,
         const json_t *id, mcp_gate_via_t *via, const json_t *extra, http_res_t **res)
{
    bool hangup_cancels = via->modern;
    int code = 0;
    char why[512] = "";
    json_t *result = NULL;
    if (!strcmp (method, "tools/list")) {
        json_t *cursor = json_object_get (params, "cursor");
        if (cursor && !json_is_string (cursor)) {
            *res = s_error (200, id, -32602, NULL, "invalid cursor");
            return NULL;
        }
        result = mcp_tools_list (app->mcp->tools, app, req, json_string_value (cursor), &code,
                                 why, sizeof why);
        if (result && !json_object_get (result, "nextCursor"))
            json_array_append_new (json_object_get (result, "tools"), mcp_run_tool ());
    }
    else {
        char key[512];
        s_key (req, id, via->modern, key, sizeof key);
        hangup_t h = { app->mcp->tools, key };
        const union MHD_ConnectionInfo *info =
            hangup_cancels ? MHD_get_connection_info (req->conn,
                                                      MHD_CONNECTION_INFO_CONNECTION_FD)
                           : NULL;
        mcp_hangup_t *watch = info ? mcp_hangup_start (info->connect_fd, s_hung_up, &h) : NULL;
        result = mcp_tools_call (app->mcp->tools, app, req, params, key, &code, why,
                                 sizeof why);
        mcp_hangup_stop (&watch);
        if (code == MCP_TOOLS_GATED && (*res = s_not_acceptable (req, id)))
            return NULL;
        if (code == MCP_TOOLS_GATED) {
            via->key = key;
            *res = mcp_gate_call (app->mcp->gate, app->mcp->run, app, req, id, params, extra,
                                  via, &code, why, sizeof why);
            if (*res || !code)
                return NULL;
        }
    }
    if (!result)
        *res = s_error (200, id, code ? code : -32603, NULL, "%s", why);
    return result;
}

/* True when a tools/call names caisson_run (mcp_run.h). */
static bool
s_is_run (const char *method, const json_t *params)
{
    return !strcmp (method, "tools/call")
           && !strcmp (json_string_value (json_object_get (params, "name")) ?: "", MCP_RUN_TOOL);
}

/* tools/call of caisson_run: a stream following the run. */
static http_res_t *
s_run (app_t *app, http_req_t *req, const json_t *id, const json_t *params, bool modern)
{
    http_res_t *res = s_not_acceptable (req, id);
    if (res)
        return res;
    char key[512];
    s_key (req, id, modern, key, sizeof key);
    json_t *extra = modern ? json_pack ("{s:s, s:{s:o}}", "resultType", "complete", "_meta",
                                        META_INFO, s_server_info ())
                           : NULL;
    res = mcp_run_call (app->mcp->run, app, req, id, params, extra, modern, key);
    json_decref (extra);
    return res;
}

/* A request of the 2026-07-28 era (its _meta names a version). */
static http_res_t *
s_modern (app_t *app, http_req_t *req, const json_t *msg, const char *method)
{
    const json_t *id = json_object_get (msg, "id");
    json_t *params = json_object_get (msg, "params");
    json_t *meta = json_object_get (params, "_meta");
    const char *version = json_string_value (json_object_get (meta, META_VERSION));
    if (!version)
        return s_error (400, id, -32602, json_pack ("{s:{s:s, s:s}}", "envelope", "key",
                                                    META_VERSION, "problem", "missing"),
                        "Invalid _meta envelope: %s is missing", META_VERSION);
    http_res_t *bad = s_header_match (req, id, "MCP-Protocol-Version", version);
    if (!bad && strcmp (version, MODERN))
        return s_unsupported (id, version, true);
    if (!bad)
        bad = s_header_match (req, id, "Mcp-Method", method);
    const char *name = json_string_value (json_object_get (params, "name"));
    if (!bad && !strcmp (method, "tools/call") && name)
        bad = s_header_match (req, id, "Mcp-Name", name);
    if (bad)
        return bad;
    if (!json_is_object (json_object_get (meta, META_CAPS)))
        return s_error (400, id, -32602, json_pack ("{s:{s:s, s:s}}", "envelope", "key",
                                                    META_CAPS, "problem", "missing"),
                        "Invalid _meta envelope: %s is missing", META_CAPS);
    if (!id)
        return s_accepted ();
    json_t *result = NULL;
    http_res_t *res = NULL;
    if (!strcmp (method, "server/discover"))
        result = json_pack ("{s:[s], s:{s:{}}, s:s, s:i, s:s}", "supportedVersions", MODERN,
                            "capabilities", "tools", "instructions", INSTRUCTIONS, "ttlMs",
                            0, "cacheScope", "private");
    else if (s_is_run (method, params))
        return s_run (app, req, id, params, true);
    else if (!strcmp (method, "tools/list") || !strcmp (method, "tools/call")) {
        json_t *caps = json_object_get (meta, META_CAPS);
        mcp_gate_via_t via = { .modern = true,
                               .elicits = json_is_object (json_object_get (caps,
                                                                           "elicitation")) };
        json_t *extra = json_pack ("{s:s, s:{s:o}}", "resultType", "complete", "_meta",
                                   META_INFO, s_server_info ());
        result = s_tools (app, req, method, params, id, &via, extra, &res);
        json_decref (extra);
        if (result && !strcmp (method, "tools/list")) {
            json_object_set_new (result, "ttlMs", json_integer (0));
            json_object_set_new (result, "cacheScope", json_string ("private"));
        }
    }
    else
        return s_error (404, id, -32601, NULL, "Method not found: %.128s", method);
    if (!result)
        return res;
    json_object_set_new (result, "resultType", json_string ("complete"));
    json_object_set_new (result, "_meta", json_pack ("{s:o}", META_INFO, s_server_info ()));
    return s_result (id, result, NULL);
}

/* A request of the 2025 era: initialize opens a session; a request
 * naming one must name one of this user's. */
static http_res_t *
s_legacy (app_t *app, http_req_t *req, const json_t *msg, const char *method)
{
    const json_t *id = json_object_get (msg, "id");
    json_t *params = json_object_get (msg, "params");
    const char *header = http_header (req, "MCP-Protocol-Version");
    if (header && !s_legacy_version (header) && strcmp (header, "2025-03-26"))
        return s_unsupported (id, header, false);
    if (!strcmp (method, "initialize")) {
        const char *asked = json_string_value (json_object_get (params, "protocolVersion"));
        if (!id || !asked)
            return s_error (200, id, -32602, NULL, "initialize needs an id and "
                            "params.protocolVersion");
        const char *agreed = s_legacy_version (asked) ? asked : s_versions[0];
        char session[MCP_SESSION_ID_LEN + 1];
        bool elicits = json_is_object (json_object_get (json_object_get (params,
                                                                         "capabilities"),
                                                        "elicitation"));
        if (mcp_sessions_open (app->mcp->sessions, req->user, agreed, elicits, session))
            return s_error (500, id, -32603, NULL, "could not open a session");
        json_t *result = json_pack ("{s:s, s:{s:{}}, s:o, s:s}", "protocolVersion", agreed,
                                    "capabilities", "tools", "serverInfo", s_server_info (),
                                    "instructions", INSTRUCTIONS);
        return s_result (id, result, session);
    }
    const char *session = http_header (req, "Mcp-Session-Id");
    mcp_gate_via_t via = { .session = session };
    if (!session)                       /* spec 2025-06-18: sessions are this server's */
        return s_error (400, id, -32600, NULL, "Bad Request: Mcp-Session-Id is required "
                        "(initialize opens a session)");
    if (mcp_sessions_check (app->mcp->sessions, req->user, session, NULL, 0,
                                       &via.elicits))
        return s_error (404, id, -32001, NULL, "Session not found");
    json_t *cancelled = json_object_get (params, "requestId");
    if (!id && !strcmp (method, "notifications/cancelled") && cancelled) {
        char key[512];
        s_key (req, cancelled, false, key, sizeof key);
        char reason[256];
        snprintf (reason, sizeof reason, "MCP client: %s",
                  json_string_value (json_object_get (params, "reason")) ?: "cancelled");
        if (mcp_tools_cancel (app->mcp->tools, key, reason))
            mcp_run_cancel (app->mcp->run, app, req, key);
    }
    if (!id)
        return s_accepted ();           /* notifications/initialized, cancelled... */
    http_res_t *res = NULL;
    json_t *result;
    if (!strcmp (method, "ping"))
        result = json_object ();
    else if (s_is_run (method, params))
        return s_run (app, req, id, params, false);
    else if (!strcmp (method, "tools/list") || !strcmp (method, "tools/call"))
        result = s_tools (app, req, method, params, id, &via, NULL, &res);
    else
        return s_error (200, id, -32601, NULL, "Method not found: %.128s", method);
    return result ? s_result (id, result, NULL) : res;
}

http_res_t *
api_mcp_post (app_t *app, http_req_t *req)
{
    http_res_t *res = s_admit (app, req);
    if (!res)
        res = s_single_headers (req);
    if (res)
        return res;
    json_error_t err;
    json_t *msg = req->body_len ? json_loadb (req->body, req->body_len,
                                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err)
                                : NULL;
    if (!msg)
        return s_error (400, NULL, -32700, NULL, "Parse error: %s", req->body_len ? err.text
                                                                   : "empty body");
    const json_t *id = json_object_get (msg, "id");
    const char *method = json_string_value (json_object_get (msg, "method"));
    if (json_is_array (msg))
        res = s_error (400, NULL, -32600, NULL, "Invalid Request: batches are not supported "
                       "(removed in 2025-06-18)");
    else if (!json_is_object (msg) || jsoncap_depth (msg, MAX_DEPTH) > MAX_DEPTH)
        res = s_error (400, NULL, -32600, NULL, "Invalid Request: %s", json_is_object (msg)
                       ? "the message nests deeper than 64 levels" : "not a JSON-RPC object");
    else if (strcmp (json_string_value (json_object_get (msg, "jsonrpc")) ?: "", "2.0")
             || (id && !json_is_string (id) && !json_is_integer (id)))
        res = s_error (400, NULL, -32600, NULL, "Invalid Request: jsonrpc must be \"2.0\" "
                       "and an id a string or an integer");
    else if (!method && id
             && (json_object_get (msg, "result") || json_object_get (msg, "error"))) {
        /* a client's answer: to an elicitation of this user's and session's, or ignored */
        mcp_gate_answer (app->mcp->gate, app, req, http_header (req, "Mcp-Session-Id"), msg);
        res = s_accepted ();
    }
    else if (!method)
        res = s_error (400, id, -32600, NULL, "Invalid Request: no method");
    else if (json_object_get (msg, "params") && !json_is_object (json_object_get (msg, "params")))
        res = s_error (400, id, -32602, NULL, "params must be an object");
    else {
        json_t *meta = json_object_get (json_object_get (msg, "params"), "_meta");
        bool modern = strcmp (method, "initialize")
                      && (json_object_get (meta, META_VERSION)
                          || !strcmp (http_header (req, "MCP-Protocol-Version") ?: "", MODERN));
        res = modern ? s_modern (app, req, msg, method) : s_legacy (app, req, msg, method);
    }
    json_decref (msg);
    return res;
}

http_res_t *
api_mcp_get (app_t *app, http_req_t *req)
{
    http_res_t *res = s_admit (app, req);
    if (res)
        return res;
    res = s_error (405, NULL, -32000, NULL, "Method not allowed: /mcp has no standalone "
                   "stream; POST requests");
    if (res)
        http_res_header (res, "Allow", "POST");
    return res;
}

http_res_t *
api_mcp_delete (app_t *app, http_req_t *req)
{
    http_res_t *res = s_admit (app, req);
    if (res)
        return res;
    const char *session = http_header (req, "Mcp-Session-Id");
    if (!session) {
        res = s_error (405, NULL, -32000, NULL, "Method not allowed: DELETE ends a session "
                       "and names it in Mcp-Session-Id");
        if (res)
            http_res_header (res, "Allow", "POST");
        return res;
    }
    if (mcp_sessions_close (app->mcp->sessions, req->user, session))
        return s_error (404, NULL, -32001, NULL, "Session not found");
    return http_res_bytes (204, "application/json", "", 0, false);
}
