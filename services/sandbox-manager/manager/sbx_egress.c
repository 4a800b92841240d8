/* sbx_egress: see sbx_egress.h. One DEALER (bus_client) read from the
 * manager's loop; requests waiting for an answer are kept by id, resent
 * with the same id (the proxy's worker answers a retry from its cache)
 * and given up after CAISSON_REQUEST_RETRIES, swept by a 100 ms timer. */
#define _GNU_SOURCE
#include "sbx_egress.h"
#include "bus_client.h"
#include "sbx_gkey.h"
#include "cfg.h"
#include "clog.h"
#include "egress_rule.h"
#include "mpjson.h"

#include <string.h>

#define PROXY "egress-proxy"
/* How often a set or drop that got no answer is sent again: every few
 * request timeouts (15 s by default). */
#define RETRY_MS ((int64_t) cfg_u64 ("CAISSON_REQUEST_TIMEOUT_MS") * 6)

typedef struct {
    char id[CID_SIZE];
    char sandbox[SANDBOX_ID_SIZE];
    char type[32];
    uint8_t *data;
    size_t size;
    int64_t deadline;
    int retries;
    sbx_egress_fn *fn;
    void *arg;
} wait_t;

struct _sbx_egress_t {
    zloop_t *loop;
    bus_client_t *client;
    zhashx_t *waits;            /* request id -> wait_t */
    zhashx_t *boxes;            /* the manager's, borrowed: id -> box_t */
    zhashx_t *unsynced;         /* id -> "set" or "drop": its last one failed */
    int64_t next_retry;
    int timer;
};

static void
wait_free (void **item)
{
    wait_t *w = *item;
    if (w) {
        free (w->data);
        free (w);
        *item = NULL;
    }
}

static void
settle (sbx_egress_t *self, wait_t *w, const proto_msg_t *rep, const char *why)
{
    char text[700];
    if (rep && rep->type == PROTO_error) {
        snprintf (text, sizeof text, "egress proxy refused %s: %s: %s", w->type,
                  rep->body.error.code, rep->body.error.message);
        why = text;
        rep = NULL;
    }
    /* The proxy must end up with what the records say: a set or drop it
     * did not take is sent again later (it may have been down). */
    bool set = !strcmp (w->type, "egress.policy.set");
    bool drop = !strcmp (w->type, "egress.policy.drop");
    if ((set || drop) && rep)
        zhashx_delete (self->unsynced, w->sandbox);
    else if (set || drop)
        zhashx_update (self->unsynced, w->sandbox, set ? "set" : "drop");
    if (w->fn)
        w->fn (rep, why, w->arg);
    else if (why)
        clog_warn (NULL, "sandbox %s: %s%s", w->sandbox, why,
                   set || drop ? "; sent again later" : "");
    zhashx_delete (self->waits, w->id);
}

/* Sends again what the proxy did not take. */
static void
resend (sbx_egress_t *self)
{
    zlistx_t *ids = zhashx_keys (self->unsynced);
    for (const char *id = zlistx_first (ids); id; id = zlistx_next (ids)) {
        const char *what = zhashx_lookup (self->unsynced, id);
        box_t *box = zhashx_lookup (self->boxes, id);
        bool set = !strcmp (what, "set");
        zhashx_delete (self->unsynced, id);
        if (!set)
            sbx_egress_drop (self, id);
        else if (box && strcmp (json_string_value (json_object_get (box->rec, "status")) ?: "",
                                "broken"))
            sbx_egress_set (self, box, NULL, NULL, NULL);
    }
    zlistx_destroy (&ids);
}

static int
on_reply (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop, (void) sock;
    sbx_egress_t *self = arg;
    proto_msg_t *rep;
    proto_err_t err;
    while ((rep = bus_client_recv (self->client, 0, &err)) || errno == EPROTO) {
        wait_t *w = rep && rep->env.cause ? zhashx_lookup (self->waits, rep->env.cause) : NULL;
        if (w)
            settle (self, w, rep, NULL);
        proto_msg_destroy (&rep);
    }
    return 0;
}

