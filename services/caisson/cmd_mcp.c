/* cmd_mcp: `caisson mcp list [--json]`. See cmd_mcp.h. */
#include "cmd_mcp.h"
#include "bus_client.h"
#include "cfg.h"
#include "cliask.h"
#include "mpjson.h"
#include "stack.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage = "caisson mcp list [--json] [--data DIR]";

bool
cmd_mcp_is (const char *argv1)
{
    return !strcmp (argv1, "mcp");
}

/* The servers tool-runner lists, or NULL (why printed). */
static json_t *
ask_list (const char *data)
{
    stack_load_endpoints (data);
    bus_client_t *client = bus_client_new (cfg_str ("CAISSON_BUS"));
    proto_msg_t *rep = NULL;
    if (client) {
        bus_client_set_timeout (client, 5000, 2);
        rep = cliask (client, "tool-runner", proto_msg_new (PROTO_mcp_list, NULL));
    }
    bus_client_destroy (&client);
    json_t *list = rep ? mpjson_get (&rep->body.mcp_servers.servers, 32) : NULL;
    proto_msg_destroy (&rep);
    return list;
}

static void
print_table (const json_t *list)
{
    printf ("%-24s %-6s %-10s %-5s %s\n", "SERVER", "KIND", "STATE", "TOOLS", "DETAIL");
    size_t i;
    json_t *s;
    json_array_foreach (list, i, s) {
        json_t *tools = json_object_get (s, "tools");
        const char *reason = json_string_value (json_object_get (s, "reason"));
        printf ("%-24s %-6s %-10s %5zu %s%s\n", json_string_value (json_object_get (s, "name")),
                json_string_value (json_object_get (s, "transport")),
                json_string_value (json_object_get (s, "state")), json_array_size (tools),
                json_is_true (json_object_get (s, "trusted")) ? "trusted " : "",
                reason ? reason : "");
        size_t j;
        json_t *t;
        json_array_foreach (tools, j, t)
            printf ("  %s\n", json_string_value (json_object_get (t, "name")));
    }
}

int
cmd_mcp_main (int argc, char **argv)
{
    const char *data = cfg_str ("CAISSON_DATA");
    bool json = false;
    int i = 2;
    if (argc < 3 || strcmp (argv[i++], "list")) {
        fprintf (stderr, "usage: %s\n", usage);
        return 2;
    }
    for (; i < argc; i++) {
        if (!strcmp (argv[i], "--json"))
            json = true;
        else if (!strcmp (argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else {
            fprintf (stderr, "caisson: unexpected argument '%s'\nusage: %s\n", argv[i], usage);
            return 2;
        }
    }
    char dir[PATH_MAX];
    if (stack_prepare (data, dir, sizeof dir))
        return 2;
    json_t *list = ask_list (dir);
    if (!list)
        return 3;
    if (json) {
        char *text = json_dumps (list, JSON_COMPACT);
        printf ("%s\n", text ? text : "[]");
        free (text);
    }
    else
        print_table (list);
    json_decref (list);
    return 0;
}
