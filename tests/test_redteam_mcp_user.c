/* test_redteam_mcp_user: a user's own mcp.json (docs/mcp.md § Your own
 * servers) attacked by bob, a hostile tenant, and by a careless user,
 * through the real broker, sandbox-manager (root; skipped otherwise),
 * event-log, tool-runner and ui-bridge. An attack that holds is a passing
 * test; one that lands is a skip() with a `DEFECT (severity)` comment. */
#define _GNU_SOURCE /* asprintf */
#include "mcpc_support.h"
#include "mcp_bridge_stack.h"
#include "sbx_client.h"
#include "ui_support.h"
#include "mpjson.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "mcp-rt-user-secret"
#define ALICE_JSON "{\"mcpServers\": {\"mine\": {\"command\": \"true\"}}}"

static mcp_bridge_stack_t s_stack;
static const char *s_alice, *s_bob;

static int
setup (void **state)
{
    if (geteuid () != 0)
        skip ();
    int rc = sbx_setup (state);
    mcp_bridge_stack_user (&s_stack, TOKEN, "900");
    s_alice = s_stack.alice;
    s_bob = s_stack.bob;
    return rc;
}

static int
teardown (void **state)
{
    mcp_bridge_stack_down (&s_stack);
    return sbx_teardown (state);
}

