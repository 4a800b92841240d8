/* ep_ctl: the egress proxy's control side (ep_ctl.h): the bus requests,
 * the table of boxes and the boxes restored at start. */
#include "ep_ctl.h"

#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "clog.h"
#include "ep_gateway.h"
#include "ep_loop.h"
#include "ep_table.h"
#include "mpjson.h"
#include "sandbox_id.h"
#include "xalloc.h"

struct _ep_ctl_t {
    char data[PATH_MAX];
    egress_presets_t *presets;
    egress_rules_t *ceiling, *deny_all;
    ep_table_t *table;
    ep_loop_t *loop;
    ep_gateway_t *gw;           /* the model gateway path; NULL: CAISSON_GATEWAY_URL unusable */
};

/* Only sandbox-manager (whose requests carry no user) and operators may
 * change policies: a request on behalf of a user who is not an operator
 * is refused, whoever relays it. */
static proto_msg_t *
refuse_caller (const proto_msg_t *req)
{
    if (req->env.user && *req->env.user && !req->env.op)
        return proto_error_new (req, PROTO_ERR_forbidden,
                                "egress policies are set by sandbox-manager or an operator");
    return NULL;
}

static ep_ctl_t *
ctl_of (void *arg)
{
    return svc_state (arg);
}

static void
socket_path_as (ep_ctl_t *self, const char *id, const char *name, char *out, size_t n)
{
    char dir[PATH_MAX];
    if (egress_socket_dir (self->data, id, dir, sizeof dir - strlen (name) - 1)
        || (size_t) snprintf (out, n, "%s/%s", dir, name) >= n)
        *out = 0;
}

static void
socket_path (ep_ctl_t *self, const char *id, char *out, size_t n)
{
    socket_path_as (self, id, EGRESS_SOCKET_NAME, out, n);
}

/* The gateway path of box (spec's `gateway`): served on net/gateway.sock
 * (listening anew when had is false or the socket is gone), or dropped
 * when had and no longer asked for. gref is a reference for the thread
 * (NULL when not asked for). A socket that cannot be made leaves the
 * sandbox without model access, logged; its policy stands. */
static void
install_gateway (ep_ctl_t *self, const char *id, ep_box_t *gref, bool had)
{
    char path[PATH_MAX], why[512];
    if (!gref) {
        if (had && self->gw) {
            ep_gateway_drop (self->gw, id);
            socket_path_as (self, id, EP_GATEWAY_SOCKET, path, sizeof path);
            if (*path)
                unlink (path);
        }
        return;
    }
    if (!self->gw) {
        clog_warn (NULL, "%s asks for the model gateway, but CAISSON_GATEWAY_URL is unusable", id);
        ep_box_unref (&gref);
        return;
    }
    struct stat st;
    int lfd = -1;
    socket_path_as (self, id, EP_GATEWAY_SOCKET, path, sizeof path);
    bool listening = had && !lstat (path, &st) && S_ISSOCK (st.st_mode);
    if (!listening
        && (lfd = ep_listen_open_as (self->data, id, EP_GATEWAY_SOCKET, path, sizeof path, why,
                                     sizeof why)) < 0) {
        clog_warn (NULL, "model gateway path of %s: %s", id, why);
        ep_box_unref (&gref);
        return;
    }
    ep_gateway_set (self->gw, gref, lfd);
}

/* Makes id's box from spec (borrowed) and serves it; old is the box it
 * replaces (may be NULL). 0, or an error reply in *err. */
