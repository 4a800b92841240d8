/* mcpc_schema: whether an MCP server's tool schema is safe for schema.c
 * to run on tool-runner's main loop.
 *
 * schema.c compiles and runs a schema's `pattern` (a POSIX extended
 * regex) before a call reaches its job thread, so a pattern from a hostile
 * server could stop tool-runner for every user: glibc's matcher
 * backtracks exponentially on backreferences, and nested repetition
 * ((a+)+) is the classic blow-up of others. Caisson's own schemas are
 * trusted; an MCP tool whose schemas hold a pattern that is not a string,
 * is longer than MCPC_PATTERN_MAX bytes, has a backreference (\1-\9) or
 * a repeated group that itself repeats is left out at tools/list, with
 * why. */
#ifndef TR_MCPC_SCHEMA_H
#define TR_MCPC_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The longest `pattern` taken from an MCP server's schema, in bytes. */
#define MCPC_PATTERN_MAX 256

/* Whether every `pattern` in schema (at any depth) is safe to run; false
 * with why ("its <which> has a pattern with a backreference") otherwise. */
bool mcpc_schema_patterns_ok (const json_t *schema, char *why, size_t whylen,
                              const char *which);

#endif
