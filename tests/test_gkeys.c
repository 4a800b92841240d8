/* gateway-keys through its public interface (issue 16): the real broker
 * and caisson-gateway-keys, requests over the bus as the gateway, users,
 * operators and services send them. Prices make cost easy to count:
 * every replay model's input is free and output costs $1 per million tokens, so a
 * call costs 1000 nano-USD per output token. */
#include "support.h"
#include "gk_win.h"
#include "mpjson.h"
#include "vkey.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NUSD_PER_TOKEN 1000

static const char *s_dir;
static char s_self[PATH_MAX];
static pid_t s_bus, s_keys, s_gateway;
static bus_client_t *s_c;
static int s_records;           /* spend records gateway-keys must hand on */

static const char *const s_env[] = {
    "CAISSON_GATEWAY_PRICES=replay/*=0,1,0,4096", "CAISSON_GATEWAY_ORPHAN_S=1",
    "CAISSON_GATEWAY_MIN_OUTPUT=10", "CAISSON_GATEWAY_USER_KEYS_MAX=3",
    "CAISSON_GATEWAY_RPM_MAX=100", "CAISSON_GATEWAY_MODELS=replay/*,openai/*", NULL
};

/* ---- helpers -------------------------------------------------------------- */

static proto_msg_t *
msg_as (proto_type_t type, const char *user, bool op)
{
    proto_msg_t *m = proto_msg_new (type, NULL);
    proto_set_str (&m->env.user, user);
    m->env.op = op;
    return m;
}

