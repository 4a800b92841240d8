/* cmd_token: API tokens from the command line. See cmd_token.h. */
#include "cmd_token.h"
#include "cfg.h"
#include "stack.h"
#include "tokens.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "caisson token create --user NAME [--operator] [--data DIR]\n"
    "  prints a new bearer token for NAME; only its hash is kept, in\n"
    "  $CAISSON_TOKENS_FILE or DIR/ui-bridge/tokens. An operator sees every\n"
    "  user's runs and sandboxes.";

int
cmd_token (int argc, char **argv)
{
    const char *user = NULL, *data = cfg_str ("CAISSON_DATA");
    bool operator_ = false;
    if (argc < 3 || strcmp (argv[2], "create")) {
        fprintf (stderr, "usage: %s\n", usage);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (!strcmp (argv[i], "--user") && i + 1 < argc)
            user = argv[++i];
        else if (!strcmp (argv[i], "--operator"))
            operator_ = true;
        else if (!strcmp (argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else {
            fprintf (stderr, "caisson: unexpected argument '%s'\nusage: %s\n", argv[i], usage);
            return 2;
        }
    }
    if (!tokens_valid_user (user)) {
        fprintf (stderr, "caisson: --user needs 1 to %d of [A-Za-z0-9._@-]\n", TOKENS_USER_MAX);
        return 2;
    }
    char dir[PATH_MAX], path[PATH_MAX + 64], token[128];
    if (stack_prepare (data, dir, sizeof dir))
        return 1;
    setenv ("CAISSON_DATA", dir, 1);
    tokens_path (path, sizeof path);
    if (tokens_create (path, user, operator_, token, sizeof token)) {
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
    setenv ("CAISSON_DATA", data, 1);
    tokens_path (path, sizeof path);
    if (tokens_create (path, user, true, token, sizeof token))
        return -1;
    snprintf (out, outlen, "  token    %s  (user %s, operator)\n  ui       http://%s/#token=%s\n",
              token, user, cfg_str ("CAISSON_HTTP"), token);
    return 0;
}
