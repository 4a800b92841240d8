/* mcpc_stdio: a stdio MCP server in a sandbox. See mcpc_stdio.h. */
#include "mcpc_stdio.h"

#include "bus_client.h"
#include "bus_tap.h"
#include "cfg.h"
#include "mcpc_frame.h"
#include "mcpc_tools.h"
#include "mpjson.h"
#include "xalloc.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

#define CHUNK ((size_t) 1 << 20)        /* most bytes of one exec.input */
#define TAIL 512                        /* stderr bytes kept for errors */
#define SANDBOX_MS 60000                /* sandbox requests (create, unpack) */

struct _mcpc_stdio_t {
    const mcpc_server_t *server;
    char *user;
    bus_client_t *bus;
    bus_tap_t *tap;
    char *sandbox;
    uint64_t pid;
    mcpc_frame_t *frame;
    long long next_id;
    char tail[TAIL + 1];                /* the end of its stderr */
    bool exited;
    long long exit_code;
    bool broken;                /* its input was refused: the sandbox or process is gone */
    char version[16];
    const atomic_bool *abort;
    bool tools_changed;         /* notifications/tools/list_changed came */
};

/* A request as the server's user. */
static proto_msg_t *
new_req (mcpc_stdio_t *self, proto_type_t type)
{
    proto_msg_t *m = proto_msg_new (type, NULL);
    proto_set_str (&m->env.user, self->user);
    return m;
}

/* Sends req (consumed); the reply, or NULL with why (an error's message). */
static proto_msg_t *
ask (mcpc_stdio_t *self, proto_msg_t *req, char *why, size_t whylen)
{
    proto_msg_t *rep = bus_client_request (self->bus, "sandbox-manager", req);
    proto_msg_destroy (&req);
    if (!rep)
        snprintf (why, whylen, "sandbox-manager did not answer");
    else if (rep->type == PROTO_error) {
        snprintf (why, whylen, "%s", rep->body.error.message);
        proto_msg_destroy (&rep);
    }
    return rep;
}

/* Writes len bytes to pid's stdin (closing it after when close), each
 * chunk after the previous one's ack; a busy process is waited for up to
 * the server's timeout. 0, or -1 with why. */
static int
write_input (mcpc_stdio_t *self, uint64_t pid, const char *data, size_t len, bool close,
             char *why, size_t whylen)
{
    int64_t end = zclock_mono () + self->server->timeout_ms;
    size_t off = 0;
    do {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        proto_msg_t *req = new_req (self, PROTO_sandbox_exec_input);
        proto_sandbox_exec_input_t *in = &req->body.sandbox_exec_input;
        proto_set_str (&in->sandbox_id, self->sandbox);
        in->pid = pid;
        /* cppcheck-suppress knownConditionTrueFalse ; n is 0 for a bare close (len 0) */
        if (n)
            proto_set_bytes (&in->data, data + off, n);
        in->close = close && off + n == len;
        proto_msg_t *rep = bus_client_request (self->bus, "sandbox-manager", req);
        proto_msg_destroy (&req);
        bool busy = rep && rep->type == PROTO_error && !strcmp (rep->body.error.code, "busy");
        if (!rep || (rep->type == PROTO_error && !busy)) {
            snprintf (why, whylen, "%s", rep ? rep->body.error.message
                                             : "sandbox-manager did not answer");
            proto_msg_destroy (&rep);
            return -1;
        }
        proto_msg_destroy (&rep);
        if (busy) {
            if (zclock_mono () > end || (self->abort && *self->abort)) {
                snprintf (why, whylen, "it is not reading its input");
                return -1;
            }
            zclock_sleep (20);
            continue;
        }
        off += n;
    } while (off < len);
    return 0;
}

/* Starts argv as an interactive background process; its pid, or 0 with why. */
static uint64_t
exec_interactive (mcpc_stdio_t *self, json_t *argv, const json_t *env, char *why,
                  size_t whylen)
{
    proto_msg_t *req = new_req (self, PROTO_sandbox_exec);
    proto_sandbox_exec_t *e = &req->body.sandbox_exec;
    proto_set_str (&e->sandbox_id, self->sandbox);
    mpjson_set (&e->command, argv, 8);
    if (env && json_object_size (env))
        mpjson_set (&e->envs, env, 8);
    e->background = true;
    e->interactive = true;
    proto_msg_t *rep = ask (self, req, why, whylen);
    uint64_t pid = rep ? rep->body.sandbox_exec_result.pid : 0;
    proto_msg_destroy (&rep);
    return pid;
}