static proto_msg_t *
ask (proto_msg_t *req)
{
    proto_msg_t *rep = bus_client_request (s_c, "gateway-keys", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    return rep;
}

static void
expect_error (proto_msg_t *rep, const char *code)
{
    if (rep->type != PROTO_error)
        fail_msg ("expected error %s, got %s", code, proto_type_name (rep->type));
    assert_string_equal (rep->body.error.code, code);
    proto_msg_destroy (&rep);
}

static pid_t
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

typedef struct {
    const char *kind, *window, *sandbox, *models;   /* models: JSON text */
    uint64_t rpm, tpm, btok, bnusd, expires;
} kopt_t;

static proto_msg_t *
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
static const char *
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

static proto_msg_t *
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
static proto_msg_t *
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

static proto_msg_t *
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

static uint64_t
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
static json_t *
scope (const char *user, const char *label)
{
    proto_msg_t *m = msg_as (PROTO_gkey_usage_get, user, false);
    if (!strncmp (label, "key.", 4))
        proto_set_str (&m->body.gkey_usage_get.key_id, label + 4);
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

static uint64_t
count_of (const char *user, const char *label, const char *field)
{
    json_t *s = scope (user, label);
    uint64_t v = (uint64_t) json_integer_value (json_object_get (s, field));
    json_decref (s);
    return v;
}

static char *
label_of (const char *what, const char *name)
{
    static char slots[4][64];
    static int next;
    char *l = slots[next++ % 4];
    snprintf (l, 64, "%s.%s", what, name);
    return l;
}

/* ---- units ---------------------------------------------------------------- */

static void
test_windows (void **state)
{
    (void) state;
    uint64_t wed = 1796830200000ull;            /* 2026-12-09T15:30:00Z, a Wednesday */
    assert_int_equal (gk_win_start (GK_WIN_DAY, wed), 1796774400000ull);
    assert_int_equal (gk_win_reset (GK_WIN_DAY, 1796774400000ull), 1796860800000ull);
    assert_int_equal (gk_win_start (GK_WIN_WEEK, wed), 1796601600000ull);     /* Mon 7th */
    assert_int_equal (gk_win_reset (GK_WIN_WEEK, 1796601600000ull), 1797206400000ull);
    assert_int_equal (gk_win_start (GK_WIN_MONTH, wed), 1796083200000ull);    /* Dec 1st */
    assert_int_equal (gk_win_reset (GK_WIN_MONTH, 1796083200000ull), 1798761600000ull);
    assert_int_equal (gk_win_start (GK_WIN_TOTAL, wed), 0);
    assert_int_equal (gk_win_reset (GK_WIN_TOTAL, 0), 0);
    /* Edges: a window's first and last milliseconds. */
    assert_int_equal (gk_win_start (GK_WIN_DAY, 1796774400000ull), 1796774400000ull);
    assert_int_equal (gk_win_start (GK_WIN_WEEK, 1797206400000ull - 1), 1796601600000ull);
    assert_int_equal (gk_win_start (GK_WIN_WEEK, 1797206400000ull), 1797206400000ull);
    assert_int_equal (gk_win_start (GK_WIN_MONTH, 1798761600000ull - 1), 1796083200000ull);
    /* February of a leap year: 2028-02-15 resets on March 1st. */
    uint64_t feb = gk_win_start (GK_WIN_MONTH, 1834228800000ull);
    assert_int_equal (feb, 1832976000000ull);
    assert_int_equal (gk_win_reset (GK_WIN_MONTH, feb), 1835481600000ull);
    char iso[32];
    gk_win_iso (1798761600000ull, iso, sizeof iso);
    assert_string_equal (iso, "2027-01-01T00:00:00Z");
    gk_win_t w;
    assert_true (gk_win_parse ("week", &w));
    assert_int_equal (w, GK_WIN_WEEK);
    assert_false (gk_win_parse ("year", &w));
    assert_false (gk_win_parse (NULL, &w));
}

/* ---- keys ----------------------------------------------------------------- */

static void
test_keys_two_users (void **state)
{
    (void) state;
    char ida[VKEY_ID_SIZE], idb[VKEY_ID_SIZE];
    const char *ka = mk_key ("alice", false, &(kopt_t) { .models = "[\"replay/*\"]" }, ida);
    mk_key ("bob", false, NULL, idb);
    char user[64];
    assert_true (vkey_user (ka, user, sizeof user));
    assert_string_equal (user, "alice");
    /* bob lists his own key only; the page holds no hash and no secret. */
    proto_msg_t *rep = ask (msg_as (PROTO_gkey_list, "bob", false));
    assert_int_equal (rep->type, PROTO_gkey_page);
    json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 6);
    assert_int_equal (json_array_size (keys), 1);
    assert_string_equal (support_json_str (json_array_get (keys, 0), "id"), idb);
    char *text = json_dumps (keys, 0);
    assert_null (strstr (text, "vk_"));
    assert_null (strstr (text, "hash"));
    free (text);
    json_decref (keys);
    proto_msg_destroy (&rep);
    /* bob cannot list, see, revoke or make alice's keys. */
    proto_msg_t *m = msg_as (PROTO_gkey_list, "bob", false);
    proto_set_str (&m->body.gkey_list.user, "alice");
    expect_error (ask (m), "forbidden");
    m = msg_as (PROTO_gkey_usage_get, "bob", false);
    proto_set_str (&m->body.gkey_usage_get.key_id, ida);
    expect_error (ask (m), "not_found");
    m = msg_as (PROTO_gkey_revoke, "bob", false);
    proto_set_str (&m->body.gkey_revoke.key_id, ida);
    expect_error (ask (m), "not_found");
    expect_error (create ("bob", false, "alice", NULL), "forbidden");
    /* A user makes no sandbox or run keys; an operator (a service) does. */
    expect_error (create ("bob", false, NULL, &(kopt_t) { .kind = "sandbox", .sandbox = "s1" }),
                  "forbidden");
    char ids[VKEY_ID_SIZE];
    mk_key ("bob", true, &(kopt_t) { .kind = "sandbox", .sandbox = "s1" }, ids);
    /* alice's key works for alice's models only. */
    rep = reserve (ka, NULL, 10, 10, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    assert_string_equal (rep->body.gkey_grant.user, "alice");
    assert_string_equal (rep->body.gkey_grant.key_id, ida);
    proto_msg_destroy (&rep);
    m = reserve_msg (ka, "0000000000000000000000000a", 1, 1, false, NULL);
    proto_set_str (&m->body.gkey_reserve.model, "openai/gpt-4o");
    rep = ask (m);
    assert_false (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.status, 403);
    assert_string_equal (rep->body.gkey_grant.code, "model_not_allowed");
    proto_msg_destroy (&rep);
    /* An unknown key: 401 (a hash lookup; no secret is compared). */
    char fake[VKEY_SIZE];
    assert_int_equal (vkey_make ("alice", fake, sizeof fake), 0);
    rep = reserve (fake, NULL, 1, 1, false, NULL);
    assert_false (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.status, 401);
    assert_string_equal (rep->body.gkey_grant.code, "invalid_api_key");
    proto_msg_destroy (&rep);
    /* alice revokes her key: 401 key_revoked from then on. */
    m = msg_as (PROTO_gkey_revoke, "alice", false);
    proto_set_str (&m->body.gkey_revoke.key_id, ida);
    rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_ack);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
    rep = reserve (ka, NULL, 1, 1, false, NULL);
    assert_int_equal (rep->body.gkey_grant.status, 401);
    assert_string_equal (rep->body.gkey_grant.code, "key_revoked");
    proto_msg_destroy (&rep);
    /* The sandbox's keys go with the sandbox. */
    m = msg_as (PROTO_gkey_revoke, "root", true);
    proto_set_str (&m->body.gkey_revoke.sandbox_id, "s1");
    rep = ask (m);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
}

/* A sandbox's key follows its sandbox to another run and expiry
 * (services only); an expired key is refused from its expiry on. */
static void
test_context_expiry (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    uint64_t soon = (uint64_t) zclock_time () + 600;
    const char *k = mk_key ("otto", true, &(kopt_t) { .kind = "sandbox", .sandbox = "s9",
                                                       .expires = soon + 60000 }, id);
    proto_msg_t *m = msg_as (PROTO_gkey_context, "otto", false);
    proto_set_str (&m->body.gkey_context.sandbox_id, "s9");
    expect_error (ask (m), "forbidden");
    m = msg_as (PROTO_gkey_context, "sandbox-manager", true);
    proto_set_str (&m->body.gkey_context.sandbox_id, "s9");
    proto_set_str (&m->body.gkey_context.run, "01JRUN0000000000000000000A");
    m->body.gkey_context.expires_at = soon;
    proto_msg_t *rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_ack);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
    rep = reserve (k, NULL, 1, 1, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    assert_string_equal (rep->body.gkey_grant.run, "01JRUN0000000000000000000A");
    assert_string_equal (rep->body.gkey_grant.sandbox_id, "s9");
    assert_string_equal (rep->body.gkey_grant.kind, "sandbox");
    proto_msg_destroy (&rep);
    while ((uint64_t) zclock_time () <= soon)
        usleep (50 * 1000);
    rep = reserve (k, NULL, 1, 1, false, NULL);
    assert_int_equal (rep->body.gkey_grant.status, 401);
    assert_string_equal (rep->body.gkey_grant.code, "key_expired");
    proto_msg_destroy (&rep);
    /* Listed no more, unless asked for revoked and expired keys too. */
    m = msg_as (PROTO_gkey_list, "otto", false);
    rep = ask (m);
    json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 6);
    assert_int_equal (json_array_size (keys), 0);
    json_decref (keys);
    proto_msg_destroy (&rep);
    m = msg_as (PROTO_gkey_list, "otto", false);
    m->body.gkey_list.revoked = true;
    rep = ask (m);
    keys = mpjson_get (&rep->body.gkey_page.keys, 6);
    assert_int_equal (json_array_size (keys), 1);
    json_decref (keys);
    proto_msg_destroy (&rep);
    /* The run's keys can be revoked by the run. */
    m = msg_as (PROTO_gkey_revoke, "root", true);
    proto_set_str (&m->body.gkey_revoke.run, "01JRUN0000000000000000000A");
    rep = ask (m);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
}

