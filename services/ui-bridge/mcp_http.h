/* mcp_http: Caisson as an MCP server, at /mcp (Streamable HTTP).
 *
 * Speaks both eras of the protocol on one endpoint, chosen per request by
 * what the client sends: a request whose params._meta carries
 * `io.modelcontextprotocol/protocolVersion` is served statelessly as
 * 2026-07-28 (headers MCP-Protocol-Version, Mcp-Method and Mcp-Name must
 * match the body; server/discover; results carry resultType and the
 * server's info); anything else is the 2025 era (`initialize` agrees on
 * 2025-06-18 or 2025-11-25 and opens a session, mcp_session.h).
 *
 * Checks, in order: Origin (403 when present and not allowed:
 * CAISSON_MCP_ORIGINS, by default the bridge's own address as
 * CAISSON_HTTP names it and its localhost forms), the bearer token (401
 * with WWW-Authenticate: Bearer), the body (JSON within
 * CAISSON_HTTP_MAX_BODY and MAX_DEPTH levels: -32700 / -32600, HTTP 400;
 * batches are refused, as since 2025-06-18). GET answers 405 (no
 * standalone stream); DELETE ends the 2025-era session it names, which
 * every 2025-era message after initialize must name (else 400). MCP
 * headers repeated with values that disagree are 400 (mcp_headers.h).
 * Every answer is application/json but caisson_run's (mcp_run.h) and a
 * gated call's (mcp_gate.h): SSE streams of progress and the result. A
 * client's JSON-RPC response is 202, used when it answers an approval
 * question (mcp_gate_answer).
 * Cancelling a tools/call stops it in its sandbox: in the 2025 era by
 * notifications/cancelled naming its id (same user and session), in the
 * 2026 era by closing the request's connection (mcp_hangup.h). */
#ifndef CAISSON_MCP_HTTP_H
#define CAISSON_MCP_HTTP_H

#include "app.h"

typedef struct _mcp_t mcp_t;

/* /mcp's state: the sessions and the cached catalogues. */
mcp_t *mcp_new (void);
void mcp_destroy (mcp_t **self_p);

/* The routes: POST, GET and DELETE /mcp (they authenticate themselves,
 * after the Origin check). */
http_res_t *api_mcp_post (app_t *app, http_req_t *req);
http_res_t *api_mcp_get (app_t *app, http_req_t *req);
http_res_t *api_mcp_delete (app_t *app, http_req_t *req);

#endif