/* Unpacks the server's files into /workspace. 0, or -1 with why. */
static int
unpack (mcpc_stdio_t *self, char *why, size_t whylen)
{
    FILE *f = fopen (self->server->files, "rb");
    if (!f) {
        snprintf (why, whylen, "cannot read its files %s", self->server->files);
        return -1;
    }
    json_t *argv = json_pack ("[s, s, s, s]", "tar", "-xzf", "-", "-C");
    json_array_append_new (argv, json_string (PROTO_SANDBOX_WORKSPACE));
    uint64_t pid = exec_interactive (self, argv, NULL, why, whylen);
    json_decref (argv);
    int rc = pid ? 0 : -1;
    char *buf = xmalloc (CHUNK);
    size_t n;
    while (rc == 0 && (n = fread (buf, 1, CHUNK, f)) > 0)
        rc = write_input (self, pid, buf, n, false, why, whylen);
    free (buf);
    fclose (f);
    if (rc == 0)
        rc = write_input (self, pid, "", 0, true, why, whylen);
    if (rc)
        return -1;
    proto_msg_t *req = new_req (self, PROTO_sandbox_exec_wait);
    proto_set_str (&req->body.sandbox_exec_wait.sandbox_id, self->sandbox);
    req->body.sandbox_exec_wait.pid = pid;
    req->body.sandbox_exec_wait.timeout_seconds = SANDBOX_MS / 1000 - 5;
    proto_msg_t *rep = ask (self, req, why, whylen);
    if (rep && (rep->body.sandbox_exec_result.running || rep->body.sandbox_exec_result.exit_code))
        snprintf (why, whylen, "unpacking %s failed: %s", self->server->files,
                  rep->body.sandbox_exec_result.stderr ? rep->body.sandbox_exec_result.stderr
                                                       : "tar did not finish");
    rc = rep && !rep->body.sandbox_exec_result.running
         && !rep->body.sandbox_exec_result.exit_code ? 0 : -1;
    proto_msg_destroy (&rep);
    return rc;
}

/* Creates the sandbox and starts the server in it. 0, or -1 with why. */
static int
launch (mcpc_stdio_t *self, char *why, size_t whylen)
{
    const mcpc_server_t *s = self->server;
    proto_msg_t *req = new_req (self, PROTO_sandbox_create);
    proto_sandbox_create_t *c = &req->body.sandbox_create;
    char name[96];
    snprintf (name, sizeof name, "mcp-%s", s->name);
    proto_set_str (&c->name, name);
    json_t *labels = json_pack ("{s:s}", "mcp", s->name);
    mpjson_set (&c->labels, labels, 4);
    json_decref (labels);
    proto_set_str (&c->network, s->network_policy ? "policy" : "none");
    if (s->network_policy && s->allow)
        mpjson_set (&c->network_allow, s->allow, 4);
    proto_msg_t *rep = ask (self, req, why, whylen);
    if (!rep)
        return -1;
    self->sandbox = xstrdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    if (s->files && unpack (self, why, whylen))
        return -1;
    char topic[160];
    snprintf (topic, sizeof topic, "sandbox.%s.proc.", self->sandbox);
    self->tap = bus_tap_new (cfg_str ("CAISSON_BUS_SUB"), topic);
    if (!self->tap) {
        snprintf (why, whylen, "cannot subscribe to its output");
        return -1;
    }
    zclock_sleep (200);         /* the subscription reaches the broker first */
    json_t *argv = json_pack ("[s]", s->command);
    json_array_extend (argv, (json_t *) s->args);
    self->pid = exec_interactive (self, argv, s->env, why, whylen);
    json_decref (argv);
    return self->pid ? 0 : -1;
}

/* Takes one sandbox.output event (waiting up to ms): stdout to the framer,
 * stderr to the tail, exit noted. */
