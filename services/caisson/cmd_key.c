/* cmd_key: virtual keys from the command line (see cmd_key.h). The CLI
 * holds the stack's operator key, so it asks as an operator named $USER
 * (else `cli`); `--user U` names whose keys, budget or usage. The secret
 * of a new key is printed once, on stdout, and never again. */
#include "cmd_key.h"
#include "cmd_key_spend.h"
#include "cfg.h"
#include "clog.h"
#include "cliask.h"
#include "mpjson.h"
#include "stack.h"
#include "tokens.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERVICE "gateway-keys"

static const char *usage =
    "caisson key create [--user U] [--name N] [--models a,b] [--rpm N] [--tpm N]\n"
    "                   [--budget-usd X] [--budget-tokens N] [--window day|week|month|total]\n"
    "                   [--expires 30d] [--json]\n"
    "  a model gateway key (vk_...; not `caisson keys`, the bus keys): printed once\n"
    "caisson key list [--user U|--all] [--kind user|sandbox|run] [--revoked] [--json]\n"
    "caisson key revoke ID|--sandbox S\n"
    "caisson key usage [ID|--user U] [--json]\n"
    "  budget counters per scope: spent, reserved, limit, reset\n"
    "caisson key usage [ID|--user U|--all] --since T|--by model|key|day [--json]\n"
    "  spend summed per model, key or UTC day since T (2026-12-01, or 7d back; default 30d)\n"
    "caisson key budget --user U [--usd X] [--tokens N] [--window W] [--keys-max N]\n"
    "  a user's budget across all their keys (operators)";

typedef struct {
    const char *verb, *self, *user, *name, *models, *window, *expires, *kind, *id, *sandbox;
    const char *since, *by;
    uint64_t rpm, tpm, tokens, nusd, keys_max;
    bool json, all, revoked;
    char data[PATH_MAX];
} opts_t;

/* Parses a whole number; false when text is not one. */
static bool
num (const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull (text, &end, 10);
    *out = v;
    return *text >= '0' && *text <= '9' && !*end;
}

/* Parses dollars ("2.50": digits, a point and digits) into nano-USD.
 * strtod alone took nan, hex and exponents; and a positive amount that
 * rounds to 0 would be no budget at all (0 means none), so it is refused. */
static bool
usd (const char *text, uint64_t *out)
{
    size_t digits = strspn (text, "0123456789");
    if (!digits || (text[digits] && (text[digits] != '.'
                                     || text[digits + 1 + strspn (text + digits + 1,
                                                                   "0123456789")])))
        return false;
    double v = strtod (text, NULL);
    if (v > 1e9)
        return false;
    *out = (uint64_t) (v * 1e9 + 0.5);
    return !(v > 0 && !*out);
}

static int
parse (int argc, char **argv, opts_t *o)
{
    const char *data = cfg_str ("CAISSON_DATA");
    o->verb = argc > 2 ? argv[2] : "";
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp (a, "--json"))
            o->json = true;
        else if (!strcmp (a, "--all"))
            o->all = true;
        else if (!strcmp (a, "--revoked"))
            o->revoked = true;
        else if (a[0] == '-' && !v)
            ok = false;
        else if (!strcmp (a, "--data"))
            data = argv[++i];
        else if (!strcmp (a, "--user"))
            o->user = argv[++i];
        else if (!strcmp (a, "--name"))
            o->name = argv[++i];
        else if (!strcmp (a, "--models"))
            o->models = argv[++i];
        else if (!strcmp (a, "--window"))
            o->window = argv[++i];
        else if (!strcmp (a, "--expires"))
            o->expires = argv[++i];
        else if (!strcmp (a, "--kind"))
            o->kind = argv[++i];
        else if (!strcmp (a, "--sandbox"))
            o->sandbox = argv[++i];
        else if (!strcmp (a, "--since"))
            o->since = argv[++i];
        else if (!strcmp (a, "--by"))
            o->by = argv[++i];
        else if (!strcmp (a, "--rpm"))
            ok = num (argv[++i], &o->rpm);
        else if (!strcmp (a, "--tpm"))
            ok = num (argv[++i], &o->tpm);
        else if (!strcmp (a, "--budget-tokens") || !strcmp (a, "--tokens"))
            ok = num (argv[++i], &o->tokens);
        else if (!strcmp (a, "--budget-usd") || !strcmp (a, "--usd"))
            ok = usd (argv[++i], &o->nusd);
        else if (!strcmp (a, "--keys-max"))
            ok = num (argv[++i], &o->keys_max);
        else if (a[0] != '-' && !o->id)
            o->id = a;
        else
            ok = false;
        if (!ok) {
            fprintf (stderr, "caisson: unexpected or bad argument '%s'\nusage: %s\n", a, usage);
            return -1;
        }
    }
    if (o->user && !tokens_valid_user (o->user)) {
        fprintf (stderr, "caisson: --user needs 1 to %d of [A-Za-z0-9._@-]\n", TOKENS_USER_MAX);
        return -1;
    }
    return stack_prepare (data, o->data, sizeof o->data);
}

