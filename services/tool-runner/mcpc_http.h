/* mcpc_http: one remote MCP server over the Streamable HTTP transport
 * (revisions 2025-11-25 and 2025-06-18), reached by tool-runner itself.
 *
 * Each JSON-RPC request is a POST of its own (libcurl) to the entry's URL
 * with its `headers`, `Accept: application/json, text/event-stream`, and
 * after initialize `MCP-Protocol-Version` and the `Mcp-Session-Id` the
 * server gave. The answer is either one JSON-RPC response
 * (application/json) or an SSE stream (mcpc_sse) in which the response
 * with the request's id ends the wait; notifications on the way are
 * skipped and the server's own requests answered (ping: {}, others
 * -32601). Every message is checked as JSON-RPC (mcpc_msg_classify: depth
 * 64) and capped at 8 MiB. Only http and https, redirects never followed,
 * each request bounded by the entry's timeoutMs. A 404 to a request that
 * carried a session means the server forgot it: a new session is
 * initialized and the request sent once more.
 *
 * Failures are one sentence naming the server, for the model to act on:
 * "MCP server x is unreachable: <curl's words>", "... answered HTTP 500 to
 * tools/call: <its body's start>", "... did not answer tools/call within
 * 60 s", "... sent an invalid JSON-RPC frame: ...", "... sent an answer
 * larger than 8 MiB to tools/call (cut off)".
 *
 * Thread-safe: requests may run at once from several threads (each its own
 * connection), so one slow call holds up no other. */
#ifndef TR_MCPC_HTTP_H
#define TR_MCPC_HTTP_H

#include "mcpc_config.h"

#include <jansson.h>
#include <stdatomic.h>

typedef struct _mcpc_http_t mcpc_http_t;

/* What a failed request came to. */
#define MCPC_HTTP_FAILED -1         /* the server answered wrongly, or too late */
#define MCPC_HTTP_UNREACHABLE -2    /* no answer at all: connection refused, DNS, TLS */

/* A client of server (borrowed: it must outlive the client), not yet
 * connected. While *abort (borrowed, may be NULL) is true, every request
 * gives up within about a second (a stopping service). */
mcpc_http_t *mcpc_http_new (const mcpc_server_t *server, const atomic_bool *abort);

/* Ends the session (a DELETE, waited for 1 s at most) and frees. */
void mcpc_http_destroy (mcpc_http_t **self_p);

/* Sends method with params (NULL: none), initializing a session first
 * when there is none: 0 with *result a new reference, or
 * MCPC_HTTP_FAILED / MCPC_HTTP_UNREACHABLE with why. */
int mcpc_http_request (mcpc_http_t *self, const char *method, const json_t *params,
                       json_t **result, char *why, size_t whylen);

/* Initializes a session and lists all pages of tools as catalogue
 * entries (mcpc_tools): a new array, tools left out appended to skipped;
 * NULL with why. */
json_t *mcpc_http_tools (mcpc_http_t *self, json_t *skipped, char *why, size_t whylen);

/* The revision the server settled on ("" before initialize), copied into
 * buf of size. */
void mcpc_http_version (mcpc_http_t *self, char *buf, size_t size);

#endif
