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

/* What a caller of mcp_run_follow adds to following a run (mcp_gate.h:
 * a gated tool call's run). Each hook may be NULL; arg is theirs. */
typedef struct {
    /* A run event (kind, its data): a new JSON-RPC message to send on the
     * stream, or NULL. With *is_result set, what it returns is instead
     * the call's result (the extra merged under its own keys), which ends
     * the stream. */
    json_t *(*seen) (void *arg, const char *kind, const json_t *data, bool *is_result);
    /* The run ended with status (answer or reason): the call's result
     * (new); without it, caisson_run's {runId, threadId, status, ...}. */
    json_t *(*ended) (void *arg, const char *status, const char *answer, const char *reason);
    /* Asked while the stream waits: true when the wait is over, why
     * saying so; the run is then cancelled and ended (status
     * `timed_out`) answered with why. */
    bool (*expired) (void *arg, char *why, size_t whylen);
    /* The stream is done: frees arg. */
    void (*free) (void *arg);
} mcp_follow_hooks_t;

/* Answers JSON-RPC request id (a tools/call of params) with an SSE
 * stream following run, an existing run of req's user, as mcp_run_call
 * does (progress, cancellation by key or, when modern, a hang-up), with
 * hooks (may be NULL) and their arg, which is freed by hooks->free even
 * when this fails. NULL when out of memory. */
http_res_t *mcp_run_follow (mcp_run_t *self, app_t *app, http_req_t *req, const json_t *id,
                            const char *run, const json_t *params, const json_t *extra,
                            bool modern, const char *key, const mcp_follow_hooks_t *hooks,
                            void *arg);

/* Cancels run as req's user (run.cancel, to the instance that runs it). */
void mcp_run_cancel_run (app_t *app, http_req_t *req, const char *run);

/* Cancels the run of the call key names, as req's user. 0, or -1 when no
 * such call is under way. */
int mcp_run_cancel (mcp_run_t *self, app_t *app, http_req_t *req, const char *key);

#endif