static void
print_json (const json_t *v)
{
    char *s = json_dumps (v, JSON_COMPACT);
    printf ("%s\n", s ? s : "null");
    free (s);
}

/* "2026-12-06T18:00Z" for ms since the epoch, "-" for 0. */
static const char *
when (json_int_t ms, char *out, size_t n)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r (&t, &tm) || !strftime (out, n, "%Y-%m-%dT%H:%MZ", &tm))
        snprintf (out, n, "-");
    return out;
}

static json_int_t
ji (const json_t *o, const char *k)
{
    return json_integer_value (json_object_get (o, k));
}

static const char *
js (const json_t *o, const char *k)
{
    const char *s = json_string_value (json_object_get (o, k));
    return s && *s ? s : "-";
}

/* "a,b" as a JSON array of strings. */
static json_t *
model_list (const char *csv)
{
    json_t *a = json_array ();
    char *copy = strdup (csv), *save = NULL;
    for (char *m = strtok_r (copy, ",", &save); m; m = strtok_r (NULL, ",", &save))
        if (*m)
            json_array_append_new (a, json_string (m));
    free (copy);
    return a;
}

static int
create_key (bus_client_t *c, const opts_t *o)
{
    proto_msg_t *m = proto_msg_new (PROTO_gkey_create, NULL);
    proto_gkey_create_t *b = &m->body.gkey_create;
    proto_set_str (&b->user, o->user);
    proto_set_str (&b->name, o->name);
    proto_set_str (&b->window, o->window);
    b->rpm = o->rpm;
    b->tpm = o->tpm;
    b->budget_tokens = o->tokens;
    b->budget_nusd = o->nusd;
    if (o->models) {
        json_t *a = model_list (o->models);
        mpjson_set (&b->models, a, 2);
        json_decref (a);
    }
    if (o->expires) {
        uint64_t ttl;
        if (tokens_parse_duration (o->expires, &ttl)) {
            fprintf (stderr, "caisson: --expires '%s': expected N followed by s, m, h or d "
                     "(e.g. 30d), or never\n", o->expires);
            proto_msg_destroy (&m);
            return 2;
        }
        b->expires_at = ttl ? tokens_now_ms () + ttl : 0;
    }
    proto_msg_t *rep = cliask (c, SERVICE, m);
    if (!rep)
        return 1;
    json_t *info = mpjson_get (&rep->body.gkey_made.info, 8);
    if (o->json) {
        json_t *out = json_pack ("{s:s, s:O}", "key", rep->body.gkey_made.key, "info",
                                 info ? info : json_null ());
        print_json (out);
        json_decref (out);
    }
    else {
        printf ("%s\n", rep->body.gkey_made.key);
        fprintf (stderr, "key %s of %s: shown once, keep it now (only its hash is stored)\n",
                 js (info, "id"), js (info, "user"));
    }
    json_decref (info);
    proto_msg_destroy (&rep);
    return 0;
}

static int
list_keys (bus_client_t *c, const opts_t *o)
{
    proto_msg_t *m = proto_msg_new (PROTO_gkey_list, NULL);
    proto_set_str (&m->body.gkey_list.user, o->all ? NULL : o->user ? o->user : o->self);
    proto_set_str (&m->body.gkey_list.kind, o->kind);
    m->body.gkey_list.revoked = o->revoked;
    proto_msg_t *rep = cliask (c, SERVICE, m);
    if (!rep)
        return 1;
    json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 8), *k;
    size_t i;
    if (!o->json)
        printf ("%-12s  %-16s  %-8s  %-16s  %-6s %-8s %-14s %-17s  %s\n", "ID", "USER", "KIND",
                "NAME", "RPM", "TPM", "USD SPENT", "EXPIRES", "STATE");
    json_array_foreach (keys, i, k) {
        if (o->json) {
            print_json (k);
            continue;
        }
        char e[32];
        json_t *u = json_object_get (k, "usage");
        printf ("%-12s  %-16.16s  %-8s  %-16.16s  %-6lld %-8lld %-14.6f %-17s  %s\n",
                js (k, "id"), js (k, "user"), js (k, "kind"), js (k, "name"),
                (long long) ji (k, "rpm"), (long long) ji (k, "tpm"),
                (double) ji (u, "spentNusd") / 1e9, when (ji (k, "expiresAt"), e, sizeof e),
                ji (k, "revoked") ? "revoked" : "live");
    }
    json_decref (keys);
    proto_msg_destroy (&rep);
    return 0;
}

