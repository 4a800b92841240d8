/* test_sandbox_net: sandbox-manager's side of network mode `policy`
 * (issue 15), with the real broker, manager and sandboxes and a stand-in
 * egress-proxy (fake_egress): what a create asks for is checked against
 * the deployment's ceilings; the proxy is told each policy before the
 * create answers (and a create fails closed without it), told the run a
 * sandbox works for, told to drop it when it goes, and told again after a
 * manager restart; sandbox.net.update changes the rules at run time.
 * Inside, every sandbox has only `lo`, a read-only /run/caisson and no
 * way to the host's socket directory but its init, which in policy relays
 * 127.0.0.1:3128 and /run/caisson/egress.sock to the proxy's socket; its
 * processes get the proxy variables. Skips unless root. */
#define _GNU_SOURCE
#include "sbx_client.h"
#include "cid.h"
#include "fake_egress.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static proto_msg_t *
create_req (const char *net, json_t *allow, json_t *deny)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->env.user, "tester");
    proto_set_str (&req->body.sandbox_create.language, "python");
    req->body.sandbox_create.ttl_seconds = 600;
    if (net)
        proto_set_str (&req->body.sandbox_create.network, net);
    if (allow)
        any_set (&req->body.sandbox_create.network_allow, allow);
    if (deny)
        any_set (&req->body.sandbox_create.network_deny, deny);
    return req;
}

/* The error code of rep (consumed), its message copied into msg. */
static char *
error_of (proto_msg_t *rep, char *msg, size_t n)
{
    static char code[64];
    if (rep->type != PROTO_error)
        fail_msg ("expected an error, got %s", proto_type_name (rep->type));
    snprintf (code, sizeof code, "%s", rep->body.error.code);
    snprintf (msg, n, "%s", rep->body.error.message);
    proto_msg_destroy (&rep);
    return code;
}

/* The string member key of the i-th object of arr (borrowed). */
static const char *
str_at (json_t *arr, size_t i, const char *key)
{
    return json_string_value (json_object_get (json_array_get (arr, i), key));
}

static json_t *
any_get (const proto_bytes_t *b)
{
    return mpjson_get (b, 2);
}

/* The init's host uid, from its /proc status. */
static long
init_uid (pid_t pid)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    long uid = -1;
    while (f && fgets (line, sizeof line, f))
        if (!strncmp (line, "Uid:", 4))
            uid = atol (line + 4);
    if (f)
        fclose (f);
    return uid;
}

/* Nothing of the sandbox's reaches the host's socket directory but its
 * init: no mount of it (mountinfo names nothing of the data dir), no way
 * through pid 1's descriptors; /run/caisson is a read-only tmpfs holding,
 * in policy, only the init's own socket (sockets lists what find sees). */
static void
no_way_to_host (const char *id, const char *sockets)
{
    char out[8192], want[256];
    assert_int_equal (run (id, "cat /proc/self/mountinfo", out, sizeof out), 0);
    if (strstr (out, s_dir) || strstr (out, "/net "))
        fail_msg ("the sandbox's mounts name the host's data dir:\n%s", out);
    assert_int_equal (run (id, "grep ' /run/caisson ' /proc/mounts | cut -d' ' -f3,4", out,
                           sizeof out), 0);
    assert_non_null (strstr (out, "tmpfs ro,nosuid,nodev,noexec"));
    if (run (id, "touch /run/caisson/x 2>&1", out, sizeof out) == 0)
        fail_msg ("a sandbox wrote into /run/caisson");
    assert_non_null (strstr (out, "Read-only"));
    assert_int_equal (run (id, "ls /proc/1/fd 2>&1; find / -xdev -type s 2>/dev/null; "
                           "find /run/caisson -type s", out, sizeof out), 0);
    snprintf (want, sizeof want, "Permission denied\n%s", sockets);
    if (!strstr (out, want))
        fail_msg ("a way to the host's socket directory from inside:\n%s", out);
}

/* A policy sandbox (never the pool's: its /run/caisson is made for it):
 * its info's rules and proxy, the set the proxy got, and inside it the
 * socket, the variables and the forwarder. */