static int
on_sweep (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    sbx_egress_t *self = arg;
    int64_t now = zclock_mono ();
    zlistx_t *keys = zhashx_keys (self->waits);
    for (const char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        wait_t *w = zhashx_lookup (self->waits, k);
        if (!w || w->deadline > now)
            continue;
        if (w->retries-- > 0) {
            w->deadline = now + (int64_t) cfg_u64 ("CAISSON_REQUEST_TIMEOUT_MS");
            bus_client_send (self->client, PROXY, w->data, w->size);
        } else
            settle (self, w, NULL, "unavailable: egress proxy did not answer");
    }
    zlistx_destroy (&keys);
    if (now >= self->next_retry) {
        self->next_retry = now + RETRY_MS;
        resend (self);
    }
    return 0;
}

sbx_egress_t *
sbx_egress_new (zloop_t *loop, const char *endpoint, zhashx_t *boxes)
{
    sbx_egress_t *self = calloc (1, sizeof *self);
    self->loop = loop;
    self->boxes = boxes;
    self->unsynced = zhashx_new ();
    self->next_retry = zclock_mono () + RETRY_MS;
    self->client = bus_client_new (endpoint);
    if (!self->client) {
        zhashx_destroy (&self->unsynced);
        free (self);
        return NULL;
    }
    self->waits = zhashx_new ();
    zhashx_set_destructor (self->waits, wait_free);
    zloop_reader (loop, bus_client_socket (self->client), on_reply, self);
    self->timer = zloop_timer (loop, 100, 0, on_sweep, self);
    return self;
}

void
sbx_egress_destroy (sbx_egress_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_egress_t *self = *self_p;
    /* Whoever waits is told, so no request is left unanswered. */
    zlistx_t *keys = zhashx_keys (self->waits);
    for (const char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        wait_t *w = zhashx_lookup (self->waits, k);
        if (w && w->fn)
            settle (self, w, NULL, "unavailable: sandbox-manager is stopping");
    }
    zlistx_destroy (&keys);
    zloop_reader_end (self->loop, bus_client_socket (self->client));
    zloop_timer_end (self->loop, self->timer);
    zhashx_destroy (&self->waits);
    zhashx_destroy (&self->unsynced);
    bus_client_destroy (&self->client);
    free (self);
    *self_p = NULL;
}

/* Sends req (consumed) about sandbox; fn gets the outcome. */
static int
send_req (sbx_egress_t *self, proto_msg_t *req, const char *sandbox, sbx_egress_fn *fn,
          void *arg)
{
    wait_t *w = calloc (1, sizeof *w);
    if (proto_encode (req, &w->data, &w->size)) {
        free (w);
        proto_msg_destroy (&req);
        return -1;
    }
    snprintf (w->id, sizeof w->id, "%s", req->env.id);
    snprintf (w->sandbox, sizeof w->sandbox, "%s", sandbox);
    snprintf (w->type, sizeof w->type, "%s", proto_type_name (req->type));
    proto_msg_destroy (&req);
    w->fn = fn;
    w->arg = arg;
    w->retries = (int) cfg_u64 ("CAISSON_REQUEST_RETRIES");
    w->deadline = zclock_mono () + (int64_t) cfg_u64 ("CAISSON_REQUEST_TIMEOUT_MS");
    zhashx_update (self->waits, w->id, w);
    bus_client_send (self->client, PROXY, w->data, w->size);
    return 0;
}

/* The deployment's presets and ceiling; 0, or an error code with why. */
static int
deployment (egress_presets_t **presets, egress_rules_t **ceiling, char *why, size_t n)
{
    char err[512] = "";
    *presets = egress_presets_new (cfg_str ("CAISSON_EGRESS_PRESETS"), err, sizeof err);
    *ceiling = *presets ? egress_rules_from_csv (cfg_str ("CAISSON_EGRESS_ALLOW_MAX"), *presets,
                                                 err, sizeof err) : NULL;
    if (*ceiling)
        return 0;
    egress_presets_destroy (presets);
    snprintf (why, n, "this deployment's egress settings do not parse "
              "(CAISSON_EGRESS_PRESETS, CAISSON_EGRESS_ALLOW_MAX): %s", err);
    return PROTO_ERR_unavailable;
}

/* Parses list (NULL: csv, a setting's value) as the rules of field into
 * *out; 0, or an error code with why naming field and the rule. */
static int
parse (const json_t *list, const char *csv, const egress_presets_t *presets, const char *field,
       egress_rules_t **out, char *why, size_t n)
{
    char err[512] = "";
    *out = list || !csv ? egress_rules_from_json (list, presets, err, sizeof err)
                        : egress_rules_from_csv (csv, presets, err, sizeof err);
    if (*out)
        return 0;
    snprintf (why, n, "%s: %s", field, err);
    return strstr (err, "more than") ? PROTO_ERR_over_limit : PROTO_ERR_bad_policy;
}

