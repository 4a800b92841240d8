/* gateway-keys revokes the keys of sandboxes that no longer exist (issue
 * 16), asking sandbox-manager on the bus: a stand-in `sandbox-manager.h1`
 * answers `sandbox.list` from DATA/sandboxes.json. While no manager
 * answers, nothing is revoked; once it answers, the keys of a sandbox it
 * does not list, or lists as destroyed, are revoked ("sandbox gone"), the
 * listed one's key stays, and a key of a sandbox of another, silent
 * instance stays too. CAISSON_GATEWAY_GC_S is 1. */
#include "gkeys_util.h"
#include "mpjson.h"
#include "sandbox_id.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static proto_msg_t *
fake_manager (const proto_msg_t *req, void *arg)
{
    (void) arg;
    if (req->type != PROTO_sandbox_list)
        return proto_error_new (req, PROTO_ERR_unknown_type, "fake sandbox-manager");
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/sandboxes.json", getenv ("CAISSON_DATA"));
    json_t *list = json_load_file (path, 0, NULL);
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_listed, req);
    mpjson_set (&rep->body.sandbox_listed.sandboxes, list ? list : json_array (), 8);
    json_decref (list);
    return rep;
}

/* user's live keys (gkey.list as an operator): a new array. */
static json_t *
live_keys (const char *user)
{
    proto_msg_t *m = msg_as (PROTO_gkey_list, "root", true);
    proto_set_str (&m->body.gkey_list.user, user);
    proto_msg_t *rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_page);
    json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 4);
    proto_msg_destroy (&rep);
    return keys;
}

static const char *
sandbox_key (const char *sandbox, char id[VKEY_ID_SIZE])
{
    return mk_key ("sam", true, &(kopt_t) { .kind = "sandbox", .sandbox = sandbox }, id);
}

static void
test_gone_sandboxes (void **state)
{
    (void) state;
    char live[SANDBOX_ID_SIZE], gone[SANDBOX_ID_SIZE], dead[SANDBOX_ID_SIZE];
    char other[SANDBOX_ID_SIZE], ids[4][VKEY_ID_SIZE];
    assert_int_equal (sandbox_id_new ("h1", live), 0);
    assert_int_equal (sandbox_id_new ("h1", gone), 0);
    assert_int_equal (sandbox_id_new ("h1", dead), 0);
    assert_int_equal (sandbox_id_new ("h2", other), 0);
    sandbox_key (live, ids[0]);
    sandbox_key (gone, ids[1]);
    sandbox_key (dead, ids[2]);
    sandbox_key (other, ids[3]);
    /* No sandbox-manager: rounds pass, nothing is revoked. */
    sleep (3);
    json_t *keys = live_keys ("sam");
    assert_int_equal (json_array_size (keys), 4);
    json_decref (keys);
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/sandboxes.json", s_dir);
    json_t *list = json_pack ("[{s:s, s:s}, {s:s, s:s}]", "sandbox_id", live, "status",
                              "running", "sandbox_id", dead, "status", "destroyed");
    assert_int_equal (json_dump_file (list, path, 0), 0);
    json_decref (list);
    pid_t mgr = support_spawn_self ((const char *const[]) { s_self, "fake-manager", NULL });
    size_t n = 4;
    for (int i = 0; i < 200 && n != 2; i++) {
        usleep (50000);
        keys = live_keys ("sam");
        n = json_array_size (keys);
        json_decref (keys);
    }
    support_stop (mgr, SIGTERM, 2000);
    keys = live_keys ("sam");
    assert_int_equal (json_array_size (keys), 2);
    size_t i;
    json_t *k;
    json_array_foreach (keys, i, k) {
        const char *id = support_json_str (k, "id");
        assert_true (!strcmp (id, ids[0]) || !strcmp (id, ids[3]));
    }
    json_decref (keys);
    /* and they say why */
    proto_msg_t *m = msg_as (PROTO_gkey_list, "root", true);
    proto_set_str (&m->body.gkey_list.user, "sam");
    m->body.gkey_list.revoked = true;
    proto_msg_t *rep = ask (m);
    keys = mpjson_get (&rep->body.gkey_page.keys, 4);
    int revoked = 0;
    json_array_foreach (keys, i, k)
        if (json_is_true (json_object_get (k, "revoked"))) {
            assert_string_equal (support_json_str (k, "revokedBy"), "sandbox gone");
            revoked++;
        }
    assert_int_equal (revoked, 2);
    json_decref (keys);
    proto_msg_destroy (&rep);
}

int
main (int argc, char **argv)
{
    s_name = "gksbx";
    int rc = gku_child (argc, argv);
    if (rc >= 0)
        return rc;
    if (argc > 1 && !strcmp (argv[1], "fake-manager"))
        return support_serve ("sandbox-manager", "h1", fake_manager, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_gone_sandboxes),
    };
    return support_run_group_tests (tests, gku_setup, gku_teardown);
}
