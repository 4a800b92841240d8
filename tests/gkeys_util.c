/* gkeys_util: what the gateway-keys suites share. See gkeys_util.h. */
#include "gkeys_util.h"
#include "mpjson.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *s_dir, *s_name = "gkeys";
char s_self[PATH_MAX];
pid_t s_bus, s_keys, s_gateway;
bus_client_t *s_c;

const char *const s_env[] = {
    "CAISSON_GATEWAY_PRICES=replay/*=0,1,0,4096", "CAISSON_GATEWAY_ORPHAN_S=1",
    "CAISSON_GATEWAY_MIN_OUTPUT=10", "CAISSON_GATEWAY_USER_KEYS_MAX=3",
    "CAISSON_GATEWAY_RPM_MAX=100", "CAISSON_GATEWAY_MODELS=replay/*,openai/*",
    "CAISSON_GATEWAY_GC_S=1", "CAISSON_GATEWAY_SANDBOX_BUDGET_USD=0.0002", NULL
};

proto_msg_t *
msg_as (proto_type_t type, const char *user, bool op)
{
    proto_msg_t *m = proto_msg_new (type, NULL);
    proto_set_str (&m->env.user, user);
    m->env.op = op;
    return m;
}

proto_msg_t *
ask (proto_msg_t *req)
{
    proto_msg_t *rep = bus_client_request (s_c, "gateway-keys", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    return rep;
}

void
expect_error (proto_msg_t *rep, const char *code)
{
    if (rep->type != PROTO_error)
        fail_msg ("expected error %s, got %s", code, proto_type_name (rep->type));
    assert_string_equal (rep->body.error.code, code);
    proto_msg_destroy (&rep);
}

pid_t
start_keys (void)
{
    pid_t pid = support_spawn ("caisson-gateway-keys", s_env);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (c, 200, 0);
    for (int i = 0; i < 100; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        proto_msg_t *rep = bus_client_request (c, "gateway-keys", req);
        proto_msg_destroy (&req);
        bool up = rep && rep->type == PROTO_health_rep
                  && rep->body.health_rep.pid == (uint64_t) pid;
        proto_msg_destroy (&rep);
        if (up) {
            bus_client_destroy (&c);
            return pid;
        }
    }
    fail_msg ("gateway-keys never answered");
    return -1;
}

proto_msg_t *
create (const char *as, bool op, const char *user, const kopt_t *o)
{
    proto_msg_t *m = msg_as (PROTO_gkey_create, as, op);
    proto_gkey_create_t *c = &m->body.gkey_create;
    proto_set_str (&c->user, user);
    if (o) {
        proto_set_str (&c->kind, o->kind);
        proto_set_str (&c->window, o->window);
        proto_set_str (&c->sandbox_id, o->sandbox);
        c->rpm = o->rpm;
        c->tpm = o->tpm;
        c->budget_tokens = o->btok;
        c->budget_nusd = o->bnusd;
        c->expires_at = o->expires;
        if (o->models) {
            json_t *j = json_loads (o->models, 0, NULL);
            assert_non_null (j);
            mpjson_set (&c->models, j, 4);
            json_decref (j);
        }
    }
    return ask (m);
}

/* A new key of user's (made by user, or by an operator when op): its
 * secret (static slot of 8) and id. */
const char *
mk_key (const char *user, bool op, const kopt_t *o, char id[VKEY_ID_SIZE])
{
    static char slots[8][VKEY_SIZE];
    static int next;
    proto_msg_t *rep = create (op ? "root" : user, op, user, o);
    if (rep->type != PROTO_gkey_made)
        fail_msg ("gkey.create: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    char *key = slots[next++ % 8];
    snprintf (key, VKEY_SIZE, "%s", rep->body.gkey_made.key);
    json_t *info = mpjson_get (&rep->body.gkey_made.info, 4);
    snprintf (id, VKEY_ID_SIZE, "%s", support_json_str (info, "id"));
    uint8_t h[32];
    char want[VKEY_ID_SIZE];
    vkey_hash (key, h);
    vkey_id (h, want);
    assert_string_equal (id, want);
    assert_null (json_object_get (info, "hash"));
    json_decref (info);
    proto_msg_destroy (&rep);
    return key;
}

proto_msg_t *
reserve_msg (const char *key, const char *call, uint64_t in, uint64_t out, bool capped,
             const char *gw)
{
    proto_msg_t *m = msg_as (PROTO_gkey_reserve, NULL, false);
    proto_gkey_reserve_t *r = &m->body.gkey_reserve;
    uint8_t h[32];
    vkey_hash (key, h);
    proto_set_str (&r->call, call);
    proto_set_bytes (&r->key_hash, h, sizeof h);
    proto_set_str (&r->model, "replay/demo");
    proto_set_str (&r->route, "chat");
    r->input_bound = in;
    r->output_max = out;
    r->capped = capped;
    proto_set_str (&r->gateway, gw ? gw : "gw-test");
    return m;
}

/* Reserves for a new call (id written into call when not NULL). */
proto_msg_t *
reserve (const char *key, char *call, uint64_t in, uint64_t out, bool capped, const char *gw)
{
    char local[CID_SIZE];
    if (!call)
        call = local;
    cid_new (call);
    proto_msg_t *rep = ask (reserve_msg (key, call, in, out, capped, gw));
    assert_int_equal (rep->type, PROTO_gkey_grant);
    return rep;
}

proto_msg_t *
settle_msg (const char *call, uint64_t in, uint64_t out)
{
    proto_msg_t *m = msg_as (PROTO_gkey_settle, NULL, false);
    proto_gkey_settle_t *s = &m->body.gkey_settle;
    proto_set_str (&s->call, call);
    proto_set_str (&s->model, "replay/demo");
    proto_set_str (&s->outcome, "ok");
    s->input = in;
    s->output = out;
    s->status = 200;
    return m;
}

uint64_t
settle (const char *call, uint64_t in, uint64_t out)
{
    proto_msg_t *rep = ask (settle_msg (call, in, out));
    assert_int_equal (rep->type, PROTO_gkey_settled);
    uint64_t nusd = rep->body.gkey_settled.nusd;
    proto_msg_destroy (&rep);
    return nusd;
}

/* The counters of scope label (`key.<id>`, `user.<name>`) in user's
 * usage, as gkey.usage reports them (new reference). */
json_t *
scope (const char *user, const char *label)
{
    return scope_in (user, strncmp (label, "key.", 4) ? NULL : label + 4, label);
}

json_t *
scope_in (const char *user, const char *key_id, const char *label)
{
    proto_msg_t *m = msg_as (PROTO_gkey_usage_get, user, false);
    proto_set_str (&m->body.gkey_usage_get.key_id, key_id);
    proto_msg_t *rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_usage);
    json_t *u = mpjson_get (&rep->body.gkey_usage.usage, 4);
    proto_msg_destroy (&rep);
    size_t i;
    json_t *s, *found = NULL;
    json_array_foreach (json_object_get (u, "scopes"), i, s)
        if (!strcmp (support_json_str (s, "scope"), label))
            found = json_incref (s);
    json_decref (u);
    if (!found)
        fail_msg ("no scope %s in %s's usage", label, user);
    return found;
}

uint64_t
count_of (const char *user, const char *label, const char *field)
{
    json_t *s = scope (user, label);
    uint64_t v = (uint64_t) json_integer_value (json_object_get (s, field));
    json_decref (s);
    return v;
}

char *
label_of (const char *what, const char *name)
{
    static char slots[4][64];
    static int next;
    char *l = slots[next++ % 4];
    snprintf (l, 64, "%s.%s", what, name);
    return l;
}

/* A stand-in event-log: appends `call late` per spend.append to
 * DATA/spend.txt and acknowledges it. */
proto_msg_t *
gku_fake_eventlog (const proto_msg_t *req, void *arg)
{
    (void) arg;
    static uint64_t seq;
    if (req->type != PROTO_spend_append)
        return proto_error_new (req, PROTO_ERR_unknown_type, "fake");
    json_t *rec = mpjson_get (&req->body.spend_append.record, 8);
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/spend.txt", getenv ("CAISSON_DATA"));
    FILE *f = fopen (path, "a");
    if (f) {
        fprintf (f, "%s %d\n", support_json_str (rec, "call"),
                 json_is_true (json_object_get (rec, "late")));
        fclose (f);
    }
    json_decref (rec);
    proto_msg_t *rep = proto_msg_new (PROTO_spend_ack, req);
    rep->body.spend_ack.seq = ++seq;
    return rep;
}

int
gku_setup (void **state)
{
    (void) state;
    assert_non_null (s_dir = support_sandbox_env (s_name));
    setenv ("CAISSON_HEARTBEAT_MS", "100", 1);
    setenv ("CAISSON_REQUEST_TIMEOUT_MS", "1000", 1);
    s_bus = support_spawn ("caisson-bus", NULL);
    /* The gateway instance the calls name (gw-test) is registered, so
     * its reservations are not orphans; gw-ghost and gw-a are not. */
    s_gateway = support_spawn_self ((const char *const[]) { s_self, "fake-gateway", NULL });
    s_keys = start_keys ();
    s_c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (s_c, 5000, 1);
    return 0;
}

int
gku_teardown (void **state)
{
    (void) state;
    bus_client_destroy (&s_c);
    support_stop (s_gateway, SIGTERM, 2000);
    support_expect_clean_exit (s_keys);
    support_expect_clean_exit (s_bus);
    return 0;
}

int
gku_child (int argc, char **argv)
{
    support_self_exe (s_self, sizeof s_self);
    if (argc > 1 && !strcmp (argv[1], "fake-eventlog"))
        return support_serve ("event-log", "fake", gku_fake_eventlog, NULL);
    if (argc > 1 && !strcmp (argv[1], "fake-gateway"))
        return support_serve ("gateway", "gw-test", gku_fake_eventlog, NULL);
    return -1;
}
