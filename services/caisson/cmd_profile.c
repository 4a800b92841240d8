/* cmd_profile: versioned profiles from the command line (see
 * cmd_profile.h).
 *
 *   caisson profile list [NAME]                 profiles, versions, what is rolled out
 *   caisson profile show NAME[@V]               one version's body (default: the active)
 *   caisson profile create NAME --file F [--note TEXT]   a new version from F's JSON body
 *   caisson profile diff NAME A B               what changed from version A to B
 *   caisson profile activate NAME V [--canary PCT]       roll V out, to all or PCT% of threads
 *   caisson profile rollback NAME               withdraw the candidate, else go back
 *
 * Each takes --json (the answer as JSON) and --data DIR. */
#include "cmd_profile.h"
#include "bus_client.h"
#include "cfg.h"
#include "cliask.h"
#include "mpjson.h"
#include "stack.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USAGE "usage: caisson profile list [NAME] | show NAME[@V] | create NAME --file BODY.json " \
              "[--note TEXT] | diff NAME A B | activate NAME V [--canary PCT] | rollback NAME " \
              "[--json] [--data DIR]"
#define MAX_BODY (256u << 10)   /* profile.create's body */
#define MAX_ARGS 3

typedef struct {
    const char *command, *file, *note, *canary;
    const char *args[MAX_ARGS];
    int nargs;
    bool json;
    char data[PATH_MAX];
} opts_t;

bool
cmd_profile_is (const char *argv1)
{
    return !strcmp (argv1, "profile");
}