static void
pump (mcpc_stdio_t *self, int ms)
{
    char topic[200];
    proto_msg_t *ev = bus_tap_recv (self->tap, topic, sizeof topic, ms, NULL);
    if (!ev)
        return;
    const proto_sandbox_output_t *o = &ev->body.sandbox_output;
    if (ev->type != PROTO_sandbox_output || o->pid != self->pid)
        ;
    else if (!strcmp (o->stream, "stdout"))
        mcpc_frame_feed (self->frame, o->data.data, o->data.size);
    else if (!strcmp (o->stream, "stderr")) {
        size_t have = strlen (self->tail), n = o->data.size > TAIL ? TAIL : o->data.size;
        const char *src = (const char *) o->data.data + o->data.size - n;
        if (have + n > TAIL) {
            memmove (self->tail, self->tail + (have + n - TAIL), TAIL - n);
            have = TAIL - n;
        }
        memcpy (self->tail + have, src, n);
        self->tail[have + n] = '\0';
    }
    else if (!strcmp (o->stream, "exit")) {
        self->exited = true;
        self->exit_code = o->exit_code;
    }
    proto_msg_destroy (&ev);
}

/* Answers a request the server made (ping: {}, else -32601). */
static void
answer_server (mcpc_stdio_t *self, const json_t *msg)
{
    char *text = mcpc_frame_answer (msg);
    size_t n = strlen (text);
    text = xrealloc (text, n + 2);
    memcpy (text + n, "\n", 2);
    char why[256];
    write_input (self, self->pid, text, n + 1, false, why, sizeof why);
    free (text);
}

int
mcpc_stdio_request (mcpc_stdio_t *self, const char *method, const json_t *params,
                    json_t **result, char *why, size_t whylen)
{
    return mcpc_stdio_call (self, method, params, NULL, NULL, result, why, whylen);
}

int
mcpc_stdio_notify (mcpc_stdio_t *self, const char *method, const json_t *params, char *why,
                   size_t whylen)
{
    char *line = mcpc_frame_request (-1, method, params);
    int rc = self->exited ? -1 : write_input (self, self->pid, line, strlen (line), false, why,
                                              whylen);
    if (self->exited)
        snprintf (why, whylen, "it has exited");
    free (line);
    return rc;
}

int
mcpc_stdio_call (mcpc_stdio_t *self, const char *method, const json_t *params,
                 const atomic_bool *cancel, long long *sent, json_t **result, char *why,
                 size_t whylen)
{
    const char *name = self->server->name;
    *result = NULL;
    long long id = self->next_id++;
    if (sent)
        *sent = id;
    char *line = mcpc_frame_request (id, method, params);
    char reason[512];
    int rc = self->exited ? -1 : write_input (self, self->pid, line, strlen (line), false,
                                              reason, sizeof reason);
    free (line);
    /* Refused because it has just ended: its exit event (and stderr) follow. */
    for (int64_t until = zclock_mono () + 2000; rc && !self->exited && zclock_mono () < until;)
        pump (self, 100);
    if (rc && !self->exited) {
        self->broken = !(self->abort && *self->abort);
        snprintf (why, whylen, "MCP server %s could not be sent %s: %s", name, method, reason);
        return -2;
    }
    int64_t end = zclock_mono () + self->server->timeout_ms;
    while (!self->exited && zclock_mono () < end && !(self->abort && *self->abort)
           && !(cancel && *cancel)) {
        json_t *msg;
        mcpc_msg_kind_t kind = mcpc_frame_next (self->frame, &msg, reason, sizeof reason);
        if (kind == MCPC_MSG_NONE) {
            int64_t left = end - zclock_mono ();
            pump (self, left < 0 ? 0 : left > 100 ? 100 : (int) left);
            continue;
        }
        if (kind == MCPC_MSG_INVALID) {
            snprintf (why, whylen, "MCP server %s sent an invalid JSON-RPC frame: %s", name,
                      reason);
            return -1;
        }
        json_t *msg_id = json_object_get (msg, "id");
        if (kind == MCPC_MSG_REQUEST)
            answer_server (self, msg);
        else if (kind == MCPC_MSG_RESPONSE && json_is_integer (msg_id)
                 && json_integer_value (msg_id) == id) {
            json_t *error = json_object_get (msg, "error");
            if (error)
                snprintf (why, whylen, "MCP server %s answered %s with error %lld: %.200s", name,
                          method, (long long) json_integer_value (json_object_get (error, "code")),
                          json_string_value (json_object_get (error, "message")));
            else
                *result = json_incref (json_object_get (msg, "result"));
            json_decref (msg);
            return *result ? 0 : -1;
        }
        else if (kind == MCPC_MSG_NOTIFICATION
                 && !strcmp (json_string_value (json_object_get (msg, "method")),
                             "notifications/tools/list_changed"))
            self->tools_changed = true;
        json_decref (msg);      /* notifications, late answers */
    }
    if (cancel && *cancel && !self->exited) {
        snprintf (why, whylen, "MCP server %s: the call was cancelled", name);
        return -3;
    }
    if (self->abort && *self->abort)
        snprintf (why, whylen, "MCP server %s: tool-runner is stopping", name);
    else if (self->exited) {
        size_t n = strlen (self->tail);
        while (n && strchr (" \t\r\n", self->tail[n - 1]))
            n--;
        snprintf (why, whylen, "MCP server %s exited (code %lld) before answering %s%s%.*s",
                  name, self->exit_code, method, n ? "; its stderr ends: " : "", (int) n,
                  self->tail);
    }
    else
        snprintf (why, whylen, "MCP server %s did not answer %s within %u s", name, method,
                  (self->server->timeout_ms + 999) / 1000);
    return -1;
}

