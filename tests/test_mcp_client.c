/* test_mcp_client: tool-runner as an MCP client, the pieces without a bus:
 * mcp.json as other clients write it (bad entries skipped by name with a
 * reason, limits on the whole file), and the stdio framing of JSON-RPC a
 * server sends (split lines, notifications before answers, invalid frames
 * and over-long lines reported once without holding more than the cap).
 * test_mcp_client_tools has the tools and the bus. */
#include "support.h"
#include "mcpc_config.h"
#include "mcpc_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mcpc_config_t *
parse (const char *text)
{
    char err[256] = "";
    mcpc_config_t *cfg = mcpc_config_parse (text, strlen (text), err, sizeof err);
    if (!cfg)
        print_message ("parse: %s\n", err);
    return cfg;
}

/* The reason given for skipping name, or NULL. */
static const char *
skipped (const mcpc_config_t *cfg, const char *name)
{
    size_t i;
    json_t *entry;
    json_array_foreach ((json_t *) mcpc_config_skipped (cfg), i, entry)
        if (!strcmp (json_string_value (json_object_get (entry, "name")), name))
            return json_string_value (json_object_get (entry, "reason"));
    return NULL;
}

/* The shapes the ecosystem writes, Caisson's keys and their defaults. */
static void
test_config_shapes (void **state)
{
    (void) state;
    mcpc_config_t *cfg = parse (
        "{\"mcpServers\": {"
        " \"everything\": {\"command\": \"node\", \"args\": [\"dist/index.js\", \"stdio\"],"
        "   \"env\": {\"LOG_LEVEL\": \"debug\"}, \"files\": \"/srv/mcp/everything.tgz\","
        "   \"trusted\": true, \"timeoutMs\": 5000, \"disabledTools\": [\"x\"]},"
        " \"remote\": {\"type\": \"http\", \"url\": \"https://mcp.example.com/mcp\","
        "   \"headers\": {\"Authorization\": \"Bearer t\"}, \"outputCapBytes\": 1024},"
        " \"bare-url\": {\"url\": \"http://127.0.0.1:9/mcp\"},"
        " \"net\": {\"command\": \"srv\", \"network\": \"policy\", \"allow\": [\"pypi\"]}}}");
    assert_non_null (cfg);
    assert_int_equal (mcpc_config_size (cfg), 4);
    assert_int_equal (json_array_size (mcpc_config_skipped (cfg)), 0);

    const mcpc_server_t *s = mcpc_config_at (cfg, 0);
    assert_string_equal (s->name, "everything");
    assert_int_equal (s->kind, MCPC_STDIO);
    assert_string_equal (s->command, "node");
    assert_int_equal (json_array_size (s->args), 2);
    assert_string_equal (json_string_value (json_object_get (s->env, "LOG_LEVEL")), "debug");
    assert_string_equal (s->files, "/srv/mcp/everything.tgz");
    assert_true (s->trusted);
    assert_int_equal (s->timeout_ms, 5000);
    assert_int_equal (s->output_cap, 65536);
    assert_false (s->network_policy);

    s = mcpc_config_find (cfg, "remote");
    assert_non_null (s);
    assert_int_equal (s->kind, MCPC_HTTP);
    assert_string_equal (s->url, "https://mcp.example.com/mcp");
    assert_string_equal (json_string_value (json_object_get (s->headers, "Authorization")),
                         "Bearer t");
    assert_false (s->trusted);
    assert_int_equal (s->timeout_ms, 60000);
    assert_int_equal (s->output_cap, 1024);

    s = mcpc_config_find (cfg, "bare-url");     /* a url alone means http, as Cursor does */
    assert_non_null (s);
    assert_int_equal (s->kind, MCPC_HTTP);
    assert_int_equal (json_object_size (s->headers), 0);

    s = mcpc_config_find (cfg, "net");
    assert_true (s->network_policy);
    assert_string_equal (json_string_value (json_array_get (s->allow, 0)), "pypi");
    assert_int_equal (json_array_size (s->args), 0);
    assert_null (mcpc_config_find (cfg, "nope"));
    mcpc_config_destroy (&cfg);
    assert_null (cfg);
}

