/* cmd_mcp: `caisson mcp list|set|get|clear`. See cmd_mcp.h. */
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

static const char *usage = "caisson mcp list|get [--json] | set FILE|- | clear  [--data DIR]";

/* The largest mcp.json set reads (mcp.config.put's `content`). */
#define MAX_READ 65536

bool
cmd_mcp_is (const char *argv1)
{
    return !strcmp (argv1, "mcp");
}

/* tool-runner's answer to req (taken), or NULL (why printed; *refused
 * when it answered with an error). */
static proto_msg_t *
ask (const char *data, proto_msg_t *req, bool *refused)
{
    stack_load_endpoints (data);
    bus_client_t *client = bus_client_new (cfg_str ("CAISSON_BUS"));
    proto_msg_t *rep = NULL;
    if (client) {
        bus_client_set_timeout (client, 10000, 1);
        rep = bus_client_request (client, "tool-runner", req);
    }
    proto_msg_destroy (&req);
    bus_client_destroy (&client);
    *refused = rep && rep->type == PROTO_error;
    if (cliask_report ("tool-runner", rep))
        proto_msg_destroy (&rep);
    return rep;
}

/* The servers tool-runner lists, or NULL (why printed). */
static json_t *
ask_list (const char *data)
{
    bool refused;
    proto_msg_t *rep = ask (data, proto_msg_new (PROTO_mcp_list, NULL), &refused);
    json_t *list = rep ? mpjson_get (&rep->body.mcp_servers.servers, 32) : NULL;
    proto_msg_destroy (&rep);
    return list;
}

/* The whole of f (at most MAX_READ bytes), or NULL. */
static char *
slurp (FILE *f)
{
    char *text = malloc (MAX_READ + 2);
    size_t n = text ? fread (text, 1, MAX_READ + 1, f) : 0;
    if (!text || n > MAX_READ || ferror (f)) {
        free (text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

/* set (file: a path or "-"), get or clear. */
static int
config (const char *data, const char *command, const char *file, bool json)
{
    proto_msg_t *req;
    if (!strcmp (command, "get"))
        req = proto_msg_new (PROTO_mcp_config_get, NULL);
    else {
        char *text = NULL;
        if (file) {
            FILE *f = strcmp (file, "-") ? fopen (file, "rb") : stdin;
            text = f ? slurp (f) : NULL;
            if (f && f != stdin)
                fclose (f);
            if (!text) {
                fprintf (stderr, "caisson: cannot read %s (at most %d bytes)\n", file, MAX_READ);
                return 2;
            }
        }
        req = proto_msg_new (PROTO_mcp_config_put, NULL);
        proto_set_str (&req->body.mcp_config_put.content, text ? text : "");
        req->body.mcp_config_put.any_version = true;
        free (text);
    }
    bool refused;
    proto_msg_t *rep = ask (data, req, &refused);
    if (!rep)
        return refused ? 1 : 3;
    const proto_mcp_config_t *c = &rep->body.mcp_config;
    if (json) {
        json_t *j = json_pack ("{s:s, s:I, s:s?, s:I}", "content", c->content, "version",
                               (json_int_t) c->version, "user", c->user, "updated",
                               (json_int_t) c->updated);
        char *text = json_dumps (j, JSON_COMPACT);
        printf ("%s\n", text ? text : "{}");
        free (text);
        json_decref (j);
    }
    else if (!strcmp (command, "get"))
        printf ("%s%s", c->content, *c->content && c->content[strlen (c->content) - 1] != '\n'
                                    ? "\n" : "");
    else
        printf ("mcp.json of %s: version %llu%s\n", c->user ? c->user : "you",
                (unsigned long long) c->version, *c->content ? "" : " (cleared)");
    proto_msg_destroy (&rep);
    return 0;
}

static void
print_table (const json_t *list)
{
    printf ("%-24s %-10s %-6s %-10s %-5s %s\n", "SERVER", "SCOPE", "KIND", "STATE", "TOOLS",
            "DETAIL");
    size_t i;
    json_t *s;
    json_array_foreach (list, i, s) {
        json_t *tools = json_object_get (s, "tools");
        const char *reason = json_string_value (json_object_get (s, "reason"));
        printf ("%-24s %-10s %-6s %-10s %5zu %s%s\n",
                json_string_value (json_object_get (s, "name")),
                json_string_value (json_object_get (s, "scope")),
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
    const char *command = argc > 2 ? argv[2] : "", *file = NULL;
    if (strcmp (command, "list") && strcmp (command, "set") && strcmp (command, "get")
        && strcmp (command, "clear")) {
        fprintf (stderr, "usage: %s\n", usage);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (!strcmp (argv[i], "--json"))
            json = true;
        else if (!strcmp (argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp (command, "set") && !file)
            file = argv[i];
        else {
            fprintf (stderr, "caisson: unexpected argument '%s'\nusage: %s\n", argv[i], usage);
            return 2;
        }
    }
    if (!strcmp (command, "set") && !file) {
        fprintf (stderr, "caisson: `mcp set` takes a file (or - for stdin)\nusage: %s\n", usage);
        return 2;
    }
    char dir[PATH_MAX];
    if (stack_prepare (data, dir, sizeof dir))
        return 2;
    if (strcmp (command, "list"))
        return config (dir, command, file, json);
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
