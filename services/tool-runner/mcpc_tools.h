/* mcpc_tools: an MCP server's tools as catalogue entries, and its
 * tools/call answers as tool results (transport-neutral: the stdio and
 * HTTP clients both use it).
 *
 * A tool joins the agent's catalogue as `<server>.<tool>` in the shape
 * `tools.list` gives Caisson's own tools, with the server's input schema
 * (validated by schema.c like any other: its unknown keywords, `$schema`
 * of draft-07 or 2020-12 included, are ignored), and an effect class the
 * orchestrator's gate keys on: `none` when the server is trusted or the
 * tool is annotated readOnlyHint, else `external` (mutates). A tool whose
 * name or schema is unusable is left out with why. */
#ifndef TR_MCPC_TOOLS_H
#define TR_MCPC_TOOLS_H

#include "mcpc_config.h"

#include <jansson.h>
#include <stdbool.h>

/* Most tools taken from one server, and most bytes of one tool's schemas. */
#define MCPC_TOOLS_MAX 256
#define MCPC_SCHEMA_BYTES_MAX ((size_t) 64 << 10)
/* Most bytes of catalogue rows (mcpc_tools_bytes) taken from one server,
 * and from all servers of one set (the deployment's, or a user's): with
 * Caisson's own tools they stay well within the bus's 16 MiB frame, so one
 * fat server cannot break tools.list for everyone. Tools past either are
 * left out, named in `caisson mcp list`. */
#define MCPC_SERVER_BYTES_MAX ((size_t) 1 << 20)
#define MCPC_SET_BYTES_MAX ((size_t) 8 << 20)

/* The catalogue entry for one MCP `Tool` of server: a new `{name,
 * description, inputSchema, outputSchema?, mutates, effect, dryRun,
 * timeoutSeconds, maxOutputBytes, mcp: {server, tool}}`, or NULL with why
 * filled. */
json_t *mcpc_tool_entry (const mcpc_server_t *server, const json_t *tool, char *why,
                         size_t whylen);

/* How many bytes a catalogue entry takes (compact JSON). */
size_t mcpc_tools_bytes (const json_t *entry);

/* Adds the entries for a tools/list result's `tools` to entries (an
 * array), after those already there (earlier pages), up to
 * MCPC_SERVER_BYTES_MAX in all; tools left out are appended to skipped as
 * `{name, reason}`. Returns how many were added, or -1 when result has no
 * `tools` array (why filled). */
int mcpc_tools_add_page (const mcpc_server_t *server, const json_t *result, json_t *entries,
                         json_t *skipped, char *why, size_t whylen);

/* The tools left out (skipped's `{name, reason}`) in one sentence for a
 * server's `reason` in `caisson mcp list` ("2 tools left out: a (why); b
 * (why)", the names past 1 KiB counted only): a new string, or NULL when
 * there are none. */
char *mcpc_tools_left_out (const json_t *skipped);

/* One request to a server over its transport (mcpc_stdio_request,
 * mcpc_http_request): 0 with *result a new reference, or non-zero with why. */
typedef int (mcpc_request_fn) (void *conn, const char *method, const json_t *params,
                               json_t **result, char *why, size_t whylen);

/* All pages of tools/list (following nextCursor, at most MCPC_PAGES_MAX)
 * asked with request on conn, as catalogue entries: a new array, tools
 * left out appended to skipped; NULL with why. */
#define MCPC_PAGES_MAX 16
json_t *mcpc_tools_list (const mcpc_server_t *server, mcpc_request_fn *request, void *conn,
                         json_t *skipped, char *why, size_t whylen);

/* A tools/call result as the tool's result: a new `{success, content,
 * structuredContent?, text}` (text: its text items joined), or for
 * `isError` `{success: false, error: {code: "mcp_tool_error", message}}`;
 * fitted to the server's output cap (jsoncap). *ok is false for an error
 * or a result that is not a CallToolResult (then code `mcp_bad_result`). */
json_t *mcpc_call_result (const mcpc_server_t *server, const json_t *result, bool *ok);

#endif
