/* sandbox_call: one request from a tool to sandbox-manager, made safe to repeat.
 *
 * Each request a tool makes gets an id derived from the call id and the
 * request's position in the tool (its step) and try, not a random one. A
 * tool run again for the same call (a retry that another instance took
 * over) therefore sends the very same ids, and sandbox-manager's worker
 * answers a request id it has already served from its reply cache, or
 * drops it while the first is still running, instead of running it twice.
 * Requests are sent to `sandbox-manager.<instance>`, the instance named in
 * the sandboxId. A try that gets no answer is resent (same bytes) every
 * CAISSON_TOOLS_SANDBOX_TRY_MS until the call's deadline; a busy answer is
 * retried with jittered backoff under the next try's id. */
#ifndef TR_SANDBOX_CALL_H
#define TR_SANDBOX_CALL_H

#include <jansson.h>
#include "toolctx.h"

/* Sends req (consumed) about sandbox_id (NULL: any instance) and returns
 * the reply, or NULL with *error set: sandbox_unavailable on no answer by
 * the deadline, or the sandbox's own error code and message; else the
 * reply is the type proto/ declares for req (bus_client checks). req goes
 * as the call's user
 * (and operator flag), so sandbox-manager answers not_found for a sandbox
 * that is not theirs. */
proto_msg_t *sandbox_call (tool_ctx_t *ctx, const char *sandbox_id, proto_msg_t *req,
                           json_t **error);

/* Asks sandbox-manager for sandbox_id's record (sandbox.get). Returns 0
 * when the call's user may use the sandbox, or -1 with *error set
 * (not_found for one that is not there or not theirs). For dry runs, which
 * send nothing else but must answer as the real call would; other tools
 * need not ask: the workspace is PROTO_SANDBOX_WORKSPACE in every sandbox,
 * and their one request answers not_found itself. */
int sandbox_call_check (tool_ctx_t *ctx, const char *sandbox_id, json_t **error);

/* A new request of type with the call's correlation id and user. */
proto_msg_t *sandbox_call_new (tool_ctx_t *ctx, proto_type_t type);

/* A JSON string of len bytes, with bytes that are not UTF-8 replaced by
 * U+FFFD, so that any output can be returned. */
json_t *sandbox_call_text (const char *s, size_t len);

/* Writes the id derived from key into out (a valid message id). */
void sandbox_call_derive_id (const char *key, char out[CID_SIZE]);

#endif
