/* client_tools: checks the caller's own tools (see client_tools.h). */
#include "client_tools.h"
#include "memtool.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_CLIENT_TOOLS 32
#define MAX_CLIENT_TOOL_NAME 64
#define MAX_CLIENT_TOOL_DESCRIPTION 4096

json_t *
client_tools_find (const json_t *tools, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach (tools, i, t)
        if (strcmp (json_string_value (json_object_get (t, "name")) ?: "", name) == 0)
            return t;
    return NULL;
}

int
client_tools_clash (const json_t *client, const json_t *catalogue, char *why, size_t whylen)
{
    size_t i;
    json_t *t;
    json_array_foreach (client, i, t) {
        const char *name = json_string_value (json_object_get (t, "name"));
        if (memtool_is (name)) {
            snprintf (why, whylen, "client_tools[%zu].name: '%s' is the orchestrator's own tool",
                      i, name);
            return -1;
        }
        if (client_tools_find (catalogue, name)) {
            snprintf (why, whylen, "client_tools[%zu].name: '%s' is one of tool-runner's tools",
                      i, name);
            return -1;
        }
    }
    return 0;
}

/* Client tool names travel to the model as they are: no dots, and no
 * "__" (which the wire encoding decodes as a dot). */
static bool
valid_name (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > MAX_CLIENT_TOOL_NAME || strstr (name, "__")
        || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z')
              || (name[i] >= '0' && name[i] <= '9') || name[i] == '_' || name[i] == '-'))
            return false;
    return true;
}

json_t *
client_tools_check (const json_t *list, const json_t *catalogue, char *why, size_t whylen)
{
    if (!json_is_array (list)) {
        snprintf (why, whylen, "client_tools: expected an array of {name, description?, "
                  "parameters?}");
        return NULL;
    }
    if (json_array_size (list) > MAX_CLIENT_TOOLS) {
        snprintf (why, whylen, "client_tools: %zu tools, at most %d", json_array_size (list),
                  MAX_CLIENT_TOOLS);
        return NULL;
    }
    json_t *out = json_array ();
    size_t i;
    json_t *t;
    json_array_foreach (list, i, t) {
        const char *name = json_string_value (json_object_get (t, "name"));
        json_t *desc = json_object_get (t, "description");
        json_t *params = json_object_get (t, "parameters");
        if (!json_is_object (t))
            snprintf (why, whylen, "client_tools[%zu]: expected a map", i);
        else if (!name || !valid_name (name))
            snprintf (why, whylen, "client_tools[%zu].name: expected ^[A-Za-z][A-Za-z0-9_-]"
                      "{0,63}$ without '__'", i);
        else if (desc && (!json_is_string (desc)
                          || json_string_length (desc) > MAX_CLIENT_TOOL_DESCRIPTION))
            snprintf (why, whylen, "client_tools[%zu].description: expected a string of at "
                      "most %d bytes", i, MAX_CLIENT_TOOL_DESCRIPTION);
        else if (params && (!json_is_object (params)
                            || strcmp (json_string_value (json_object_get (params, "type")) ?: "",
                                       "object") != 0))
            snprintf (why, whylen, "client_tools[%zu].parameters: expected a JSON schema of "
                      "type object", i);
        else if (client_tools_find (out, name))
            snprintf (why, whylen, "client_tools[%zu].name: '%s' is named twice", i, name);
        else {
            json_array_append_new (out, json_pack ("{s:s, s:O?, s:o}", "name", name, "description",
                                                   desc, "inputSchema",
                                                   params ? json_incref (params)
                                                          : json_pack ("{s:s}", "type", "object")));
            continue;
        }
        json_decref (out);
        return NULL;
    }
    if (client_tools_clash (out, catalogue, why, whylen)) {
        json_decref (out);
        return NULL;
    }
    return out;
}

json_t *
client_tools_call_check (const json_t *call, const json_t *catalogue, char *why, size_t whylen)
{
    const char *name = json_string_value (json_object_get (call, "name"));
    json_t *args = json_object_get (call, "args");
    if (!json_is_object (call) || !name || !*name || strlen (name) > 128) {
        snprintf (why, whylen, "tool_call: expected {name, args} with name a tool's name");
        return NULL;
    }
    if (args && !json_is_object (args)) {
        snprintf (why, whylen, "tool_call.args: expected a JSON map");
        return NULL;
    }
    if (catalogue && !client_tools_find (catalogue, name)) {
        snprintf (why, whylen, "tool_call.name: no tool '%.128s' in tool-runner's catalogue",
                  name);
        return NULL;
    }
    return json_pack ("{s:s, s:o}", "name", name, "args",
                      args ? json_incref (args) : json_object ());
}
