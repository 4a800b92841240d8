/* cmd_token: API tokens from the command line. See cmd_token.h. */
#include "cmd_token.h"
#include "cfg.h"
#include "stack.h"
#include "tokens.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *usage =
    "caisson token create --user NAME [--operator] [--expires DURATION] [--data DIR]\n"
    "  prints a new bearer token for NAME; only its hash is kept, in\n"
    "  $CAISSON_TOKENS_FILE or DIR/ui-bridge/tokens. An operator sees every\n"
    "  user's runs and sandboxes. DURATION is N followed by s, m, h or d, or\n"
    "  `never`; the default is CAISSON_TOKENS_EXPIRES.\n"
    "caisson token list [--json] [--data DIR]\n"
    "  every token: id, user, role, created, expires, last use (never the token)\n"
    "caisson token revoke ID [--data DIR]\n"
    "  removes the token (ID from `token list`, or 8 or more of its first digits);\n"
    "  a running ui-bridge refuses it from its next request on";

/* "2026-12-06T18:00:00Z" for ms since the epoch, "-" for 0. */
static void
iso (uint64_t ms, char *out, size_t outlen)
{
    if (!ms) {
        snprintf (out, outlen, "-");
        return;
    }
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
print_token (const char *id, const char *user, bool operator_, uint64_t created,
             uint64_t expires, uint64_t used, void *arg)
{
    bool json = *(bool *) arg;
    char c[32], e[32], u[32];
    iso (created, c, sizeof c);
    iso (expires, e, sizeof e);
    iso (used, u, sizeof u);
    bool expired = expires && expires <= tokens_now_ms ();
    if (json)
        printf ("{\"id\":\"%s\",\"user\":\"%s\",\"operator\":%s,\"created\":\"%s\","
                "\"expires\":%s%s%s,\"expired\":%s,\"lastUsed\":%s%s%s}\n", id, user,
                operator_ ? "true" : "false", c, expires ? "\"" : "", expires ? e : "null",
                expires ? "\"" : "", expired ? "true" : "false", used ? "\"" : "",
                used ? u : "null", used ? "\"" : "");
    else
        printf ("%-12s  %-16s  %-8s  %-20s  %-20s%s  %s\n", id, user,
                operator_ ? "operator" : "user", c, expires ? e : "never",
                expired ? " (expired)" : "", u);
}

static int
open_tokens (const char *data, char *path, size_t pathlen)
{
    char dir[PATH_MAX];
    if (stack_prepare (data, dir, sizeof dir))
        return -1;
    setenv ("CAISSON_DATA", dir, 1);
    tokens_path (path, pathlen);
    return 0;
}

int
cmd_token (int argc, char **argv)
{
    const char *user = NULL, *data = cfg_str ("CAISSON_DATA"), *expires = NULL, *id = NULL;
    bool operator_ = false, json = false;
    const char *verb = argc > 2 ? argv[2] : "";
    if (strcmp (verb, "create") && strcmp (verb, "list") && strcmp (verb, "revoke")) {
        fprintf (stderr, "usage: %s\n", usage);
        return 2;
    }
    bool create = !strcmp (verb, "create"), list = !strcmp (verb, "list");
    for (int i = 3; i < argc; i++) {
        if (create && !strcmp (argv[i], "--user") && i + 1 < argc)
            user = argv[++i];
        else if (create && !strcmp (argv[i], "--operator"))
            operator_ = true;
        else if (create && !strcmp (argv[i], "--expires") && i + 1 < argc)
            expires = argv[++i];
        else if (list && !strcmp (argv[i], "--json"))
            json = true;
        else if (!strcmp (argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp (verb, "revoke") && !id && argv[i][0] != '-')
            id = argv[i];
        else {
            fprintf (stderr, "caisson: unexpected argument '%s'\nusage: %s\n", argv[i], usage);
            return 2;
        }
    }
    char path[PATH_MAX + 64], token[128];
    if (list) {
        if (open_tokens (data, path, sizeof path))
            return 1;
        if (!json)
            printf ("%-12s  %-16s  %-8s  %-20s  %-20s  %s\n", "ID", "USER", "ROLE", "CREATED",
                    "EXPIRES", "LAST USE");
        if (tokens_list (path, print_token, &json)) {
            fprintf (stderr, "caisson: cannot read %s: %s\n", path, strerror (errno));
            return 1;
        }
        return 0;
    }
    if (!create) {
        if (!id) {
            fprintf (stderr, "usage: %s\n", usage);
            return 2;
        }
        if (open_tokens (data, path, sizeof path))
            return 1;
        if (tokens_revoke (path, id)) {
            fprintf (stderr, "caisson: cannot revoke '%s': %s\n", id,
                     errno == ENOENT ? "no such token (see `caisson token list`)"
                     : errno == EEXIST ? "it names several tokens; give more of the id"
                     : errno == EINVAL ? "an id is 8 to 64 lower-case hex digits"
                     : strerror (errno));
            return 1;
        }
        printf ("revoked %s\n", id);
        return 0;
    }
    if (!tokens_valid_user (user)) {
        fprintf (stderr, "caisson: --user needs 1 to %d of [A-Za-z0-9._@-]\n", TOKENS_USER_MAX);
        return 2;
    }
    uint64_t ttl;
    const char *lifetime = expires ? expires : cfg_str ("CAISSON_TOKENS_EXPIRES");
    if (tokens_parse_duration (lifetime, &ttl)) {
        fprintf (stderr, "caisson: %s '%s': expected N followed by s, m, h or d (e.g. 30d), "
                 "or never\n", expires ? "--expires" : "CAISSON_TOKENS_EXPIRES", lifetime);
        return 2;
    }
    if (open_tokens (data, path, sizeof path))
        return 1;
    if (tokens_create (path, user, operator_, ttl, token, sizeof token)) {
        fprintf (stderr, "caisson: cannot write %s: %s\n", path, strerror (errno));
        return 1;
    }
    printf ("%s\n", token);
    return 0;
}

int
cmd_token_local (const char *data, char *out, size_t outlen)
{
    char path[PATH_MAX + 64], token[128];
    const char *who = getenv ("USER");
    const char *user = tokens_valid_user (who) ? who : "local";
    uint64_t ttl;
    if (tokens_parse_duration (cfg_str ("CAISSON_TOKENS_EXPIRES"), &ttl))
        ttl = 0;
    setenv ("CAISSON_DATA", data, 1);
    tokens_path (path, sizeof path);
    if (tokens_create (path, user, true, ttl, token, sizeof token))
        return -1;
    snprintf (out, outlen, "  token    %s  (user %s, operator)\n  ui       http://%s/#token=%s\n",
              token, user, cfg_str ("CAISSON_HTTP"), token);
    return 0;
}