/* req sent as user (not an operator) to service; the reply. */
static proto_msg_t *
send_as (const char *user, const char *service, proto_msg_t *req)
{
    proto_set_str (&req->env.user, user);
    proto_msg_t *rep = bus_client_request (s_c, service, req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    return rep;
}

/* The HTTP status of method path as token with body. */
static long
http_status (const char *method, const char *path, const char *token, const char *body)
{
    long status;
    json_t *rep = ui_json (method, path, token, body, &status);
    print_message ("%s %s: %ld %s\n", method, path, status,
                   support_json_str (json_object_get (rep, "error"), "message"));
    json_decref (rep);
    return status;
}

/* The user's mcp.json through GET /api/mcp as token: content (new) and version. */
static char *
content_of (const char *token, json_int_t *version)
{
    long status;
    json_t *rep = ui_json ("GET", "/api/mcp", token, NULL, &status);
    assert_int_equal (status, 200);
    *version = json_integer_value (json_object_get (rep, "version"));
    char *text = strdup (support_json_str (rep, "content"));
    json_decref (rep);
    return text;
}

static bool
has_tool (const char *user, const char *name)
{
    proto_msg_t *rep = send_as (user, "tool-runner", proto_msg_new (PROTO_tools_list, NULL));
    assert_int_equal (rep->type, PROTO_tools_catalogue);
    json_t *tools = mpjson_get (&rep->body.tools_catalogue.tools, 32);
    proto_msg_destroy (&rep);
    bool has = false;
    size_t i;
    json_t *t;
    json_array_foreach (tools, i, t)
        has = has || !strcmp (support_json_str (t, "name"), name);
    json_decref (tools);
    return has;
}

/* user's mcp.list once no entry of theirs is `starting` (60 s at most), new. */
static json_t *
settled_list (const char *user)
{
    for (int i = 0; i < 600; i++) {
        proto_msg_t *rep = send_as (user, "tool-runner", proto_msg_new (PROTO_mcp_list, NULL));
        assert_int_equal (rep->type, PROTO_mcp_servers);
        json_t *list = mpjson_get (&rep->body.mcp_servers.servers, 32);
        proto_msg_destroy (&rep);
        bool starting = false;
        size_t k;
        json_t *s;
        json_array_foreach (list, k, s)
            starting = starting || !strcmp (support_json_str (s, "state"), "starting");
        if (!starting)
            return list;
        json_decref (list);
        usleep (100000);
    }
    fail_msg ("%s's servers still starting after 60 s", user);
    return NULL;
}

/* bob reads, overwrites and clears alice's file by every door that names
 * a user: ?user= on /api/mcp, mcp.config.get/put's `user`, memory.get/put
 * with doc `mcp` on the bus, a thread name. Her file stays hers. */
static void
test_other_users_file (void **state)
{
    (void) state;
    assert_int_equal (http_status ("PUT", "/api/mcp", s_alice, ALICE_JSON), 200);

    assert_int_equal (http_status ("GET", "/api/mcp?user=alice", s_bob, NULL), 404);
    assert_true (http_status ("PUT", "/api/mcp?user=alice", s_bob,
                              "{\"mcpServers\": {}}") >= 400);
    assert_true (http_status ("DELETE", "/api/mcp?user=alice", s_bob, NULL) >= 400);
    assert_true (http_status ("GET", "/api/memory?user=alice", s_bob, NULL) >= 400);

    proto_msg_t *m = proto_msg_new (PROTO_mcp_config_get, NULL);
    proto_set_str (&m->body.mcp_config_get.user, "alice");
    proto_msg_t *rep = send_as ("bob", "tool-runner", m);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);

    m = proto_msg_new (PROTO_mcp_config_put, NULL);
    proto_set_str (&m->body.mcp_config_put.user, "alice");
    proto_set_str (&m->body.mcp_config_put.content, "");
    m->body.mcp_config_put.any_version = true;
    rep = send_as ("bob", "tool-runner", m);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);

    m = proto_msg_new (PROTO_memory_get, NULL);
    proto_set_str (&m->body.memory_get.user, "alice");
    proto_set_str (&m->body.memory_get.doc, "mcp");
    rep = send_as ("bob", "event-log", m);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);

    m = proto_msg_new (PROTO_memory_put, NULL);
    proto_set_str (&m->body.memory_put.user, "alice");
    proto_set_str (&m->body.memory_put.doc, "mcp");
    proto_set_str (&m->body.memory_put.content, "{\"mcpServers\": {}}");
    m->body.memory_put.any_version = true;
    rep = send_as ("bob", "event-log", m);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);

    /* a thread named like her key, and `mcp` with a thread: refused */
    m = proto_msg_new (PROTO_memory_get, NULL);
    proto_set_str (&m->body.memory_get.thread, "alice");
    proto_set_str (&m->body.memory_get.doc, "mcp");
    rep = send_as ("bob", "event-log", m);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);

    json_int_t version;
    char *text = content_of (s_alice, &version);
    assert_string_equal (text, ALICE_JSON);
    assert_int_equal (version, 1);
    free (text);
    assert_int_equal (http_status ("DELETE", "/api/mcp", s_alice, NULL), 200);
}

/* bob stores what PUT /api/mcp refuses straight into event-log
 * (memory.put, doc `mcp`, his own): tool-runner checks it again when it
 * reads it, so the `trusted` server never starts. */
static void
test_store_bypass (void **state)
{
    (void) state;
    char *bad;
    assert_true (asprintf (&bad, "{\"mcpServers\": {\"t\": {\"command\": \"node\", "
                           "\"args\": [\"-e\", \"%s\"], \"trusted\": true}}}",
                           MCPC_SUPPORT_HELLO_SERVER) > 0);
    proto_msg_t *m = proto_msg_new (PROTO_memory_put, NULL);
    proto_set_str (&m->body.memory_put.doc, "mcp");
    proto_set_str (&m->body.memory_put.content, bad);
    m->body.memory_put.any_version = true;
    proto_msg_t *rep = send_as ("bob", "event-log", m);
    free (bad);
    /* event-log stores it: the check is tool-runner's */
    assert_int_equal (rep->type, PROTO_memory);
    proto_msg_destroy (&rep);
    json_t *list = settled_list ("bob");
    char *dump = json_dumps (list, 0);
    print_message ("bob's servers: %s\n", dump);
    assert_non_null (strstr (dump, "trusted"));
    free (dump);
    json_decref (list);
    assert_false (has_tool ("bob", "t.hello"));

    /* more than 64 KiB straight into event-log: refused there too */
    size_t big = 65537;
    char *junk = malloc (big + 1);
    memset (junk, 'x', big);
    junk[big] = 0;
    m = proto_msg_new (PROTO_memory_put, NULL);
    proto_set_str (&m->body.memory_put.doc, "mcp");
    proto_set_str (&m->body.memory_put.content, junk);
    m->body.memory_put.any_version = true;
    rep = send_as ("bob", "event-log", m);
    free (junk);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
    assert_int_equal (http_status ("DELETE", "/api/mcp", s_bob, NULL), 200);
}