static void
test_self_service_limits (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    expect_error (create ("erin", false, NULL, &(kopt_t) { .rpm = 101 }), "over_limit");
    expect_error (create ("erin", false, NULL, &(kopt_t) { .models = "[\"anthropic/*\"]" }),
                  "bad_value");
    expect_error (create ("erin", false, NULL, &(kopt_t) { .models = "[\"nomodel\"]" }),
                  "bad_value");
    expect_error (create ("erin", false, NULL, &(kopt_t) { .window = "year" }), "bad_value");
    expect_error (create ("erin", false, NULL, &(kopt_t) { .expires = 1000 }), "bad_value");
    /* Three live keys at most (CAISSON_GATEWAY_USER_KEYS_MAX=3). */
    for (int i = 0; i < 3; i++)
        mk_key ("erin", false, NULL, id);
    expect_error (create ("erin", false, NULL, NULL), "limit");
    /* A key's budget stays within its owner's. */
    proto_msg_t *m = msg_as (PROTO_gkey_user_set, "root", true);
    proto_set_str (&m->body.gkey_user_set.user, "fay");
    m->body.gkey_user_set.budget_nusd = 5000;
    proto_msg_t *rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_ack);
    proto_msg_destroy (&rep);
    expect_error (create ("fay", false, NULL, &(kopt_t) { .bnusd = 5001 }), "over_limit");
    mk_key ("fay", false, &(kopt_t) { .bnusd = 5000 }, id);
    m = msg_as (PROTO_gkey_user_set, "fay", false);
    proto_set_str (&m->body.gkey_user_set.user, "fay");
    expect_error (ask (m), "forbidden");
}

