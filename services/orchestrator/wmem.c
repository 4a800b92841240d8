/* wmem: the runs' working memory in event-log (see wmem.h). */
#include "wmem.h"
#include "cfg.h"
#include "clog.h"

#include <stdlib.h>
#include <string.h>

#define READ_TIMEOUT_MS 2000
#define WRITE_TIMEOUT_MS 5000

struct _wmem_t {
    rpc_t *rpc;
    bool on, per_thread;
};

wmem_t *
wmem_new (rpc_t *rpc)
{
    wmem_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    const char *scope = cfg_str ("CAISSON_MEMORY_SCOPE");
    self->rpc = rpc;
    self->on = strcmp (scope, "off") != 0;
    self->per_thread = strcmp (scope, "thread") == 0;
    if (self->on && !self->per_thread && strcmp (scope, "user"))
        clog_warn (NULL, "CAISSON_MEMORY_SCOPE: expected user, thread or off, got '%s': "
                   "using user", scope);
    return self;
}

void
wmem_destroy (wmem_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

/* A memory request of run's (type), as its user, for its document. */
static proto_msg_t *
request_new (wmem_t *self, const run_t *run, proto_type_t type)
{
    proto_msg_t *req = proto_msg_new (type, NULL);
    const char *user = run_user (run);
    proto_set_str (&req->env.corr, run_id (run));
    proto_set_str (&req->env.run, run_id (run));
    proto_set_str (&req->env.user, *user ? user : NULL);
    req->env.op = run_op (run);
    const char *thread = self->per_thread ? run_thread (run) : NULL;
    if (type == PROTO_memory_get)
        proto_set_str (&req->body.memory_get.thread, thread);
    else
        proto_set_str (&req->body.memory_put.thread, thread);
    return req;
}

static int
ask (wmem_t *self, proto_msg_t *req, int timeout_ms, rpc_done_fn *fn, void *arg, char *req_id)
{
    int rc = rpc_call (self->rpc, "event-log", req, timeout_ms, 1, fn, arg);
    if (rc == 0)
        snprintf (req_id, CID_SIZE, "%s", req->env.id);
    proto_msg_destroy (&req);
    return rc ? -1 : 0;
}

int
wmem_read (wmem_t *self, const run_t *run, rpc_done_fn *fn, void *arg, char *req_id)
{
    if (!self->on)
        return -1;
    return ask (self, request_new (self, run, PROTO_memory_get), READ_TIMEOUT_MS, fn, arg,
                 req_id);
}

void
wmem_read_done (const proto_msg_t *reply, const char *error, run_t *run)
{
    if (!reply || reply->type != PROTO_memory) {
        /* the turn goes on without memory rather than fail the run */
        clog_warn (run_id (run), "working memory not read: %s",
                   reply && reply->type == PROTO_error ? reply->body.error.message
                   : error ? error : "unexpected reply");
        run_memory_done (run, false, NULL, 0, 0);
        return;
    }
    const proto_memory_t *m = &reply->body.memory;
    run_memory_done (run, true, m->content, m->version, m->max);
}

int
wmem_write (wmem_t *self, const run_t *run, const json_t *put, rpc_done_fn *fn, void *arg,
            char *req_id)
{
    if (!self->on)
        return -1;
    proto_msg_t *req = request_new (self, run, PROTO_memory_put);
    proto_memory_put_t *b = &req->body.memory_put;
    proto_set_str (&b->mode, json_string_value (json_object_get (put, "mode")));
    proto_set_str (&b->content, json_string_value (json_object_get (put, "content")));
    proto_set_str (&b->old, json_string_value (json_object_get (put, "old")));
    proto_set_str (&b->new, json_string_value (json_object_get (put, "new")));
    b->version = (uint64_t) json_integer_value (json_object_get (put, "version"));
    b->any_version = json_is_true (json_object_get (put, "anyVersion"));
    proto_set_str (&b->by, "agent");
    proto_set_str (&b->run, run_id (run));
    return ask (self, req, WRITE_TIMEOUT_MS, fn, arg, req_id);
}

void
wmem_write_done (const proto_msg_t *reply, const char *error, run_t *run)
{
    json_t *result;
    bool ok = reply && reply->type == PROTO_memory;
    if (ok) {
        const proto_memory_t *m = &reply->body.memory;
        result = json_pack ("{s:b, s:I, s:I, s:I, s:s, s:s?}", "success", 1, "version",
                            (json_int_t) m->version, "bytes", (json_int_t) m->bytes, "max",
                            (json_int_t) m->max, "scope", m->scope, "thread", m->thread);
    }
    else
        result = json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code",
                            reply && reply->type == PROTO_error ? reply->body.error.code
                                                                : "unavailable",
                            "message", reply && reply->type == PROTO_error
                            ? reply->body.error.message
                            : error ? error : "event-log answered with an unexpected message");
    run_tool_done (run, ok, false, result, 0, NULL);
}