static void
check_policy_box (uint64_t memory_mb)
{
    fake_egress_clear ();
    proto_msg_t *req = create_req ("policy",
                                   json_pack ("[s, s]", "PyPI.test:8000", "127.0.0.2:8000"),
                                   json_pack ("[s]", "files.test"));
    req->body.sandbox_create.memory_mb = memory_mb;
    proto_msg_t *rep = call (req);
    if (rep->type == PROTO_error)
        fail_msg ("create policy: %s", rep->body.error.message);
    proto_sandbox_info_t *i = &rep->body.sandbox_info;
    assert_string_equal (i->network, "policy");
    assert_string_equal (i->proxy, "http://127.0.0.1:3128");
    json_t *allow = any_get (&i->network_allow), *deny = any_get (&i->network_deny);
    assert_int_equal (json_array_size (allow), 2);
    assert_string_equal (json_string_value (json_array_get (allow, 0)), "pypi.test:8000");
    assert_string_equal (json_string_value (json_array_get (deny, 0)), "files.test");
    char *id = strdup (i->sandbox_id);
    pid_t init = (pid_t) i->init_pid;
    proto_msg_destroy (&rep);
    /* The set came before the answer, with the sandbox's uid and owner. */
    json_t *sets = fake_egress_find ("egress.policy.set", id), *s = json_array_get (sets, 0);
    assert_int_equal (json_array_size (sets), 1);
    assert_true (json_equal (json_object_get (s, "allow"), allow));
    assert_true (json_equal (json_object_get (s, "deny"), deny));
    assert_int_equal (json_integer_value (json_object_get (s, "uid")), init_uid (init));
    assert_string_equal (json_string_value (json_object_get (s, "owner")), "tester");
    assert_int_equal (json_integer_value (json_object_get (s, "max_conns")), 64);
    json_decref (sets);
    json_decref (allow);
    json_decref (deny);
    char out[4096];
    no_way_to_host (id, "/run/caisson/egress.sock\n");
    /* §7: the sandbox's uid connects to the socket in the read-only
     * /run/caisson, and the init relays it to the proxy's. */
    assert_int_equal (run (id, "python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); "
                           "s.connect(\"/run/caisson/egress.sock\"); "
                           "s.sendall(b\"GET http://x.test/ HTTP/1.0\\r\\n\\r\\n\"); "
                           "print(s.makefile().read().splitlines()[-1])'", out, sizeof out), 0);
    assert_string_equal (out, "fake egress proxy: GET http://x.test/ HTTP/1.0\n");
    assert_int_equal (run (id, "echo $HTTP_PROXY $http_proxy $HTTPS_PROXY $https_proxy $ALL_PROXY "
                           "$all_proxy $NO_PROXY $npm_config_https_proxy", out, sizeof out), 0);
    assert_string_equal (out, "http://127.0.0.1:3128 http://127.0.0.1:3128 http://127.0.0.1:3128 "
                         "http://127.0.0.1:3128 socks5h://127.0.0.1:3128 socks5h://127.0.0.1:3128 "
                         "localhost,127.0.0.1,::1 http://127.0.0.1:3128\n");
    /* The forwarder carries a proxied request to the socket and back. */
    assert_int_equal (run (id, "curl -s -m 5 http://pypi.test:8000/simple/", out, sizeof out), 0);
    assert_string_equal (out, "fake egress proxy: GET http://pypi.test:8000/simple/ HTTP/1.1\n");
    assert_int_equal (run (id, "grep -c : /proc/net/dev; grep -o '^ *lo:' /proc/net/dev", out,
                           sizeof out), 0);
    assert_string_equal (out, "1\n    lo:\n");
    destroy (id);
}

static void
test_policy_create (void **state)
{
    (void) state;
    check_policy_box (0);
    check_policy_box (300);
}

/* Mode none: no socket, no variables, nothing listening on 3128, only
 * lo; the proxy hears nothing of it; rules are refused with it. */
