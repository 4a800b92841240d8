/* test_gateway_mgrkey: sandbox-manager's side of sandboxes' model keys
 * (issue 16) with the real broker, sandbox-manager and gateway-keys.
 * test_slow_keys_block_nobody: while gateway-keys is stopped (SIGSTOP) a
 * create waits for its key, and another user's sandbox.list and
 * sandbox.get are answered meanwhile; once gateway-keys goes on, the
 * create is answered with its key.
 * test_revoke_after_down: a sandbox destroyed while gateway-keys is down
 * (killed), with sandbox-manager restarted meanwhile, has its key revoked
 * once gateway-keys is back.
 * test_late_key_revoked: a create that went on without its key (gateway-keys
 * stopped past the 2 s wait) gets none, and the key gateway-keys makes
 * once it goes on is revoked: no sandbox holds it.
 * test_gateway_unreachable: with no egress-proxy (the path to the gateway)
 * a call from inside to the gateway's port is answered 502 naming the
 * model gateway and why. Skips unless root (sandboxes). */
#define _GNU_SOURCE
#include "sbx_client.h"
#include "mpjson.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static pid_t s_keys;

static pid_t
start_keys (void)
{
    static const char *const env[] = { "CAISSON_GATEWAY_MODELS=replay/*", NULL };
    pid_t pid = support_spawn ("caisson-gateway-keys", env);
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

static int
setup (void **state)
{
    /* a revoke gateway-keys missed is sent again every six of these */
    setenv ("CAISSON_REQUEST_TIMEOUT_MS", "500", 1);
    /* a gateway-keys stopped for a few seconds is not taken for dead */
    setenv ("CAISSON_HEARTBEAT_LIVENESS", "20", 1);
    sbx_setup (state);
    s_keys = start_keys ();
    return 0;
}

static int
teardown (void **state)
{
    support_stop (s_keys, SIGTERM, 5000);
    return sbx_teardown (state);
}

/* A request as user (not sent). */
static proto_msg_t *
as (proto_type_t type, const char *user)
{
    proto_msg_t *m = proto_msg_new (type, NULL);
    proto_set_str (&m->env.user, user);
    return m;
}

/* Creates user's sandbox; its sandbox.info (asserted ready). */
static proto_msg_t *
create_as (const char *user)
{
    proto_msg_t *rep = call (as (PROTO_sandbox_create, user));
    if (rep->type == PROTO_error)
        fail_msg ("create: %s", rep->body.error.message);
    assert_string_equal (rep->body.sandbox_info.status, "ready");
    return rep;
}

/* Sends req (consumed) to sandbox-manager on client c without waiting. */
static void
send_on (bus_client_t *c, proto_msg_t *req)
{
    uint8_t *data;
    size_t size;
    assert_int_equal (proto_encode (req, &data, &size), 0);
    assert_int_equal (bus_client_send (c, "sandbox-manager", data, size), 0);
    free (data);
    proto_msg_destroy (&req);
}

static void
test_slow_keys_block_nobody (void **state)
{
    (void) state;
    proto_msg_t *bob = create_as ("bob");
    assert_non_null (bob->body.sandbox_info.gateway_key_id);
    char *bob_id = strdup (bob->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&bob);

    bus_client_t *slow = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_t *quick = bus_client_new (getenv ("CAISSON_BUS"));
    assert_int_equal (kill (s_keys, SIGSTOP), 0);
    send_on (slow, as (PROTO_sandbox_create, "alice"));
    usleep (200 * 1000);        /* the create reaches the manager first */
    send_on (quick, as (PROTO_sandbox_list, "bob"));
    proto_msg_t *get = as (PROTO_sandbox_get, "bob");
    proto_set_str (&get->body.sandbox_get.sandbox_id, bob_id);
    send_on (quick, get);
    proto_msg_t *a = bus_client_recv (quick, 10000, NULL);
    proto_msg_t *b = bus_client_recv (quick, 10000, NULL);
    assert_non_null (a);
    assert_non_null (b);
    /* Both answered while alice's create still waits for its key. */
    proto_msg_t *early = bus_client_recv (slow, 0, NULL);
    assert_int_equal (kill (s_keys, SIGCONT), 0);
    if (early)
        fail_msg ("the create was answered (%s) before bob's requests: the key's mint blocked "
                  "the manager", proto_type_name (early->type));
    proto_msg_t *list = a->type == PROTO_sandbox_listed ? a : b;
    proto_msg_t *info = a->type == PROTO_sandbox_info ? a : b;
    assert_int_equal (list->type, PROTO_sandbox_listed);
    assert_int_equal (info->type, PROTO_sandbox_info);
    json_t *boxes = mpjson_get (&list->body.sandbox_listed.sandboxes, 4);
    assert_int_equal (json_array_size (boxes), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (boxes, 0),
                                                             "sandbox_id")), bob_id);
    json_decref (boxes);
    assert_string_equal (info->body.sandbox_info.sandbox_id, bob_id);
    proto_msg_destroy (&a);
    proto_msg_destroy (&b);

    proto_msg_t *made = bus_client_recv (slow, 10000, NULL);
    assert_non_null (made);
    if (made->type != PROTO_sandbox_info)
        fail_msg ("create: %s", made->type == PROTO_error ? made->body.error.message : "?");
    assert_string_equal (made->body.sandbox_info.status, "ready");
    assert_non_null (made->body.sandbox_info.gateway_key_id);
    destroy (strdup (made->body.sandbox_info.sandbox_id));
    proto_msg_destroy (&made);
    destroy (bob_id);
    bus_client_destroy (&slow);
    bus_client_destroy (&quick);
}

