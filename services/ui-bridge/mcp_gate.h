/* mcp_gate: a tools/call over /mcp that the deployment gates waits for a
 * human's approval, as any run's call does.
 *
 * The call becomes a tool run as the token's user (run.start with
 * `tool_call {name, args}`: no model, exactly this call, gated by the
 * orchestrator's policy), and the answer follows the run on the call's SSE
 * stream (mcp_run_follow): progress "awaiting approval: <tool> (approve in
 * Caisson: caisson approve <run> <call>)" when the client gave a
 * progressToken; then the tool's result as a CallToolResult (the result
 * object as structuredContent, its JSON as text), or isError naming who
 * declined and why, or why the run failed.
 *
 * Approval comes from Caisson's UI, CLI or HTTP API, and, when the client
 * can be asked, from the client itself:
 * - 2025 era, a session whose initialize declared `elicitation`: an
 *   `elicitation/create` form (decision approve/decline, reason) goes out
 *   on the call's stream under an unguessable request id; the client's
 *   response, POSTed to /mcp, is taken only from the same user and
 *   session (mcp_gate_answer), once, and approves or declines as them;
 *   a JSON-RPC error in answer declines, naming it.
 * - 2026-07-28 (stateless), a client whose _meta capabilities name
 *   `elicitation`: the call answers `resultType: input_required` with the
 *   form in `inputRequests.approval` and a `requestState` sealed with
 *   HMAC-SHA256 under a per-process random key, binding user, run, call,
 *   the tool and its arguments, and the deadline; the client's retry
 *   carries `inputResponses` and that state back, and is refused (-32602)
 *   when the seal, the user, the tool or arguments or the shape is wrong.
 * A decline's reason is kept to 4000 bytes, control characters as spaces.
 * Whichever answer reaches the run first wins; a later one finds the call
 * decided and changes nothing.
 *
 * A wait is bounded by CAISSON_MCP_APPROVAL_TIMEOUT_S: past it the run is
 * cancelled and the call answers isError "approval timed out" (a 2026 run
 * parked on input_required is cancelled by a reaper thread even if the
 * client never comes back). Cancelling the call (notifications/cancelled,
 * or closing a 2026 stream) cancels the run. */
#ifndef CAISSON_MCP_GATE_H
#define CAISSON_MCP_GATE_H

#include "app.h"
#include "mcp_run.h"

typedef struct _mcp_gate_t mcp_gate_t;

/* How a gated call arrived. */
typedef struct {
    bool modern;            /* the 2026-07-28 era */
    bool elicits;           /* the client can be asked (declared elicitation) */
    const char *session;    /* 2025-era Mcp-Session-Id, or NULL */
    const char *key;        /* names the call for cancellation (mcp_run_cancel) */
} mcp_gate_via_t;

/* The gate: a fresh HMAC key; NULL when out of memory or randomness. */
mcp_gate_t *mcp_gate_new (void);
/* Cancels nothing: runs still parked stay awaiting approval in Caisson. */
void mcp_gate_destroy (mcp_gate_t **self_p);

/* Answers tools/call params (name, arguments; a 2026 retry's
 * requestState and inputResponses), JSON-RPC id, for req's user: an SSE
 * response following the tool run, or a JSON one (extra merged into
 * results). NULL with *code and why for a protocol error (-32602: a bad
 * requestState), NULL with *code 0 when out of memory. */
http_res_t *mcp_gate_call (mcp_gate_t *self, mcp_run_t *runs, app_t *app, http_req_t *req,
                           const json_t *id, const json_t *params, const json_t *extra,
                           const mcp_gate_via_t *via, int *code, char *why, size_t whylen);

/* A JSON-RPC response msg a 2025-era client POSTed (session as its
 * Mcp-Session-Id, may be NULL): when it answers an elicitation of this
 * user's and session still unanswered, the run's call is approved or
 * declined as req's user (an error response declines). Anything else is
 * ignored. */
void mcp_gate_answer (mcp_gate_t *self, app_t *app, http_req_t *req, const char *session,
                      const json_t *msg);

#endif
