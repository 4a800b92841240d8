/* test_mcp_client_parse: what tool-runner's MCP client parses from
 * others, on edge cases and hostile input: ${VAR} expansion in an
 * mcp.json (mcpc_config) and the SSE streams remote servers answer with
 * (mcpc_sse). The same paths end to end: test_mcp_client_http.c. */
#include "support.h"
#include "mcpc_config.h"
#include "mcpc_sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ${VAR} and ${VAR:-default} in url, headers and env, from the
 * environment; an unset variable without a default skips the entry. */
static void
test_expansion (void **state)
{
    (void) state;
    setenv ("MCPC_T_HOST", "tools.example.com", 1);
    setenv ("MCPC_T_KEY", "k1", 1);
    setenv ("MCPC_T_EMPTY", "", 1);
    unsetenv ("MCPC_T_UNSET");
    const char *text =
        "{\"mcpServers\": {"
        " \"a\": {\"url\": \"https://${MCPC_T_HOST}/mcp\","
        "   \"headers\": {\"Authorization\": \"Bearer ${MCPC_T_KEY}\","
        "                 \"X-Tier\": \"${MCPC_T_UNSET:-free}-${MCPC_T_EMPTY:-none}\"}},"
        " \"b\": {\"command\": \"node\", \"env\": {\"KEY\": \"${MCPC_T_KEY}x\"}},"
        " \"c\": {\"url\": \"https://example.com/mcp\","
        "   \"headers\": {\"Authorization\": \"Bearer ${MCPC_T_UNSET}\"}},"
        " \"d\": {\"command\": \"node\", \"env\": {\"K\": \"${MCPC_T_KEY\"}},"
        " \"e\": {\"url\": \"https://example.com/${MCPC_T_UNSET:-}mcp\"}}}";
    char err[256];
    mcpc_config_t *cfg = mcpc_config_parse (text, strlen (text), err, sizeof err);
    assert_non_null (cfg);
    const mcpc_server_t *a = mcpc_config_find (cfg, "a");
    assert_non_null (a);
    assert_string_equal (a->url, "https://tools.example.com/mcp");
    assert_string_equal (json_string_value (json_object_get (a->headers, "Authorization")),
                         "Bearer k1");
    assert_string_equal (json_string_value (json_object_get (a->headers, "X-Tier")),
                         "free-none");
    assert_string_equal (json_string_value (json_object_get (mcpc_config_find (cfg, "b")->env,
                                                             "KEY")), "k1x");
    assert_string_equal (mcpc_config_find (cfg, "e")->url, "https://example.com/mcp");
    assert_null (mcpc_config_find (cfg, "c"));
    assert_null (mcpc_config_find (cfg, "d"));
    const json_t *skipped = mcpc_config_skipped (cfg);
    assert_int_equal (json_array_size (skipped), 2);
    const char *why_c = support_json_str (json_array_get (skipped, 0), "reason");
    print_message ("c: %s\nd: %s\n", why_c,
                   support_json_str (json_array_get (skipped, 1), "reason"));
    assert_non_null (strstr (why_c, "MCPC_T_UNSET"));
    assert_non_null (strstr (why_c, "not set"));
    assert_non_null (strstr (support_json_str (json_array_get (skipped, 1), "reason"), "${"));
    mcpc_config_destroy (&cfg);

    /* A value that expands to a control character cannot make a header,
     * nor one that is not UTF-8 a JSON string. */
    static const char *const bad[] = { "k1\r\nX-Evil: 1", "k1\xff" };
    for (size_t i = 0; i < 2; i++) {
        setenv ("MCPC_T_KEY", bad[i], 1);
        cfg = mcpc_config_parse (text, strlen (text), err, sizeof err);
        assert_null (mcpc_config_find (cfg, "a"));
        assert_null (mcpc_config_find (cfg, "b"));
        mcpc_config_destroy (&cfg);
    }
}

/* Collects events as "type|data" lines; stops at data "stop". */
static int
on_event (void *arg, const char *type, const char *data, size_t len)
{
    json_t *events = arg;
    char line[256];
    snprintf (line, sizeof line, "%s|%.*s", type, (int) len, data);
    json_array_append_new (events, json_string (line));
    return !strcmp (data, "stop");
}

/* The SSE parser on what servers (and hostile ones) send: events cut at
 * any byte, CRLF, CR or LF line ends, comments and ids skipped, several
 * data lines joined, a custom type kept, events past the cap refused. */
static void
test_sse_parser (void **state)
{
    (void) state;
    const char *stream = ": keep-alive\r\n\r\nid: 7\r\nevent: message\r\ndata: {\"a\":\r\n"
                         "data:1}\r\n\r\nretry: 10\n\ndata: plain\rdata\r\r"
                         "event: other\ndata: x\n\n\n\ndata: stop\n\ndata: after\n\n";
    /* every split of the stream into two pieces gives the same events */
    for (size_t cut = 0; cut <= strlen (stream); cut++) {
        json_t *events = json_array ();
        mcpc_sse_t *sse = mcpc_sse_new (64, on_event, events);
        int rc = mcpc_sse_feed (sse, stream, cut);
        if (rc == 0)
            rc = mcpc_sse_feed (sse, stream + cut, strlen (stream) - cut);
        assert_int_equal (rc, 1);                        /* stopped at "stop" */
        char *text = json_dumps (events, JSON_COMPACT);
        assert_string_equal (text, "[\"message|{\\\"a\\\":\\n1}\",\"message|plain\\n\","
                                   "\"other|x\",\"message|stop\"]");
        free (text);
        json_decref (events);
        mcpc_sse_destroy (&sse);
    }
    /* past the cap: a line without an end, or an event of many lines */
    json_t *events = json_array ();
    mcpc_sse_t *sse = mcpc_sse_new (64, on_event, events);
    char big[200];
    memset (big, 'x', sizeof big);
    assert_int_equal (mcpc_sse_feed (sse, big, sizeof big), -1);
    mcpc_sse_destroy (&sse);
    sse = mcpc_sse_new (64, on_event, events);
    int rc = 0;
    for (int i = 0; i < 40 && rc == 0; i++)
        rc = mcpc_sse_feed (sse, "data: 0123456789\n", 17);
    assert_int_equal (rc, -1);
    assert_int_equal (json_array_size (events), 0);
    mcpc_sse_destroy (&sse);
    json_decref (events);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_expansion),
        cmocka_unit_test (test_sse_parser),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