/* Whether the sandbox key of sandbox id is among alice's revoked keys. */
static bool
revoked (const char *id)
{
    proto_msg_t *req = as (PROTO_gkey_list, "alice");
    proto_set_str (&req->body.gkey_list.kind, "sandbox");
    req->body.gkey_list.revoked = true;
    proto_msg_t *rep = bus_client_request (s_c, "gateway-keys", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_gkey_page);
    json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 8), *k;
    size_t i;
    bool found = false;
    json_array_foreach (keys, i, k)
        found |= !strcmp (json_string_value (json_object_get (k, "sandboxId")) ?: "", id)
                 && json_is_true (json_object_get (k, "revoked"));
    json_decref (keys);
    proto_msg_destroy (&rep);
    return found;
}

static void
test_revoke_after_down (void **state)
{
    (void) state;
    proto_msg_t *info = create_as ("alice");
    assert_non_null (info->body.sandbox_info.gateway_key_id);
    char id[128];
    snprintf (id, sizeof id, "%s", info->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&info);
    assert_false (revoked (id));

    support_stop (s_keys, SIGKILL, 5000);
    destroy (strdup (id));
    /* the broker's hold on the revoke (one request timeout) runs out */
    sleep (1);
    usleep (500 * 1000);
    support_expect_clean_exit (s_mgr);
    start_stack_manager ();
    s_keys = start_keys ();
    bool done = false;
    for (int i = 0; i < 200 && !done; i++) {
        done = revoked (id);
        if (!done)
            usleep (100 * 1000);
    }
    if (!done)
        fail_msg ("the key of %s was not revoked once gateway-keys was back", id);
}

static void
test_late_key_revoked (void **state)
{
    (void) state;
    bus_client_t *slow = bus_client_new (getenv ("CAISSON_BUS"));
    assert_int_equal (kill (s_keys, SIGSTOP), 0);
    send_on (slow, as (PROTO_sandbox_create, "alice"));
    proto_msg_t *info = bus_client_recv (slow, 20000, NULL);
    assert_int_equal (kill (s_keys, SIGCONT), 0);
    assert_non_null (info);
    assert_int_equal (info->type, PROTO_sandbox_info);
    assert_null (info->body.sandbox_info.gateway_key_id);
    assert_non_null (strstr (info->body.sandbox_info.reason ?: "", "did not answer"));
    char *id = strdup (info->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&info);
    bool done = false;
    for (int i = 0; i < 100 && !done; i++) {
        done = revoked (id);
        if (!done)
            usleep (100 * 1000);
    }
    if (!done)
        fail_msg ("the key gateway-keys made late for %s is not revoked", id);
    destroy (id);
    bus_client_destroy (&slow);
}

static void
test_gateway_unreachable (void **state)
{
    (void) state;
    proto_msg_t *info = create_as ("alice");
    assert_non_null (info->body.sandbox_info.gateway_url);
    char *id = strdup (info->body.sandbox_info.sandbox_id), out[4096];
    proto_msg_destroy (&info);
    run_as ("alice", id, "curl -s -m 5 -i \"$OPENAI_BASE_URL/models\"", out, sizeof out);
    assert_non_null (strstr (out, "HTTP/1.1 502"));
    if (!strstr (out, "X-Caisson-Reason: model gateway unreachable")
        || !strstr (out, "model gateway unreachable: egress-proxy's socket for this sandbox is "
                    "not there"))
        fail_msg ("the 502 does not say the model gateway could not be reached and why:\n%s",
                  out);
    destroy (id);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_slow_keys_block_nobody),
        cmocka_unit_test (test_revoke_after_down),
        cmocka_unit_test (test_late_key_revoked),
        cmocka_unit_test (test_gateway_unreachable),
    };
    return support_run_group_tests (tests, setup, teardown);
}