static int
within (const egress_rules_t *rules, const egress_rules_t *ceiling, const char *field, char *why,
        size_t n)
{
    char err[512] = "";
    if (!egress_rules_within (rules, ceiling, err, sizeof err))
        return 0;
    snprintf (why, n, "%s: %s", field, err);
    return PROTO_ERR_forbidden;
}

int
sbx_egress_rules (const json_t *allow, const json_t *deny, json_t **allow_out,
                  json_t **deny_out, char *why, size_t n)
{
    egress_presets_t *presets = NULL;
    egress_rules_t *ceiling = NULL, *a = NULL, *d = NULL;
    const char *field = allow ? "network_allow" : "CAISSON_EGRESS_ALLOW";
    int code = deployment (&presets, &ceiling, why, n);
    if (!code)
        code = parse (allow, cfg_str ("CAISSON_EGRESS_ALLOW"), presets, field, &a, why, n);
    if (!code)
        code = parse (deny, NULL, presets, "network_deny", &d, why, n);
    if (!code)
        code = within (a, ceiling, field, why, n);
    if (!code) {
        *allow_out = egress_rules_json (a);
        *deny_out = egress_rules_json (d);
    }
    egress_rules_destroy (&a);
    egress_rules_destroy (&d);
    egress_rules_destroy (&ceiling);
    egress_presets_destroy (&presets);
    return code;
}

int
sbx_egress_update (const json_t *allow, const json_t *deny, const json_t *allow_add,
                   const json_t *allow_remove, const json_t *deny_add, json_t **allow_out,
                   json_t **deny_out, char *why, size_t n)
{
    egress_presets_t *presets = NULL;
    egress_rules_t *ceiling = NULL, *a = NULL, *d = NULL, *add = NULL, *rm = NULL, *dadd = NULL;
    egress_rules_t *a2 = NULL, *a3 = NULL, *d2 = NULL;
    char err[512] = "";
    int code = deployment (&presets, &ceiling, why, n);
    if (!code)
        code = parse (allow, NULL, presets, "network_allow", &a, why, n);
    if (!code)
        code = parse (deny, NULL, presets, "network_deny", &d, why, n);
    if (!code)
        code = parse (allow_add, NULL, presets, "allow_add", &add, why, n);
    if (!code)
        code = parse (allow_remove, NULL, presets, "allow_remove", &rm, why, n);
    if (!code)
        code = parse (deny_add, NULL, presets, "deny_add", &dadd, why, n);
    if (!code)
        code = within (add, ceiling, "allow_add", why, n);
    if (!code && (!(a2 = egress_rules_merge (a, add, false, err, sizeof err))
                  || !(a3 = egress_rules_merge (a2, rm, true, err, sizeof err))
                  || !(d2 = egress_rules_merge (d, dadd, false, err, sizeof err)))) {
        snprintf (why, n, "%s: %s", !a3 ? "allow_add" : "deny_add", err);
        code = PROTO_ERR_over_limit;
    }
    if (!code) {
        *allow_out = egress_rules_json (a3);
        *deny_out = egress_rules_json (d2);
    }
    egress_rules_t **all[] = { &a, &d, &add, &rm, &dadd, &a2, &a3, &d2, &ceiling };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        egress_rules_destroy (all[i]);
    egress_presets_destroy (&presets);
    return code;
}

int
sbx_egress_mode_rank (const char *mode)
{
    static const char *const modes[] = { "none", "policy", "host" };
    for (int i = 0; mode && i < 3; i++)
        if (!strcmp (mode, modes[i]))
            return i;
    return -1;
}

static bool
is_policy (box_t *box)
{
    const char *net = json_string_value (json_object_get (box->rec, "network"));
    return net && !strcmp (net, "policy");
}

/* A model key outside network host: the proxy serves its gateway path. */
static bool
has_gateway (box_t *box)
{
    const char *net = json_string_value (json_object_get (box->rec, "network"));
    return json_object_get (box->rec, "gatewayKey") && net && strcmp (net, "host");
}

bool
sbx_egress_proxied (box_t *box)
{
    return is_policy (box) || has_gateway (box);
}