/* ---- budgets ---------------------------------------------------------------- */

static void
test_chain_user_budget (void **state)
{
    (void) state;
    proto_msg_t *m = msg_as (PROTO_gkey_user_set, "root", true);
    proto_set_str (&m->body.gkey_user_set.user, "carol");
    m->body.gkey_user_set.budget_nusd = 100 * NUSD_PER_TOKEN;
    proto_set_str (&m->body.gkey_user_set.window, "day");
    proto_msg_destroy (&(proto_msg_t *) { ask (m) });
    char id1[VKEY_ID_SIZE], id2[VKEY_ID_SIZE], call1[CID_SIZE];
    const char *k1 = mk_key ("carol", false, NULL, id1);
    const char *k2 = mk_key ("carol", false, NULL, id2);
    proto_msg_t *rep = reserve (k1, call1, 500, 60, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    /* The second key's own budget is unlimited, its owner's is not. */
    rep = reserve (k2, NULL, 500, 60, false, NULL);
    proto_gkey_grant_t *g = &rep->body.gkey_grant;
    assert_false (g->ok);
    assert_int_equal (g->status, 402);
    assert_string_equal (g->code, "budget_exceeded");
    assert_string_equal (g->budget, "user.cost.day");
    uint64_t now = (uint64_t) zclock_time ();
    uint64_t reset = gk_win_reset (GK_WIN_DAY, gk_win_start (GK_WIN_DAY, now));
    assert_int_equal (g->reset_at, reset);
    char want[256], iso[32];
    gk_win_iso (reset, iso, sizeof iso);
    snprintf (want, sizeof want, "budget of user carol exhausted: $0.00 of $0.0001 per day "
              "spent, $0.00006 reserved by calls in flight, this call may cost up to $0.00006; "
              "resets %s", iso);
    assert_string_equal (g->reason, want);
    proto_msg_destroy (&rep);
    /* The refusal changed nothing but `refused`. */
    assert_int_equal (count_of ("carol", label_of ("user", "carol"), "reservedNusd"), 60000);
    assert_int_equal (count_of ("carol", label_of ("user", "carol"), "refused"), 1);
    assert_int_equal (count_of ("carol", label_of ("user", "carol"), "calls"), 1);
    /* Settled at 10 tokens, the rest is free again for the other key. */
    assert_int_equal (settle (call1, 500, 10), 10 * NUSD_PER_TOKEN);
    rep = reserve (k2, NULL, 500, 60, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    s_records++;
    json_t *u = scope ("carol", label_of ("user", "carol"));
    assert_int_equal (json_integer_value (json_object_get (u, "spentNusd")), 10000);
    assert_int_equal (json_integer_value (json_object_get (u, "reservedNusd")), 60000);
    assert_int_equal (json_integer_value (json_object_get (u, "limitNusd")), 100000);
    assert_int_equal (json_integer_value (json_object_get (u, "reset")), reset);
    json_decref (u);
    /* Tokens count input and output. */
    assert_int_equal (count_of ("carol", label_of ("key", id1), "spentTokens"), 510);
}

static void
test_capped_grant (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *k = mk_key ("dan", true, &(kopt_t) { .bnusd = 100 * NUSD_PER_TOKEN,
                                                      .window = "week" }, id);
    /* No client maximum: granted what the budget affords. */
    proto_msg_t *rep = reserve (k, NULL, 1000, 4096, true, NULL);
    assert_true (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.output_max, 100);
    proto_msg_destroy (&rep);
    /* Uncapped, 4096 would not fit even in an empty budget. */
    rep = reserve (k, NULL, 1, 5, false, NULL);
    assert_false (rep->body.gkey_grant.ok);
    assert_string_equal (rep->body.gkey_grant.budget, "key.cost.week");
    proto_msg_destroy (&rep);
    /* Nothing left: capped or not, refused (less than MIN_OUTPUT=10). */
    rep = reserve (k, NULL, 1, 4096, true, NULL);
    assert_false (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.status, 402);
    proto_msg_destroy (&rep);
    /* A token budget caps too: 50 tokens, 30 of input. */
    const char *kt = mk_key ("dan", true, &(kopt_t) { .btok = 50 }, id);
    rep = reserve (kt, NULL, 30, 4096, true, NULL);
    assert_true (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.output_max, 20);
    proto_msg_destroy (&rep);
}

static void
test_settle_refund_extra (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE], call[CID_SIZE], call2[CID_SIZE];
    const char *k = mk_key ("gus", true, &(kopt_t) { .bnusd = 1000 * NUSD_PER_TOKEN }, id);
    proto_msg_t *rep = reserve (k, call, 100, 100, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    const char *l = label_of ("key", id);
    assert_int_equal (count_of ("gus", l, "reservedNusd"), 100 * NUSD_PER_TOKEN);
    assert_int_equal (settle (call, 80, 40), 40 * NUSD_PER_TOKEN);      /* a refund */
    assert_int_equal (count_of ("gus", l, "reservedNusd"), 0);
    assert_int_equal (count_of ("gus", l, "spentNusd"), 40 * NUSD_PER_TOKEN);
    rep = reserve (k, call2, 10, 10, false, NULL);
    proto_msg_destroy (&rep);
    assert_int_equal (settle (call2, 10, 30), 30 * NUSD_PER_TOKEN);     /* more than reserved */
    assert_int_equal (count_of ("gus", l, "spentNusd"), 70 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("gus", l, "spentTokens"), 80 + 40 + 10 + 30);
    assert_int_equal (count_of ("gus", l, "reservedTokens"), 0);
    s_records += 2;
}

static void
test_idempotent (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE], call[CID_SIZE];
    const char *k = mk_key ("hal", true, NULL, id);
    proto_msg_t *a = reserve (k, call, 5, 50, false, NULL);
    /* The same call again (a gateway resending): answered as the first. */
    proto_msg_t *b = ask (reserve_msg (k, call, 5, 50, false, NULL));
    assert_true (a->body.gkey_grant.ok && b->body.gkey_grant.ok);
    assert_int_equal (b->body.gkey_grant.output_max, 50);
    proto_msg_destroy (&a);
    proto_msg_destroy (&b);
    const char *l = label_of ("key", id);
    assert_int_equal (count_of ("hal", l, "calls"), 1);
    assert_int_equal (count_of ("hal", l, "reservedTokens"), 55);
    assert_int_equal (settle (call, 5, 20), 20 * NUSD_PER_TOKEN);
    assert_int_equal (settle (call, 5, 20), 20 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("hal", l, "spentNusd"), 20 * NUSD_PER_TOKEN);
    /* After its settle too, and not for another key. */
    b = ask (reserve_msg (k, call, 5, 50, false, NULL));
    assert_true (b->body.gkey_grant.ok);
    proto_msg_destroy (&b);
    assert_int_equal (count_of ("hal", l, "calls"), 1);
    const char *other = mk_key ("hal", true, NULL, id);
    expect_error (ask (reserve_msg (other, call, 5, 50, false, NULL)), "bad_value");
    s_records++;
}

/* 100 calls at once (10 clients, 10 pipelined each) against a budget of
 * exactly 10 of them: exactly 10 granted, 90 refused naming the budget. */
static void
test_race_100 (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *k = mk_key ("ivy", true, &(kopt_t) { .bnusd = 10 * 50 * NUSD_PER_TOKEN }, id);
    bus_client_t *cs[10];
    for (int i = 0; i < 10; i++) {
        cs[i] = bus_client_new (getenv ("CAISSON_BUS"));
        bus_client_set_timeout (cs[i], 5000, 0);
    }
    for (int r = 0; r < 10; r++)
        for (int i = 0; i < 10; i++) {
            char call[CID_SIZE];
            cid_new (call);
            support_send (cs[i], "gateway-keys", reserve_msg (k, call, 0, 50, false, NULL));
        }
    int ok = 0, refused = 0;
    for (int i = 0; i < 10; i++)
        for (int r = 0; r < 10; r++) {
            proto_msg_t *rep = bus_client_recv (cs[i], 10000, NULL);
            assert_non_null (rep);
            assert_int_equal (rep->type, PROTO_gkey_grant);
            if (rep->body.gkey_grant.ok)
                ok++;
            else {
                refused++;
                assert_int_equal (rep->body.gkey_grant.status, 402);
                assert_string_equal (rep->body.gkey_grant.budget, "key.cost.month");
                assert_non_null (strstr (rep->body.gkey_grant.reason, "resets "));
            }
            proto_msg_destroy (&rep);
        }
    for (int i = 0; i < 10; i++)
        bus_client_destroy (&cs[i]);
    assert_int_equal (ok, 10);
    assert_int_equal (refused, 90);
    const char *l = label_of ("key", id);
    assert_int_equal (count_of ("ivy", l, "reservedNusd"), 500 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("ivy", l, "calls"), 10);
    assert_int_equal (count_of ("ivy", l, "refused"), 90);
    assert_int_equal (count_of ("ivy", l, "spentNusd"), 0);
}

static void
test_rate_limit (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *k = mk_key ("jay", true, &(kopt_t) { .rpm = 2, .tpm = 1000 }, id);
    for (int i = 0; i < 2; i++) {
        proto_msg_t *rep = reserve (k, NULL, 1, 1, false, NULL);
        assert_true (rep->body.gkey_grant.ok);
        assert_int_equal (rep->body.gkey_grant.rl_limit_req, 2);
        assert_int_equal (rep->body.gkey_grant.rl_left_req, 1 - i);
        proto_msg_destroy (&rep);
    }
    proto_msg_t *rep = reserve (k, NULL, 1, 1, false, NULL);
    proto_gkey_grant_t *g = &rep->body.gkey_grant;
    assert_false (g->ok);
    assert_int_equal (g->status, 429);
    assert_string_equal (g->code, "rate_limit_requests");
    assert_true (g->retry_after_s >= 1 && g->retry_after_s <= 60);
    proto_msg_destroy (&rep);
    /* Tokens per minute: input bound and output maximum count. */
    const char *kt = mk_key ("jay", true, &(kopt_t) { .tpm = 100 }, id);
    rep = reserve (kt, NULL, 10, 60, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.rl_left_tok, 30);
    proto_msg_destroy (&rep);
    rep = reserve (kt, NULL, 10, 60, false, NULL);
    assert_int_equal (rep->body.gkey_grant.status, 429);
    assert_string_equal (rep->body.gkey_grant.code, "rate_limit_tokens");
    assert_true (rep->body.gkey_grant.retry_after_s >= 1);
    proto_msg_destroy (&rep);
    assert_int_equal (count_of ("jay", label_of ("key", id), "refused"), 1);
    assert_int_equal (count_of ("jay", label_of ("key", id), "reservedTokens"), 70);
}

static void
test_hostile (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *k = mk_key ("kim", true, &(kopt_t) { .bnusd = 1000000, .btok = 100000 }, id);
    /* Numbers near UINT64_MAX saturate and are refused, never wrap. */
    proto_msg_t *rep = reserve (k, NULL, UINT64_MAX - 1, UINT64_MAX - 1, false, NULL);
    assert_false (rep->body.gkey_grant.ok);
    assert_int_equal (rep->body.gkey_grant.status, 402);
    proto_msg_destroy (&rep);
    rep = reserve (k, NULL, 0, UINT64_MAX, true, NULL);
    assert_true (rep->body.gkey_grant.ok);      /* capped to what the budget affords */
    assert_int_equal (rep->body.gkey_grant.output_max, 1000);
    proto_msg_destroy (&rep);
    const char *l = label_of ("key", id);
    assert_int_equal (count_of ("kim", l, "reservedNusd"), 1000000);
    assert_int_equal (count_of ("kim", l, "refused"), 1);
    /* A hash of the wrong size is a bad request. */
    proto_msg_t *m = reserve_msg (k, "0000000000000000000000000b", 1, 1, false, NULL);
    m->body.gkey_reserve.key_hash.size = 31;
    expect_error (ask (m), "bad_value");
    /* Over the declared lengths: refused by the codec. */
    m = reserve_msg (k, "0000000000000000000000000c", 1, 1, false, NULL);
    char huge[400];
    memset (huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    proto_set_str (&m->body.gkey_reserve.model, huge);
    expect_error (ask (m), "too_long");
}

/* ---- orphans, restart, outbox ---------------------------------------------- */

static void
test_orphan_release (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE], call[CID_SIZE];
    const char *k = mk_key ("lea", true, NULL, id);
    proto_msg_t *rep = reserve (k, call, 0, 70, false, "gw-a");
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    /* gw-a restarts: its reservations are charged in full. */
    proto_msg_t *m = msg_as (PROTO_gkey_release_instance, NULL, false);
    proto_set_str (&m->body.gkey_release_instance.gateway, "gw-a");
    rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_ack);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
    const char *l = label_of ("key", id);
    assert_int_equal (count_of ("lea", l, "spentNusd"), 70 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("lea", l, "reservedNusd"), 0);
    /* Its late settle corrects the charge. */
    assert_int_equal (settle (call, 0, 15), 15 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("lea", l, "spentNusd"), 15 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("lea", l, "spentTokens"), 15);
    s_records += 2;
}