/* The positional arguments each command takes: at least, at most. */
static int
arity (const char *command, int *most)
{
    static const struct { const char *name; int least, most; } table[] = {
        { "list", 0, 1 }, { "show", 1, 1 }, { "create", 1, 1 }, { "diff", 3, 3 },
        { "activate", 2, 2 }, { "rollback", 1, 1 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp (command, table[i].name)) {
            *most = table[i].most;
            return table[i].least;
        }
    return -1;
}

static int
parse (int argc, char **argv, opts_t *o)
{
    const char *data = cfg_str ("CAISSON_DATA");
    o->command = argc > 2 ? argv[2] : "";
    int most = 0, least = arity (o->command, &most);
    for (int i = 3; least >= 0 && i < argc; i++) {
        bool more = i + 1 < argc;
        if (!strcmp (argv[i], "--data") && more)
            data = argv[++i];
        else if (!strcmp (argv[i], "--file") && more && !strcmp (o->command, "create"))
            o->file = argv[++i];
        else if (!strcmp (argv[i], "--note") && more && !strcmp (o->command, "create"))
            o->note = argv[++i];
        else if (!strcmp (argv[i], "--canary") && more && !strcmp (o->command, "activate"))
            o->canary = argv[++i];
        else if (!strcmp (argv[i], "--json"))
            o->json = true;
        else if (strncmp (argv[i], "--", 2) && o->nargs < most)
            o->args[o->nargs++] = argv[i];
        else {
            fprintf (stderr, "caisson: unexpected argument '%s'\n%s\n", argv[i], USAGE);
            return -1;
        }
    }
    if (least < 0 || o->nargs < least || (!strcmp (o->command, "create") && !o->file)) {
        fprintf (stderr, "%s\n", USAGE);
        return -1;
    }
    return stack_prepare (data, o->data, sizeof o->data);
}

/* A version number from 1, or 0 (why printed). */
static uint64_t
number (const char *s, const char *what, uint64_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = s && *s >= '0' && *s <= '9' ? strtoull (s, &end, 10) : 0;
    if (!v || errno || *end || v > max) {
        fprintf (stderr, "caisson: %s: '%s' is not a number from 1 to %llu\n", what, s ? s : "",
                 (unsigned long long) max);
        return 0;
    }
    return v;
}

/* The body in path (a JSON object, at most MAX_BODY bytes), or NULL (why
 * printed). */
static json_t *
read_body (const char *path)
{
    FILE *f = !strcmp (path, "-") ? stdin : fopen (path, "r");
    if (!f) {
        fprintf (stderr, "caisson: %s: %s\n", path, strerror (errno));
        return NULL;
    }
    json_error_t err;
    char *text = malloc (MAX_BODY + 1);
    size_t n = text ? fread (text, 1, MAX_BODY + 1, f) : 0;
    if (f != stdin)
        fclose (f);
    json_t *body = text && n <= MAX_BODY ? json_loadb (text, n, 0, &err) : NULL;
    free (text);
    if (n > MAX_BODY)
        fprintf (stderr, "caisson: %s: longer than %u bytes\n", path, MAX_BODY);
    else if (!body)
        fprintf (stderr, "caisson: %s: line %d: %s\n", path, err.line, err.text);
    else if (!json_is_object (body)) {
        fprintf (stderr, "caisson: %s: expected a JSON object (a profile's body)\n", path);
        json_decref (body);
        body = NULL;
    }
    return body;
}

/* The request for o's command (new), or NULL (why printed). */
static proto_msg_t *
request (const opts_t *o)
{
    const char *c = o->command, *name = o->args[0];
    proto_msg_t *req = NULL;
    if (!strcmp (c, "list")) {
        req = proto_msg_new (PROTO_profile_list, NULL);
        proto_set_str (&req->body.profile_list.name, name);
    }
    else if (!strcmp (c, "show")) {
        const char *at = strchr (name, '@');
        uint64_t v = at ? number (at + 1, "version", UINT64_MAX) : 0;
        if (at && !v)
            return NULL;
        req = proto_msg_new (PROTO_profile_get, NULL);
        char *n = at ? strndup (name, (size_t) (at - name)) : strdup (name);
        proto_set_str (&req->body.profile_get.name, n);
        free (n);
        req->body.profile_get.version = v;
    }
    else if (!strcmp (c, "create")) {
        json_t *body = read_body (o->file);
        if (!body)
            return NULL;
        req = proto_msg_new (PROTO_profile_create, NULL);
        proto_set_str (&req->body.profile_create.name, name);
        proto_set_str (&req->body.profile_create.note, o->note);
        int rc = mpjson_set (&req->body.profile_create.body, body, 32);
        json_decref (body);
        if (rc) {
            fprintf (stderr, "caisson: %s: nested too deep\n", o->file);
            proto_msg_destroy (&req);
        }
    }
    else if (!strcmp (c, "diff")) {
        uint64_t a = number (o->args[1], "A", UINT64_MAX), b = a ? number (o->args[2], "B",
                                                                           UINT64_MAX) : 0;
        if (!b)
            return NULL;
        req = proto_msg_new (PROTO_profile_diff, NULL);
        proto_set_str (&req->body.profile_diff.name, name);
        req->body.profile_diff.a = a;
        req->body.profile_diff.b = b;
    }
    else if (!strcmp (c, "activate")) {
        uint64_t v = number (o->args[1], "version", UINT64_MAX);
        uint64_t pct = o->canary ? number (o->canary, "--canary", 100) : 0;
        if (!v || (o->canary && !pct))
            return NULL;
        req = proto_msg_new (PROTO_profile_activate, NULL);
        proto_set_str (&req->body.profile_activate.name, name);
        req->body.profile_activate.version = v;
        req->body.profile_activate.canary_percent = pct;
    }
    else {
        req = proto_msg_new (PROTO_profile_rollback, NULL);
        proto_set_str (&req->body.profile_rollback.name, name);
    }
    return req;
}

static void
print_json (json_t *j)
{
    char *s = json_dumps (j, JSON_COMPACT);
    printf ("%s\n", s ? s : "null");
    free (s);
    json_decref (j);
}

/* A `profile` answer: its header, then its body. */
static void
print_profile (const opts_t *o, const proto_profile_t *p)
{
    json_t *body = mpjson_get (&p->body, 32);
    if (o->json) {
        print_json (json_pack ("{s:s, s:I, s:o, s:s?, s:s?, s:I, s:s?}", "name", p->name,
                               "version", (json_int_t) p->version, "body",
                               body ? body : json_object (), "note", p->note, "by", p->by,
                               "created", (json_int_t) p->created, "role", p->role));
        return;
    }
    if (!strcmp (o->command, "create"))
        printf ("created %s@%llu (activate it with `caisson profile activate %s %llu`)\n",
                p->name, (unsigned long long) p->version, p->name,
                (unsigned long long) p->version);
    else {
        char *text = json_dumps (body, JSON_INDENT (2) | JSON_SORT_KEYS);
        printf ("%s@%llu%s%s%s%s%s\n%s\n", p->name, (unsigned long long) p->version,
                p->role ? " (" : "", p->role ? p->role : "", p->role ? ")" : "",
                p->note ? ": " : "", p->note ? p->note : "", text ? text : "{}");
        free (text);
    }
    json_decref (body);
}

/* One profile of a `profile.state`: what is rolled out, then its versions. */
static void
print_state_one (const json_t *p)
{
    const char *name = json_string_value (json_object_get (p, "name")) ?: "?";
    json_int_t active = json_integer_value (json_object_get (p, "active"));
    if (active > 0)
        printf ("%s: active %lld", name, (long long) active);
    else
        printf ("%s: no active version (runs use it only pinned)", name);
    if (json_object_get (p, "candidate"))
        printf (", candidate %lld at %lld%%",
                (long long) json_integer_value (json_object_get (p, "candidate")),
                (long long) json_integer_value (json_object_get (p, "canaryPercent")));
    json_t *prev = json_object_get (p, "previous");
    if (json_array_size (prev))
        printf (", previous %lld", (long long) json_integer_value (json_array_get (prev, 0)));
    printf ("\n");
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get (p, "versions"), i, v) {
        time_t t = (time_t) (json_integer_value (json_object_get (v, "created")) / 1000000);
        char when[32] = "";
        struct tm tm;
        if (gmtime_r (&t, &tm))
            strftime (when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        const char *by = json_string_value (json_object_get (v, "by"));
        const char *note = json_string_value (json_object_get (v, "note"));
        printf ("  %3lld  %s UTC%s%s%s%s\n",
                (long long) json_integer_value (json_object_get (v, "version")), when,
                by ? "  by " : "", by ? by : "", note ? "  " : "", note ? note : "");
    }
}

static void
print_reply (const opts_t *o, const proto_msg_t *rep)
{
    if (rep->type == PROTO_profile)
        print_profile (o, &rep->body.profile);
    else if (rep->type == PROTO_profile_state) {
        json_t *list = mpjson_get (&rep->body.profile_state.profiles, 32);
        size_t i;
        json_t *p;
        if (o->json) {
            print_json (json_pack ("{s:o}", "profiles", list ? list : json_array ()));
            return;
        }
        if (!json_array_size (list))
            printf ("no profiles: runs use the deployment's own settings (builtin)\n");
        json_array_foreach (list, i, p)
            print_state_one (p);
        json_decref (list);
    }
    else {
        const proto_profile_diff_result_t *d = &rep->body.profile_diff_result;
        if (o->json)
            print_json (json_pack ("{s:s, s:I, s:I, s:s}", "name", d->name, "a",
                                   (json_int_t) d->a, "b", (json_int_t) d->b, "diff",
                                   d->diff ? d->diff : ""));
        else if (!d->diff || !*d->diff)
            printf ("%s@%llu and @%llu are the same\n", d->name, (unsigned long long) d->a,
                    (unsigned long long) d->b);
        else
            printf ("%s%s", d->diff, d->diff[strlen (d->diff) - 1] == '\n' ? "" : "\n");
    }
}

int
cmd_profile_main (int argc, char **argv)
{
    opts_t o = { 0 };
    if (parse (argc, argv, &o))
        return 2;
    proto_msg_t *req = request (&o);
    if (!req)
        return 2;
    stack_load_endpoints (o.data);
    bus_client_t *client = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (!client) {
        proto_msg_destroy (&req);
        return 1;
    }
    bus_client_set_timeout (client, 10000, 1);
    proto_msg_t *rep = cliask (client, "event-log", req);
    bus_client_destroy (&client);
    bool known = rep && (rep->type == PROTO_profile || rep->type == PROTO_profile_state
                         || rep->type == PROTO_profile_diff_result);
    if (rep && !known)
        fprintf (stderr, "caisson: event-log answered with %s\n", proto_type_name (rep->type));
    if (known)
        print_reply (&o, rep);
    proto_msg_destroy (&rep);
    return known ? 0 : 1;
}
