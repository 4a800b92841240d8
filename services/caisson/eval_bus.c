/* eval_bus: see eval_bus.h. Requests carry the process's identity
 * (proto_set_identity: the eval's user), so every sandbox, run and record
 * the harness makes is that user's, and so is what it may read. */
#include "eval_bus.h"
#include "cfg.h"
#include "cid.h"
#include "mpjson.h"
#include "runroute.h"

#include <stdio.h>
#include <string.h>

/* How deep the JSON the harness sends or reads may nest. */
#define DEPTH 64

bus_client_t *
evalbus_client (int tries)
{
    bus_client_t *c = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (c)
        bus_client_set_timeout (c, 5000, tries);
    return c;
}

/* req (taken) to service; the declared reply (new) or NULL with why. */
static proto_msg_t *
ask (bus_client_t *c, const char *service, proto_msg_t *req, char *why, size_t n)
{
    proto_msg_t *rep = bus_client_request (c, service, req);
    proto_msg_destroy (&req);
    if (!rep)
        snprintf (why, n, "%s did not answer", service);
    else if (rep->type == PROTO_error) {
        snprintf (why, n, "%s: %s: %s", service, rep->body.error.code, rep->body.error.message);
        proto_msg_destroy (&rep);
    }
    return rep;
}

json_t *
evalbus_tool (bus_client_t *c, const char *name, json_t *args, unsigned timeout_s, bool *ok,
              char *why, size_t n)
{
    char id[CID_SIZE];
    cid_new (id);
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    proto_tools_call_t *call = &req->body.tools_call;
    proto_set_str (&call->name, name);
    proto_set_str (&call->call_id, id);
    call->timeout_ms = (uint64_t) timeout_s * 1000;
    int rc = mpjson_set (&call->args, args, DEPTH);
    json_decref (args);
    if (rc) {
        proto_msg_destroy (&req);
        snprintf (why, n, "%s: the arguments do not encode", name);
        return NULL;
    }
    /* The same frame is resent until the tool's time is up: its call id
     * keeps a resend from running the tool twice. `busy` (every slot, or
     * this user's share of them, taken: the eval's own runs call tools as
     * the same user) is asked again after a pause, as the orchestrator does. */
    bus_client_set_timeout (c, 5000, (int) (timeout_s / 5 + 2));
    int64_t give_up = zclock_mono () + (int64_t) timeout_s * 1000;
    proto_msg_t *rep = NULL;
    for (int pause = 100;; pause = pause < 1600 ? pause * 2 : pause) {
        rep = bus_client_request (c, "tool-runner", req);
        bool busy = rep && rep->type == PROTO_error && !strcmp (rep->body.error.code, "busy");
        if (!busy || zclock_mono () + pause >= give_up)
            break;
        proto_msg_destroy (&rep);
        zclock_sleep (pause + (int) (randof (pause / 2 + 1)));
        /* a new message: the broker's answer to the old id was `busy` */
        proto_msg_t *again = proto_msg_new (PROTO_tools_call, NULL);
        proto_tools_call_t *b = &again->body.tools_call;
        proto_set_str (&b->name, call->name);
        proto_set_str (&b->call_id, call->call_id);
        b->timeout_ms = call->timeout_ms;
        b->args = call->args;
        call->args = (proto_bytes_t) { 0 };
        proto_msg_destroy (&req);
        req = again;
        call = b;
    }
    proto_msg_destroy (&req);
    bus_client_set_timeout (c, 5000, 3);
    if (rep && rep->type == PROTO_error) {
        snprintf (why, n, "tool-runner: %s: %s", rep->body.error.code, rep->body.error.message);
        proto_msg_destroy (&rep);
    }
    else if (!rep)
        snprintf (why, n, "tool-runner did not answer");
    if (!rep)
        return NULL;
    *ok = rep->body.tools_result.ok;
    json_t *result = mpjson_get (&rep->body.tools_result.result, DEPTH);
    proto_msg_destroy (&rep);
    return result ? result : json_null ();
}

int
evalbus_tool_ok (bus_client_t *c, const char *name, json_t *args, unsigned timeout_s,
                 json_t **out, char *why, size_t n)
{
    bool ok = false;
    json_t *r = evalbus_tool (c, name, args, timeout_s, &ok, why, n);
    if (r && !ok) {
        json_t *err = json_object_get (r, "error");
        snprintf (why, n, "%s failed: %s: %s", name,
                  json_string_value (json_object_get (err, "code")) ?: "?",
                  json_string_value (json_object_get (err, "message")) ?: "");
    }
    if (r && ok && out)
        *out = r;
    else
        json_decref (r);
    return r && ok ? 0 : -1;
}

