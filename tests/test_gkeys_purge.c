/* gateway-keys forgets keys long dead (issue 16): with
 * CAISSON_GATEWAY_KEYS_KEEP_DAYS=0 and the sweep every second, a revoked
 * key and a revoked sandbox key are deleted with their hash, index rows
 * and counters, so the store does not grow with every sandbox for ever:
 * listed no more (revoked ones included), the secret refused as unknown,
 * a revoke by the sandbox finds nothing; the live key and the user's
 * spend, which covered the dead key's calls too, are untouched. */
#include "gkeys_util.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether key id is among user's keys, revoked ones included. */
static bool
listed (const char *user, const char *id)
{
    proto_msg_t *m = msg_as (PROTO_gkey_list, user, false);
    m->body.gkey_list.revoked = true;
    proto_msg_t *rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_page);
    json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 6), *k;
    size_t i;
    bool found = false;
    json_array_foreach (keys, i, k)
        found |= !strcmp (support_json_str (k, "id") ?: "", id);
    json_decref (keys);
    proto_msg_destroy (&rep);
    return found;
}

static void
revoke_now (const char *key_id, const char *sandbox)
{
    proto_msg_t *m = msg_as (PROTO_gkey_revoke, "root", true);
    proto_set_str (&m->body.gkey_revoke.key_id, key_id);
    proto_set_str (&m->body.gkey_revoke.sandbox_id, sandbox);
    proto_msg_t *rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_ack);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
}

static void
test_dead_keys_forgotten (void **state)
{
    (void) state;
    char dead_id[VKEY_ID_SIZE], live_id[VKEY_ID_SIZE], sbx_id[VKEY_ID_SIZE], call[CID_SIZE];
    char dead[128];
    snprintf (dead, sizeof dead, "%s", mk_key ("ula", true, NULL, dead_id));
    const char *live = mk_key ("ula", true, NULL, live_id);
    mk_key ("ula", true, &(kopt_t) { .kind = "sandbox", .sandbox = "sbx-purge-1" }, sbx_id);
    proto_msg_t *rep = reserve (dead, call, 0, 10, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    settle (call, 0, 7);
    rep = reserve (live, call, 0, 10, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    settle (call, 0, 5);
    const char *user = label_of ("user", "ula");
    assert_int_equal (count_of ("ula", user, "spentTokens"), 12);

    revoke_now (dead_id, NULL);
    revoke_now (NULL, "sbx-purge-1");
    bool gone = false;
    for (int i = 0; i < 80 && !gone; i++) {
        gone = !listed ("ula", dead_id) && !listed ("ula", sbx_id);
        if (!gone)
            usleep (100 * 1000);
    }
    if (!gone)
        fail_msg ("revoked keys %s and %s still stored 8 s after KEEP_DAYS=0", dead_id, sbx_id);
    /* the secret is unknown now; the sandbox's index row went with it */
    rep = ask (reserve_msg (dead, "purge-after", 0, 1, false, NULL));
    assert_int_equal (rep->type, PROTO_gkey_grant);
    assert_false (rep->body.gkey_grant.ok);
    assert_string_equal (rep->body.gkey_grant.code, "invalid_api_key");
    proto_msg_destroy (&rep);
    proto_msg_t *m = msg_as (PROTO_gkey_revoke, "root", true);
    proto_set_str (&m->body.gkey_revoke.sandbox_id, "sbx-purge-1");
    rep = ask (m);
    assert_int_equal (rep->body.gkey_ack.count, 0);
    proto_msg_destroy (&rep);
    /* the live key and what the user spent are as they were */
    assert_true (listed ("ula", live_id));
    assert_int_equal (count_of ("ula", label_of ("key", live_id), "spentTokens"), 5);
    assert_int_equal (count_of ("ula", user, "spentTokens"), 12);
    rep = reserve (live, NULL, 0, 1, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
}

int
main (int argc, char **argv)
{
    s_name = "gkpurge";
    int rc = gku_child (argc, argv);
    if (rc >= 0)
        return rc;
    setenv ("CAISSON_GATEWAY_KEYS_KEEP_DAYS", "0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_dead_keys_forgotten),
    };
    return support_run_group_tests (tests, gku_setup, gku_teardown);
}
