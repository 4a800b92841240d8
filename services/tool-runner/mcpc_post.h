/* mcpc_post: one exchange with a remote MCP server over Streamable HTTP
 * (mcpc_http keeps the session and sends each message through here).
 *
 * A message is a POST of its own (libcurl) to the entry's URL with its
 * `headers`, `Accept: application/json, text/event-stream`, and the
 * session's `MCP-Protocol-Version` and `Mcp-Session-Id` when it has them.
 * The answer is one JSON-RPC response (application/json) or an SSE stream
 * (mcpc_sse) in which the response with the request's id ends the wait;
 * notifications on the way are skipped and the server's own requests
 * answered (ping: {}, others -32601; at most 16 per exchange, and none in
 * the reply to such an answer, so answers never chain). Every message is
 * checked as JSON-RPC (mcpc_msg_classify: depth 64) and capped at 8 MiB. Only http and https,
 * redirects never followed, the whole exchange bounded by a timeout.
 * Failures are one sentence naming the server (see mcpc_http.h), kept
 * printable ASCII since they quote the server. */
#ifndef TR_MCPC_POST_H
#define TR_MCPC_POST_H

#include "mcpc_config.h"
#include "mcpc_http.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

/* The longest Mcp-Session-Id taken, and how long an acknowledgement (an
 * answer to the server's request, the end of a session) is waited for. */
#define MCPC_SESSION_MAX 256
#define MCPC_POST_ACK_MS 1000u

/* Where a message goes and as part of which session. */
typedef struct {
    const mcpc_server_t *server;
    const atomic_bool *abort;               /* true: give up within about a second */
    char session[MCPC_SESSION_MAX + 1];     /* "": none */
    char version[16];                       /* "": before initialize */
} mcpc_post_to_t;

/* What came back besides the response: the HTTP status (0: none) and the
 * Mcp-Session-Id the server gave ("": none). */
typedef struct {
    long status;
    char session[MCPC_SESSION_MAX + 1];
    bool tools_changed;         /* notifications/tools/list_changed came on its stream */
} mcpc_post_got_t;

/* Sends text (one JSON-RPC message; NULL: DELETE the session) as method
 * and waits up to ms for the response to id (-1: none wanted). 0 with
 * *response (when id >= 0 and response is not NULL) a new reference, else
 * MCPC_HTTP_FAILED or MCPC_HTTP_UNREACHABLE with why. got (may be NULL) is
 * filled either way. */
int mcpc_post (const mcpc_post_to_t *to, const char *method, long long id, const char *text,
               unsigned ms, json_t **response, mcpc_post_got_t *got, char *why, size_t whylen);

/* Writes "MCP server <name> <what>" into why, printable ASCII only;
 * returns rc. */
int mcpc_post_fail (const mcpc_server_t *server, int rc, char *why, size_t whylen,
                    const char *what);

#endif
