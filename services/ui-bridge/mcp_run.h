/* mcp_run: `caisson_run`, the MCP tool that delegates a whole task to a
 * Caisson run.
 *
 * tools/call of caisson_run {task, threadId?, model?} starts a run as the
 * token's user (run.start; a thread that is not the user's is refused
 * like any run.start of it) and answers on the call's own SSE stream:
 * when the client sent _meta.progressToken, a `notifications/progress`
 * per step, tool call and approval wait ("step 2: runCommand",
 * "awaiting approval: writeFiles (approve in Caisson: caisson approve
 * <run> <call>)"), progress counting them; then the result, structured
 * as {runId, threadId, status, answer, reason?, artifacts[{name, kind,
 * size, url}]} (and as text), isError unless the run completed. Comment
 * lines keep the stream alive every CAISSON_SSE_HEARTBEAT_MS.
 *
 * Cancelling the call cancels the run (run.cancel as the user): in the
 * 2025 era by notifications/cancelled naming the call (mcp_run_cancel),
 * in the 2026 era by closing the stream (mcp_hangup.h watches it). A
 * 2025-era client that merely disconnects leaves the run going, as the
 * spec asks. */
#ifndef CAISSON_MCP_RUN_H
#define CAISSON_MCP_RUN_H

#include "app.h"

#define MCP_RUN_TOOL "caisson_run"

typedef struct _mcp_run_t mcp_run_t;

mcp_run_t *mcp_run_new (void);
void mcp_run_destroy (mcp_run_t **self_p);

/* caisson_run's entry in tools/list (a new object). */
json_t *mcp_run_tool (void);

/* Answers tools/call of caisson_run (params as the request has them),
 * JSON-RPC id id: an SSE response following the run, or a JSON one with
 * an error result when the run could not start. extra (may be NULL) is
 * merged into the result (the 2026 era's resultType and _meta); modern
 * says the 2026 era (closing the stream cancels). key names the call for
 * mcp_run_cancel. NULL when out of memory. */
http_res_t *mcp_run_call (mcp_run_t *self, app_t *app, http_req_t *req, const json_t *id,
                          const json_t *params, const json_t *extra, bool modern,
                          const char *key);

/* Cancels the run of the call key names, as req's user. 0, or -1 when no
 * such call is under way. */
int mcp_run_cancel (mcp_run_t *self, app_t *app, http_req_t *req, const char *key);

#endif
