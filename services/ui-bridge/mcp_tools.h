/* mcp_tools: tool-runner's catalogue as MCP tools, and the calls /mcp may
 * make straight to tool-runner.
 *
 * tools/list turns each `tools.list` entry into an MCP Tool: its name,
 * description, inputSchema and outputSchema as the catalogue has them,
 * and annotations from its effect class: `none` is readOnlyHint (and
 * idempotentHint), `sandbox` changes only the caller's own sandbox (not
 * read-only, not destructive), `repository` and `external` (the catalogue's
 * `mutates`) are destructiveHint, `external` openWorldHint too. The
 * catalogue is asked as the token's user and kept CACHE_MS per user. MCP
 * roots output schemas and structuredContent at an object: a tool whose
 * output is not one (repo.readFiles' array) is listed without
 * outputSchema, and its result travels in the text block only.
 *
 * tools/call runs a tool the deployment does not gate (the orchestrator's
 * rule, services/orchestrator/policy.c: gated are the mutating tools,
 * git.openPR, and repo.applyDiff unless a dry run; CAISSON_DENY's patterns
 * are refused) with `tools.call` as the token's user, never as an
 * operator. A gated call is not made here: it is left to mcp_gate.h,
 * which waits for a human's approval. */
#ifndef CAISSON_MCP_TOOLS_H
#define CAISSON_MCP_TOOLS_H

#include "app.h"

typedef struct _mcp_tools_t mcp_tools_t;

mcp_tools_t *mcp_tools_new (void);
void mcp_tools_destroy (mcp_tools_t **self_p);

/* The result of tools/list for req's user, from cursor (NULL: the first
 * page): a new object {tools, nextCursor?}. NULL, with the JSON-RPC
 * error's code and message in *code and why, when the cursor is not one
 * this server gave (-32602) or tool-runner did not answer (-32603). */
json_t *mcp_tools_list (mcp_tools_t *self, app_t *app, http_req_t *req, const char *cursor,
                        int *code, char *why, size_t whylen);

/* *code of mcp_tools_call for a call the deployment gates. */
#define MCP_TOOLS_GATED 1

/* The result of tools/call with params ({name, arguments?}) for req's
 * user: a new CallToolResult {content, structuredContent?, isError?}.
 * NULL with *code and why for a protocol error: an unknown tool or
 * malformed params (-32602), no catalogue (-32603); NULL with *code
 * MCP_TOOLS_GATED when the call needs approval (nothing was run). While
 * the call is under way, key (may be NULL) names it for mcp_tools_cancel. */
json_t *mcp_tools_call (mcp_tools_t *self, app_t *app, http_req_t *req, const json_t *params,
                        const char *key, int *code, char *why, size_t whylen);

/* Stops the call under way for key (tools.cancel published: tool-runner
 * kills it, and the call answers `cancelled`). 0, or -1 when none is. */
int mcp_tools_cancel (mcp_tools_t *self, const char *key, const char *reason);

/* A JSON string of s (new): a text cut to a size may end inside a UTF-8
 * character, which jansson refuses, so that tail is dropped. NULL when s
 * is not UTF-8 before it either. */
json_t *mcp_text (const char *s);

#endif
