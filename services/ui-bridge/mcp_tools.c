/* mcp_tools: see mcp_tools.h. */
#include "mcp_tools.h"
#include "bus_pub.h"
#include "cfg.h"
#include "cid.h"
#include "pjson.h"

#include <czmq.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MS 5000
#define CACHE_USERS 64
#define PAGE 50
#define LIST_TIMEOUT_MS 10000
#define FLIGHT_MAX 1024
#define KEY_MAX 512

typedef struct {
    char user[TOKENS_USER_MAX + 1];
    int64_t at;
    json_t *tools;          /* the catalogue's array, as tool-runner gave it */
} cached_t;

typedef struct {
    char key[KEY_MAX];      /* whose request: user, session, JSON-RPC id */
    char call_id[CID_SIZE];
} flight_t;

struct _mcp_tools_t {
    pthread_mutex_t lock;
    cached_t cache[CACHE_USERS];
    flight_t flight[FLIGHT_MAX];    /* calls under way, for cancellation */
    size_t nflight;
    bus_pub_t *pub;                 /* made at the first cancellation */
};

mcp_tools_t *
mcp_tools_new (void)
{
    mcp_tools_t *self = calloc (1, sizeof *self);
    if (self)
        pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
mcp_tools_destroy (mcp_tools_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcp_tools_t *self = *self_p;
    for (size_t i = 0; i < CACHE_USERS; i++)
        json_decref (self->cache[i].tools);
    bus_pub_destroy (&self->pub);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

/* tool-runner's catalogue for req's user (a new reference), from the
 * cache when fresh. NULL when tool-runner does not answer. */
static json_t *
s_catalogue (mcp_tools_t *self, app_t *app, http_req_t *req)
{
    int64_t now = zclock_mono ();
    json_t *tools = NULL;
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < CACHE_USERS && !tools; i++)
        if (self->cache[i].tools && !strcmp (self->cache[i].user, req->user)
            && now - self->cache[i].at < CACHE_MS)
            tools = json_incref (self->cache[i].tools);
    pthread_mutex_unlock (&self->lock);
    if (tools)
        return tools;
    proto_msg_t *msg = app_msg (req, PROTO_tools_list);
    if (!msg)
        return NULL;
    msg->env.op = false;
    proto_msg_t *rep = buspool_request (app->bus, "tool-runner", msg, LIST_TIMEOUT_MS);
    proto_msg_destroy (&msg);
    json_t *doc = rep && rep->type == PROTO_tools_catalogue ? pjson_from_body (rep) : NULL;
    proto_msg_destroy (&rep);
    tools = json_incref (json_object_get (doc, "tools"));
    json_decref (doc);
    if (!json_is_array (tools)) {
        json_decref (tools);
        return NULL;
    }
    pthread_mutex_lock (&self->lock);
    size_t slot = 0;
    for (size_t i = 0; i < CACHE_USERS; i++) {
        if (!strcmp (self->cache[i].user, req->user) || !self->cache[i].tools) {
            slot = i;
            break;
        }
        if (self->cache[i].at < self->cache[slot].at)
            slot = i;
    }
    json_decref (self->cache[slot].tools);
    snprintf (self->cache[slot].user, sizeof self->cache[slot].user, "%s", req->user);
    self->cache[slot].tools = json_incref (tools);
    self->cache[slot].at = now;
    pthread_mutex_unlock (&self->lock);
    return tools;
}

/* The MCP Tool for a catalogue entry. */
static json_t *
s_tool (const json_t *entry)
{
    const char *effect = json_string_value (json_object_get (entry, "effect"));
    bool mutates = json_is_true (json_object_get (entry, "mutates"));
    if (!effect)
        effect = mutates ? "external" : "sandbox";
    bool reads = !strcmp (effect, "none");
    json_t *notes = json_pack ("{s:b, s:b, s:b, s:b}", "readOnlyHint", reads,
                               "destructiveHint", mutates, "idempotentHint", reads,
                               "openWorldHint", !strcmp (effect, "external"));
    json_t *tool = json_pack ("{s:O, s:O, s:o}", "name", json_object_get (entry, "name"),
                              "inputSchema", json_object_get (entry, "inputSchema"),
                              "annotations", notes);
    json_t *desc = json_object_get (entry, "description");
    if (tool && desc)
        json_object_set (tool, "description", desc);
    /* MCP wants an object at the root of an output schema (and of
     * structuredContent); a tool answering an array (repo.readFiles) goes
     * without one, its result in the text block */
    json_t *out = json_object_get (entry, "outputSchema");
    const char *type = json_string_value (json_object_get (out, "type"));
    if (tool && type && !strcmp (type, "object"))
        json_object_set (tool, "outputSchema", out);
    return tool;
}

/* The offset a cursor of ours ("o<n>") names, or -1. */
static long
s_cursor (const char *cursor, size_t total)
{
    if (!cursor)
        return 0;
    char *end;
    if (cursor[0] != 'o' || cursor[1] < '1' || cursor[1] > '9')
        return -1;
    long at = strtol (cursor + 1, &end, 10);
    return *end || at <= 0 || (size_t) at >= total ? -1 : at;
}

json_t *
mcp_tools_list (mcp_tools_t *self, app_t *app, http_req_t *req, const char *cursor, int *code,
                char *why, size_t whylen)
{
    json_t *tools = s_catalogue (self, app, req);
    if (!tools) {
        *code = -32603;
        snprintf (why, whylen, "tool-runner did not answer tools.list");
        return NULL;
    }
    size_t total = json_array_size (tools);
    long at = s_cursor (cursor, total);
    if (at < 0) {
        json_decref (tools);
        *code = -32602;
        snprintf (why, whylen, "invalid cursor");
        return NULL;
    }
    json_t *page = json_array ();
    for (size_t i = (size_t) at; i < total && i < (size_t) at + PAGE; i++)
        json_array_append_new (page, s_tool (json_array_get (tools, i)));
    json_t *result = json_pack ("{s:o}", "tools", page);
    if ((size_t) at + PAGE < total) {
        char next[32];
        snprintf (next, sizeof next, "o%zu", (size_t) at + PAGE);
        json_object_set_new (result, "nextCursor", json_string (next));
    }
    json_decref (tools);
    return result;
}

json_t *
mcp_text (const char *s)
{
    size_t n = strlen (s);
    json_t *v = json_stringn (s, n);
    for (int cut = 0; !v && n && cut < 3; cut++)
        v = json_stringn (s, --n);
    return v;
}

/* A CallToolResult saying text, as an error when is_error. */
static json_t *
s_text_result (const char *text, bool is_error)
{
    return json_pack ("{s:[{s:s, s:o}], s:b}", "content", "type", "text", "text",
                      mcp_text (text), "isError", is_error);
}

/* True when CAISSON_DENY names tool. */
static bool
s_denied (const char *tool)
{
    char *list = strdup (cfg_str ("CAISSON_DENY"));
    bool hit = false;
    for (char *save = NULL, *tok = list ? strtok_r (list, ",", &save) : NULL; tok && !hit;
         tok = strtok_r (NULL, ",", &save))
        hit = *tok && fnmatch (tok, tool, 0) == 0;
    free (list);
    return hit;
}

/* The orchestrator's gate (policy_check): what a run would hold for a
 * human's approval, or run under an `auto` policy. */
static bool
s_gated (const json_t *entry, const char *name, const json_t *args)
{
    return json_is_true (json_object_get (entry, "mutates")) || !strcmp (name, "git.openPR")
           || (!strcmp (name, "repo.applyDiff")
               && !json_is_true (json_object_get (args, "dryRun")));
}

/* tool-runner's tools.result turned into a CallToolResult. */
static json_t *
s_from_result (const json_t *doc)
{
    json_t *result = json_object_get (doc, "result");
    bool ok = json_is_true (json_object_get (doc, "ok"));
    char *text = json_dumps (result, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *error = json_object_get (result, "error");
    const char *message = json_string_value (json_object_get (error, "message"));
    json_t *out = s_text_result (!ok && message ? message : text ? text : "", !ok);
    free (text);
    if (out && json_is_object (result))
        json_object_set (out, "structuredContent", result);
    return out;
}

/* Records (on) or forgets the call under way for key. A full table
 * leaves a call uncancellable, not refused. */
static void
s_fly (mcp_tools_t *self, const char *key, const char *call_id, bool on)
{
    if (!key)
        return;
    pthread_mutex_lock (&self->lock);
    if (on && self->nflight < FLIGHT_MAX) {
        flight_t *f = &self->flight[self->nflight++];
        snprintf (f->key, sizeof f->key, "%s", key);
        snprintf (f->call_id, sizeof f->call_id, "%s", call_id);
    }
    for (size_t i = 0; !on && i < self->nflight; i++)
        if (!strcmp (self->flight[i].call_id, call_id)) {
            self->flight[i] = self->flight[--self->nflight];
            break;
        }
    pthread_mutex_unlock (&self->lock);
}

int
mcp_tools_cancel (mcp_tools_t *self, const char *key, const char *reason)
{
    int rc = -1;
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->nflight && rc; i++) {
        if (strcmp (self->flight[i].key, key))
            continue;
        if (!self->pub)
            self->pub = bus_pub_new (cfg_str ("CAISSON_BUS_PUB"));
        proto_msg_t *msg = proto_msg_new (PROTO_tools_cancel, NULL);
        char topic[CID_SIZE + 16];
        snprintf (topic, sizeof topic, "tools.cancel.%s", self->flight[i].call_id);
        proto_set_str (&msg->body.tools_cancel.call_id, self->flight[i].call_id);
        proto_set_str (&msg->body.tools_cancel.reason, reason);
        rc = self->pub && msg ? bus_pub_send (self->pub, topic, msg) : -1;
        proto_msg_destroy (&msg);
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

json_t *
mcp_tools_call (mcp_tools_t *self, app_t *app, http_req_t *req, const json_t *params,
                const char *key, int *code, char *why, size_t whylen)
{
    const char *name = json_string_value (json_object_get (params, "name"));
    json_t *args = json_object_get (params, "arguments");
    *code = -32602;
    if (!name || (args && !json_is_object (args))) {
        snprintf (why, whylen, "tools/call needs params.name (a string) and params.arguments "
                  "(an object, when present)");
        return NULL;
    }
    json_t *tools = s_catalogue (self, app, req), *entry = NULL, *t;
    size_t i;
    json_array_foreach (tools, i, t)
        if (json_is_string (json_object_get (t, "name"))
            && !strcmp (json_string_value (json_object_get (t, "name")), name))
            entry = t;
    if (!entry) {
        if (!tools)
            *code = -32603;
        snprintf (why, whylen, tools ? "Unknown tool: %.128s" : "tool-runner did not answer "
                  "tools.list", name);
        json_decref (tools);
        return NULL;
    }
    json_int_t secs = json_integer_value (json_object_get (entry, "timeoutSeconds"));
    bool gated = s_gated (entry, name, args);
    json_decref (tools);
    char text[512];
    if (s_denied (name)) {
        snprintf (text, sizeof text, "%s is refused by this deployment's policy "
                  "(CAISSON_DENY)", name);
        return s_text_result (text, true);
    }
    if (gated) {
        *code = MCP_TOOLS_GATED;
        return NULL;
    }
    char call_id[CID_SIZE];
    cid_new (call_id);
    json_t *body = json_pack ("{s:s, s:s}", "name", name, "callId", call_id);
    if (args)
        json_object_set (body, "args", args);
    proto_msg_t *msg = app_msg (req, PROTO_tools_call);
    char bad[256];
    if (!msg || !body || pjson_to_body (msg, body, NULL, bad, sizeof bad)) {
        json_decref (body);
        proto_msg_destroy (&msg);
        return s_text_result (msg ? bad : "out of memory", true);
    }
    json_decref (body);
    msg->env.op = false;            /* MCP acts as the token's user, never more */
    int timeout_ms = (int) ((secs > 0 && secs < 86400 ? secs : 60) * 1000 + 10000);
    s_fly (self, key, call_id, true);
    proto_msg_t *rep = buspool_request (app->bus, "tool-runner", msg, timeout_ms);
    s_fly (self, key, call_id, false);
    proto_msg_destroy (&msg);
    json_t *out = NULL;
    if (!rep) {
        snprintf (text, sizeof text, "tool-runner did not answer %s within %d s", name,
                  timeout_ms / 1000);
        out = s_text_result (text, true);
    }
    else if (rep->type == PROTO_error) {
        snprintf (text, sizeof text, "%s: %s", rep->body.error.code, rep->body.error.message);
        out = s_text_result (text, true);
    }
    else {
        json_t *doc = pjson_from_body (rep);
        out = doc ? s_from_result (doc) : s_text_result ("tool-runner's reply did not "
                                                         "convert to JSON", true);
        json_decref (doc);
    }
    proto_msg_destroy (&rep);
    return out;
}