static int
revoke_key (bus_client_t *c, const opts_t *o)
{
    if (!o->id == !o->sandbox) {
        fprintf (stderr, "caisson: key revoke takes a key id or --sandbox S\nusage: %s\n", usage);
        return 2;
    }
    proto_msg_t *m = proto_msg_new (PROTO_gkey_revoke, NULL);
    proto_set_str (&m->body.gkey_revoke.key_id, o->id);
    proto_set_str (&m->body.gkey_revoke.sandbox_id, o->sandbox);
    proto_msg_t *rep = cliask (c, SERVICE, m);
    if (!rep)
        return 1;
    uint64_t n = rep->body.gkey_ack.count;
    printf ("revoked %llu key%s\n", (unsigned long long) n, n == 1 ? "" : "s");
    proto_msg_destroy (&rep);
    return n ? 0 : 1;
}

/* usage --since/--by: the spend records' sums (cmd_key_spend.h). */
static int
show_spend (bus_client_t *c, const opts_t *o)
{
    uint64_t since;
    const char *by = o->by ? o->by : "model";
    if (cmd_key_since (o->since ? o->since : "30d", tokens_now_ms (), &since)) {
        fprintf (stderr, "caisson: --since '%s': expected a date (2026-12-01, "
                 "2026-12-01T10:00Z) or a span back from now (7d, 12h)\n", o->since);
        return 2;
    }
    if (strcmp (by, "model") && strcmp (by, "key") && strcmp (by, "day")) {
        fprintf (stderr, "caisson: --by '%s': expected model, key or day\n", by);
        return 2;
    }
    const char *user = o->all || (o->id && !o->user) ? NULL : o->user ? o->user : o->self;
    return cmd_key_spend (c, user, o->id, since, by, o->json);
}

static int
show_usage (bus_client_t *c, const opts_t *o)
{
    if (o->since || o->by)
        return show_spend (c, o);
    proto_msg_t *m = proto_msg_new (PROTO_gkey_usage_get, NULL);
    proto_set_str (&m->body.gkey_usage_get.key_id, o->id);
    proto_set_str (&m->body.gkey_usage_get.user, o->user);
    proto_msg_t *rep = cliask (c, SERVICE, m);
    if (!rep)
        return 1;
    json_t *u = mpjson_get (&rep->body.gkey_usage.usage, 8), *s;
    size_t i;
    if (o->json)
        print_json (u);
    else {
        printf ("%-28s %-6s %10s %10s %10s %12s %12s %12s %6s %17s\n", "SCOPE", "WINDOW",
                "TOKENS", "RESERVED", "LIMIT", "USD", "USD RESERVED", "USD LIMIT", "CALLS",
                "RESETS");
        json_array_foreach (json_object_get (u, "scopes"), i, s) {
            char r[32];
            printf ("%-28.28s %-6s %10lld %10lld %10lld %12.6f %12.6f %12.6f %6lld %17s\n",
                    js (s, "scope"), js (s, "window"), (long long) ji (s, "spentTokens"),
                    (long long) ji (s, "reservedTokens"), (long long) ji (s, "limitTokens"),
                    (double) ji (s, "spentNusd") / 1e9, (double) ji (s, "reservedNusd") / 1e9,
                    (double) ji (s, "limitNusd") / 1e9, (long long) ji (s, "calls"),
                    when (ji (s, "reset"), r, sizeof r));
        }
    }
    json_decref (u);
    proto_msg_destroy (&rep);
    return 0;
}

static int
budget (bus_client_t *c, const opts_t *o)
{
    if (!o->user) {
        fprintf (stderr, "caisson: key budget needs --user U\nusage: %s\n", usage);
        return 2;
    }
    proto_msg_t *m = proto_msg_new (PROTO_gkey_user_set, NULL);
    proto_gkey_user_set_t *b = &m->body.gkey_user_set;
    proto_set_str (&b->user, o->user);
    proto_set_str (&b->window, o->window);
    b->budget_tokens = o->tokens;
    b->budget_nusd = o->nusd;
    b->keys_max = o->keys_max;
    proto_msg_t *rep = cliask (c, SERVICE, m);
    if (!rep)
        return 1;
    printf ("budget of %s set\n", o->user);
    proto_msg_destroy (&rep);
    return 0;
}

int
cmd_key (int argc, char **argv)
{
    static const char *const verbs[] = { "create", "list", "revoke", "usage", "budget" };
    opts_t o = { 0 };
    size_t v = 0;
    if (parse (argc, argv, &o))
        return 2;
    while (v < 5 && strcmp (o.verb, verbs[v]))
        v++;
    if (v == 5) {
        fprintf (stderr, "usage: %s\n", usage);
        return 2;
    }
    stack_load_endpoints (o.data);
    const char *who = getenv ("USER");
    o.self = tokens_valid_user (who) ? who : "cli";
    proto_set_identity (o.self, true);
    proto_limits_load ();
    zsys_init ();
    zsys_set_logstream (NULL);
    clog_init ("caisson", "");
    bus_client_t *c = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (!c)
        return 1;
    int status = v == 0 ? create_key (c, &o) : v == 1 ? list_keys (c, &o)
               : v == 2 ? revoke_key (c, &o) : v == 3 ? show_usage (c, &o) : budget (c, &o);
    bus_client_destroy (&c);
    return status;
}