/* URLs that would reach another host than the ones allowed, or another
 * port of 127.0.0.1 ({P}: the allowed port): each refused. */
static void
test_ssrf_urls (void **state)
{
    (void) state;
    static const char *const urls[] = {
        "http://127.0.0.1:{P}@169.254.169.254/mcp",
        "http://169.254.169.254#@127.0.0.1:{P}/mcp",
        "http://169.254.169.254?@127.0.0.1:{P}/mcp",
        "http://[::1]:{P}/mcp",
        "http://[::ffff:127.0.0.1]:{P}/mcp",
        "http://[::ffff:7f00:1]:{P}/mcp",
        "http://2130706433:1{P}/mcp",
        "http://0x7f.0.0.1:1{P}/mcp",
        "http://017700000001:1{P}/mcp",
        "http://127.1:1{P}/mcp",
        "http://127.0.0.1:{P}.evil.example/mcp",
        "http://localhost.evil.example:{P}/mcp",
        "http://localtest.me:{P}/mcp",
        "http://127.0.0.1:{P}:80/mcp",
        "http://127.0.0.1:{P}0/mcp",
        "http://127.0.0.1:{P}\\@169.254.169.254/mcp",
        "file:///etc/passwd#{P}",
        "gopher://localhost:{P}/",
        "HTTP://169.254.169.254:{P}/",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char url[256], body[512];
        const char *p = strstr (urls[i], "{P}");
        snprintf (url, sizeof url, "%.*s%d%s", (int) (p - urls[i]), urls[i], s_stack.port, p + 3);
        snprintf (body, sizeof body, "{\"mcpServers\": {\"h\": {\"type\": \"http\", "
                  "\"url\": \"%s\"}}}", url);
        long status = http_status ("PUT", "/api/mcp", s_bob, body);
        if (status != 400)
            fail_msg ("%s: %ld, not refused", url, status);
    }
}

/* `${` smuggled where tool-runner's environment would be read: JSON
 * escapes in a header, an env name; and not expanded where let through. */