static int
install (ep_ctl_t *self, const proto_msg_t *req, json_t *spec, ep_box_t *old, proto_msg_t **err)
{
    char why[512], path[PATH_MAX];
    const char *id = json_string_value (json_object_get (spec, "sandbox_id"));
    ep_box_t *box = ep_box_new (spec, self->presets, old ? old->ctr : NULL, why, sizeof why);
    if (!box) {
        *err = proto_error_new (req, PROTO_ERR_bad_policy, "%s", why);
        return -1;
    }
    /* a replace keeps the listener, unless its socket is gone from disk
     * (the directory made again): then it listens anew */
    struct stat st;
    int lfd = -1;
    socket_path (self, id, path, sizeof path);
    bool listening = old && !lstat (path, &st) && S_ISSOCK (st.st_mode);
    if (!listening
        && (lfd = ep_listen_open (self->data, id, path, sizeof path, why, sizeof why)) < 0) {
        ep_box_unref (&box);
        *err = proto_error_new (req, PROTO_ERR_not_found, "%s", why);
        return -1;
    }
    ep_box_t *ref = ep_box_ref (box);
    bool had = old && json_is_true (json_object_get (old->spec, "gateway"));
    ep_box_t *gref = json_is_true (json_object_get (spec, "gateway")) ? ep_box_ref (box) : NULL;
    if (ep_table_put (self->table, box)) {
        ep_box_unref (&ref);
        ep_box_unref (&gref);
        if (lfd >= 0)
            close (lfd);
        *err = proto_error_new (req, PROTO_ERR_internal, "the policy of %s was not stored", id);
        return -1;
    }
    ep_loop_set (self->loop, ref, lfd);
    install_gateway (self, id, gref, had);
    return 0;
}

static proto_msg_t *
ack (ep_ctl_t *self, const proto_msg_t *req, const char *id, bool with_socket)
{
    proto_msg_t *rep = proto_msg_new (PROTO_egress_ack, req);
    proto_set_str (&rep->body.egress_ack.sandbox_id, id);
    ep_box_t *box = ep_table_get (self->table, id);
    if (with_socket && box) {
        char path[PATH_MAX];
        socket_path (self, id, path, sizeof path);
        proto_set_str (&rep->body.egress_ack.socket, path);
        rep->body.egress_ack.rules = ep_box_rules (box);
    }
    return rep;
}

static void
set_json_any (json_t *spec, const char *key, const proto_bytes_t *field)
{
    json_t *v = field->size ? mpjson_get (field, 2) : NULL;
    json_object_set_new (spec, key, v ? v : json_array ());
}

static void
set_json_str (json_t *spec, const char *key, const char *s)
{
    if (s)
        json_object_set_new (spec, key, json_string (s));
}

static proto_msg_t *
policy_set (const proto_msg_t *req, void *arg)
{
    ep_ctl_t *self = ctl_of (arg);
    const proto_egress_policy_set_t *b = &req->body.egress_policy_set;
    proto_msg_t *err = refuse_caller (req);
    if (err)
        return err;
    if (!sandbox_id_valid (b->sandbox_id))
        return proto_error_new (req, PROTO_ERR_bad_value, "'%s' is not a sandbox id",
                                b->sandbox_id);
    json_t *spec = json_object ();
    set_json_str (spec, "sandbox_id", b->sandbox_id);
    json_object_set_new (spec, "uid", json_integer ((json_int_t) b->uid));
    set_json_any (spec, "allow", &b->allow);
    set_json_any (spec, "deny", &b->deny);
    json_object_set_new (spec, "max_conns", json_integer ((json_int_t) b->max_conns));
    json_object_set_new (spec, "bytes_per_min", json_integer ((json_int_t) b->bytes_per_min));
    set_json_str (spec, "run", b->run);
    set_json_str (spec, "corr", b->corr);
    set_json_str (spec, "owner", b->owner);
    json_object_set_new (spec, "gateway", json_boolean (b->gateway));
    int rc = install (self, req, spec, ep_table_get (self->table, b->sandbox_id), &err);
    json_decref (spec);
    if (rc)
        return err;
    clog_info (req->env.corr, "egress policy of %s set", b->sandbox_id);
    return ack (self, req, b->sandbox_id, true);
}

static proto_msg_t *
policy_drop (const proto_msg_t *req, void *arg)
{
    ep_ctl_t *self = ctl_of (arg);
    const char *id = req->body.egress_policy_drop.sandbox_id;
    proto_msg_t *err = refuse_caller (req);
    if (err)
        return err;
    if (ep_table_get (self->table, id)) {
        char path[PATH_MAX];
        ep_loop_drop (self->loop, id);
        socket_path (self, id, path, sizeof path);
        if (*path)
            unlink (path);
        install_gateway (self, id, NULL,
                         json_is_true (json_object_get (ep_table_get (self->table, id)->spec,
                                                        "gateway")));
        ep_table_drop (self->table, id);
        clog_info (req->env.corr, "egress policy of %s dropped", id);
    }
    return ack (self, req, id, false);
}