mcpc_stdio_t *
mcpc_stdio_start (const mcpc_server_t *server, const char *user, const atomic_bool *abort,
                  char *why, size_t whylen)
{
    mcpc_stdio_t *self = xcalloc (1, sizeof *self);
    self->server = server;
    self->abort = abort;
    self->user = xstrdup (user);
    self->frame = mcpc_frame_new (0);
    self->bus = bus_client_new (cfg_str ("CAISSON_BUS"));
    char reason[512] = "cannot connect to the bus";
    if (self->bus) {
        bus_client_set_timeout (self->bus, SANDBOX_MS, 0);
        bus_client_set_abort (self->bus, abort);
    }
    json_t *params = mcpc_initialize_params ();
    json_t *result = NULL;
    int rc = self->bus ? launch (self, reason, sizeof reason) : -1;
    if (rc == 0)
        rc = mcpc_stdio_request (self, "initialize", params, &result, reason, sizeof reason);
    json_decref (params);
    const char *version = rc ? NULL : mcpc_initialize_version (result, reason, sizeof reason);
    if (!version)
        rc = -1;
    if (rc == 0) {
        snprintf (self->version, sizeof self->version, "%s", version);
        char *line = mcpc_frame_request (-1, "notifications/initialized", NULL);
        rc = write_input (self, self->pid, line, strlen (line), false, reason, sizeof reason);
        free (line);
    }
    json_decref (result);
    if (rc) {
        /* reason may already name the server (a request's own words) */
        if (!strncmp (reason, "MCP server ", 11))
            snprintf (why, whylen, "%s", reason);
        else
            snprintf (why, whylen, "MCP server %s failed to start: %s", server->name, reason);
        mcpc_stdio_destroy (&self);
    }
    return self;
}

void
mcpc_stdio_destroy (mcpc_stdio_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcpc_stdio_t *self = *self_p;
    if (self->sandbox && self->bus) {
        proto_msg_t *req = new_req (self, PROTO_sandbox_destroy);
        proto_set_str (&req->body.sandbox_destroy.sandbox_id, self->sandbox);
        char why[256];
        bus_client_set_timeout (self->bus, 10000, 0);
        proto_msg_t *rep = ask (self, req, why, sizeof why);
        proto_msg_destroy (&rep);
    }
    bus_tap_destroy (&self->tap);
    bus_client_destroy (&self->bus);
    mcpc_frame_destroy (&self->frame);
    free (self->sandbox);
    free (self->user);
    free (self);
    *self_p = NULL;
}

/* mcpc_request_fn over mcpc_stdio_request. */
static int
request_fn (void *conn, const char *method, const json_t *params, json_t **result, char *why,
            size_t whylen)
{
    return mcpc_stdio_request (conn, method, params, result, why, whylen);
}

json_t *
mcpc_stdio_tools (mcpc_stdio_t *self, json_t *skipped, char *why, size_t whylen)
{
    return mcpc_tools_list (self->server, request_fn, self, skipped, why, whylen);
}

const char *
mcpc_stdio_version (const mcpc_stdio_t *self)
{
    return self->version;
}

bool
mcpc_stdio_exited (const mcpc_stdio_t *self)
{
    return self->exited || self->broken;
}

bool
mcpc_stdio_tools_changed (mcpc_stdio_t *self)
{
    bool changed = self->tools_changed;
    self->tools_changed = false;
    return changed;
}
