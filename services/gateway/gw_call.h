/* gw_call: one model call through the gateway, on its connection's thread.
 *
 * The body is read (gw_body), the key's hash and the call's most cost go
 * to gateway-keys in one `gkey.reserve`; a refusal is answered in the
 * route's protocol with its status, code, reason and headers (402:
 * x-caisson-budget and x-caisson-budget-reset; 429: Retry-After and
 * retry-after-ms). A grant forwards the call with the real key (gw_up);
 * the provider's status, content type and request id come back, its
 * x-ratelimit-* (the shared account's) replaced by the key's, plus
 * x-caisson-call; the body is passed through as it arrives (gw_sse for
 * streams), a provider's error body with the real key masked. When the
 * call ends (served, failed, or its client gone, which cancels the
 * upstream call) `gkey.settle` tells gateway-keys what it used: the
 * provider's usage, else an estimate from the bytes. */
#ifndef CAISSON_GW_CALL_H
#define CAISSON_GW_CALL_H

#include "gw_body.h"
#include "gw_bus.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

/* What every call of one gateway shares (set up once, read only). */
typedef struct {
    gw_bus_t *bus;
    const char *instance;       /* this gateway's, for gkey.reserve */
    gw_body_opts_t body;
    long timeout_s;             /* CAISSON_GATEWAY_UPSTREAM_TIMEOUT_S */
    bool cap;                   /* CAISSON_GATEWAY_CAP_MAX_TOKENS */
    bool no_usage_bound;        /* CAISSON_GATEWAY_NO_USAGE=bound */
} gw_ctx_t;

typedef struct _gw_call_t gw_call_t;

/* Serves a call of route with body (len bytes) presented with secret on
 * con; *call_p gets the call to end with gw_call_end (NULL when the call
 * was answered at once). arrived_us: when its request came in. */
enum MHD_Result gw_call_serve (struct MHD_Connection *con, const gw_ctx_t *ctx,
                               gw_route_t route, const char *body, size_t len,
                               const char *secret, int64_t arrived_us, gw_call_t **call_p);

/* The connection is done with the call (ok: the answer went out whole):
 * cancels what is left upstream, settles, frees. */
void gw_call_end (gw_call_t **call_p, bool ok);

/* Answers status with a gateway error body in proto's shape. */
enum MHD_Result gw_call_refuse (struct MHD_Connection *con, llm_proto_t proto, int status,
                                const char *code, const char *message);

/* Microseconds on the monotonic clock. */
int64_t gw_now_us (void);

#endif
