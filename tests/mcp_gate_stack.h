/* mcp_gate_stack: the stack of the suites on /mcp's gated calls
 * (test_mcp_gate, test_redteam_mcp_gate): run_stack (ui-bridge, the real
 * orchestrator and event-log, the stand-in tool-runner whose git.openPR
 * is gated) and a second ui-bridge on the same bus that waits 2 s at most
 * for approval (CAISSON_MCP_APPROVAL_TIMEOUT_S=2); and the pieces of the
 * 2026 era's requests both send, reading a call's stream and waiting on
 * a run's status. */
#ifndef CAISSON_TEST_MCP_GATE_STACK_H
#define CAISSON_TEST_MCP_GATE_STACK_H

#include <stdbool.h>
#include <stddef.h>

/* A tools/call's _meta in the 2026 era (a client that can be elicited). */
#define MCP_GATE_META_2026 \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
    "\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{}}}"
/* The headers of a 2026 tools/call of git.openPR (a list of strings). */
#define MCP_GATE_HDRS_2026 "MCP-Protocol-Version: 2026-07-28", "Mcp-Method: tools/call", \
    "Mcp-Name: git.openPR"

/* Brings run_stack up as name, then the short-timeout bridge; the two
 * bridges' bases into main_base and short_base (96 bytes each), ui_base
 * left at main_base. false when run_stack_up is (the test skips). */
bool mcp_gate_stack_up (const char *name, char *main_base, char *short_base);

/* Stops the short-timeout bridge (asserting a clean exit), then run_stack. */
void mcp_gate_stack_down (void);

/* initialize on ui_base's /mcp as token with body: asserts 200 and puts
 * the new session's id (32 characters) into sid (64 bytes). */
void mcp_gate_initialize (const char *token, const char *body, char *sid);

/* Reads fd into buf (cap bytes, *len of them so far, kept terminated)
 * until want appears in it; fails the test if the stream ends first
 * (a read that times out is retried 20 times: the run may be slow). */
void mcp_gate_read_until (int fd, char *buf, size_t cap, size_t *len, const char *want);

/* Copies what follows prefix in text, up to a character of stop, into
 * out (outlen bytes); fails the test when text has no prefix. */
void mcp_gate_after (const char *text, const char *prefix, const char *stop, char *out,
                     size_t outlen);

/* The status of run (GET /api/runs/<run> as token) into status (len
 * bytes), "" when it has none. */
void mcp_gate_run_status (const char *token, const char *run, char *status, size_t len);

/* Waits until run's status (as token) is want; fails the test after 30 s. */
void mcp_gate_await_status (const char *token, const char *run, const char *want);

#endif