json_t *
evalbus_command (bus_client_t *c, const char *sandbox, const char *command, const char *dir,
                 unsigned timeout_s, char *why, size_t n)
{
    json_t *args = json_pack ("{s:s, s:s, s:i}", "sandboxId", sandbox, "command", command,
                              "timeoutSeconds", (int) timeout_s);
    if (dir)
        json_object_set_new (args, "workingDirectory", json_string (dir));
    bool ok;
    /* A command that fails is still an answer: its exit code says how. */
    return evalbus_tool (c, "runCommand", args, timeout_s + 30, &ok, why, n);
}

void
evalbus_destroy_sandbox (bus_client_t *c, const char *sandbox)
{
    char svc[160], why[256];
    runroute_sandbox (sandbox, svc, sizeof svc);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_destroy, NULL);
    proto_set_str (&req->body.sandbox_destroy.sandbox_id, sandbox);
    proto_msg_t *rep = ask (c, svc, req, why, sizeof why);
    proto_msg_destroy (&rep);
}

int
evalbus_drop_sandboxes (bus_client_t *c, const char *eval_id)
{
    char why[256];
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_list, NULL);
    json_t *labels = json_pack ("{s:s}", EVAL_SANDBOX_LABEL, eval_id);
    mpjson_set (&req->body.sandbox_list.labels, labels, 2);
    json_decref (labels);
    proto_msg_t *rep = ask (c, "sandbox-manager", req, why, sizeof why);
    json_t *list = rep ? mpjson_get (&rep->body.sandbox_listed.sandboxes, 8) : NULL, *s;
    proto_msg_destroy (&rep);
    size_t i;
    int n = 0;
    json_array_foreach (list, i, s) {
        const char *id = json_string_value (json_object_get (s, "sandboxId"));
        if (!id)
            id = json_string_value (json_object_get (s, "sandbox_id"));
        if (id) {
            evalbus_destroy_sandbox (c, id);
            n++;
        }
    }
    json_decref (list);
    return n;
}

int
evalbus_run_start (bus_client_t *c, const char *task, const char *model, const char *profile,
                   unsigned wall_s, char *run, char *thread, char *why, size_t n)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_run_start_t *b = &req->body.run_start;
    proto_set_str (&b->task, task);
    proto_set_str (&b->model, model);
    proto_set_str (&b->profile, profile);
    json_t *budgets = json_pack ("{s:i}", "wallSeconds", (int) wall_s);
    mpjson_set (&b->budgets, budgets, 4);
    json_decref (budgets);
    proto_msg_t *rep = bus_client_request (c, "orchestrator", req);
    proto_msg_destroy (&req);
    if (!rep || rep->type == PROTO_error) {
        int rc = rep && !strcmp (rep->body.error.code, "limit") ? 1 : -1;
        if (rep)
            snprintf (why, n, "orchestrator: %s: %s", rep->body.error.code,
                      rep->body.error.message);
        else
            snprintf (why, n, "orchestrator did not answer");
        proto_msg_destroy (&rep);
        return rc;
    }
    snprintf (run, 128, "%s", rep->body.run_started.run_id);
    snprintf (thread, 128, "%s", rep->body.run_started.thread_id);
    proto_msg_destroy (&rep);
    return 0;
}

/* run's orchestrator (service, 160 bytes). */
static void
owner (bus_client_t *c, const char *run, char *service)
{
    runroute_service (c, run, service, 160);
}

json_t *
evalbus_run_get (bus_client_t *c, const char *run)
{
    char svc[160], why[256];
    owner (c, run, svc);
    proto_msg_t *req = proto_msg_new (PROTO_run_get, NULL);
    proto_set_str (&req->body.run_get.run_id, run);
    proto_msg_t *rep = ask (c, svc, req, why, sizeof why);
    if (!rep)
        return NULL;
    const proto_run_info_t *b = &rep->body.run_info;
    json_t *info = json_pack ("{s:s, s:s*, s:s*, s:s*}", "status", b->status, "reason", b->reason,
                              "model", b->model, "profile", b->profile);
    json_t *pending = mpjson_get (&b->pending, DEPTH), *usage = mpjson_get (&b->usage, 8);
    if (pending)
        json_object_set_new (info, "pending", pending);
    if (usage)
        json_object_set_new (info, "usage", usage);
    proto_msg_destroy (&rep);
    return info;
}