/* Each bad entry is skipped with its name and a reason; the good one stays. */
static void
test_config_bad_entries (void **state)
{
    (void) state;
    mcpc_config_t *cfg = parse (
        "{\"mcpServers\": {"
        " \"good\": {\"command\": \"srv\"},"
        " \"has.dot\": {\"command\": \"srv\"},"
        " \"two__under\": {\"command\": \"srv\"},"
        " \"\": {\"command\": \"srv\"},"
        " \"notobj\": 3,"
        " \"nocmd\": {\"args\": [\"a\"]},"
        " \"both\": {\"command\": \"srv\", \"url\": \"http://h/mcp\"},"
        " \"sse\": {\"type\": \"sse\", \"url\": \"http://h/sse\"},"
        " \"ftp\": {\"type\": \"http\", \"url\": \"ftp://h/mcp\"},"
        " \"badargs\": {\"command\": \"srv\", \"args\": [1]},"
        " \"badenv\": {\"command\": \"srv\", \"env\": {\"1X\": \"v\"}},"
        " \"crlf\": {\"type\": \"http\", \"url\": \"http://h/\","
        "   \"headers\": {\"X\": \"a\\r\\nB: c\"}},"
        " \"timeout\": {\"command\": \"srv\", \"timeoutMs\": 0},"
        " \"trusted\": {\"command\": \"srv\", \"trusted\": \"yes\"},"
        " \"network\": {\"command\": \"srv\", \"network\": \"host\"},"
        " \"allownone\": {\"command\": \"srv\", \"allow\": [\"pypi\"]},"
        " \"relfiles\": {\"command\": \"srv\", \"files\": \"srv.tgz\"},"
        " \"httpfiles\": {\"url\": \"http://h/mcp\", \"files\": \"/a.tgz\"},"
        " \"off\": {\"command\": \"srv\", \"disabled\": true},"
        " \"weirdtype\": {\"type\": \"ws\", \"url\": \"http://h/\"}}}");
    assert_non_null (cfg);
    assert_int_equal (mcpc_config_size (cfg), 1);
    assert_string_equal (mcpc_config_at (cfg, 0)->name, "good");
    assert_int_equal (json_array_size (mcpc_config_skipped (cfg)), 19);
    assert_non_null (strstr (skipped (cfg, "has.dot"), "server name"));
    assert_non_null (strstr (skipped (cfg, ""), "server name"));
    assert_non_null (strstr (skipped (cfg, "two__under"), "server name"));
    assert_non_null (strstr (skipped (cfg, "notobj"), "not an object"));
    assert_non_null (strstr (skipped (cfg, "nocmd"), "`command`"));
    assert_non_null (strstr (skipped (cfg, "both"), "both"));
    assert_non_null (strstr (skipped (cfg, "sse"), "not supported"));
    assert_non_null (strstr (skipped (cfg, "ftp"), "`url`"));
    assert_non_null (strstr (skipped (cfg, "badargs"), "`args`"));
    assert_non_null (strstr (skipped (cfg, "badenv"), "`env`"));
    assert_non_null (strstr (skipped (cfg, "crlf"), "`headers`"));
    assert_non_null (strstr (skipped (cfg, "timeout"), "`timeoutMs`"));
    assert_non_null (strstr (skipped (cfg, "trusted"), "`trusted`"));
    assert_non_null (strstr (skipped (cfg, "network"), "`network`"));
    assert_non_null (strstr (skipped (cfg, "allownone"), "policy"));
    assert_non_null (strstr (skipped (cfg, "relfiles"), "`files`"));
    assert_non_null (strstr (skipped (cfg, "httpfiles"), "stdio servers only"));
    assert_string_equal (skipped (cfg, "off"), "disabled");
    assert_non_null (strstr (skipped (cfg, "weirdtype"), "`type`"));
    mcpc_config_destroy (&cfg);
}

/* The file as a whole: not JSON, no mcpServers, too deep, too large, too
 * many servers; and a file read from disk. */
static void
test_config_limits (void **state)
{
    (void) state;
    char err[256];
    assert_null (mcpc_config_parse ("{", 1, err, sizeof err));
    assert_non_null (strstr (err, "not JSON"));
    assert_null (mcpc_config_parse ("{\"servers\":{}}", 14, err, sizeof err));
    assert_non_null (strstr (err, "mcpServers"));
    assert_null (mcpc_config_parse ("{\"a\":1,\"a\":2}", 13, err, sizeof err));

    char deep[256] = "{\"mcpServers\":{\"x\":{\"command\":\"c\",\"env\":";
    for (int i = 0; i < 20; i++)
        strcat (deep, "[");
    for (int i = 0; i < 20; i++)
        strcat (deep, "]");
    strcat (deep, "}}}");
    assert_null (mcpc_config_parse (deep, strlen (deep), err, sizeof err));
    assert_non_null (strstr (err, "deeper"));

    size_t big = MCPC_CONFIG_BYTES_MAX + 1;
    char *huge = malloc (big);
    memset (huge, ' ', big);
    assert_null (mcpc_config_parse (huge, big, err, sizeof err));
    assert_non_null (strstr (err, "larger"));
    free (huge);

    /* 70 servers: 64 kept, the rest skipped by name. */
    char *many = malloc (8192);
    strcpy (many, "{\"mcpServers\":{");
    for (int i = 0; i < 70; i++)
        sprintf (many + strlen (many), "%s\"s%d\":{\"command\":\"c\"}", i ? "," : "", i);
    strcat (many, "}}");
    mcpc_config_t *cfg = parse (many);
    free (many);
    assert_int_equal (mcpc_config_size (cfg), MCPC_SERVERS_MAX);
    assert_int_equal (json_array_size (mcpc_config_skipped (cfg)), 6);
    assert_non_null (strstr (skipped (cfg, "s69"), "more than 64"));
    mcpc_config_destroy (&cfg);

    char path[] = "/tmp/mcpc-config-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *f = fdopen (fd, "w");
    fputs ("{\"mcpServers\":{\"a\":{\"command\":\"c\"}}}", f);
    fclose (f);
    cfg = mcpc_config_load (path, err, sizeof err);
    assert_non_null (cfg);
    assert_int_equal (mcpc_config_size (cfg), 1);
    mcpc_config_destroy (&cfg);
    unlink (path);
    assert_null (mcpc_config_load (path, err, sizeof err));
    assert_non_null (strstr (err, "cannot read"));
}

