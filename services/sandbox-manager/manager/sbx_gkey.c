/* sbx_gkey: see sbx_gkey.h. One DEALER (bus_client) read from the
 * manager's loop, as in sbx_egress.c: requests waiting for an answer are
 * kept by id, resent with the same id (gateway-keys' worker answers a
 * retry from its cache) and given up at their deadline, swept by a 100 ms
 * timer. Revokes not acknowledged are records `gkrevoke.<sandboxId>` in
 * the manager's own registry, sent again every few request timeouts. */
#define _GNU_SOURCE
#include "sbx_gkey.h"
#include "bus_client.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"
#include "runroute.h"

#include <string.h>

#define GKEY_SERVICE "gateway-keys"
/* How long a create waits for its key: gkey.create is one LMDB write. */
#define GKEY_MINT_MS 2000
#define PROBE_MS 1000
#define REVOKE_PREFIX "gkrevoke."
#define REQ_MS ((int64_t) cfg_u64 ("CAISSON_REQUEST_TIMEOUT_MS"))
/* How often a revoke still not acknowledged is sent again. */
#define RETRY_MS (REQ_MS * 6)

/* LATE: a mint whose create went on without it; a key it still makes
 * is revoked (no sandbox holds it). */
typedef enum { MINT, LATE, REVOKE, CONTEXT } kind_t;

typedef struct {
    char id[CID_SIZE];
    char sandbox[SANDBOX_ID_SIZE];
    char *user;                 /* the owner the request acts for */
    kind_t kind;
    uint8_t *data;
    size_t size;
    int64_t deadline;
    int retries;
    sbx_gkey_fn *fn;
    void *arg;
} wait_t;

struct _sbx_gkey_t {
    zloop_t *loop;
    bus_client_t *client;       /* gateway-keys, read from the loop */
    bus_client_t *probe;        /* the broker's bus.instances: answered by the broker */
    zhashx_t *waits;            /* request id -> wait_t */
    zhashx_t *boxes;            /* the manager's, borrowed */
    sbx_registry_t *reg;        /* the manager's own, borrowed */
    zhashx_t *revokes;          /* sandbox id -> owner: revokes not acknowledged */
    int64_t next_retry;
    int timer;
};

static void
wait_free (void **item)
{
    wait_t *w = *item;
    if (w) {
        free (w->user);
        free (w->data);
        free (w);
        *item = NULL;
    }
}

static const char *
rec_str (box_t *box, const char *key)
{
    return json_string_value (json_object_get (box->rec, key));
}

/* Sends req (consumed) to gateway-keys as a service acting for user;
 * the wait, or NULL when it could not be encoded. */
static wait_t *
ask (sbx_gkey_t *self, proto_msg_t *req, kind_t kind, const char *sandbox, const char *user,
     int64_t wait_ms, int retries)
{
    proto_set_str (&req->env.user, user);
    req->env.op = true;         /* kind sandbox: services only */
    wait_t *w = calloc (1, sizeof *w);
    if (proto_encode (req, &w->data, &w->size)) {
        free (w);
        proto_msg_destroy (&req);
        return NULL;
    }
    snprintf (w->id, sizeof w->id, "%s", req->env.id);
    snprintf (w->sandbox, sizeof w->sandbox, "%s", sandbox);
    proto_msg_destroy (&req);
    w->user = strdup (user ? user : "");
    w->kind = kind;
    w->retries = retries;
    w->deadline = zclock_mono () + wait_ms;
    zhashx_update (self->waits, w->id, w);
    bus_client_send (self->client, GKEY_SERVICE, w->data, w->size);
    return w;
}

static bool
revoke_in_flight (sbx_gkey_t *self, const char *sandbox)
{
    for (wait_t *w = zhashx_first (self->waits); w; w = zhashx_next (self->waits))
        if (w->kind == REVOKE && !strcmp (w->sandbox, sandbox))
            return true;
    return false;
}

static void
send_revoke (sbx_gkey_t *self, const char *sandbox, const char *user)
{
    if (revoke_in_flight (self, sandbox))
        return;
    proto_msg_t *req = proto_msg_new (PROTO_gkey_revoke, NULL);
    proto_set_str (&req->body.gkey_revoke.sandbox_id, sandbox);
    ask (self, req, REVOKE, sandbox, user, REQ_MS, (int) cfg_u64 ("CAISSON_REQUEST_RETRIES"));
}

/* Keeps a revoke of sandbox's keys (owned by user) until acknowledged. */
static void
pending_revoke (sbx_gkey_t *self, const char *sandbox, const char *user)
{
    char key[sizeof REVOKE_PREFIX + SANDBOX_ID_SIZE];
    snprintf (key, sizeof key, REVOKE_PREFIX "%s", sandbox);
    json_t *rec = json_pack ("{s:s}", "user", user ? user : "");
    if (sbx_registry_put (self->reg, key, rec))
        clog_warn (NULL, "sandbox %s: its pending key revoke could not be stored", sandbox);
    json_decref (rec);
    zhashx_update (self->revokes, sandbox, strdup (user ? user : ""));
    send_revoke (self, sandbox, user);
}

