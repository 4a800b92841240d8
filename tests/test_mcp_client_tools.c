/* test_mcp_client_tools: tool-runner as an MCP client, continued:
 * server-everything's own stdio output (tests/mcp/mcpc_everything_stdio.jsonl,
 * captured from `node .../server-everything/dist/index.js stdio`) as
 * catalogue entries (names, schemas, effect classes) and tool results; and
 * through the bus: tool-runner started with CAISSON_MCP_SERVERS answers
 * `mcp.list`, and `caisson mcp list` shows it. */
#include "support.h"
#include "bus_client.h"
#include "mcpc_config.h"
#include "mcpc_frame.h"
#include "mcpc_support.h"
#include "mcpc_tools.h"
#include "mpjson.h"
#include "schema.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mcpc_config_t *
parse (const char *text)
{
    char err[256] = "";
    mcpc_config_t *cfg = mcpc_config_parse (text, strlen (text), err, sizeof err);
    if (!cfg)
        print_message ("parse: %s\n", err);
    assert_non_null (cfg);
    return cfg;
}

/* The messages of the capture, by JSON-RPC id (the notification at -1). */
static json_t *
capture (void)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/tests/mcp/mcpc_everything_stdio.jsonl", CAISSON_SOURCE_DIR);
    FILE *f = fopen (path, "rb");
    assert_non_null (f);
    static char text[65536];
    size_t len = fread (text, 1, sizeof text, f);
    fclose (f);
    mcpc_frame_t *frame = mcpc_frame_new (0);
    mcpc_frame_feed (frame, text, len);
    json_t *by_id = json_object ();
    json_t *msg;
    char why[256];
    mcpc_msg_kind_t kind;
    while ((kind = mcpc_frame_next (frame, &msg, why, sizeof why)) != MCPC_MSG_NONE) {
        assert_int_not_equal (kind, MCPC_MSG_INVALID);
        char key[32];
        snprintf (key, sizeof key, "%lld", kind == MCPC_MSG_NOTIFICATION ? -1LL
                  : (long long) json_integer_value (json_object_get (msg, "id")));
        json_object_set_new (by_id, key, msg);
    }
    mcpc_frame_destroy (&frame);
    return by_id;
}

static const json_t *
result_of (const json_t *by_id, const char *id)
{
    json_t *r = json_object_get (json_object_get (by_id, id), "result");
    assert_non_null (r);
    return r;
}

/* server-everything's tools/list as catalogue entries: names, schemas
 * (draft-07 `$schema` and all) that validate arguments, effect classes. */
static void
test_tools_everything (void **state)
{
    (void) state;
    json_t *by_id = capture ();
    assert_string_equal (support_json_str (result_of (by_id, "0"), "protocolVersion"),
                         "2025-11-25");
    mcpc_config_t *cfg = parse ("{\"mcpServers\":{\"everything\":{\"command\":\"node\"},"
                                "\"trusty\":{\"command\":\"node\",\"trusted\":true,"
                                "\"timeoutMs\":1500}}}");
    const mcpc_server_t *everything = mcpc_config_find (cfg, "everything");
    json_t *entries = json_array (), *skipped = json_array ();
    char why[256];
    assert_int_equal (mcpc_tools_add_page (everything, result_of (by_id, "1"), entries, skipped,
                                           why, sizeof why), 13);
    assert_int_equal (json_array_size (skipped), 0);
    json_t *echo = mcpc_support_named (entries, "everything.echo");
    assert_non_null (echo);
    assert_string_equal (support_json_str (echo, "effect"), "none");
    assert_false (json_is_true (json_object_get (echo, "mutates")));
    assert_int_equal (json_integer_value (json_object_get (echo, "timeoutSeconds")), 60);
    assert_int_equal (json_integer_value (json_object_get (echo, "maxOutputBytes")), 65536);
    assert_string_equal (support_json_str (json_object_get (echo, "mcp"), "tool"), "echo");
    json_t *args = json_pack ("{s:s}", "message", "hi"), *error = NULL;
    assert_int_equal (schema_validate (json_object_get (echo, "inputSchema"), args, &error), 0);
    json_decref (args);
    args = json_object ();
    assert_int_equal (schema_validate (json_object_get (echo, "inputSchema"), args, &error), -1);
    assert_string_equal (support_json_error_code (error), "missing_field");
    json_decref (error);
    json_decref (args);
    json_t *sum = mcpc_support_named (entries, "everything.get-sum");
    args = json_pack ("{s:s, s:i}", "a", "x", "b", 1);
    assert_int_equal (schema_validate (json_object_get (sum, "inputSchema"), args, &error), -1);
    assert_string_equal (support_json_error_code (error), "wrong_type");
    json_decref (error);
    json_decref (args);
    json_t *structured = mcpc_support_named (entries, "everything.get-structured-content");
    assert_non_null (json_object_get (structured, "outputSchema"));
    /* Not annotated read-only: gated (external) unless the server is trusted. */
    json_t *gzip = mcpc_support_named (entries, "everything.gzip-file-as-resource");
    assert_string_equal (support_json_str (gzip, "effect"), "external");
    assert_true (json_is_true (json_object_get (gzip, "mutates")));
    /* A second page adds nothing twice. */
    assert_int_equal (mcpc_tools_add_page (everything, result_of (by_id, "1"), entries, skipped,
                                           why, sizeof why), 0);
    assert_int_equal (json_array_size (skipped), 13);
    assert_non_null (strstr (support_json_str (json_array_get (skipped, 0), "reason"), "second"));

    json_t *trusted = json_array ();
    mcpc_tools_add_page (mcpc_config_find (cfg, "trusty"), result_of (by_id, "1"), trusted,
                         skipped, why, sizeof why);
    gzip = mcpc_support_named (trusted, "trusty.gzip-file-as-resource");
    assert_string_equal (support_json_str (gzip, "effect"), "none");
    assert_int_equal (json_integer_value (json_object_get (gzip, "timeoutSeconds")), 2);
    json_decref (trusted);
    json_decref (entries);
    json_decref (skipped);
    mcpc_config_destroy (&cfg);
    json_decref (by_id);
}