static void
test_mode_none (void **state)
{
    (void) state;
    char *id = create ("python", 600), out[4096];
    assert_int_equal (run (id, "env | grep -ci proxy; grep -c : /proc/net/dev", out, sizeof out),
                      0);
    assert_string_equal (out, "0\n1\n");
    assert_int_not_equal (run (id, "curl -s -m 2 http://pypi.test:8000/", out, sizeof out), 0);
    no_way_to_host (id, "");
    assert_int_equal (run (id, "ls -A /run/caisson | wc -l", out, sizeof out), 0);
    assert_string_equal (out, "0\n");
    /* (Another sandbox's drop may still arrive: only this one's count.) */
    const char *types[] = { "egress.policy.set", "egress.policy.drop", "egress.context" };
    for (int i = 0; i < 3; i++) {
        json_t *seen = fake_egress_find (types[i], id);
        assert_int_equal (json_array_size (seen), 0);
        json_decref (seen);
    }
    destroy (id);
    char msg[512];
    assert_string_equal (error_of (call (create_req ("none", json_pack ("[s]", "pypi"), NULL)),
                                   msg, sizeof msg), "bad_value");
    assert_non_null (strstr (msg, "network_allow"));
}

/* What a create may not ask for, each with an error that names it. */
static void
test_refusals (void **state)
{
    (void) state;
    char msg[512];
    assert_string_equal (error_of (call (create_req ("wide", NULL, NULL)), msg, sizeof msg),
                         "bad_network");
    assert_string_equal (error_of (call (create_req ("policy", json_pack ("[s]", "example.org"),
                                                     NULL)), msg, sizeof msg), "forbidden");
    assert_non_null (strstr (msg, "example.org"));
    assert_string_equal (error_of (call (create_req ("policy", json_pack ("[s]", "a..test"), NULL)),
                                   msg, sizeof msg), "bad_policy");
    assert_non_null (strstr (msg, "a..test"));
    assert_string_equal (error_of (call (create_req ("policy", NULL, json_pack ("[s]", "x y"))),
                                   msg, sizeof msg), "bad_policy");
    assert_non_null (strstr (msg, "network_deny"));
    assert_string_equal (error_of (call (create_req ("host", NULL, NULL)), msg, sizeof msg),
                         "forbidden");
}

static proto_msg_t *
update (const char *user, const char *id, json_t *add, json_t *rm, json_t *dadd)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_net_update, NULL);
    proto_set_str (&req->env.user, user);
    proto_sandbox_net_update_t *u = &req->body.sandbox_net_update;
    proto_set_str (&u->sandbox_id, id);
    proto_set_str (&u->reason, "the agent asked");
    if (add)
        any_set (&u->allow_add, add);
    if (rm)
        any_set (&u->allow_remove, rm);
    if (dadd)
        any_set (&u->deny_add, dadd);
    return call (req);
}

static char *
rules_of (const proto_bytes_t *b)
{
    json_t *j = any_get (b);
    char *s = json_dumps (j, JSON_COMPACT);
    json_decref (j);
    return s;
}

/* sandbox.net.update: the owner's changes within the ceiling, each sent
 * to the proxy before the answer; others' refused as not found. */