static void
test_orphan_gone (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *k = mk_key ("max", true, NULL, id);
    proto_msg_t *rep = reserve (k, NULL, 0, 33, false, "gw-ghost");
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    const char *l = label_of ("key", id);
    /* No gateway instance gw-ghost is registered: after ORPHAN_S=1 the
     * sweep charges it in full. */
    uint64_t spent = 0;
    for (int i = 0; i < 100 && !spent; i++) {
        usleep (100 * 1000);
        spent = count_of ("max", l, "spentNusd");
    }
    assert_int_equal (spent, 33 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("max", l, "reservedNusd"), 0);
    s_records++;
}

static void
test_single_instance (void **state)
{
    (void) state;
    pid_t second = support_spawn ("caisson-gateway-keys", s_env);
    int st = 0;
    for (int i = 0; i < 100 && waitpid (second, &st, WNOHANG) == 0; i++)
        usleep (50 * 1000);
    assert_true (WIFEXITED (st));
    assert_int_equal (WEXITSTATUS (st), 2);
    assert_true (support_alive (s_keys));
}

/* kill -9 in the middle of settles, then a restart: what was acked is
 * counted, and every call resent is charged once. */
static void
test_restart (void **state)
{
    (void) state;
    enum { N = 200 };
    char id[VKEY_ID_SIZE], calls[N][CID_SIZE], ids[N][CID_SIZE];
    const char *k = mk_key ("ned", true, &(kopt_t) { .rpm = 100000 }, id);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (c, 5000, 0);
    for (int i = 0; i < N; i++) {
        cid_new (calls[i]);
        support_send (c, "gateway-keys", reserve_msg (k, calls[i], 0, 5, false, NULL));
    }
    for (int i = 0; i < N; i++) {
        proto_msg_t *rep = bus_client_recv (c, 10000, NULL);
        assert_non_null (rep);
        assert_true (rep->body.gkey_grant.ok);
        proto_msg_destroy (&rep);
    }
    for (int i = 0; i < N; i++) {
        proto_msg_t *m = settle_msg (calls[i], 0, 1);
        snprintf (ids[i], CID_SIZE, "%s", m->env.id);
        support_send (c, "gateway-keys", m);
    }
    int acked = 0;
    for (; acked < N / 2; acked++) {
        proto_msg_t *rep = bus_client_recv (c, 10000, NULL);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_gkey_settled);
        proto_msg_destroy (&rep);
    }
    kill (s_keys, SIGKILL);
    waitpid (s_keys, NULL, 0);
    bus_client_destroy (&c);
    s_keys = start_keys ();
    const char *l = label_of ("key", id);
    uint64_t spent = count_of ("ned", l, "spentNusd");
    assert_true (spent >= (uint64_t) acked * NUSD_PER_TOKEN);
    assert_true (spent <= N * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("ned", l, "calls"), N);
    /* The gateways resend what went unanswered (all of it, here). */
    for (int i = 0; i < N; i++)
        assert_int_equal (settle (calls[i], 0, 1), NUSD_PER_TOKEN);
    assert_int_equal (count_of ("ned", l, "spentNusd"), N * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("ned", l, "reservedNusd"), 0);
    s_records += N;
}