/* Tools a client must leave out, each with why; a result that is not. */
static void
test_tools_refused (void **state)
{
    (void) state;
    mcpc_config_t *cfg = parse ("{\"mcpServers\":{\"s\":{\"command\":\"c\","
                                "\"outputCapBytes\":300}}}");
    const mcpc_server_t *s = mcpc_config_at (cfg, 0);
    static const struct { const char *tool, *why; } cases[] = {
        { "{\"inputSchema\":{\"type\":\"object\"}}", "without a name" },
        { "{\"name\":\"a b\",\"inputSchema\":{\"type\":\"object\"}}", "is not up to 64" },
        { "{\"name\":\"\",\"inputSchema\":{\"type\":\"object\"}}", "is not up to 64" },
        { "{\"name\":\"do__it\",\"inputSchema\":{}}", "without `__`" },
        { "{\"name\":\"x\"}", "inputSchema" },
        { "{\"name\":\"x\",\"inputSchema\":{\"type\":\"string\"}}", "not object" },
        { "{\"name\":\"x\",\"inputSchema\":{},\"outputSchema\":[]}", "outputSchema" },
    };
    char why[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *tool = json_loads (cases[i].tool, 0, NULL);
        assert_null (mcpc_tool_entry (s, tool, why, sizeof why));
        if (!strstr (why, cases[i].why))
            fail_msg ("%s: why is \"%s\"", cases[i].tool, why);
        json_decref (tool);
    }
    char longname[200];
    memset (longname, 'n', 63);
    longname[63] = '\0';       /* s. + 63 = 65 */
    json_t *tool = json_pack ("{s:s, s:{}}", "name", longname, "inputSchema");
    assert_null (mcpc_tool_entry (s, tool, why, sizeof why));
    json_decref (tool);
    json_t *empty = json_object (), *entries = json_array (), *skipped = json_array ();
    assert_int_equal (mcpc_tools_add_page (s, empty, entries, skipped, why, sizeof why), -1);
    assert_non_null (strstr (why, "`tools`"));

    /* Results: an error result, a malformed one, one past the cap. */
    bool ok = true;
    json_t *r = json_loads ("{\"content\":{}}", 0, NULL);
    json_t *mapped = mcpc_call_result (s, r, &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (mapped), "mcp_bad_result");
    json_decref (mapped);
    json_decref (r);
    char big[2000];
    memset (big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    r = json_pack ("{s:[{s:s, s:s}]}", "content", "type", "text", "text", big);
    mapped = mcpc_call_result (s, r, &ok);
    assert_true (ok);
    char *text = json_dumps (mapped, JSON_COMPACT);
    assert_true (strlen (text) <= 300);
    assert_true (json_is_true (json_object_get (mapped, "truncated")));
    free (text);
    json_decref (mapped);
    json_decref (r);
    json_decref (empty);
    json_decref (entries);
    json_decref (skipped);
    mcpc_config_destroy (&cfg);
}

/* server-everything's tools/call answers as tool results. */
static void
test_call_results (void **state)
{
    (void) state;
    json_t *by_id = capture ();
    mcpc_config_t *cfg = parse ("{\"mcpServers\":{\"everything\":{\"command\":\"node\"}}}");
    const mcpc_server_t *s = mcpc_config_at (cfg, 0);
    bool ok = false;
    json_t *r = mcpc_call_result (s, result_of (by_id, "2"), &ok);
    assert_true (ok);
    assert_true (json_is_true (json_object_get (r, "success")));
    assert_string_equal (support_json_str (r, "text"), "The sum of 2 and 3 is 5.");
    json_decref (r);
    r = mcpc_call_result (s, result_of (by_id, "3"), &ok);
    assert_true (ok);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (r,
                      "structuredContent"), "temperature")), 33);
    json_decref (r);
    r = mcpc_call_result (s, result_of (by_id, "4"), &ok);
    assert_false (ok);
    assert_false (json_is_true (json_object_get (r, "success")));
    assert_string_equal (support_json_error_code (r), "mcp_tool_error");
    assert_non_null (strstr (support_json_str (json_object_get (r, "error"), "message"),
                             "expected number"));
    json_decref (r);
    mcpc_config_destroy (&cfg);
    json_decref (by_id);
}

