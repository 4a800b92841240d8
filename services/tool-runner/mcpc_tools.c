/* mcpc_tools: MCP tools as catalogue entries, their answers as results. */
#include "mcpc_tools.h"

#include "jsoncap.h"
#include "mcpc_schema.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Catalogue names: [A-Za-z0-9_.-] (MCP's own rule, 2025-11-25), at most
 * 64 bytes as the model's wire spells them (each `.` as `__`, the
 * orchestrator's), so without "__", "_." or "._" (they would read back
 * two ways). */
#define FULL_NAME_MAX 64
#define DESCRIPTION_MAX 4096

static bool
tool_name_ok (const char *name)
{
    size_t n = strlen (name), wire = n;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum ((unsigned char) name[i]) && !strchr ("_.-", name[i]))
            return false;
        wire += name[i] == '.';
    }
    return n && wire <= FULL_NAME_MAX && !strstr (name, "__") && !strstr (name, "_.")
           && !strstr (name, "._");
}

/* Whether schema can stand as a tool's schema: an object, of type object
 * when a type is given, small and shallow enough, its patterns safe to
 * run (mcpc_schema). */
static bool
schema_ok (const json_t *schema, char *why, size_t whylen, const char *which)
{
    const char *type = json_string_value (json_object_get (schema, "type"));
    /* depth first: a tool's schemas may nest as deep as the parser allows
     * (mcpc_msg_classify does not count them) */
    bool deep = jsoncap_depth (schema, 32) > 32;
    char *text = json_is_object (schema) && !deep ? json_dumps (schema, JSON_COMPACT) : NULL;
    size_t bytes = text ? strlen (text) : 0;
    free (text);
    if (!json_is_object (schema))
        snprintf (why, whylen, "its %s is not a JSON object", which);
    else if (type && strcmp (type, "object"))
        snprintf (why, whylen, "its %s is of type %s, not object", which, type);
    else if (deep)
        snprintf (why, whylen, "its %s nests deeper than 32 levels", which);
    else if (bytes > MCPC_SCHEMA_BYTES_MAX)
        snprintf (why, whylen, "its %s is larger than %zu bytes", which, MCPC_SCHEMA_BYTES_MAX);
    else if (mcpc_schema_patterns_ok (schema, why, whylen, which))
        return true;
    return false;
}

json_t *
mcpc_tool_entry (const mcpc_server_t *server, const json_t *tool, char *why, size_t whylen)
{
    const char *name = json_string_value (json_object_get (tool, "name"));
    if (!name) {
        snprintf (why, whylen, "a tool without a name");
        return NULL;
    }
    char full[FULL_NAME_MAX + 2];
    snprintf (full, sizeof full, "%s.%.*s", server->name, FULL_NAME_MAX, name);
    if (!*name || strlen (name) > FULL_NAME_MAX || !tool_name_ok (full)) {
        snprintf (why, whylen, "the name `%s.%.64s` is not up to 64 of A-Z a-z 0-9 _ . - "
                  "(a `.` counting 2, without `__`, `_.` or `._`)", server->name, name);
        return NULL;
    }
    json_t *input = json_object_get (tool, "inputSchema");
    json_t *output = json_object_get (tool, "outputSchema");
    if (!schema_ok (input, why, whylen, "inputSchema")
        || (output && !schema_ok (output, why, whylen, "outputSchema")))
        return NULL;
    const char *description = json_string_value (json_object_get (tool, "description"));
    if (!description)
        description = json_string_value (json_object_get (tool, "title"));
    size_t dlen = description ? strlen (description) : 0;
    if (dlen > DESCRIPTION_MAX) {
        dlen = DESCRIPTION_MAX;     /* not inside a UTF-8 sequence */
        while (dlen && ((unsigned char) description[dlen] & 0xC0) == 0x80)
            dlen--;
    }
    json_t *annotations = json_object_get (tool, "annotations");
    bool reads = server->trusted || json_is_true (json_object_get (annotations, "readOnlyHint"));
    unsigned timeout_s = (server->timeout_ms + 999) / 1000;
    json_t *entry = json_pack ("{s:s, s:s%, s:O, s:b, s:s, s:b, s:i, s:I, s:{s:s, s:s}}",
                               "name", full, "description", description ? description : "", dlen,
                               "inputSchema", input, "mutates", !reads,
                               "effect", reads ? "none" : "external", "dryRun", 0,
                               "timeoutSeconds", (int) timeout_s,
                               "maxOutputBytes", (json_int_t) server->output_cap,
                               "mcp", "server", server->name, "tool", name);
    if (entry && output)
        json_object_set (entry, "outputSchema", output);
    if (!entry)
        snprintf (why, whylen, "its description is not UTF-8");
    return entry;
}

size_t
mcpc_tools_bytes (const json_t *entry)
{
    return json_dumpb (entry, NULL, 0, JSON_COMPACT);
}