int
sbx_egress_set (sbx_egress_t *self, box_t *box, const proto_msg_t *cause, sbx_egress_fn *fn,
                void *arg)
{
    proto_msg_t *req = proto_msg_new (PROTO_egress_policy_set, NULL);
    proto_egress_policy_set_t *s = &req->body.egress_policy_set;
    proto_set_str (&s->sandbox_id, box->id);
    s->uid = (uint64_t) json_integer_value (json_object_get (box->rec, "uid"));
    json_t *allow = json_object_get (box->rec, "networkAllow");
    json_t *deny = json_object_get (box->rec, "networkDeny");
    json_t *empty = json_array ();
    mpjson_set (&s->allow, allow ? allow : empty, 2);
    mpjson_set (&s->deny, deny ? deny : empty, 2);
    json_decref (empty);
    s->max_conns = cfg_u64 ("CAISSON_EGRESS_MAX_CONNS");
    s->bytes_per_min = cfg_u64 ("CAISSON_EGRESS_BYTES_PER_MIN");
    proto_set_str (&s->owner, json_string_value (json_object_get (box->rec, "user")));
    s->gateway = has_gateway (box);
    const char *run = cause && cause->env.run ? cause->env.run
                      : *box->net_run ? box->net_run : NULL;
    if (run) {
        proto_set_str (&s->run, run);
        proto_set_str (&s->corr, cause && cause->env.run ? cause->env.corr : box->net_corr);
        snprintf (box->net_run, sizeof box->net_run, "%s", run);
        snprintf (box->net_corr, sizeof box->net_corr, "%s", s->corr ? s->corr : "");
    }
    return send_req (self, req, box->id, fn, arg);
}

void
sbx_egress_drop (sbx_egress_t *self, const char *sandbox_id)
{
    proto_msg_t *req = proto_msg_new (PROTO_egress_policy_drop, NULL);
    proto_set_str (&req->body.egress_policy_drop.sandbox_id, sandbox_id);
    send_req (self, req, sandbox_id, NULL, NULL);
}

void
sbx_egress_context (sbx_egress_t *self, box_t *box, const proto_msg_t *req)
{
    if (!sbx_egress_proxied (box) || !req->env.run || !strcmp (req->env.run, box->net_run))
        return;
    sbx_gkey_context (box->mgr->gkey, box, req->env.run);
    proto_msg_t *ctx = proto_msg_new (PROTO_egress_context, NULL);
    proto_set_str (&ctx->body.egress_context.sandbox_id, box->id);
    proto_set_str (&ctx->body.egress_context.run, req->env.run);
    proto_set_str (&ctx->body.egress_context.corr, req->env.corr);
    snprintf (box->net_run, sizeof box->net_run, "%s", req->env.run);
    snprintf (box->net_corr, sizeof box->net_corr, "%s", req->env.corr ? req->env.corr : "");
    send_req (self, ctx, box->id, NULL, NULL);
}

void
sbx_egress_resync (sbx_egress_t *self, sbx_mgr_t *m, const sbx_home_t *home)
{
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes))
        if (b->home == home && sbx_egress_proxied (b)
            && strcmp (json_string_value (json_object_get (b->rec, "status")) ?: "", "broken"))
            sbx_egress_set (self, b, NULL, NULL, NULL);
}

json_t *
sbx_egress_env (box_t *box)
{
    json_t *env = json_object (), *own = json_object_get (box->rec, "envVars");
    if (is_policy (box)) {
        char http[64], socks[64];
        unsigned port = (unsigned) cfg_u64 ("CAISSON_EGRESS_PORT");
        snprintf (http, sizeof http, "http://127.0.0.1:%u", port);
        snprintf (socks, sizeof socks, "socks5h://127.0.0.1:%u", port);
        static const char *const web[] = { "HTTP_PROXY", "http_proxy", "HTTPS_PROXY",
                                           "https_proxy", "npm_config_proxy",
                                           "npm_config_https_proxy" };
        for (size_t i = 0; i < sizeof web / sizeof web[0]; i++)
            json_object_set_new (env, web[i], json_string (http));
        json_object_set_new (env, "ALL_PROXY", json_string (socks));
        json_object_set_new (env, "all_proxy", json_string (socks));
        json_object_set_new (env, "NO_PROXY", json_string (cfg_str ("CAISSON_EGRESS_NO_PROXY")));
        json_object_set_new (env, "no_proxy", json_string (cfg_str ("CAISSON_EGRESS_NO_PROXY")));
    }
    sbx_gkey_env (box, env);
    if (json_is_object (own))
        json_object_update (env, own);
    return env;
}
