/* sbx_gkey: see sbx_gkey.h. */
#include "sbx_gkey.h"
#include "bus_client.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"
#include "runroute.h"

#include <string.h>

#define GKEY_SERVICE "gateway-keys"
#define GKEY_TIMEOUT_MS 2000

struct _sbx_gkey_t {
    bus_client_t *client;
};

sbx_gkey_t *
sbx_gkey_new (const char *endpoint)
{
    sbx_gkey_t *self = calloc (1, sizeof *self);
    if (!self || !(self->client = bus_client_new (endpoint))) {
        free (self);
        return NULL;
    }
    bus_client_set_timeout (self->client, GKEY_TIMEOUT_MS, 0);
    return self;
}

void
sbx_gkey_destroy (sbx_gkey_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bus_client_destroy (&(*self_p)->client);
    free (*self_p);
    *self_p = NULL;
}

static const char *
rec_str (box_t *box, const char *key)
{
    return json_string_value (json_object_get (box->rec, key));
}

/* True when some gateway-keys instance is registered with the broker. */
static bool
registered (sbx_gkey_t *self)
{
    json_t *ids = runroute_instances (self->client, GKEY_SERVICE);
    const char *first = json_string_value (json_array_get (ids, 0));
    bool yes = first && strchr (first, '.');
    json_decref (ids);
    return yes;
}

/* A request to gateway-keys as a service acting for box's owner. */
static proto_msg_t *
ask (sbx_gkey_t *self, proto_msg_t *req, box_t *box)
{
    proto_set_str (&req->env.user, rec_str (box, "user"));
    req->env.op = true;         /* kind sandbox: services only */
    proto_msg_t *rep = bus_client_request (self->client, GKEY_SERVICE, req);
    proto_msg_destroy (&req);
    return rep;
}

void
sbx_gkey_mint (sbx_gkey_t *self, box_t *box, const char *run)
{
    json_object_del (box->rec, "gatewayKey");
    json_object_del (box->rec, "gatewayKeyId");
    json_object_del (box->rec, "gatewayReason");
    const char *user = rec_str (box, "user");
    const char *why = NULL;
    char text[600];
    if (!self || !cfg_u64 ("CAISSON_GATEWAY_SANDBOX_KEYS"))
        return;                 /* the deployment does not hand out keys: nothing to say */
    if (!user || !*user)
        why = "no model access: the sandbox has no owner to charge";
    else if (!registered (self))
        why = "no model access: the model gateway's key store (gateway-keys) is not running";
    if (why) {
        json_object_set_new (box->rec, "gatewayReason", json_string (why));
        return;
    }
    proto_msg_t *req = proto_msg_new (PROTO_gkey_create, NULL);
    proto_gkey_create_t *c = &req->body.gkey_create;
    proto_set_str (&c->user, user);
    proto_set_str (&c->kind, "sandbox");
    proto_set_str (&c->name, box->id);
    proto_set_str (&c->sandbox_id, box->id);
    if (run && *run)
        proto_set_str (&c->run, run);
    c->expires_at = (uint64_t) json_integer_value (json_object_get (box->rec, "expiresAt"));
    proto_msg_t *rep = ask (self, req, box);
    if (rep && rep->type == PROTO_gkey_made) {
        json_t *info = mpjson_get (&rep->body.gkey_made.info, 8);
        json_object_set_new (box->rec, "gatewayKey", json_string (rep->body.gkey_made.key));
        json_object_set_new (box->rec, "gatewayKeyId",
                             json_string (json_string_value (json_object_get (info, "id")) ?: ""));
        json_decref (info);
    }
    else {
        snprintf (text, sizeof text, "no model access: gateway-keys %s%s",
                  rep ? "refused the sandbox's key: " : "did not answer",
                  rep && rep->type == PROTO_error && rep->body.error.message
                  ? rep->body.error.message : "");
        json_object_set_new (box->rec, "gatewayReason", json_string (text));
        clog_warn (NULL, "sandbox %s: %s", box->id, text);
    }
    proto_msg_destroy (&rep);
}

void
sbx_gkey_revoke (sbx_gkey_t *self, box_t *box)
{
    if (!self || !rec_str (box, "gatewayKeyId"))
        return;
    proto_msg_t *req = proto_msg_new (PROTO_gkey_revoke, NULL);
    proto_set_str (&req->body.gkey_revoke.sandbox_id, box->id);
    proto_msg_t *rep = ask (self, req, box);
    /* One not revoked here (gateway-keys down) lapses at the sandbox's
     * expiry, and gateway-keys' sweep revokes keys of sandboxes gone. */
    if (!rep || rep->type != PROTO_gkey_ack)
        clog_warn (NULL, "sandbox %s: its model key was not revoked now (%s)", box->id,
                   rep && rep->type == PROTO_error ? rep->body.error.message : "no answer");
    proto_msg_destroy (&rep);
}

void
sbx_gkey_context (sbx_gkey_t *self, box_t *box, const char *run)
{
    if (!self || !rec_str (box, "gatewayKeyId"))
        return;
    proto_msg_t *req = proto_msg_new (PROTO_gkey_context, NULL);
    proto_set_str (&req->body.gkey_context.sandbox_id, box->id);
    if (run && *run)
        proto_set_str (&req->body.gkey_context.run, run);
    req->body.gkey_context.expires_at =
        (uint64_t) json_integer_value (json_object_get (box->rec, "expiresAt"));
    proto_msg_t *rep = ask (self, req, box);
    proto_msg_destroy (&rep);
}

static bool
is_host (box_t *box)
{
    const char *net = rec_str (box, "network");
    return net && !strcmp (net, "host");
}

void
sbx_gkey_url (box_t *box, char *out, size_t n)
{
    *out = 0;
    if (!rec_str (box, "gatewayKey"))
        return;
    if (is_host (box))
        snprintf (out, n, "%s", cfg_str ("CAISSON_GATEWAY_URL"));
    else
        snprintf (out, n, "http://127.0.0.1:%llu",
                  (unsigned long long) cfg_u64 ("CAISSON_GATEWAY_SANDBOX_PORT"));
}

void
sbx_gkey_env (box_t *box, json_t *env)
{
    const char *key = rec_str (box, "gatewayKey");
    char url[300], v1[310];
    sbx_gkey_url (box, url, sizeof url);
    if (!key || !*url)
        return;
    snprintf (v1, sizeof v1, "%s/v1", url);
    json_object_set_new (env, "OPENAI_BASE_URL", json_string (v1));
    json_object_set_new (env, "ANTHROPIC_BASE_URL", json_string (url));
    json_object_set_new (env, "OPENAI_API_KEY", json_string (key));
    json_object_set_new (env, "ANTHROPIC_API_KEY", json_string (key));
    if (!is_host (box))
        json_object_set_new (env, "CAISSON_GATEWAY_SANDBOX_PORT",
                             json_sprintf ("%llu", (unsigned long long)
                                           cfg_u64 ("CAISSON_GATEWAY_SANDBOX_PORT")));
}
