/* cmd_token: `caisson token create --user NAME [--operator] [--expires D]`,
 * `caisson token list` and `caisson token revoke ID`: the API's bearer tokens (stored hashed, see services/ui-bridge/tokens.h),
 * and the local token `caisson up` prints with the UI's address. */
#ifndef CAISSON_CMD_TOKEN_H
#define CAISSON_CMD_TOKEN_H

#include <stddef.h>

/* Runs `caisson token ...` (argv[1] is "token"). Returns the exit status. */
int cmd_token (int argc, char **argv);

/* Makes a token for the local user (operator) in the stack at data and
 * writes a two-line note with it and the UI's link into out. Returns 0 or
 * -1. */
int cmd_token_local (const char *data, char *out, size_t outlen);

#endif
