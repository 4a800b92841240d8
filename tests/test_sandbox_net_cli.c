/* test_sandbox_net_cli: `caisson sandbox create --network/--allow/--deny`
 * and `caisson sandbox net` (issue 15) through the real CLI and broker,
 * against stand-ins for sandbox-manager (instance fake1, logging each
 * request's network fields to <dir>/mgr.log as JSON lines) and
 * egress-proxy (fixed counters), with net events published on the bus as
 * egress-proxy publishes them. */
#include "support.h"
#include "bus_pub.h"
#include "mpjson.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BOX "fake1-box1"

static char s_self[1024];
static const char *s_dir;
static pid_t s_bus, s_mgr, s_proxy;
static json_t *s_allow;                 /* the stand-in's rules in force */

static void
log_line (json_t *v)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/mgr.log", getenv ("CAISSON_DATA"));
    FILE *fp = fopen (path, "a");
    char *text = json_dumps (v, JSON_COMPACT);
    if (fp && text)
        fprintf (fp, "%s\n", text);
    if (fp)
        fclose (fp);
    free (text);
    json_decref (v);
}

static proto_msg_t *
info (const proto_msg_t *req)
{
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_info, req);
    proto_sandbox_info_t *i = &rep->body.sandbox_info;
    proto_set_str (&i->sandbox_id, BOX);
    proto_set_str (&i->status, "ready");
    proto_set_str (&i->workspace, "/workspace");
    i->created_at = 1;
    i->expires_at = 2;
    proto_set_str (&i->network, "policy");
    proto_set_str (&i->proxy, "http://127.0.0.1:3128");
    if (s_allow)
        mpjson_set (&i->network_allow, s_allow, 4);
    json_t *deny = json_pack ("[s]", "bad.test");
    mpjson_set (&i->network_deny, deny, 4);
    json_decref (deny);
    return rep;
}

static proto_msg_t *
mgr_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    if (req->type == PROTO_sandbox_create) {
        const proto_sandbox_create_t *c = &req->body.sandbox_create;
        log_line (json_pack ("{s:s, s:s?, s:o?, s:o?}", "type", "create", "network", c->network,
                             "allow", mpjson_get (&c->network_allow, 4), "deny",
                             mpjson_get (&c->network_deny, 4)));
        json_decref (s_allow);
        s_allow = mpjson_get (&c->network_allow, 4);
        return info (req);
    }
    if (req->type == PROTO_sandbox_get)
        return info (req);
    if (req->type == PROTO_sandbox_net_update) {
        const proto_sandbox_net_update_t *u = &req->body.sandbox_net_update;
        log_line (json_pack ("{s:s, s:s, s:o?, s:o?, s:o?, s:s?}", "type", "update", "id",
                             u->sandbox_id, "allow_add", mpjson_get (&u->allow_add, 4),
                             "allow_remove", mpjson_get (&u->allow_remove, 4), "deny_add",
                             mpjson_get (&u->deny_add, 4), "reason", u->reason));
        json_decref (s_allow);
        s_allow = mpjson_get (&u->allow_add, 4);
        return info (req);
    }
    return proto_error_new (req, PROTO_ERR_unknown_type, "not served here");
}

static proto_msg_t *
proxy_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    if (req->type != PROTO_egress_stats_get)
        return proto_error_new (req, PROTO_ERR_unknown_type, "not served here");
    proto_msg_t *rep = proto_msg_new (PROTO_egress_stats, req);
    proto_egress_stats_t *s = &rep->body.egress_stats;
    proto_set_str (&s->sandbox_id, req->body.egress_stats_get.sandbox_id);
    s->open = 2, s->total = 5, s->refused = 1, s->bytes_up = 300, s->bytes_down = 4000;
    return rep;
}

static int
setup (void **state)
{
    (void) state;
    s_dir = support_sandbox_env ("netcli");
    s_bus = support_spawn ("caisson-bus", NULL);
    s_mgr = support_spawn_self ((const char *[]) { s_self, "fake-mgr", NULL });
    s_proxy = support_spawn_self ((const char *[]) { s_self, "fake-proxy", NULL });
    bus_client_t *c = support_client_when_up ((const char *[]) { "sandbox-manager",
                                                                 "egress-proxy", NULL });
    bus_client_destroy (&c);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    support_stop (s_proxy, SIGTERM, 2000);
    support_stop (s_mgr, SIGTERM, 2000);
    support_stop (s_bus, SIGTERM, 2000);
    return 0;
}

/* The last JSON line of the stand-in's log (new). */
static json_t *
last_request (void)
{
    char path[1024], line[4096], last[4096] = "";
    snprintf (path, sizeof path, "%s/mgr.log", s_dir);
    FILE *fp = fopen (path, "r");
    while (fp && fgets (line, sizeof line, fp))
        strcpy (last, line);
    if (fp)
        fclose (fp);
    json_t *v = json_loads (last, 0, NULL);
    assert_non_null (v);
    return v;
}

static const char *
item (json_t *v, const char *key, size_t i)
{
    return json_string_value (json_array_get (json_object_get (v, key), i)) ?: "";
}

static void
test_create_flags (void **state)
{
    (void) state;
    const char *argv[] = { "caisson", "sandbox", "create", "--network", "policy", "--allow",
                           "pypi.test:8000", "--allow", "127.0.0.2:8000", "--deny", "bad.test",
                           NULL };
    char out[4096];
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    assert_non_null (strstr (out, BOX));
    json_t *r = last_request ();
    assert_string_equal (support_json_str (r, "network"), "policy");
    assert_int_equal (json_array_size (json_object_get (r, "allow")), 2);
    assert_string_equal (item (r, "allow", 1), "127.0.0.2:8000");
    assert_string_equal (item (r, "deny", 0), "bad.test");
    json_decref (r);
    const char *bare[] = { "caisson", "sandbox", "create", "--network", "none", NULL };
    assert_int_equal (support_run (bare, out, sizeof out), 0);
    r = last_request ();
    assert_false (json_is_array (json_object_get (r, "allow")));
    json_decref (r);
}

