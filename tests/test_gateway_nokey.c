/* test_gateway_nokey: a sandbox create when no gateway-keys is registered
 * (the broker and sandbox-manager alone, issue 16): the sandbox is made,
 * without model access: no gateway_url or key id in sandbox.info, whose
 * reason says why, and no model variables inside. With
 * CAISSON_GATEWAY_SANDBOX_KEYS=0 nothing is said at all. Skips unless
 * root. */
#include "sbx_client.h"

#include <string.h>

static proto_msg_t *
create_info (void)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->env.user, "tester");
    req->body.sandbox_create.ttl_seconds = 300;
    proto_msg_t *rep = call (req);
    if (rep->type == PROTO_error)
        fail_msg ("create: %s", rep->body.error.message);
    assert_string_equal (rep->body.sandbox_info.status, "ready");
    return rep;
}

static void
test_no_key_store (void **state)
{
    (void) state;
    proto_msg_t *info = create_info ();
    const proto_sandbox_info_t *i = &info->body.sandbox_info;
    assert_null (i->gateway_url);
    assert_null (i->gateway_key_id);
    assert_non_null (i->reason);
    assert_non_null (strstr (i->reason, "no model access"));
    assert_non_null (strstr (i->reason, "gateway-keys"));
    char *id = strdup (i->sandbox_id), out[4096];
    proto_msg_destroy (&info);
    assert_int_equal (run (id, "env | grep -c -e _BASE_URL -e _API_KEY -e GATEWAY; true", out,
                           sizeof out), 0);
    assert_string_equal (out, "0\n");
    destroy (id);
}

static void
test_keys_off (void **state)
{
    (void) state;
    setenv ("CAISSON_GATEWAY_SANDBOX_KEYS", "0", 1);
    support_stop (s_mgr, SIGTERM, 5000);
    start_stack_manager ();
    proto_msg_t *info = create_info ();
    assert_null (info->body.sandbox_info.reason);
    assert_null (info->body.sandbox_info.gateway_url);
    char *id = strdup (info->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&info);
    destroy (id);
    unsetenv ("CAISSON_GATEWAY_SANDBOX_KEYS");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_no_key_store),
        cmocka_unit_test (test_keys_off),
    };
    return support_run_group_tests (tests, sbx_setup, sbx_teardown);
}
