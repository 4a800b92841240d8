/* test_mcp_user: a user's own MCP servers (issue 17: "within its limits,
 * a user lists MCP servers"), through the real broker, sandbox-manager
 * (root; skipped otherwise), event-log, tool-runner and ui-bridge.
 *
 * alice PUTs /api/mcp with a stdio server (a small MCP server run by the
 * host's node inside a sandbox: a user may not bring `files`, so not
 * server-everything's node_modules) and an http one (the SDK's server in
 * tests/mcp/mcpc_http_server.mjs) on the host the deployment allows. Her
 * tools.list has their tools and bob's does not; bob can neither call
 * them nor read her mcp.json; each of the deployment's limits refuses a
 * PUT with a 400 naming the entry and the fault; the stdio server's
 * sandbox is alice's (her sandbox.list shows it, her quota counts it); a
 * new mcp.json takes effect without a restart (the old server's sandbox
 * destroyed); the file survives an event-log restart and, through it, a
 * tool-runner restart; DELETE removes it. */
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

#define TOKEN "mcp-user-secret"

static mcp_bridge_stack_t s_stack;
static const char *s_alice, *s_bob;

/* A one-line MCP server for node -e: initialize, tools/list (`hello`,
 * read-only) and tools/call answering who runs it (the sandbox's user). */

/* alice's mcp.json: the stdio server as name, and (with_http) calc. */
static char *
alice_json (const char *name, bool with_http)
{
    char *text, *http = NULL;
    if (with_http)
        assert_true (asprintf (&http, ", \"calc\": {\"type\": \"http\", \"url\": "
                               "\"http://127.0.0.1:%d/json/mcp\", \"headers\": "
                               "{\"Authorization\": \"Bearer " TOKEN "\"}}", s_stack.port) > 0);
    assert_true (asprintf (&text, "{\"mcpServers\": {\"%s\": {\"command\": \"node\", "
                           "\"args\": [\"-e\", \"%s\"], \"timeoutMs\": 20000}%s}}", name,
                           MCPC_SUPPORT_HELLO_SERVER, http ? http : "") > 0);
    free (http);
    return text;
}

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