int
mcpc_tools_add_page (const mcpc_server_t *server, const json_t *result, json_t *entries,
                     json_t *skipped, char *why, size_t whylen)
{
    json_t *tools = json_object_get (result, "tools");
    if (!json_is_array (tools)) {
        snprintf (why, whylen, "its tools/list result has no `tools` array");
        return -1;
    }
    int added = 0;
    size_t i, used = 0;
    json_t *tool;
    json_array_foreach (entries, i, tool)   /* earlier pages' */
        used += mcpc_tools_bytes (tool);
    json_array_foreach (tools, i, tool) {
        const char *name = json_string_value (json_object_get (tool, "name"));
        char reason[256] = "";
        json_t *entry = NULL;
        if (json_array_size (entries) >= MCPC_TOOLS_MAX)
            snprintf (reason, sizeof reason, "more than %d tools", MCPC_TOOLS_MAX);
        else
            entry = mcpc_tool_entry (server, tool, reason, sizeof reason);
        size_t bytes = entry ? mcpc_tools_bytes (entry) : 0;
        if (entry && used + bytes > MCPC_SERVER_BYTES_MAX) {
            snprintf (reason, sizeof reason, "past the server's %zu MiB of catalogue",
                      MCPC_SERVER_BYTES_MAX >> 20);
            json_decref (entry);
            entry = NULL;
        }
        const char *full = entry ? json_string_value (json_object_get (entry, "name")) : NULL;
        size_t j;
        json_t *other;
        json_array_foreach (entries, j, other)
            if (full && !strcmp (full, json_string_value (json_object_get (other, "name")))) {
                snprintf (reason, sizeof reason, "a second tool of that name");
                json_decref (entry);
                entry = NULL;
                break;
            }
        if (entry) {
            json_array_append_new (entries, entry);
            used += bytes;
            added++;
        }
        else
            json_array_append_new (skipped, json_pack ("{s:s, s:s}", "name",
                                                       name ? name : "(none)", "reason",
                                                       reason));
    }
    return added;
}

char *
mcpc_tools_left_out (const json_t *skipped)
{
    size_t n = json_array_size (skipped);
    if (!n)
        return NULL;
    char text[1024];
    size_t at = (size_t) snprintf (text, sizeof text, "%zu tool%s left out:", n,
                                   n == 1 ? "" : "s");
    size_t i;
    json_t *skip;
    json_array_foreach (skipped, i, skip) {
        /* the last room is kept for the count of those not named */
        int w = snprintf (text + at, sizeof text - 40 - at, "%s %.64s (%s)", i ? ";" : "",
                          json_string_value (json_object_get (skip, "name")),
                          json_string_value (json_object_get (skip, "reason")));
        if (w < 0 || (size_t) w >= sizeof text - 40 - at) {
            text[at] = '\0';
            snprintf (text + at, sizeof text - at, "; %zu more (see the log)", n - i);
            break;
        }
        at += (size_t) w;
    }
    return xstrdup (text);
}

/* {success: false, error: {code, message}}. */
static json_t *
failure (const char *code, const char *message)
{
    return json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code", code,
                      "message", message);
}

json_t *
mcpc_tools_list (const mcpc_server_t *server, mcpc_request_fn *request, void *conn,
                 json_t *skipped, char *why, size_t whylen)
{
    json_t *entries = json_array ();
    json_t *params = NULL;
    for (int page = 0; page < MCPC_PAGES_MAX; page++) {
        json_t *result;
        int rc = request (conn, "tools/list", params, &result, why, whylen);
        json_decref (params);
        params = NULL;
        if (rc || mcpc_tools_add_page (server, result, entries, skipped, why,
                                       whylen) < 0) {
            json_decref (result);
            json_decref (entries);
            return NULL;
        }
        json_t *cursor = json_object_get (result, "nextCursor");
        if (json_is_string (cursor) && json_string_length (cursor))
            params = json_pack ("{s:O}", "cursor", cursor);
        json_decref (result);
        if (!params)
            break;
    }
    json_decref (params);
    return entries;
}

json_t *
mcpc_call_result (const mcpc_server_t *server, const json_t *result, bool *ok)
{
    *ok = false;
    json_t *content = json_object_get (result, "content");
    json_t *structured = json_object_get (result, "structuredContent");
    json_t *is_error = json_object_get (result, "isError");
    if (!json_is_array (content) || (structured && !json_is_object (structured))
        || (is_error && !json_is_boolean (is_error))) {
        char message[256];
        snprintf (message, sizeof message, "MCP server %s answered tools/call with something "
                  "that is not a tool result (content must be an array)", server->name);
        return failure ("mcp_bad_result", message);
    }
    size_t len = 0;
    size_t i;
    json_t *item;
    json_array_foreach (content, i, item)
        len += json_string_length (json_object_get (item, "text")) + 1;
    /* Appended at a running offset: strcat's scan of the text so far made
     * 640 000 one-letter blocks cost seconds of CPU. */
    char *text = xcalloc (1, len + 1);
    size_t at = 0;
    json_array_foreach (content, i, item) {
        json_t *t = json_object_get (item, "text");
        if (!json_is_string (t))
            continue;
        if (at)
            text[at++] = '\n';
        size_t n = strnlen (json_string_value (t), json_string_length (t));
        memcpy (text + at, json_string_value (t), n);
        at += n;
    }
    text[at] = '\0';
    json_t *out;
    if (json_is_true (is_error))
        out = failure ("mcp_tool_error", *text ? text : "the tool failed (no message)");
    else {
        out = json_pack ("{s:b, s:O, s:s}", "success", 1, "content", content, "text", text);
        if (structured)
            json_object_set (out, "structuredContent", structured);
        *ok = true;
    }
    free (text);
    json_t *fitted = jsoncap_fit (out, server->output_cap);
    json_decref (out);
    return fitted;
}
