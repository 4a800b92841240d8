/* sbx_cmd: turns a request into what a sandbox's process runs: argv and
 * environment. Strings and vectors returned are the caller's (free a
 * vector with sbx_cmd_free). */
#ifndef CAISSON_SBX_CMD_H
#define CAISSON_SBX_CMD_H

#include <jansson.h>
#include <stddef.h>

#include "proto.h"

/* argv from an exec's command (a shell string, run by /bin/sh -c, or an
 * array of strings) and its text for listings. Returns 0, or -1 with why
 * set. */
int sbx_cmd_parse (const proto_bytes_t *cmd, char ***argv_p, char **text_p, char *why,
                   size_t whylen);

/* argv for a sandbox.run_code req: its code written to a fresh file under
 * /tmp, run by its language's interpreter (default_language when the
 * request names none), with its argv after. Returns 0, or -1 with *err set
 * to the error reply to req. */
int sbx_cmd_code (const proto_msg_t *req, const char *default_language, char ***argv_p,
                  char **text_p, proto_msg_t **err);

/* A NULL-terminated environment: the base variables, then the sandbox's
 * own (an object of strings, may be NULL), then the request's envs (an
 * encoded map, may be empty). NULL with why set when envs is not a map. */
char **sbx_cmd_env (const json_t *sandbox_env, const proto_bytes_t *envs, char *why,
                    size_t whylen);

void sbx_cmd_free (char **v);

#endif
