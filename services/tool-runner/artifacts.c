/* artifacts: a call's outputs kept with event-log. See artifacts.h. */
#include "artifacts.h"
#include "clog.h"
#include "mpjson.h"
#include "sandbox_call.h"

#include <stdio.h>
#include <string.h>

#define ARTIFACT_WAIT_MS 5000

/* Sends req (consumed) to event-log with an id derived from the call id
 * and key; its declared reply, or NULL (logged). */
static proto_msg_t *
ask (tool_ctx_t *ctx, proto_msg_t *req, const char *key)
{
    char derived[400], id[CID_SIZE];
    snprintf (derived, sizeof derived, "%s/artifact/%s", ctx->call_id, key);
    sandbox_call_derive_id (derived, id);
    proto_set_str (&req->env.id, id);
    proto_set_str (&req->env.run, ctx->run);
    int left = tool_left_ms (ctx), wait = left < ARTIFACT_WAIT_MS ? left : ARTIFACT_WAIT_MS;
    bus_client_set_timeout (ctx->client, wait, 1);
    proto_msg_t *rep = bus_client_request (ctx->client, "event-log", req);
    const char *what = proto_type_name (req->type);
    proto_msg_destroy (&req);
    if (rep && rep->type != PROTO_error)
        return rep;
    clog_warn (ctx->corr, "call %s: %s for run %s: %s", ctx->call_id, what, ctx->run,
               rep ? rep->body.error.message : "event-log did not answer");
    proto_msg_destroy (&rep);
    return NULL;
}

json_t *
artifacts_keep (tool_ctx_t *ctx, const char *kind, const char *name, const void *data,
                size_t size)
{
    if (!ctx->run || !*ctx->run || ctx->dry_run || !ctx->client)
        return NULL;
    char key[320];
    snprintf (key, sizeof key, "put/%s/%s", kind, name);
    proto_msg_t *put = sandbox_call_new (ctx, PROTO_artifact_put);
    proto_set_bytes (&put->body.artifact_put.data, size ? data : "", size);
    proto_set_str (&put->body.artifact_put.kind, kind);
    proto_set_str (&put->body.artifact_put.name, name);
    proto_msg_t *ref = ask (ctx, put, key);
    if (!ref)
        return NULL;
    json_t *a = json_pack ("{s:s, s:s, s:s, s:I}", "hash", ref->body.artifact_ref.hash, "kind",
                           kind, "name", name, "size", (json_int_t) ref->body.artifact_ref.size);
    proto_msg_destroy (&ref);
    proto_msg_t *ev = sandbox_call_new (ctx, PROTO_event_append);
    proto_set_str (&ev->body.event_append.kind, "artifact");
    mpjson_set (&ev->body.event_append.data, a, 4);
    snprintf (key, sizeof key, "event/%s/%s", kind, name);
    proto_msg_t *ack = ask (ctx, ev, key);
    if (!ack || ack->type != PROTO_event_ack) {
        proto_msg_destroy (&ack);
        json_decref (a);
        return NULL;
    }
    proto_msg_destroy (&ack);
    return a;
}