/* A request of type as user (not an operator); the reply. */
static proto_msg_t *
ask_as (const char *user, proto_type_t type, const char *service)
{
    proto_msg_t *req = proto_msg_new (type, NULL);
    proto_set_str (&req->env.user, user);
    proto_msg_t *rep = bus_client_request (s_c, service, req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    return rep;
}

/* user's catalogue (tools.list as user), new. */
static json_t *
catalogue_of (const char *user)
{
    proto_msg_t *rep = ask_as (user, PROTO_tools_list, "tool-runner");
    assert_int_equal (rep->type, PROTO_tools_catalogue);
    json_t *tools = mpjson_get (&rep->body.tools_catalogue.tools, 32);
    proto_msg_destroy (&rep);
    return tools;
}

static bool
has_tool (const json_t *tools, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach ((json_t *) tools, i, t)
        if (!strcmp (support_json_str (t, "name"), name))
            return true;
    return false;
}

/* Waits (60 s at most) until user's catalogue has (or lacks) name. */
static void
await_tool (const char *user, const char *name, bool present)
{
    for (int i = 0; i < 600; i++) {
        json_t *tools = catalogue_of (user);
        bool has = has_tool (tools, name);
        json_decref (tools);
        if (has == present)
            return;
        usleep (100000);
    }
    fail_msg ("%s's catalogue %s %s after 60 s", user, present ? "lacks" : "still has", name);
}

/* tools.call of name with args (JSON text) as user: the result (new). */
static json_t *
call_as (const char *user, const char *name, const char *args, bool *ok)
{
    proto_msg_t *req = support_tools_call_new (name, NULL, false, args, NULL);
    proto_set_str (&req->env.user, user);
    proto_msg_t *rep = bus_client_request (s_c, "tool-runner", req);
    proto_msg_destroy (&req);
    return support_tools_result (rep, name, ok);
}

/* mcp.list as user (new). */
static json_t *
mcp_list_of (const char *user)
{
    proto_msg_t *rep = ask_as (user, PROTO_mcp_list, "tool-runner");
    assert_int_equal (rep->type, PROTO_mcp_servers);
    json_t *list = mpjson_get (&rep->body.mcp_servers.servers, 32);
    proto_msg_destroy (&rep);
    return list;
}

/* user's sandboxes that are not destroyed (sandbox.list as user), new. */
static json_t *
sandboxes_of (const char *user)
{
    proto_msg_t *rep = ask_as (user, PROTO_sandbox_list, "sandbox-manager");
    assert_int_equal (rep->type, PROTO_sandbox_listed);
    json_t *all = mpjson_get (&rep->body.sandbox_listed.sandboxes, 32);
    proto_msg_destroy (&rep);
    json_t *live = json_array ();
    size_t i;
    json_t *s;
    json_array_foreach (all, i, s)
        if (strcmp (support_json_str (s, "status"), "destroyed"))
            json_array_append (live, s);
    json_decref (all);
    return live;
}

static void
put_ok (const char *token, const char *body, json_int_t version)
{
    long status;
    json_t *rep = ui_json ("PUT", "/api/mcp", token, body, &status);
    if (status != 200)
        fail_msg ("PUT /api/mcp: %ld %s", status, json_dumps (rep, 0));
    assert_int_equal (json_integer_value (json_object_get (rep, "version")), version);
    json_decref (rep);
}

/* Each limit: a 400 whose message names the entry and the fault; nothing
 * stored. */
static void
test_limits (void **state)
{
    (void) state;
    static const struct { const char *body, *says; } cases[] = {
        { "{\"mcpServers\": {\"a\": {\"command\": \"true\"}, \"b\": {\"command\": \"true\"}, "
          "\"c\": {\"command\": \"true\"}, \"d\": {\"command\": \"true\"}, "
          "\"e\": {\"command\": \"true\"}}}", "5 servers: a user may have at most 4" },
        { "{\"mcpServers\": {\"f\": {\"command\": \"true\", \"files\": \"/etc/x.tgz\"}}}",
          "server 'f': `files` (a host path) is for the deployment's servers only" },
        { "{\"mcpServers\": {\"v\": {\"url\": \"http://localhost/mcp\", \"headers\": "
          "{\"Authorization\": \"Bearer ${CAISSON_BUS}\"}}}}",
          "server 'v': header `Authorization` holds `${`" },
        { "{\"mcpServers\": {\"e\": {\"command\": \"true\", \"env\": {\"K\": \"${HOME}\"}}}}",
          "server 'e': env `K` holds `${`" },
        { "{\"mcpServers\": {\"h\": {\"url\": \"http://169.254.169.254/latest\"}}}",
          "server 'h': host '169.254.169.254' is not one a user's server may be on" },
        { "{\"mcpServers\": {\"p\": {\"url\": \"http://127.0.0.1:1/mcp\"}}}",
          "server 'p': host '127.0.0.1' is not one" },
        { "{\"mcpServers\": {\"shared\": {\"command\": \"true\"}}}",
          "server 'shared': the deployment has a server of that name" },
        { "{\"mcpServers\": {\"t\": {\"command\": \"true\", \"trusted\": true}}}",
          "server 't': `trusted` is not honoured for a user's servers here" },
        { "{\"mcpServers\": {\"n\": {\"args\": []}}}", "server 'n': `command` must be" },
        { "{\"mcpServers\": []}", "no `mcpServers` object" },
        { "not json", "mcp.json is not JSON" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long status;
        json_t *rep = ui_json ("PUT", "/api/mcp", s_alice, cases[i].body, &status);
        const char *msg = support_json_str (json_object_get (rep, "error"), "message");
        print_message ("%ld %s\n", status, msg);
        assert_int_equal (status, 400);
        if (!strstr (msg, cases[i].says))
            fail_msg ("case %zu: '%s' does not say '%s'", i, msg, cases[i].says);
        json_decref (rep);
    }
    long status;
    json_t *rep = ui_json ("GET", "/api/mcp", s_alice, NULL, &status);
    assert_int_equal (status, 200);
    assert_int_equal (json_integer_value (json_object_get (rep, "version")), 0);
    assert_string_equal (support_json_str (rep, "content"), "");
    json_decref (rep);
}

/* alice's servers: in her catalogue, not bob's; hers to call; her config
 * hers to read; her stdio server in a sandbox of hers, in her quota. */
static void
test_own_servers (void **state)
{
    (void) state;
    char *mine = alice_json ("mine", true);
    put_ok (s_alice, mine, 1);
    long status;
    json_t *rep = ui_json ("GET", "/api/mcp", s_alice, NULL, &status);
    assert_int_equal (status, 200);
    assert_string_equal (support_json_str (rep, "content"), mine);
    json_decref (rep);
    free (mine);

    await_tool ("alice", "mine.hello", true);
    await_tool ("alice", "calc.add", true);
    json_t *bobs = catalogue_of ("bob");
    assert_false (has_tool (bobs, "mine.hello"));
    assert_false (has_tool (bobs, "calc.add"));
    assert_true (has_tool (bobs, "shared.add"));        /* the deployment's: everyone's */
    json_decref (bobs);

    bool ok;
    json_t *r = call_as ("alice", "mine.hello", "{\"who\":\"alice\"}", &ok);
    assert_true (ok);
    print_message ("mine.hello: %s\n", support_json_str (r, "text"));
    assert_non_null (strstr (support_json_str (r, "text"), "hello alice from "));
    json_decref (r);
    r = call_as ("alice", "calc.add", "{\"a\":2,\"b\":3}", &ok);
    assert_true (ok);
    assert_string_equal (support_json_str (r, "text"), "5");
    json_decref (r);
    r = call_as ("bob", "mine.hello", "{\"who\":\"bob\"}", &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "unknown_tool");
    json_decref (r);

    /* her file: bob reads his own (none), and is told hers does not exist */
    rep = ui_json ("GET", "/api/mcp", s_bob, NULL, &status);
    assert_int_equal (status, 200);
    assert_int_equal (json_integer_value (json_object_get (rep, "version")), 0);
    json_decref (rep);
    rep = ui_json ("GET", "/api/mcp?user=alice", s_bob, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (rep);

    /* mcp.list: the deployment's servers for both, hers for her alone */
    json_t *list = mcp_list_of ("alice");
    size_t i, users = 0;
    json_t *s;
    json_array_foreach (list, i, s)
        if (!strcmp (support_json_str (s, "scope"), "user")) {
            users++;
            assert_string_equal (support_json_str (s, "state"), "ready");
        }
        else
            assert_string_equal (support_json_str (s, "name"), "shared");
    assert_int_equal (users, 2);
    json_decref (list);
    list = mcp_list_of ("bob");
    assert_int_equal (json_array_size (list), 1);
    json_decref (list);

    /* the stdio server's sandbox is alice's: listed as hers, in her quota
     * (3: her server's and two more) */
    json_t *sbx = sandboxes_of ("alice");
    assert_int_equal (json_array_size (sbx), 1);
    json_decref (sbx);
    sbx = sandboxes_of ("bob");
    assert_int_equal (json_array_size (sbx), 0);
    json_decref (sbx);
    char *made[3] = { NULL };
    int created = 0;
    for (int k = 0; k < 3; k++) {
        proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
        proto_set_str (&req->env.user, "alice");
        proto_set_str (&req->body.sandbox_create.language, "python");
        proto_msg_t *info = call (req);
        if (info->type == PROTO_sandbox_info)
            made[created++] = strdup (info->body.sandbox_info.sandbox_id);
        else
            print_message ("create %d: %s\n", k, info->body.error.message);
        proto_msg_destroy (&info);
    }
    assert_int_equal (created, 2);
    for (int k = 0; k < created; k++)
        destroy (made[k]);
}

/* A new mcp.json takes effect without a restart: the old servers gone
 * (their sandbox destroyed), the new one's tools there. */
static void
test_change (void **state)
{
    (void) state;
    json_t *before = sandboxes_of ("alice");
    assert_int_equal (json_array_size (before), 1);
    char *old = strdup (support_json_str (json_array_get (before, 0), "sandbox_id"));
    json_decref (before);
    char *next = alice_json ("other", false);
    put_ok (s_alice, next, 2);
    free (next);
    await_tool ("alice", "other.hello", true);
    json_t *tools = catalogue_of ("alice");
    assert_false (has_tool (tools, "mine.hello"));
    assert_false (has_tool (tools, "calc.add"));
    json_decref (tools);
    bool ok;
    json_t *r = call_as ("alice", "other.hello", "{\"who\":\"again\"}", &ok);
    assert_true (ok);
    json_decref (r);
    bool gone = false;
    for (int i = 0; i < 300 && !gone; i++) {
        json_t *now = sandboxes_of ("alice");
        gone = json_array_size (now) == 1
               && strcmp (support_json_str (json_array_get (now, 0), "sandbox_id"), old);
        if (!gone && i == 299) {
            char *text = json_dumps (now, JSON_COMPACT);
            print_message ("old %s; alice's sandboxes: %s\n", old, text);
            free (text);
        }
        json_decref (now);
        if (!gone)
            usleep (100000);
    }
    assert_true (gone);
    free (old);
}

/* The file survives an event-log restart, and a tool-runner restart
 * starts alice's servers from it again; unused (CAISSON_MCP_USER_IDLE_S
 * of 1 s), they stop, their sandbox destroyed, and her next tools.list
 * starts them again; DELETE removes the file. */
static void
test_restart_and_clear (void **state)
{
    (void) state;
    support_expect_clean_exit (s_stack.log);
    s_stack.log = support_spawn ("caisson-event-log", NULL);
    support_await_service (s_c, "event-log");
    long status;
    json_t *rep = ui_json ("GET", "/api/mcp", s_alice, NULL, &status);
    assert_int_equal (status, 200);
    assert_int_equal (json_integer_value (json_object_get (rep, "version")), 2);
    assert_non_null (strstr (support_json_str (rep, "content"), "\"other\""));
    json_decref (rep);
    support_expect_clean_exit (s_stack.tools);
    s_stack.tools = mcp_bridge_stack_user_tools (&s_stack, TOKEN, "1");
    await_tool ("alice", "other.hello", true);
    json_t *boxes = NULL;
    for (int i = 0; i < 600; i++) {         /* no use of hers meanwhile */
        json_decref (boxes);
        boxes = sandboxes_of ("alice");
        if (!json_array_size (boxes))
            break;
        usleep (100000);
    }
    assert_int_equal (json_array_size (boxes), 0);
    json_decref (boxes);
    await_tool ("alice", "other.hello", true);

    rep = ui_json ("DELETE", "/api/mcp", s_alice, NULL, &status);
    assert_int_equal (status, 200);
    assert_int_equal (json_integer_value (json_object_get (rep, "version")), 3);
    json_decref (rep);
    await_tool ("alice", "other.hello", false);
    /* the deployment's alone, once her (now empty) file is read: until
     * then one `starting` entry stands for it */
    size_t n = 0;
    for (int i = 0; i < 100 && n != 1; i++) {
        json_t *list = mcp_list_of ("alice");
        n = json_array_size (list);
        if (n != 1)
            assert_string_equal (support_json_str (json_array_get (list, 1), "state"),
                                 "starting");
        json_decref (list);
        if (n != 1)
            usleep (100000);
    }
    assert_int_equal (n, 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_limits),
        cmocka_unit_test (test_own_servers),
        cmocka_unit_test (test_change),
        cmocka_unit_test (test_restart_and_clear),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