static void
test_net_update (void **state)
{
    (void) state;
    proto_msg_t *rep = call (create_req ("policy", json_pack ("[s]", "pypi.test:8000"), NULL));
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *id = strdup (rep->body.sandbox_info.sandbox_id), msg[512];
    proto_msg_destroy (&rep);
    fake_egress_clear ();
    assert_string_equal (error_of (update ("mallory", id, json_pack ("[s]", "evil.test"), NULL,
                                           NULL), msg, sizeof msg), "not_found");
    rep = update ("tester", id, json_pack ("[s]", "files.test:8000"), NULL,
                  json_pack ("[s]", "*.bad.test"));
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *a = rules_of (&rep->body.sandbox_info.network_allow);
    char *d = rules_of (&rep->body.sandbox_info.network_deny);
    assert_string_equal (a, "[\"pypi.test:8000\",\"files.test:8000\"]");
    assert_string_equal (d, "[\"*.bad.test\"]");
    free (a);
    free (d);
    proto_msg_destroy (&rep);
    json_t *sets = fake_egress_find ("egress.policy.set", id);
    assert_int_equal (json_array_size (sets), 1);
    assert_int_equal (json_array_size (json_object_get (json_array_get (sets, 0), "allow")), 2);
    json_decref (sets);
    rep = update ("tester", id, NULL, json_pack ("[s]", "pypi.test:8000"), NULL);
    a = rules_of (&rep->body.sandbox_info.network_allow);
    assert_string_equal (a, "[\"files.test:8000\"]");
    free (a);
    proto_msg_destroy (&rep);
    assert_string_equal (error_of (update ("tester", id, json_pack ("[s]", "example.org"), NULL,
                                           NULL), msg, sizeof msg), "forbidden");
    assert_non_null (strstr (msg, "example.org"));
    assert_string_equal (error_of (update ("tester", id, json_pack ("[s]", "a..b"), NULL, NULL),
                                   msg, sizeof msg), "bad_policy");
    destroy (id);
    char *none = create ("python", 600);
    assert_string_equal (error_of (update ("tester", none, json_pack ("[s]", "pypi.test"), NULL,
                                           NULL), msg, sizeof msg), "bad_network");
    destroy (none);
}

/* The run an exec works for reaches the proxy once per change of run;
 * a destroy drops the policy. */
static void
test_context_and_drop (void **state)
{
    (void) state;
    proto_msg_t *rep = call (create_req ("policy", NULL, NULL));
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    fake_egress_clear ();
    char run1[CID_SIZE], run2[CID_SIZE];
    cid_new (run1);
    cid_new (run2);
    const char *runs[] = { run1, run1, run2 };
    for (int k = 0; k < 3; k++) {
        proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
        proto_set_str (&req->env.run, runs[k]);
        proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
        any_set (&req->body.sandbox_exec.command, json_string ("true"));
        rep = call (req);
        assert_int_equal (rep->type, PROTO_sandbox_exec_result);
        proto_msg_destroy (&rep);
    }
    usleep (200000);
    json_t *ctx = fake_egress_find ("egress.context", id);
    assert_int_equal (json_array_size (ctx), 2);
    assert_string_equal (str_at (ctx, 0, "run"), run1);
    assert_string_equal (str_at (ctx, 1, "run"), run2);
    assert_non_null (json_object_get (json_array_get (ctx, 1), "corr"));
    json_decref (ctx);
    char *keep = strdup (id);
    destroy (id);
    usleep (200000);
    json_t *drops = fake_egress_find ("egress.policy.drop", keep);
    assert_int_equal (json_array_size (drops), 1);
    json_decref (drops);
    free (keep);
}

/* A restarted manager sends every policy sandbox's rules again. */
static void
test_resync_on_restart (void **state)
{
    (void) state;
    proto_msg_t *rep = call (create_req ("policy", json_pack ("[s]", "pypi.test:8000"), NULL));
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    support_expect_clean_exit (s_mgr);
    fake_egress_clear ();
    start_stack_manager ();
    json_t *sets = NULL;
    for (int i = 0; i < 50; i++) {
        json_decref (sets);
        sets = fake_egress_find ("egress.policy.set", id);
        if (json_array_size (sets))
            break;
        usleep (50000);
    }
    assert_int_equal (json_array_size (sets), 1);
    json_t *allow = json_object_get (json_array_get (sets, 0), "allow");
    assert_string_equal (json_string_value (json_array_get (allow, 0)), "pypi.test:8000");
    json_decref (sets);
    char out[256];
    assert_int_equal (run (id, "curl -s -m 5 http://pypi.test:8000/", out, sizeof out), 0);
    assert_non_null (strstr (out, "fake egress proxy"));
    destroy (id);
}

