/* mcpc_stdio: one stdio MCP server, run inside a sandbox of its own.
 *
 * The server's sandbox is created for a service user (the deployment's
 * `mcp`), with the server's network mode and egress rules; its `files`
 * tarball is unpacked into /workspace (piped into `tar` as an interactive
 * process, 1 MiB at a time, so its size is not bound by a frame); then its
 * command runs as an interactive background process (docs/sandbox.md §
 * Interactive processes). Requests go to its stdin with sandbox.exec.input,
 * answers come from its stdout on `sandbox.<id>.proc.` (subscribed before
 * the exec), framed by mcpc_frame. Every failure is one sentence a model
 * can act on: "MCP server X failed to start: ...", "... did not answer
 * tools/call within N s", "... sent an invalid JSON-RPC frame: ...", with
 * the tail of the server's stderr when it exited.
 *
 * Not thread-safe: one caller at a time (mcpc serialises). */
#ifndef TR_MCPC_STDIO_H
#define TR_MCPC_STDIO_H

#include "mcpc_config.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct _mcpc_stdio_t mcpc_stdio_t;

/* Starts server (borrowed: it must outlive the result) for user and
 * initializes it (offering 2025-11-25, accepting 2025-06-18). NULL with
 * why filled, its sandbox ended. While *abort (borrowed, may be NULL) is
 * true, every wait gives up within about 100 ms (a stopping service). */
mcpc_stdio_t *mcpc_stdio_start (const mcpc_server_t *server, const char *user,
                                const atomic_bool *abort, char *why, size_t whylen);

/* Ends the server's sandbox (its processes with it). */
void mcpc_stdio_destroy (mcpc_stdio_t **self_p);

/* Sends method with params (NULL: none) and waits up to the server's
 * timeout for the answer: 0 with *result a new reference, or -1 with why
 * (-2: not sent at all, its input refused: safe to send again elsewhere).
 * Pings from the server are answered on the way; other requests get
 * -32601; notifications are skipped. */
int mcpc_stdio_request (mcpc_stdio_t *self, const char *method, const json_t *params,
                        json_t **result, char *why, size_t whylen);

/* As mcpc_stdio_request, except that once *cancel (borrowed, may be
 * NULL) is true the wait ends within about 100 ms (-3); *sent (may be
 * NULL) gets the request's JSON-RPC id, for a notifications/cancelled.
 * Its answer, should it come later, is dropped by the next request. */
int mcpc_stdio_call (mcpc_stdio_t *self, const char *method, const json_t *params,
                     const atomic_bool *cancel, long long *sent, json_t **result, char *why,
                     size_t whylen);

/* Sends notification method with params: 0, or -1 with why. */
int mcpc_stdio_notify (mcpc_stdio_t *self, const char *method, const json_t *params, char *why,
                       size_t whylen);

/* All pages of tools/list as catalogue entries (mcpc_tools): a new array,
 * tools left out appended to skipped; NULL with why. */
json_t *mcpc_stdio_tools (mcpc_stdio_t *self, json_t *skipped, char *why, size_t whylen);

/* The protocol revision the server answered, and whether it has exited
 * (or its sandbox is gone: its input was refused). */
const char *mcpc_stdio_version (const mcpc_stdio_t *self);
bool mcpc_stdio_exited (const mcpc_stdio_t *self);

/* Whether the server sent notifications/tools/list_changed since the
 * last time this was asked (during a request: it is read then only). */
bool mcpc_stdio_tools_changed (mcpc_stdio_t *self);

#endif