/* tool-runner starts with a partly wrong mcp.json, or an unreadable one,
 * and lists what it kept and what it skipped (and why). */
static void
test_list_through_bus (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("mcpc");
    char path[512];
    snprintf (path, sizeof path, "%s/mcp.json", dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs ("{\"mcpServers\": {"
           " \"everything\": {\"command\": \"node\", \"args\": [\"index.js\", \"stdio\"]},"
           " \"tiny\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:9/mcp\","
           "   \"trusted\": true},"
           " \"old\": {\"type\": \"sse\", \"url\": \"http://127.0.0.1:9/sse\"}}}", f);
    fclose (f);
    char env_a[600];
    snprintf (env_a, sizeof env_a, "CAISSON_MCP_SERVERS=%s", path);
    const char *const ta[] = { "CAISSON_INSTANCE=ta", env_a, NULL };
    const char *const tb[] = { "CAISSON_INSTANCE=tb", "CAISSON_MCP_SERVERS=/nonexistent/mcp.json",
                               NULL };
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t tr_a = support_spawn ("caisson-tool-runner", ta);
    pid_t tr_b = support_spawn ("caisson-tool-runner", tb);
    bus_client_t *client = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (client, "tool-runner.ta");
    support_await_service (client, "tool-runner.tb");

    char out[8192];
    const char *argv[] = { "caisson", "mcp", "list", "--json", NULL };
    /* Both instances answer `tool-runner`; ask the one with the file. */
    support_stop (tr_b, SIGTERM, 5000);
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    json_t *list = json_loads (out, 0, NULL);
    assert_non_null (list);
    /* the deployment's three; the caller's own (none: no event-log here)
     * follow, scope `user` */
    size_t i, deployment = 0;
    json_t *s;
    json_array_foreach (list, i, s)
        deployment += !strcmp (support_json_str (s, "scope"), "deployment");
    assert_int_equal (deployment, 3);
    s = mcpc_support_named (list, "everything");
    assert_string_equal (support_json_str (s, "transport"), "stdio");
    /* no sandbox-manager here: it waits to be started */
    if (strcmp (support_json_str (s, "state"), "starting"))
        assert_string_equal (support_json_str (s, "state"), "configured");
    assert_false (json_is_true (json_object_get (s, "trusted")));
    s = mcpc_support_named (list, "tiny");
    assert_string_equal (support_json_str (s, "transport"), "http");
    assert_true (json_is_true (json_object_get (s, "trusted")));
    s = mcpc_support_named (list, "old");
    assert_string_equal (support_json_str (s, "state"), "invalid");
    assert_non_null (strstr (support_json_str (s, "reason"), "not supported"));
    json_decref (list);

    const char *table[] = { "caisson", "mcp", "list", NULL };
    assert_int_equal (support_run (table, out, sizeof out), 0);
    assert_non_null (strstr (out, "SERVER"));
    assert_non_null (strstr (out, "everything"));
    assert_non_null (strstr (out, "trusted"));
    const char *bad[] = { "caisson", "mcp", "lst", NULL };
    assert_int_equal (support_run (bad, out, sizeof out), 2);

    /* An unreadable file: tool-runner still serves, and says why. */
    tr_b = support_spawn ("caisson-tool-runner", tb);
    support_await_service (client, "tool-runner.tb");
    bus_client_set_timeout (client, 5000, 2);
    proto_msg_t *req = proto_msg_new (PROTO_mcp_list, NULL);
    proto_msg_t *rep = bus_client_request (client, "tool-runner.tb", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_mcp_servers);
    list = mpjson_get (&rep->body.mcp_servers.servers, 32);
    proto_msg_destroy (&rep);
    assert_int_equal (json_array_size (list), 1);
    s = json_array_get (list, 0);
    assert_string_equal (support_json_str (s, "state"), "invalid");
    assert_non_null (strstr (support_json_str (s, "reason"), "cannot read"));
    json_decref (list);

    bus_client_destroy (&client);
    support_expect_clean_exit (tr_a);
    support_expect_clean_exit (tr_b);
    support_expect_clean_exit (bus);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_tools_everything),
        cmocka_unit_test (test_tools_refused),
        cmocka_unit_test (test_call_results),
        cmocka_unit_test (test_list_through_bus),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