static void
test_dollar_smuggled (void **state)
{
    (void) state;
    static const char *const bodies[] = {
        "{\"mcpServers\": {\"v\": {\"url\": \"http://localhost/mcp\", \"headers\": "
        "{\"X\": \"$\\u007bCAISSON_BUS}\"}}}}",
        "{\"mcpServers\": {\"e\": {\"command\": \"true\", \"env\": {\"${HOME}\": \"x\"}}}}",
        "{\"mcpServers\": {\"e\": {\"command\": \"true\", \"env\": {\"K\": \"$\\u007bHOME}\"}}}}",
        "{\"mcpServers\": {\"u\": {\"url\": \"http://$\\u007bHOST}/mcp\"}}}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        if (http_status ("PUT", "/api/mcp", s_bob, bodies[i]) != 400)
            fail_msg ("case %zu let through: %s", i, bodies[i]);
}

/* A header name that is no HTTP token (`${X}`, `a(b`) is refused (it was
 * stored and sent as written: string_map_ok took any printable character
 * but ':'). */
static void
test_header_name (void **state)
{
    (void) state;
    long status = http_status ("PUT", "/api/mcp", s_bob, "{\"mcpServers\": {\"v\": {\"url\": "
                               "\"http://localhost/mcp\", \"headers\": {\"${X}\": \"y\"}}}}");
    if (status == 200) {
        assert_int_equal (http_status ("DELETE", "/api/mcp", s_bob, NULL), 200);
    }
    assert_int_equal (status, 400);
}

/* A server named as the deployment's in another case is refused, as the
 * same name is: tools `SHARED.add` beside `shared.add` would be look-alikes
 * in approvals and the catalogue (it was taken: a case-sensitive check). */
static void
test_name_case (void **state)
{
    (void) state;
    long status = http_status ("PUT", "/api/mcp", s_bob, "{\"mcpServers\": {\"SHARED\": "
                               "{\"command\": \"true\"}}}");
    if (status == 200) {
        assert_int_equal (http_status ("DELETE", "/api/mcp", s_bob, NULL), 200);
    }
    assert_int_equal (status, 400);
}

/* A careless user's file: 64 KiB of junk, a megabyte, deep nesting; a
 * clear 4xx each, and tool-runner still answers. */
static void
test_junk (void **state)
{
    (void) state;
    const size_t sizes[] = { 65536, 70000, 1000000 };
    for (size_t i = 0; i < 3; i++) {
        char *junk = malloc (sizes[i] + 1);
        for (size_t k = 0; k < sizes[i]; k++)
            junk[k] = "{[\"x:,"[k % 6];
        junk[sizes[i]] = 0;
        long status = http_status ("PUT", "/api/mcp", s_bob, junk);
        free (junk);
        assert_true (status >= 400 && status < 500);
    }
    char *deep = malloc (20003);
    memset (deep, '[', 10000);
    memset (deep + 10000, ']', 10000);
    deep[20000] = 0;
    long status = http_status ("PUT", "/api/mcp", s_bob, deep);
    free (deep);
    assert_true (status >= 400 && status < 500);
    json_int_t version;
    char *text = content_of (s_bob, &version);
    assert_string_equal (text, "");
    free (text);
    assert_true (has_tool ("alice", "shared.add"));
}

/* bob's server at an allowed host that redirects (307 to /json/mcp):
 * not followed, so a redirect cannot carry a request past the allow list. */
static void
test_redirect (void **state)
{
    (void) state;
    char body[512];
    snprintf (body, sizeof body, "{\"mcpServers\": {\"r\": {\"type\": \"http\", \"url\": "
              "\"http://127.0.0.1:%d/redirect/mcp\", \"timeoutMs\": 5000, \"headers\": "
              "{\"Authorization\": \"Bearer " TOKEN "\"}}}}", s_stack.port);
    assert_int_equal (http_status ("PUT", "/api/mcp", s_bob, body), 200);
    assert_false (has_tool ("bob", "r.add"));   /* starts the set */
    json_t *list = settled_list ("bob");
    char *dump = json_dumps (list, 0);
    print_message ("bob's servers: %s\n", dump);
    free (dump);
    json_t *r = mcpc_support_named (list, "r");
    assert_non_null (r);
    assert_string_not_equal (support_json_str (r, "state"), "ready");
    json_decref (list);
    assert_false (has_tool ("bob", "r.add"));
    assert_int_equal (http_status ("DELETE", "/api/mcp", s_bob, NULL), 200);
}

/* A PUT flood on the version read: one stored, every other a conflict;
 * versions that are no number refused. */
static void
test_put_flood (void **state)
{
    (void) state;
    int stored = 0, conflicts = 0;
    json_int_t version;
    free (content_of (s_bob, &version));
    char path[64];
    snprintf (path, sizeof path, "/api/mcp?version=%lld", (long long) version);
    for (int i = 0; i < 40; i++) {
        long status;
        json_t *rep = ui_json ("PUT", path, s_bob, ALICE_JSON, &status);
        json_decref (rep);
        if (status == 200)
            stored++;
        else if (status == 409)
            conflicts++;
    }
    print_message ("stored %d, conflicts %d\n", stored, conflicts);
    static const char *const bad[] = { "/api/mcp?version=-1", "/api/mcp?version=",
                                       "/api/mcp?version=18446744073709551616",
                                       "/api/mcp?version=1x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (http_status ("PUT", bad[i], s_bob, ALICE_JSON), 400);
    assert_int_equal (stored, 1);
    assert_int_equal (conflicts, 39);
    assert_int_equal (http_status ("DELETE", "/api/mcp", s_bob, NULL), 200);
}

/* bob's four servers hang at start (and the fourth is past his sandbox
 * quota): alice's catalogue and calls are answered meanwhile; bob calling
 * alice's server's tool by name is told there is none. */
static void
test_starving (void **state)
{
    (void) state;
    char *mine;
    assert_true (asprintf (&mine, "{\"mcpServers\": {\"mine\": {\"command\": \"node\", "
                           "\"args\": [\"-e\", \"%s\"], \"timeoutMs\": 20000}}}",
                           MCPC_SUPPORT_HELLO_SERVER) > 0);
    assert_int_equal (http_status ("PUT", "/api/mcp", s_alice, mine), 200);
    free (mine);
    assert_int_equal (http_status ("PUT", "/api/mcp", s_bob,
                                   "{\"mcpServers\": {"
                                   "\"a\": {\"command\": \"sleep\", \"args\": [\"600\"], \"timeoutMs\": 600000},"
                                   "\"b\": {\"command\": \"sleep\", \"args\": [\"600\"], \"timeoutMs\": 600000},"
                                   "\"c\": {\"command\": \"sleep\", \"args\": [\"600\"], \"timeoutMs\": 600000},"
                                   "\"d\": {\"command\": \"sleep\", \"args\": [\"600\"], \"timeoutMs\": 600000}}}"),
                      200);
    assert_false (has_tool ("bob", "a.x"));      /* bob's set starting */
    for (int i = 0; i < 600 && !has_tool ("alice", "mine.hello"); i++)
        usleep (100000);
    assert_true (has_tool ("alice", "mine.hello"));
    bool ok;
    proto_msg_t *req = support_tools_call_new ("mine.hello", NULL, false,
                                               "{\"who\":\"alice\"}", NULL);
    json_t *r = support_tools_result (send_as ("alice", "tool-runner", req), "mine.hello", &ok);
    assert_true (ok);
    json_decref (r);
    /* bob's still hanging (600 s each) while alice was served */
    proto_msg_t *rep = send_as ("bob", "tool-runner", proto_msg_new (PROTO_mcp_list, NULL));
    json_t *list = mpjson_get (&rep->body.mcp_servers.servers, 32);
    proto_msg_destroy (&rep);
    char *dump = json_dumps (list, 0);
    print_message ("bob's servers: %s\n", dump);
    assert_non_null (strstr (dump, "\"starting\""));
    free (dump);
    json_decref (list);
    req = support_tools_call_new ("mine.hello", NULL, false, "{\"who\":\"bob\"}", NULL);
    r = support_tools_result (send_as ("bob", "tool-runner", req), "mine.hello", &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "unknown_tool");
    json_decref (r);
    assert_int_equal (http_status ("DELETE", "/api/mcp", s_bob, NULL), 200);
    assert_int_equal (http_status ("DELETE", "/api/mcp", s_alice, NULL), 200);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_other_users_file),
        cmocka_unit_test (test_store_bypass),
        cmocka_unit_test (test_ssrf_urls),
        cmocka_unit_test (test_dollar_smuggled),
        cmocka_unit_test (test_header_name),
        cmocka_unit_test (test_name_case),
        cmocka_unit_test (test_junk),
        cmocka_unit_test (test_redirect),
        cmocka_unit_test (test_put_flood),
        cmocka_unit_test (test_starving),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