/* Pieces of any size make whole messages; notifications and server
 * requests before an answer are sorted, blank lines and \r tolerated. */
static void
test_frame_split (void **state)
{
    (void) state;
    /* What server-everything sends first: a notification, then the answer. */
    const char *out =
        "{\"method\":\"notifications/tools/list_changed\",\"jsonrpc\":\"2.0\"}\n"
        "\r\n"
        "{\"result\":{\"protocolVersion\":\"2025-11-25\"},\"jsonrpc\":\"2.0\",\"id\":0}\r\n"
        "{\"jsonrpc\":\"2.0\",\"id\":\"p1\",\"method\":\"ping\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":\"no\"}}\n";
    mcpc_frame_t *f = mcpc_frame_new (0);
    json_t *msg;
    char why[256];
    int line = 0;
    for (size_t i = 0; out[i]; i++) {     /* one byte at a time */
        mcpc_frame_feed (f, out + i, 1);
        if (out[i] != '\n') {
            assert_int_equal (mcpc_frame_next (f, &msg, why, sizeof why), MCPC_MSG_NONE);
            continue;
        }
        mcpc_msg_kind_t kind = mcpc_frame_next (f, &msg, why, sizeof why);
        if (line++ == 0) {
            assert_int_equal (kind, MCPC_MSG_NOTIFICATION);
            json_decref (msg);
        }
        else if (line == 2)
            assert_int_equal (kind, MCPC_MSG_NONE);     /* the blank line */
        else if (msg) {
            json_t *id = json_object_get (msg, "id");
            if (json_is_string (id))
                assert_int_equal (kind, MCPC_MSG_REQUEST);
            else
                assert_int_equal (kind, MCPC_MSG_RESPONSE);
            json_decref (msg);
        }
        else
            fail_msg ("no message at byte %zu (kind %d, %s)", i, kind, why);
        assert_int_equal (mcpc_frame_next (f, &msg, why, sizeof why), MCPC_MSG_NONE);
    }
    /* All at once, then drained in order. */
    mcpc_frame_feed (f, out, strlen (out));
    int kinds[8], n = 0;
    mcpc_msg_kind_t kind;
    while ((kind = mcpc_frame_next (f, &msg, why, sizeof why)) != MCPC_MSG_NONE) {
        kinds[n++] = kind;
        json_decref (msg);
    }
    assert_int_equal (n, 4);
    assert_int_equal (kinds[0], MCPC_MSG_NOTIFICATION);
    assert_int_equal (kinds[1], MCPC_MSG_RESPONSE);
    assert_int_equal (kinds[2], MCPC_MSG_REQUEST);
    assert_int_equal (kinds[3], MCPC_MSG_RESPONSE);
    mcpc_frame_destroy (&f);
    assert_null (f);
}