static void
test_net_update_and_show (void **state)
{
    (void) state;
    const char *argv[] = { "caisson", "sandbox", "net", BOX, "--allow", "files.test:8000",
                           "--remove", "pypi.test:8000", "--deny", "x.test", "--reason",
                           "the wheel", NULL };
    char out[4096];
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    assert_non_null (strstr (out, "network\tpolicy\n"));
    assert_non_null (strstr (out, "allow\tfiles.test:8000\n"));
    assert_non_null (strstr (out, "deny\tbad.test\n"));
    json_t *r = last_request ();
    assert_string_equal (support_json_str (r, "type"), "update");
    assert_string_equal (support_json_str (r, "id"), BOX);
    assert_string_equal (item (r, "allow_add", 0), "files.test:8000");
    assert_string_equal (item (r, "allow_remove", 0), "pypi.test:8000");
    assert_string_equal (item (r, "deny_add", 0), "x.test");
    assert_string_equal (support_json_str (r, "reason"), "the wheel");
    json_decref (r);

    const char *show[] = { "caisson", "sandbox", "net", BOX, NULL };
    assert_int_equal (support_run (show, out, sizeof out), 0);
    assert_non_null (strstr (out, "allow\tfiles.test:8000\n"));
    r = last_request ();
    assert_string_equal (support_json_str (r, "type"), "update");   /* a get is not logged */
    json_decref (r);

    const char *both[] = { "caisson", "sandbox", "net", BOX, "--stats", "--allow", "a.test",
                           NULL };
    assert_int_equal (support_run (both, NULL, 0), 2);
    const char *odd[] = { "caisson", "sandbox", "net", BOX, "--allow", NULL };
    assert_int_equal (support_run (odd, NULL, 0), 2);
}

static void
test_stats (void **state)
{
    (void) state;
    const char *argv[] = { "caisson", "sandbox", "net", BOX, "--stats", NULL };
    char out[4096];
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    assert_string_equal (out, "open 2\ttotal 5\trefused 1\tbytes_up 300\tbytes_down 4000\n");
}

/* --watch prints one line per sandbox.net_event on sandbox.<id>.net, and
 * nothing for another sandbox's. */
static void
test_watch (void **state)
{
    (void) state;
    char path[1024];
    snprintf (path, sizeof path, "%s/watch.out", s_dir);
    pid_t pid = fork ();
    if (pid == 0) {
        int fd = fileno (freopen (path, "w", stdout));
        (void) fd;
        char bin[1024];
        snprintf (bin, sizeof bin, "%s/caisson", CAISSON_BIN_DIR);
        execl (bin, bin, "sandbox", "net", BOX, "--watch", (char *) NULL);
        _exit (127);
    }
    bus_pub_t *pub = bus_pub_new (getenv ("CAISSON_BUS_PUB"));
    assert_non_null (pub);
    proto_msg_t *ev = proto_msg_new (PROTO_sandbox_net_event, NULL);
    proto_sandbox_net_event_t *e = &ev->body.sandbox_net_event;
    proto_set_str (&e->sandbox_id, BOX);
    proto_set_str (&e->protocol, "connect");
    proto_set_str (&e->host, "files.test");
    e->port = 443;
    proto_set_str (&e->verdict, "deny");
    proto_set_str (&e->reason, "blocked by policy: files.test is not in this sandbox's allow "
                   "list");
    proto_msg_t *other = proto_msg_new (PROTO_sandbox_net_event, NULL);
    proto_set_str (&other->body.sandbox_net_event.sandbox_id, "fake1-box2");
    proto_set_str (&other->body.sandbox_net_event.protocol, "http");
    proto_set_str (&other->body.sandbox_net_event.host, "other.test");
    proto_set_str (&other->body.sandbox_net_event.verdict, "allow");
    /* the watcher subscribes some time after it starts: publish until seen */
    char text[4096] = "";
    for (int i = 0; i < 100 && !strstr (text, "files.test"); i++) {
        bus_pub_send (pub, "sandbox.fake1-box2.net", other);
        bus_pub_send (pub, "sandbox." BOX ".net", ev);
        zclock_sleep (100);
        FILE *fp = fopen (path, "r");
        size_t n = fp ? fread (text, 1, sizeof text - 1, fp) : 0;
        text[n] = '\0';
        if (fp)
            fclose (fp);
    }
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
    proto_msg_destroy (&ev);
    proto_msg_destroy (&other);
    bus_pub_destroy (&pub);
    assert_non_null (strstr (text, "\tdeny\tconnect\tfiles.test:443\t-\tblocked by policy: "
                                   "files.test is not in this sandbox's allow list\t0/0\n"));
    assert_null (strstr (text, "other.test"));
}

int
main (int argc, char **argv)
{
    if (argc > 1 && !strcmp (argv[1], "fake-mgr"))
        return support_serve ("sandbox-manager", "fake1", mgr_handler, NULL);
    if (argc > 1 && !strcmp (argv[1], "fake-proxy"))
        return support_serve ("egress-proxy", "fake1", proxy_handler, NULL);
    support_self_exe (s_self, sizeof s_self);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_create_flags),
        cmocka_unit_test (test_net_update_and_show),
        cmocka_unit_test (test_stats),
        cmocka_unit_test (test_watch),
    };
    return support_run_group_tests (tests, setup, teardown);
}
