/* cmd_tool: the tool and pull-request commands. See cmd_tool.h. */
#include "cmd_tool.h"
#include "bus_client.h"
#include "cliask.h"
#include "calls.h"
#include "cfg.h"
#include "forge.h"
#include "mpjson.h"
#include "sandbox_call.h"
#include "stack.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "caisson tool list [--json] [--data DIR]\n"
    "       caisson tool call NAME 'JSON-ARGS' [--dry-run] [--json] [--call-id ID]\n"
    "                         [--timeout SECONDS] [--data DIR]\n"
    "       caisson prs [--json] [--data DIR]\n"
    "       caisson pr ID [--json] [--data DIR]";

typedef struct {
    char data[PATH_MAX];
    bool json, dry_run;
    const char *pos[3];
    int npos;
    const char *call_id;
    unsigned timeout_s;
} opts_t;

static int
parse (int argc, char **argv, opts_t *o)
{
    const char *data = cfg_str ("CAISSON_DATA");
    o->timeout_s = 600;
    for (int i = 2; i < argc; i++) {
        if (!strcmp (argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp (argv[i], "--json"))
            o->json = true;
        else if (!strcmp (argv[i], "--dry-run"))
            o->dry_run = true;
        else if (!strcmp (argv[i], "--call-id") && i + 1 < argc)
            o->call_id = argv[++i];
        else if (!strcmp (argv[i], "--timeout") && i + 1 < argc)
            o->timeout_s = (unsigned) strtoul (argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && o->npos < 3)
            o->pos[o->npos++] = argv[i];
        else {
            fprintf (stderr, "caisson: unexpected argument '%s'\nusage: %s\n", argv[i], usage);
            return -1;
        }
    }
    return stack_prepare (data, o->data, sizeof o->data);
}

static void
print_json (const json_t *v, bool compact)
{
    char *text = json_dumps (v, compact ? JSON_COMPACT : JSON_INDENT (2));
    printf ("%s\n", text ? text : "null");
    free (text);
}

static proto_msg_t *
ask (const opts_t *o, proto_msg_t *req)
{
    stack_load_endpoints (o->data);
    bus_client_t *client = bus_client_new (cfg_str ("CAISSON_BUS"));
    proto_msg_t *rep = NULL;
    if (client && req) {
        /* The same request is resent until the call's time is up; its
         * call id keeps a resend from running the tool twice. */
        bus_client_set_timeout (client, 5000, (int) (o->timeout_s / 5 + 2));
        rep = bus_client_request (client, "tool-runner", req);
    }
    bus_client_destroy (&client);
    cliask_report ("tool-runner", rep);
    return rep;
}

static int
tool_list (const opts_t *o)
{
    proto_msg_t *req = proto_msg_new (PROTO_tools_list, NULL);
    proto_msg_t *rep = ask (o, req);
    proto_msg_destroy (&req);
    if (!rep || rep->type == PROTO_error) {
        proto_msg_destroy (&rep);
        return 3;
    }
    json_t *list = mpjson_get (&rep->body.tools_catalogue.tools, 32);
    proto_msg_destroy (&rep);
    if (o->json)
        print_json (list, true);
    else {
        size_t i;
        json_t *t;
        printf ("%-16s %-8s %-7s %s\n", "TOOL", "EFFECT", "TIMEOUT", "DESCRIPTION");
        json_array_foreach (list, i, t) {
            const char *d = json_string_value (json_object_get (t, "description"));
            const char *stop = strstr (d, ". ");
            printf ("%-16s %-8s %6llds %.*s\n", json_string_value (json_object_get (t, "name")),
                    json_string_value (json_object_get (t, "effect")),
                    (long long) json_integer_value (json_object_get (t, "timeoutSeconds")),
                    stop ? (int) (stop - d) : (int) strlen (d), d);
        }
    }
    json_decref (list);
    return 0;
}

static int
tool_call (const opts_t *o)
{
    if (o->npos < 3) {
        fprintf (stderr, "usage: %s\n", usage);
        return 2;
    }
    json_error_t jerr;
    json_t *args = json_loads (o->pos[2], JSON_DECODE_ANY, &jerr);
    if (!args) {
        fprintf (stderr, "caisson: the arguments are not JSON: %s\n", jerr.text);
        return 2;
    }
    char id[CID_SIZE];
    cid_new (id);
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    if (req) {
        proto_tools_call_t *c = &req->body.tools_call;
        proto_set_str (&c->name, o->pos[1]);
        proto_set_str (&c->call_id, o->call_id ? o->call_id : id);
        c->dry_run = o->dry_run;
        c->timeout_ms = (uint64_t) o->timeout_s * 1000;
        mpjson_set (&c->args, args, 32);
    }
    json_decref (args);
    proto_msg_t *rep = ask (o, req);
    proto_msg_destroy (&req);
    if (!rep || rep->type == PROTO_error) {
        proto_msg_destroy (&rep);
        return 3;
    }
    json_t *result = mpjson_get (&rep->body.tools_result.result, 32);
    bool ok = rep->body.tools_result.ok;
    proto_msg_destroy (&rep);
    print_json (result, o->json);
    json_decref (result);
    return ok ? 0 : 1;
}

static forge_t *
open_forge (const opts_t *o, calls_t **calls)
{
    char dir[PATH_MAX + 16];
    snprintf (dir, sizeof dir, "%s/tool-runner", o->data);
    *calls = calls_new (dir, "cli", 1);
    forge_t *f = *calls ? forge_new (*calls) : NULL;
    if (!f)
        fprintf (stderr, "caisson: no tool-runner store in %s\n", o->data);
    return f;
}

static int
prs (const opts_t *o)
{
    calls_t *calls;
    forge_t *forge = open_forge (o, &calls);
    json_t *list = forge ? forge_list (forge) : NULL;
    int status = list ? 0 : 1;
    if (list && o->json)
        print_json (list, true);
    else if (list) {
        size_t i;
        json_t *p;
        printf ("%-5s %-7s %-40s %s\n", "ID", "STATUS", "BRANCH", "TITLE");
        json_array_foreach (list, i, p)
            printf ("%-5s %-7s %-40s %s\n", json_string_value (json_object_get (p, "id")),
                    json_string_value (json_object_get (p, "status")),
                    json_string_value (json_object_get (p, "head")),
                    json_string_value (json_object_get (p, "title")));
    }
    json_decref (list);
    forge_destroy (&forge);
    calls_destroy (&calls);
    return status;
}

static int
pr (const opts_t *o)
{
    if (o->npos < 1) {
        fprintf (stderr, "usage: %s\n", usage);
        return 2;
    }
    calls_t *calls;
    forge_t *forge = open_forge (o, &calls);
    json_t *p = forge ? forge_get (forge, o->pos[0]) : NULL;
    int status = p ? 0 : 1;
    if (!p && forge)
        fprintf (stderr, "caisson: no pull request %s\n", o->pos[0]);
    else if (p && o->json)
        print_json (p, true);
    else if (p)
        printf ("#%s %s [%s]\n%s <- %s (%s)\n\n%s\n\n%s",
                json_string_value (json_object_get (p, "id")),
                json_string_value (json_object_get (p, "title")),
                json_string_value (json_object_get (p, "status")),
                json_string_value (json_object_get (p, "base")),
                json_string_value (json_object_get (p, "head")),
                json_string_value (json_object_get (p, "commit")),
                json_string_value (json_object_get (p, "body")),
                json_string_value (json_object_get (p, "diff")));
    json_decref (p);
    forge_destroy (&forge);
    calls_destroy (&calls);
    return status;
}

int
cmd_tool_main (int argc, char **argv)
{
    opts_t o = { 0 };
    if (parse (argc, argv, &o))
        return 2;
    if (!strcmp (argv[1], "prs"))
        return prs (&o);
    if (!strcmp (argv[1], "pr"))
        return pr (&o);
    if (o.npos >= 1 && !strcmp (o.pos[0], "list"))
        return tool_list (&o);
    if (o.npos >= 1 && !strcmp (o.pos[0], "call"))
        return tool_call (&o);
    fprintf (stderr, "usage: %s\n", usage);
    return 2;
}