static void
revoke_done (sbx_gkey_t *self, const char *sandbox)
{
    char key[sizeof REVOKE_PREFIX + SANDBOX_ID_SIZE];
    snprintf (key, sizeof key, REVOKE_PREFIX "%s", sandbox);
    sbx_registry_del (self->reg, key);
    zhashx_delete (self->revokes, sandbox);
}

/* A mint's outcome into box's record: rep (may be NULL: no answer). */
static void
minted (box_t *box, const proto_msg_t *rep)
{
    char text[600];
    if (rep && rep->type == PROTO_gkey_made) {
        json_t *info = mpjson_get (&rep->body.gkey_made.info, 8);
        json_object_set_new (box->rec, "gatewayKey", json_string (rep->body.gkey_made.key));
        json_object_set_new (box->rec, "gatewayKeyId",
                             json_string (json_string_value (json_object_get (info, "id")) ?: ""));
        json_decref (info);
        return;
    }
    if (rep)
        snprintf (text, sizeof text, "no model access: gateway-keys refused the sandbox's key: "
                  "%s", rep->type == PROTO_error && rep->body.error.message
                  ? rep->body.error.message : proto_type_name (rep->type));
    else
        snprintf (text, sizeof text, "no model access: gateway-keys did not answer within "
                  "%d ms", GKEY_MINT_MS);
    json_object_set_new (box->rec, "gatewayReason", json_string (text));
    clog_warn (NULL, "sandbox %s: %s", box->id, text);
}

/* Ends w with rep (may be NULL: no answer in time). */
static void
settle (sbx_gkey_t *self, wait_t *w, const proto_msg_t *rep)
{
    const char *err = rep && rep->type == PROTO_error ? rep->body.error.code : NULL;
    if (w->kind == MINT) {
        box_t *box = zhashx_lookup (self->boxes, w->sandbox);
        if (box)
            minted (box, rep);
        else if (rep && rep->type == PROTO_gkey_made)
            pending_revoke (self, w->sandbox, w->user);     /* destroyed while minting */
        if (w->fn)
            w->fn (w->sandbox, false, w->arg);
        if (!rep) {             /* gateway-keys may still make it: watch for a while */
            w->kind = LATE;
            w->fn = NULL;
            w->deadline = zclock_mono () + RETRY_MS;
            return;
        }
    }
    else if (w->kind == LATE && rep && rep->type == PROTO_gkey_made) {
        clog_warn (NULL, "sandbox %s: its model key came after the create went on without it; "
                   "revoking it", w->sandbox);
        pending_revoke (self, w->sandbox, w->user);
    }
    else if (w->kind == REVOKE && rep && (!err || strcmp (err, "store_failed"))) {
        if (err)
            clog_warn (NULL, "sandbox %s: gateway-keys refused to revoke its key: %s", w->sandbox,
                       rep->body.error.message);
        revoke_done (self, w->sandbox);
    }
    else if (w->kind == REVOKE)
        clog_warn (NULL, "sandbox %s: its model key is not revoked yet (%s); sent again later",
                   w->sandbox, err ? err : "gateway-keys did not answer");
    else if (w->kind == CONTEXT && (!rep || err))
        clog_warn (NULL, "sandbox %s: gateway-keys did not take its key's new run or expiry "
                   "(%s)", w->sandbox, err ? err : "no answer");
    zhashx_delete (self->waits, w->id);
}

static int
on_reply (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop, (void) sock;
    sbx_gkey_t *self = arg;
    proto_msg_t *rep;
    proto_err_t err;
    while ((rep = bus_client_recv (self->client, 0, &err)) || errno == EPROTO) {
        wait_t *w = rep && rep->env.cause ? zhashx_lookup (self->waits, rep->env.cause) : NULL;
        if (w)
            settle (self, w, rep);
        proto_msg_destroy (&rep);
    }
    return 0;
}

static int
on_sweep (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    sbx_gkey_t *self = arg;
    int64_t now = zclock_mono ();
    zlistx_t *keys = zhashx_keys (self->waits);
    for (const char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        wait_t *w = zhashx_lookup (self->waits, k);
        if (!w || w->deadline > now)
            continue;
        if (w->retries-- > 0) {
            w->deadline = now + REQ_MS;
            bus_client_send (self->client, GKEY_SERVICE, w->data, w->size);
        }
        else
            settle (self, w, NULL);
    }
    zlistx_destroy (&keys);
    if (now >= self->next_retry) {
        self->next_retry = now + RETRY_MS;
        for (const char *user = zhashx_first (self->revokes); user;
             user = zhashx_next (self->revokes))
            send_revoke (self, zhashx_cursor (self->revokes), user);
    }
    return 0;
}