int
evalbus_run_cancel (bus_client_t *c, const char *run)
{
    char svc[160], why[256];
    owner (c, run, svc);
    proto_msg_t *req = proto_msg_new (PROTO_run_cancel, NULL);
    proto_set_str (&req->body.run_cancel.run_id, run);
    proto_msg_t *rep = ask (c, svc, req, why, sizeof why);
    bool got = rep != NULL;
    proto_msg_destroy (&rep);
    return got ? 0 : -1;
}

int
evalbus_run_decide (bus_client_t *c, const char *run, const char *call, bool approve)
{
    char svc[160], why[256];
    owner (c, run, svc);
    proto_msg_t *req = proto_msg_new (approve ? PROTO_run_approve : PROTO_run_decline, NULL);
    proto_set_str (&req->body.run_approve.run_id, run);
    proto_set_str (&req->body.run_approve.tool_call_id, call);
    proto_set_str (&req->body.run_approve.reason,
                   approve ? NULL : "declined by the eval harness, as the task's manifest says");
    proto_msg_t *rep = ask (c, svc, req, why, sizeof why);
    bool got = rep != NULL;
    proto_msg_destroy (&rep);
    return got ? 0 : -1;
}

json_t *
evalbus_events (bus_client_t *c, const char *run)
{
    json_t *all = json_array ();
    uint64_t from = 1;
    for (int page = 0; page < 64; page++) {
        char why[256];
        proto_msg_t *req = proto_msg_new (PROTO_events_read, NULL);
        proto_set_str (&req->body.events_read.run, run);
        req->body.events_read.from_seq = from;
        proto_msg_t *rep = ask (c, "event-log", req, why, sizeof why);
        if (!rep) {
            json_decref (all);
            return NULL;
        }
        json_t *events = mpjson_get (&rep->body.events_page.events, DEPTH);
        uint64_t next = rep->body.events_page.next;
        proto_msg_destroy (&rep);
        size_t got = json_array_size (events);
        json_array_extend (all, events);
        json_decref (events);
        if (!got || next <= from)
            break;
        from = next;
    }
    return all;
}

int
evalbus_put (bus_client_t *c, const char *id, const json_t *record, char *why, size_t n)
{
    proto_msg_t *req = proto_msg_new (PROTO_eval_put, NULL);
    proto_set_str (&req->body.eval_put.id, id);
    if (mpjson_set (&req->body.eval_put.record, record, 16)) {
        proto_msg_destroy (&req);
        snprintf (why, n, "the record does not encode (deeper than 16 levels?)");
        return -1;
    }
    proto_msg_t *rep = ask (c, "event-log", req, why, n);
    bool got = rep != NULL;
    proto_msg_destroy (&rep);
    return got ? 0 : -1;
}

json_t *
evalbus_list (bus_client_t *c, char *why, size_t n)
{
    proto_msg_t *req = proto_msg_new (PROTO_eval_list, NULL);
    req->body.eval_list.limit = 1000;
    proto_msg_t *rep = ask (c, "event-log", req, why, n);
    json_t *list = rep ? mpjson_get (&rep->body.eval_listing.evals, 16) : NULL;
    proto_msg_destroy (&rep);
    return list;
}

json_t *
evalbus_get (bus_client_t *c, const char *id, char *why, size_t n)
{
    proto_msg_t *req = proto_msg_new (PROTO_eval_get, NULL);
    proto_set_str (&req->body.eval_get.id, id);
    proto_msg_t *rep = ask (c, "event-log", req, why, n);
    json_t *rec = rep ? mpjson_get (&rep->body.eval_record.record, 16) : NULL;
    proto_msg_destroy (&rep);
    return rec;
}

int
evalbus_delete (bus_client_t *c, const char *id, char *why, size_t n)
{
    proto_msg_t *req = proto_msg_new (PROTO_eval_delete, NULL);
    proto_set_str (&req->body.eval_delete.id, id);
    proto_msg_t *rep = ask (c, "event-log", req, why, n);
    int rc = rep ? 0 : -1;
    proto_msg_destroy (&rep);
    return rc;
}