/* A stand-in event-log: appends `call late` per spend.append to
 * DATA/spend.txt and acknowledges it. */
static proto_msg_t *
fake_eventlog (const proto_msg_t *req, void *arg)
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

static int
lines_in (const char *path, bool *dup)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return 0;
    char line[128], seen[1024][128];
    int n = 0;
    *dup = false;
    while (fgets (line, sizeof line, f)) {
        for (int i = 0; i < n && i < 1024; i++)
            *dup |= !strcmp (seen[i], line);
        if (n < 1024)
            snprintf (seen[n], sizeof seen[n], "%s", line);
        n++;
    }
    fclose (f);
    return n;
}

static void
test_outbox (void **state)
{
    (void) state;
    /* The real event-log of today answers spend.append with an error:
     * the records stay in the outbox. */
    pid_t el = support_spawn ("caisson-event-log", NULL);
    sleep (2);
    support_expect_clean_exit (el);
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/spend.txt", s_dir);
    const char *const argv[] = { s_self, "fake-eventlog", NULL };
    pid_t fake = support_spawn_self (argv);
    bool dup = false;
    int n = 0;
    for (int i = 0; i < 300 && n < s_records; i++) {
        usleep (100 * 1000);
        n = lines_in (path, &dup);
    }
    sleep (1);                  /* and nothing more comes */
    n = lines_in (path, &dup);
    support_stop (fake, SIGTERM, 2000);
    assert_int_equal (n, s_records);
    assert_false (dup);
}