sbx_gkey_t *
sbx_gkey_new (zloop_t *loop, const char *endpoint, zhashx_t *boxes, sbx_registry_t *reg)
{
    sbx_gkey_t *self = calloc (1, sizeof *self);
    if (!self || !(self->client = bus_client_new (endpoint))
        || !(self->probe = bus_client_new (endpoint))) {
        if (self)
            bus_client_destroy (&self->client);
        free (self);
        return NULL;
    }
    bus_client_set_timeout (self->probe, PROBE_MS, 0);
    self->loop = loop;
    self->boxes = boxes;
    self->reg = reg;
    self->waits = zhashx_new ();
    zhashx_set_destructor (self->waits, wait_free);
    self->revokes = zhashx_new ();
    zhashx_set_destructor (self->revokes, (zhashx_destructor_fn *) zstr_free);
    self->next_retry = zclock_mono () + RETRY_MS;
    zloop_reader (loop, bus_client_socket (self->client), on_reply, self);
    self->timer = zloop_timer (loop, 100, 0, on_sweep, self);
    return self;
}

void
sbx_gkey_destroy (sbx_gkey_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_gkey_t *self = *self_p;
    for (wait_t *w = zhashx_first (self->waits); w; w = zhashx_next (self->waits))
        if (w->kind == MINT && w->fn)
            w->fn (w->sandbox, true, w->arg);
    zloop_reader_end (self->loop, bus_client_socket (self->client));
    zloop_timer_end (self->loop, self->timer);
    zhashx_destroy (&self->waits);
    zhashx_destroy (&self->revokes);
    bus_client_destroy (&self->client);
    bus_client_destroy (&self->probe);
    free (self);
    *self_p = NULL;
}

/* True when some gateway-keys instance is registered with the broker
 * (without one, a request would wait in the broker's queue in vain). */
static bool
registered (sbx_gkey_t *self)
{
    json_t *ids = runroute_instances (self->probe, GKEY_SERVICE);
    const char *first = json_string_value (json_array_get (ids, 0));
    bool yes = first && strchr (first, '.');
    json_decref (ids);
    return yes;
}

bool
sbx_gkey_mint (sbx_gkey_t *self, box_t *box, const char *run, sbx_gkey_fn *fn, void *arg)
{
    json_object_del (box->rec, "gatewayKey");
    json_object_del (box->rec, "gatewayKeyId");
    json_object_del (box->rec, "gatewayReason");
    const char *user = rec_str (box, "user");
    const char *why = NULL;
    if (!self || !cfg_u64 ("CAISSON_GATEWAY_SANDBOX_KEYS"))
        return false;           /* the deployment does not hand out keys: nothing to say */
    if (!user || !*user)
        why = "no model access: the sandbox has no owner to charge";
    else if (!registered (self))
        why = "no model access: the model gateway's key store (gateway-keys) is not running";
    if (why) {
        json_object_set_new (box->rec, "gatewayReason", json_string (why));
        return false;
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
    wait_t *w = ask (self, req, MINT, box->id, user, GKEY_MINT_MS, 0);
    if (!w) {
        json_object_set_new (box->rec, "gatewayReason",
                             json_string ("no model access: the key request could not be made"));
        return false;
    }
    w->fn = fn;
    w->arg = arg;
    return true;
}

void
sbx_gkey_revoke (sbx_gkey_t *self, box_t *box)
{
    if (self && rec_str (box, "gatewayKeyId"))
        pending_revoke (self, box->id, rec_str (box, "user"));
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
    ask (self, req, CONTEXT, box->id, rec_str (box, "user"), REQ_MS,
         (int) cfg_u64 ("CAISSON_REQUEST_RETRIES"));
}

bool
sbx_gkey_restore (sbx_gkey_t *self, const sbx_registry_t *reg, const char *id, const json_t *rec,
                  const char *forged)
{
    size_t n = strlen (REVOKE_PREFIX);
    if (strncmp (id, REVOKE_PREFIX, n))
        return false;
    const char *sandbox = id + n;
    const char *user = json_string_value (json_object_get (rec, "user"));
    if (forged || !user || !sandbox_id_valid (sandbox)) {
        clog_warn (NULL, "pending key revoke %s refused: %s", id,
                   forged ? forged : "it names no owner or sandbox");
        return true;
    }
    if (!self)
        return true;
    /* Called while reg is being read: only another store is written to
     * (an adopted registry's record stays; sending it again is harmless). */
    if (reg != self->reg) {
        json_t *copy = json_pack ("{s:s}", "user", user);
        sbx_registry_put (self->reg, id, copy);
        json_decref (copy);
    }
    zhashx_update (self->revokes, sandbox, strdup (user));
    send_revoke (self, sandbox, user);
    return true;
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
