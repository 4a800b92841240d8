/* test_mcpc_schema: which `pattern`s of an MCP server's tool schemas
 * tool-runner runs (mcpc_schema), through the public mcpc_tool_entry a
 * tools/list page goes through: a tool whose pattern could backtrack on
 * the main loop is left out with why; ordinary patterns, and a property
 * named `pattern`, are kept. */
#include "support.h"
#include "mcpc_config.h"
#include "mcpc_tools.h"

#include <stdio.h>
#include <string.h>

/* The entry for a tool with one string property of pattern re (a JSON
 * string's contents), or NULL with why. */
static json_t *
entry_with (const mcpc_server_t *s, const char *re, char *why, size_t whylen)
{
    char text[2048];
    snprintf (text, sizeof text, "{\"name\":\"t\",\"inputSchema\":{\"type\":\"object\","
              "\"properties\":{\"q\":{\"type\":\"string\",\"pattern\":\"%s\"}}}}", re);
    json_t *tool = json_loads (text, 0, NULL);
    assert_non_null (tool);
    json_t *entry = mcpc_tool_entry (s, tool, why, whylen);
    json_decref (tool);
    return entry;
}

static void
test_patterns (void **state)
{
    (void) state;
    char err[256] = "";
    const char *config = "{\"mcpServers\":{\"s\":{\"url\":\"http://127.0.0.1:1/mcp\"}}}";
    mcpc_config_t *cfg = mcpc_config_parse (config, strlen (config), err, sizeof err);
    assert_non_null (cfg);
    const mcpc_server_t *s = mcpc_config_at (cfg, 0);
    static const struct { const char *re, *why; } refused[] = {
        { "^(.*)(.*)\\\\2\\\\1$", "with a backreference" },
        { "^(a+)+$", "with nested repetition" },
        { "^((ab)*c)*$", "with nested repetition" },
        { "^(x|y?){2,}$", "with nested repetition" },
        { "[abc", "with an unclosed bracket expression" },
    };
    char why[256];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        json_t *e = entry_with (s, refused[i].re, why, sizeof why);
        if (e || !strstr (why, refused[i].why))
            fail_msg ("%s: %s", refused[i].re, e ? "kept" : why);
    }
    char longre[300];
    memset (longre, 'a', 257);
    longre[257] = '\0';
    assert_null (entry_with (s, longre, why, sizeof why));
    assert_non_null (strstr (why, "longer than 256 bytes"));
    /* Kept: escapes and brackets read as such, an optional group. */
    static const char *const kept[] = { "^[a-z]+$", "^\\\\\\\\1$", "^[(]+[)]*$",
                                        "^[[:alpha:]]+(x)?$", "^(ab|cd)*$", "a\\\\(+" };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        json_t *e = entry_with (s, kept[i], why, sizeof why);
        if (!e)
            fail_msg ("%s: %s", kept[i], why);
        json_decref (e);
    }
    /* A property named pattern; a pattern that is not a string. */
    json_t *tool = json_loads ("{\"name\":\"t\",\"inputSchema\":{\"type\":\"object\","
                               "\"properties\":{\"pattern\":{\"type\":\"string\"}}}}", 0, NULL);
    json_t *e = mcpc_tool_entry (s, tool, why, sizeof why);
    assert_non_null (e);
    json_decref (e);
    json_decref (tool);
    tool = json_loads ("{\"name\":\"t\",\"inputSchema\":{\"type\":\"object\",\"properties\":"
                       "{\"q\":{\"type\":\"string\",\"pattern\":5}}}}", 0, NULL);
    assert_null (mcpc_tool_entry (s, tool, why, sizeof why));
    assert_non_null (strstr (why, "not a string"));
    json_decref (tool);
    mcpc_config_destroy (&cfg);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_patterns),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