static int
setup (void **state)
{
    (void) state;
    assert_non_null (s_dir = support_sandbox_env ("gkeys"));
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

static int
teardown (void **state)
{
    (void) state;
    bus_client_destroy (&s_c);
    support_stop (s_gateway, SIGTERM, 2000);
    support_expect_clean_exit (s_keys);
    support_expect_clean_exit (s_bus);
    return 0;
}

int
main (int argc, char **argv)
{
    support_self_exe (s_self, sizeof s_self);
    if (argc > 1 && !strcmp (argv[1], "fake-eventlog"))
        return support_serve ("event-log", "fake", fake_eventlog, NULL);
    if (argc > 1 && !strcmp (argv[1], "fake-gateway"))
        return support_serve ("gateway", "gw-test", fake_eventlog, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_windows),
        cmocka_unit_test (test_keys_two_users),
        cmocka_unit_test (test_single_instance),
        cmocka_unit_test (test_context_expiry),
        cmocka_unit_test (test_self_service_limits),
        cmocka_unit_test (test_chain_user_budget),
        cmocka_unit_test (test_capped_grant),
        cmocka_unit_test (test_settle_refund_extra),
        cmocka_unit_test (test_idempotent),
        cmocka_unit_test (test_race_100),
        cmocka_unit_test (test_rate_limit),
        cmocka_unit_test (test_hostile),
        cmocka_unit_test (test_orphan_release),
        cmocka_unit_test (test_orphan_gone),
        cmocka_unit_test (test_restart),
        cmocka_unit_test (test_outbox),
    };
    return support_run_group_tests (tests, setup, teardown);
}