static proto_msg_t *
context (const proto_msg_t *req, void *arg)
{
    ep_ctl_t *self = ctl_of (arg);
    const proto_egress_context_t *b = &req->body.egress_context;
    proto_msg_t *err = refuse_caller (req);
    if (err)
        return err;
    ep_box_t *old = ep_table_get (self->table, b->sandbox_id);
    if (!old)
        return proto_error_new (req, PROTO_ERR_not_found, "no egress policy for %s",
                                b->sandbox_id);
    json_t *spec = json_deep_copy (old->spec);
    json_object_set_new (spec, "run", json_string (b->run ? b->run : ""));
    json_object_set_new (spec, "corr", json_string (b->corr ? b->corr : ""));
    int rc = install (self, req, spec, old, &err);
    json_decref (spec);
    return rc ? err : ack (self, req, b->sandbox_id, true);
}

static proto_msg_t *
stats_get (const proto_msg_t *req, void *arg)
{
    ep_ctl_t *self = ctl_of (arg);
    const char *id = req->body.egress_stats_get.sandbox_id;
    proto_msg_t *err = refuse_caller (req);
    if (err)
        return err;
    ep_box_t *box = ep_table_get (self->table, id);
    if (!box)
        return proto_error_new (req, PROTO_ERR_not_found, "no egress policy for %s", id);
    proto_msg_t *rep = proto_msg_new (PROTO_egress_stats, req);
    proto_egress_stats_t *s = &rep->body.egress_stats;
    proto_set_str (&s->sandbox_id, id);
    s->open = atomic_load (&box->ctr->open);
    s->total = atomic_load (&box->ctr->total);
    s->refused = atomic_load (&box->ctr->refused);
    s->bytes_up = atomic_load (&box->ctr->bytes_up);
    s->bytes_down = atomic_load (&box->ctr->bytes_down);
    return rep;
}

const bus_route_t ep_ctl_routes[] = {
    { PROTO_egress_policy_set, policy_set },
    { PROTO_egress_policy_drop, policy_drop },
    { PROTO_egress_context, context },
    { PROTO_egress_stats_get, stats_get },
    BUS_ROUTES_END
};