/* Each kind of invalid frame is named, and the next good line still comes. */
static void
test_frame_invalid (void **state)
{
    (void) state;
    static const struct { const char *line, *why; } cases[] = {
        { "not json", "not JSON" },
        { "[1,2]", "JSON object" },
        { "{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":{}}", "\"2.0\"" },
        { "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", "`id`" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"result\":{}}", "`id`" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}", "exactly one" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1}", "exactly one" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"x\",\"message\":\"m\"}}", "`code`" },
        { "{\"jsonrpc\":\"2.0\",\"method\":7}", "`method`" },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":1}", "`params`" },
        { "{\"jsonrpc\":\"2.0\"}", "neither" },
        { "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"result\":{}}", "not JSON" },
    };
    mcpc_frame_t *f = mcpc_frame_new (0);
    json_t *msg;
    char why[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mcpc_frame_feed (f, cases[i].line, strlen (cases[i].line));
        mcpc_frame_feed (f, "\n", 1);
        assert_int_equal (mcpc_frame_next (f, &msg, why, sizeof why), MCPC_MSG_INVALID);
        assert_null (msg);
        if (!strstr (why, cases[i].why))
            fail_msg ("%s: why is \"%s\", wanted \"%s\"", cases[i].line, why, cases[i].why);
    }
    /* Nesting past the limit. */
    char deep[300] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":";
    for (int i = 0; i < 70; i++)
        strcat (deep, "[");
    for (int i = 0; i < 70; i++)
        strcat (deep, "]");
    strcat (deep, "}\n");
    mcpc_frame_feed (f, deep, strlen (deep));
    assert_int_equal (mcpc_frame_next (f, &msg, why, sizeof why), MCPC_MSG_INVALID);
    assert_non_null (strstr (why, "deeper"));
    const char *good = "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n";
    mcpc_frame_feed (f, good, strlen (good));
    assert_int_equal (mcpc_frame_next (f, &msg, why, sizeof why), MCPC_MSG_RESPONSE);
    json_decref (msg);
    mcpc_frame_destroy (&f);
}

/* A line past the cap is reported once, after the lines before it, its
 * rest dropped as it comes; the framer never holds much more than the cap. */
static void
test_frame_overlong (void **state)
{
    (void) state;
    mcpc_frame_t *f = mcpc_frame_new (1024);
    json_t *msg;
    char why[256];
    const char *before = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}\n";
    mcpc_frame_feed (f, before, strlen (before));
    char chunk[600];
    memset (chunk, 'a', sizeof chunk);
    for (int i = 0; i < 1000; i++)      /* 600 kB without a newline */
        mcpc_frame_feed (f, chunk, sizeof chunk);
    assert_int_equal (mcpc_frame_next (f, &msg, why, sizeof why), MCPC_MSG_NOTIFICATION);
    json_decref (msg);
    assert_int_equal (mcpc_frame_next (f, &msg, why, sizeof why), MCPC_MSG_INVALID);
    assert_non_null (strstr (why, "longer than 1024"));
    assert_int_equal (mcpc_frame_next (f, &msg, why, sizeof why), MCPC_MSG_NONE);
    const char *after = "aaaa\n{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}\n";
    mcpc_frame_feed (f, after, strlen (after));
    assert_int_equal (mcpc_frame_next (f, &msg, why, sizeof why), MCPC_MSG_RESPONSE);
    assert_int_equal (json_integer_value (json_object_get (msg, "id")), 9);
    json_decref (msg);
    /* A whole over-long line in one piece. */
    char line[1100];
    memset (line, ' ', sizeof line);
    line[0] = '{';
    memcpy (line + sizeof line - 2, "}\n", 2);
    mcpc_frame_feed (f, line, sizeof line);
    assert_int_equal (mcpc_frame_next (f, &msg, why, sizeof why), MCPC_MSG_INVALID);
    assert_non_null (strstr (why, "longer than 1024"));
    mcpc_frame_destroy (&f);
}

/* What the client sends: one line, compact, requests with ids. */
static void
test_frame_request (void **state)
{
    (void) state;
    json_t *params = json_pack ("{s:s}", "name", "echo");
    char *line = mcpc_frame_request (4, "tools/call", params);
    json_decref (params);
    size_t n = strlen (line);
    assert_true (n > 1 && line[n - 1] == '\n');
    assert_null (memchr (line, '\n', n - 1));
    json_t *msg = json_loads (line, 0, NULL);
    char why[128];
    assert_int_equal (mcpc_msg_classify (msg, why, sizeof why), MCPC_MSG_REQUEST);
    assert_int_equal (json_integer_value (json_object_get (msg, "id")), 4);
    assert_string_equal (json_string_value (json_object_get (json_object_get (msg, "params"),
                                                             "name")), "echo");
    json_decref (msg);
    free (line);
    line = mcpc_frame_request (-1, "notifications/initialized", NULL);
    msg = json_loads (line, 0, NULL);
    assert_int_equal (mcpc_msg_classify (msg, why, sizeof why), MCPC_MSG_NOTIFICATION);
    assert_null (json_object_get (msg, "params"));
    json_decref (msg);
    free (line);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_config_shapes),
        cmocka_unit_test (test_config_bad_entries),
        cmocka_unit_test (test_config_limits),
        cmocka_unit_test (test_frame_split),
        cmocka_unit_test (test_frame_invalid),
        cmocka_unit_test (test_frame_overlong),
        cmocka_unit_test (test_frame_request),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
