/* test_mcp_client: tool-runner as an MCP client, the pieces without a bus:
 * mcp.json as other clients write it (bad entries skipped by name with a
 * reason, limits on the whole file), and the stdio framing of JSON-RPC a
 * server sends (split lines, notifications before answers, invalid frames
 * and over-long lines reported once without holding more than the cap);
 * server-everything's own stdio output (tests/mcp/mcpc_everything_stdio.jsonl,
 * captured from `node .../server-everything/dist/index.js stdio`) as
 * catalogue entries and tool results;
 * and through the bus: tool-runner started with CAISSON_MCP_SERVERS
 * answers `mcp.list`, and `caisson mcp list` shows it. */
#include "support.h"
#include "bus_client.h"
#include "mcpc_config.h"
#include "mcpc_frame.h"
#include "mcpc_tools.h"
#include "schema.h"
#include "mpjson.h"

#include <signal.h>
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
        " \"\": {\"command\": \"srv\"},"
        " \"notobj\": 3,"
        " \"nocmd\": {\"args\": [\"a\"]},"
        " \"both\": {\"command\": \"srv\", \"url\": \"http://h/mcp\"},"
        " \"sse\": {\"type\": \"sse\", \"url\": \"http://h/sse\"},"
        " \"ftp\": {\"type\": \"http\", \"url\": \"ftp://h/mcp\"},"
        " \"badargs\": {\"command\": \"srv\", \"args\": [1]},"
        " \"badenv\": {\"command\": \"srv\", \"env\": {\"1X\": \"v\"}},"
        " \"crlf\": {\"type\": \"http\", \"url\": \"http://h/\", \"headers\": {\"X\": \"a\\r\\nB: c\"}},"
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
    assert_int_equal (json_array_size (mcpc_config_skipped (cfg)), 18);
    assert_non_null (strstr (skipped (cfg, "has.dot"), "server name"));
    assert_non_null (strstr (skipped (cfg, ""), "server name"));
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

/* The entry called name in entries, or NULL. */
static json_t *
entry_named (json_t *entries, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach (entries, i, e)
        if (!strcmp (support_json_str (e, "name"), name))
            return e;
    return NULL;
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
    json_t *echo = entry_named (entries, "everything.echo");
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
    json_t *sum = entry_named (entries, "everything.get-sum");
    args = json_pack ("{s:s, s:i}", "a", "x", "b", 1);
    assert_int_equal (schema_validate (json_object_get (sum, "inputSchema"), args, &error), -1);
    assert_string_equal (support_json_error_code (error), "wrong_type");
    json_decref (error);
    json_decref (args);
    assert_non_null (json_object_get (entry_named (entries, "everything.get-structured-content"),
                                      "outputSchema"));
    /* Not annotated read-only: gated (external) unless the server is trusted. */
    json_t *gzip = entry_named (entries, "everything.gzip-file-as-resource");
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
    gzip = entry_named (trusted, "trusty.gzip-file-as-resource");
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
        { "{\"name\":\"a b\",\"inputSchema\":{\"type\":\"object\"}}", "is not 1-128" },
        { "{\"name\":\"\",\"inputSchema\":{\"type\":\"object\"}}", "is not 1-128" },
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
    memset (longname, 'n', 127);
    longname[127] = '\0';      /* s. + 127 = 129 */
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

/* The server called name in a list from mcp.list, or NULL. */
static json_t *
listed (json_t *list, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach (list, i, s)
        if (!strcmp (support_json_str (s, "name"), name))
            return s;
    return NULL;
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
           " \"tiny\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:9/mcp\", \"trusted\": true},"
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
    assert_int_equal (json_array_size (list), 3);
    json_t *s = listed (list, "everything");
    assert_string_equal (support_json_str (s, "transport"), "stdio");
    assert_string_equal (support_json_str (s, "state"), "configured");
    assert_false (json_is_true (json_object_get (s, "trusted")));
    s = listed (list, "tiny");
    assert_string_equal (support_json_str (s, "transport"), "http");
    assert_true (json_is_true (json_object_get (s, "trusted")));
    s = listed (list, "old");
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
        cmocka_unit_test (test_config_shapes),
        cmocka_unit_test (test_config_bad_entries),
        cmocka_unit_test (test_config_limits),
        cmocka_unit_test (test_frame_split),
        cmocka_unit_test (test_frame_invalid),
        cmocka_unit_test (test_frame_overlong),
        cmocka_unit_test (test_frame_request),
        cmocka_unit_test (test_tools_everything),
        cmocka_unit_test (test_tools_refused),
        cmocka_unit_test (test_call_results),
        cmocka_unit_test (test_list_through_bus),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