/* Adds the bus endpoint's host:port (tcp only) to conf's hard denies. */
static void
hard_deny (ep_conf_t *conf, const char *endpoint)
{
    char host[256];
    unsigned port;
    if (sscanf (endpoint, "tcp://%255[^:]:%u", host, &port) != 2 || port > 65535)
        return;
    if (!strcmp (host, "*") || !strcmp (host, "0.0.0.0") || !strcmp (host, "[::]")) {
        if (conf->nhard < EP_HARD_MAX)
            conf->hard[conf->nhard++] = (ep_hard_t) { .port = (uint16_t) port, .any = true };
        return;
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    if (getaddrinfo (host, NULL, &hints, &res)) {
        clog_warn (NULL, "bus endpoint %s does not resolve: denying port %u everywhere",
                   endpoint, port);
        if (conf->nhard < EP_HARD_MAX)
            conf->hard[conf->nhard++] = (ep_hard_t) { .port = (uint16_t) port, .any = true };
        return;
    }
    for (struct addrinfo *ai = res; ai && conf->nhard < EP_HARD_MAX; ai = ai->ai_next) {
        ep_hard_t *h = &conf->hard[conf->nhard++];
        memset (h, 0, sizeof *h);
        memcpy (&h->addr, ai->ai_addr, ai->ai_addrlen);
        h->port = (uint16_t) port;
    }
    freeaddrinfo (res);
}

/* Serves again every box the store keeps; a box whose socket directory is
 * gone (its sandbox with it) is forgotten. */
static void
restore (ep_ctl_t *self)
{
    json_t *stored = ep_table_stored (self->table);
    size_t i;
    json_t *spec;
    json_array_foreach (stored, i, spec) {
        proto_msg_t *err = NULL;
        const char *id = json_string_value (json_object_get (spec, "sandbox_id"));
        if (!id)
            continue;
        if (install (self, NULL, spec, NULL, &err)) {
            clog_warn (NULL, "egress policy of %s not restored: %s", id,
                       err && err->body.error.message ? err->body.error.message : "");
            ep_table_drop (self->table, id);
        } else
            clog_info (NULL, "egress policy of %s restored", id);
        proto_msg_destroy (&err);
    }
    json_decref (stored);
}

ep_ctl_t *
ep_ctl_new (svc_t *svc)
{
    char why[512], dir[PATH_MAX];
    ep_ctl_t *self = xcalloc (1, sizeof *self);
    snprintf (self->data, sizeof self->data, "%s", cfg_str ("CAISSON_DATA"));
    if (!(self->presets = egress_presets_new (cfg_str ("CAISSON_EGRESS_PRESETS"), why, sizeof why))
        || !(self->ceiling = egress_rules_from_csv (cfg_str ("CAISSON_EGRESS_ALLOW_MAX"),
                                                    self->presets, why, sizeof why))
        || !(self->deny_all = egress_rules_from_csv (cfg_str ("CAISSON_EGRESS_DENY"),
                                                     self->presets, why, sizeof why))) {
        clog_error (NULL, "egress configuration: %s", why);
        ep_ctl_destroy (&self);
        return NULL;
    }
    if (svc_store_dir (svc, dir, sizeof dir) || !(self->table = ep_table_new (dir))) {
        ep_ctl_destroy (&self);
        return NULL;
    }
    ep_conf_t conf = {
        .pub_ep = cfg_str ("CAISSON_BUS_PUB"),
        .bus_ep = cfg_str ("CAISSON_BUS"),
        .ceiling = self->ceiling,
        .deny_all = self->deny_all,
        .peer_uid_check = cfg_u64 ("CAISSON_EGRESS_PEER_UID_CHECK") != 0,
        .resolvers = (unsigned) cfg_u64 ("CAISSON_EGRESS_RESOLVERS"),
        .hosts = cfg_str ("CAISSON_EGRESS_HOSTS"),
        .resolve_ms = cfg_u64 ("CAISSON_EGRESS_RESOLVE_TIMEOUT_MS"),
        .connect_ms = cfg_u64 ("CAISSON_EGRESS_CONNECT_TIMEOUT_MS"),
        .first_ms = cfg_u64 ("CAISSON_EGRESS_FIRST_BYTES_MS"),
        .idle_ms = cfg_u64 ("CAISSON_EGRESS_IDLE_S") * 1000,
    };
    hard_deny (&conf, cfg_str ("CAISSON_BUS"));
    hard_deny (&conf, cfg_str ("CAISSON_BUS_PUB"));
    hard_deny (&conf, cfg_str ("CAISSON_BUS_SUB"));
    if (!(self->loop = ep_loop_new (&conf))) {
        clog_error (NULL, "the egress data thread did not start");
        ep_ctl_destroy (&self);
        return NULL;
    }
    /* A bad URL leaves sandboxes without model access, not without the
     * proxy: logged, the rest serves on. */
    self->gw = ep_gateway_new (cfg_str ("CAISSON_GATEWAY_URL"), conf.pub_ep, conf.bus_ep,
                               conf.peer_uid_check);
    restore (self);
    return self;
}

void
ep_ctl_destroy (ep_ctl_t **self_p)
{
    ep_ctl_t *self = *self_p;
    if (!self)
        return;
    ep_gateway_destroy (&self->gw);
    ep_loop_destroy (&self->loop);
    ep_table_destroy (&self->table);
    egress_rules_destroy (&self->ceiling);
    egress_rules_destroy (&self->deny_all);
    egress_presets_destroy (&self->presets);
    free (self);
    *self_p = NULL;
}
