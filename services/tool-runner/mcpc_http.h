/* mcpc_http: one remote MCP server over the Streamable HTTP transport
 * (revisions 2025-11-25 and 2025-06-18), reached by tool-runner itself.
 *
 * Each JSON-RPC message is an exchange of its own (mcpc_post: a POST with
 * the entry's headers, answered as JSON or as an SSE stream, checked and
 * capped at 8 MiB, no redirects, bounded by the entry's timeoutMs). This
 * module keeps the session: initialize (offering 2025-11-25, accepting
 * 2025-06-18) and notifications/initialized before the first request,
 * then `MCP-Protocol-Version` and the `Mcp-Session-Id` the server gave on
 * each. A 404 to a request that carried a session means the server forgot
 * it: a new session is initialized and the request sent once more.
 *
 * Sessions are per Caisson user: a stateful server (a login, a browser
 * page, a remembered value) never hands one user what another left in it.
 * The server's entry (URL, headers) is shared; the deployment's own
 * session ("" as the user) lists the tools. At most MCPC_HTTP_SESSIONS_MAX
 * sessions per server: one more ends the least recently used (a DELETE),
 * and that user's next call initializes a new one.
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
#include <stdbool.h>

typedef struct _mcpc_http_t mcpc_http_t;

/* Most sessions held with one server (one per user calling it). */
#define MCPC_HTTP_SESSIONS_MAX 64

/* What a failed request came to. */
#define MCPC_HTTP_FAILED -1         /* the server answered wrongly, or too late */
#define MCPC_HTTP_UNREACHABLE -2    /* no answer at all: connection refused, DNS, TLS */
#define MCPC_HTTP_CANCELLED -3      /* the caller's cancel came first */

/* A client of server (borrowed: it must outlive the client), not yet
 * connected. While *abort (borrowed, may be NULL) is true, every request
 * gives up within about a second (a stopping service). */
mcpc_http_t *mcpc_http_new (const mcpc_server_t *server, const atomic_bool *abort);

/* Ends the sessions (a DELETE each, waited for 1 s at most) and frees. */
void mcpc_http_destroy (mcpc_http_t **self_p);

/* Sends method with params (NULL: none) in user's session (NULL or "":
 * the deployment's own), initializing it first when there is none: 0
 * with *result a new reference, or MCPC_HTTP_FAILED /
 * MCPC_HTTP_UNREACHABLE with why. */
int mcpc_http_request (mcpc_http_t *self, const char *user, const char *method,
                       const json_t *params, json_t **result, char *why, size_t whylen);

/* As mcpc_http_request, except that while *cancel (borrowed, may be
 * NULL) is true the request gives up within about a second
 * (MCPC_HTTP_CANCELLED); *sent (may be NULL) gets the JSON-RPC id of the
 * request as sent, for a notifications/cancelled. */
int mcpc_http_call (mcpc_http_t *self, const char *user, const char *method,
                    const json_t *params, const atomic_bool *cancel, long long *sent,
                    json_t **result, char *why, size_t whylen);

/* Sends notification method with params in user's session (waited for
 * MCPC_POST_ACK_MS at most): 0, or a failure with why. */
int mcpc_http_notify (mcpc_http_t *self, const char *user, const char *method,
                      const json_t *params, char *why, size_t whylen);

/* Initializes the deployment's session and lists all pages of tools as catalogue
 * entries (mcpc_tools): a new array, tools left out appended to skipped;
 * NULL with why. */
json_t *mcpc_http_tools (mcpc_http_t *self, json_t *skipped, char *why, size_t whylen);

/* Whether the server sent notifications/tools/list_changed, or a new
 * session replaced one (a restart), since the last time this was asked. */
bool mcpc_http_tools_changed (mcpc_http_t *self);

/* The revision the server settled on ("" before initialize), copied into
 * buf of size. */
void mcpc_http_version (mcpc_http_t *self, char *buf, size_t size);

#endif