/* No proxy, or one that refuses: the create fails and the sandbox goes. */
static void
test_fail_closed (void **state)
{
    (void) state;
    fake_egress_mode_t modes[] = { FAKE_EGRESS_SILENT, FAKE_EGRESS_ERROR };
    const char *says[] = { "egress proxy did not answer", "egress proxy refused" };
    for (int k = 0; k < 2; k++) {
        fake_egress_set_mode (modes[k]);
        char msg[512];
        assert_string_equal (error_of (call (create_req ("policy", NULL, NULL)), msg, sizeof msg),
                             "unavailable");
        if (!strstr (msg, says[k]) || !strstr (msg, "destroyed"))
            fail_msg ("unexpected: %s", msg);
        char id[128] = "";
        assert_int_equal (sscanf (msg, "sandboxId: %127[^:]", id), 1);
        json_t *sets = fake_egress_find ("egress.policy.set", id);
        assert_int_equal (json_array_size (sets), 1);
        json_decref (sets);
        proto_msg_t *req = proto_msg_new (PROTO_sandbox_get, NULL);
        proto_set_str (&req->body.sandbox_get.sandbox_id, id);
        proto_msg_t *rep = call (req);
        assert_string_equal (error_of (rep, msg, sizeof msg), "not_found");
    }
    fake_egress_set_mode (FAKE_EGRESS_ACK);
}

/* An update the proxy does not take (it is down) is answered unavailable
 * but kept in the record, and sent again until the proxy has it. */
static void
test_update_resent (void **state)
{
    (void) state;
    proto_msg_t *rep = call (create_req ("policy", json_pack ("[s]", "pypi.test:8000"), NULL));
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *id = strdup (rep->body.sandbox_info.sandbox_id), msg[512];
    proto_msg_destroy (&rep);
    fake_egress_set_mode (FAKE_EGRESS_SILENT);
    assert_string_equal (error_of (update ("tester", id, NULL, NULL, json_pack ("[s]", "x.test")),
                                   msg, sizeof msg), "unavailable");
    fake_egress_set_mode (FAKE_EGRESS_ACK);
    fake_egress_clear ();
    json_t *sets = NULL;
    for (int i = 0; i < 100 && !json_array_size (sets); i++) {
        json_decref (sets);
        usleep (100000);
        sets = fake_egress_find ("egress.policy.set", id);
    }
    if (!json_array_size (sets))
        fail_msg ("the update was never sent again");
    json_t *deny = json_object_get (json_array_get (sets, 0), "deny");
    assert_string_equal (json_string_value (json_array_get (deny, 0)), "x.test");
    json_decref (sets);
    destroy (id);
}

/* The proxy is unreachable (its socket gone): an HTTP client through the
 * forwarder is told so with a 502; the sandbox stays closed. */
static void
test_proxy_unreachable (void **state)
{
    (void) state;
    proto_msg_t *rep = call (create_req ("policy", NULL, NULL));
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *id = strdup (rep->body.sandbox_info.sandbox_id), path[1024], out[4096];
    proto_msg_destroy (&rep);
    snprintf (path, sizeof path, "%s/sandboxes/%s/net/egress.sock", s_dir, id);
    assert_int_equal (unlink (path), 0);
    run (id, "curl -s -m 5 -i http://pypi.test:8000/", out, sizeof out);
    assert_non_null (strstr (out, "HTTP/1.1 502"));
    assert_non_null (strstr (out, "egress proxy unreachable"));
    destroy (id);
}

static int
setup (void **state)
{
    /* Names under .test and loopback addresses are this deployment's
     * ceiling: nothing else may be asked for. */
    setenv ("CAISSON_EGRESS_ALLOW_MAX", "*.test:1-65535,127.0.0.0/8:1-65535", 1);
    setenv ("CAISSON_REQUEST_TIMEOUT_MS", "400", 1);
    setenv ("CAISSON_REQUEST_RETRIES", "1", 1);
    int rc = sbx_setup (state);
    fake_egress_start ();
    return rc;
}

static int
teardown (void **state)
{
    fake_egress_stop ();
    return sbx_teardown (state);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_policy_create),
        cmocka_unit_test (test_mode_none),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_net_update),
        cmocka_unit_test (test_context_and_drop),
        cmocka_unit_test (test_resync_on_restart),
        cmocka_unit_test (test_fail_closed),
        cmocka_unit_test (test_update_resent),
        cmocka_unit_test (test_proxy_unreachable),
    };
    return support_run_group_tests (tests, setup, teardown);
}
