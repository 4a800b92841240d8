/* llm_client: model calls over libcurl's multi interface, inside a zloop.
 *
 * Every transfer of every run shares one curl multi handle driven by the
 * service's zloop (curl's socket callback adds zloop pollers, its timer
 * callback a zloop timer), so a thousand runs streaming at once cost no
 * thread. A call streams its body into an llm_stream_t, hands text deltas
 * to the caller as they come, and retries 429, 5xx, transport failures and
 * cut or stalled streams and transient provider errors sent mid-stream
 * (overloaded_error) with exponential backoff and jitter, honouring
 * Retry-After, as long as the retry fits before the caller's deadline.
 * Requests that cannot succeed (HTTP 4xx but 408/409/429, invalid-request
 * errors) are tried once. The provider's request quirks (its table
 * entry's flags) are applied to the body here.
 * API keys go into request headers only, never into logs or errors. */
#ifndef CAISSON_LLM_CLIENT_H
#define CAISSON_LLM_CLIENT_H

#include <czmq.h>
#include "llm.h"
#include "llm_provider.h"

typedef struct _llm_client_t llm_client_t;
typedef struct _llm_req_t llm_req_t;

/* One call's outcome. How the turn ended is `finish`:
 *   LLM_FINISH_STOP, LLM_FINISH_TOOL_CALLS: a normal turn;
 *   LLM_FINISH_LENGTH: the model hit its output limit (text or a tool
 *     call's arguments may be cut): the caller asks it to continue or
 *     ends the run as truncated, never as completed;
 *   LLM_FINISH_FILTER: the provider refused (content filter);
 *   LLM_FINISH_ERROR: turn is NULL and error is the provider's own words
 *     ("model answered HTTP 401: authentication_error: invalid x-api-key",
 *     "provider error: overloaded_error: Overloaded") or the transport's; retryable says
 *     whether the last failure was of a kind worth retrying (it was
 *     retried until the retries or the deadline ran out) or could never
 *     succeed (HTTP 400, 401, 403, 404, 413, 422, or an invalid-request
 *     error in the stream: tried once).
 * turn->estimated says the token counts are estimates (llm_turn_estimate)
 * because the provider sent no usage. Through the gateway, its 429 (a
 * key's rate limit) is retried after its Retry-After like a provider's
 * (at most an hour, never past the deadline); its budget refusal is tried
 * once and named in `budget`. */
typedef struct {
    const llm_turn_t *turn;     /* the complete turn, or NULL on failure */
    const char *error;          /* why it failed (after retries), or NULL */
    int attempts;               /* how many HTTP requests it took */
    long http_status;           /* of the last attempt; 0: no response */
    llm_finish_t finish;        /* turn->finish, or LLM_FINISH_ERROR */
    bool retryable;             /* on error: the last failure was transient */
    const char *budget;         /* through the gateway: the budget that refused the call
                                   (HTTP 402/403 `budget_exceeded`, its `x-caisson-budget`,
                                   e.g. `user.cost.month`; error is then the gateway's own
                                   sentence: which budget, when it resets), else NULL */
} llm_result_t;

/* Called once per call, unless cancelled. The request is freed when it
 * returns: the caller drops its pointer. */
typedef void (llm_done_fn) (const llm_result_t *result, void *arg);

llm_client_t *llm_client_new (zloop_t *loop);
void llm_client_destroy (llm_client_t **self_p);

/* Retries after the first attempt, and the timeouts (ms): the whole
 * response, and silence within it (a stall). */
void llm_client_set_limits (llm_client_t *self, int retries, uint64_t total_ms,
                            uint64_t idle_ms);

/* Posts body (a request from llm_*_request) to the provider. deadline is
 * a zclock_mono time after which no retry starts (0: none). Returns the
 * call, or NULL when it cannot start. */
llm_req_t *llm_client_post (llm_client_t *self, const llm_provider_t *p, const char *body,
                            uint64_t deadline, llm_delta_fn *delta, llm_done_fn *done,
                            void *arg);

/* The same through the model gateway (CAISSON_GATEWAY_ORCHESTRATOR=1):
 * to base (the gateway's `.../v1`) with key (a virtual key) instead of
 * the provider's URL and key; p still says the protocol and quirks. */
llm_req_t *llm_client_post_via (llm_client_t *self, const llm_provider_t *p, const char *base,
                                const char *key, const char *body, uint64_t deadline,
                                llm_delta_fn *delta, llm_done_fn *done, void *arg);

/* Stops a call in flight; its done callback never runs. Safe on NULL. */
void llm_req_cancel (llm_req_t **req_p);


#endif
