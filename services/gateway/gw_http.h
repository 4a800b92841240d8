/* gw_http: the gateway's HTTP server (libmicrohttpd, a thread per
 * connection: a call's waits, on gateway-keys and on the provider, hold
 * only its own thread).
 *
 * Routes: POST /v1/chat/completions, /v1/embeddings (OpenAI), POST
 * /v1/messages (Anthropic), GET /v1/models, GET /health. A model call
 * must present a virtual key (`Authorization: Bearer vk_...` or
 * `x-api-key: vk_...`): one that does not even look like one is refused
 * 401 without asking gateway-keys. Bodies over CAISSON_GATEWAY_MAX_BODY
 * get 413 (from the head when Content-Length says so); the bodies held
 * across connections are capped by CAISSON_GATEWAY_BUFFER_MAX (past it a
 * new one gets 503 with Retry-After), each given back when its request
 * ends; a request must be in whole CAISSON_GATEWAY_REQUEST_TIMEOUT_S after
 * its connection's first byte (or its previous answer), else the
 * connection is cut (408 when it can still be answered); at most
 * CAISSON_GATEWAY_MAX_CONNS connections are served.
 * Replicas on one host share the listening port (SO_REUSEPORT). */
#ifndef CAISSON_GW_HTTP_H
#define CAISSON_GW_HTTP_H

#include "gw_call.h"

typedef struct _gw_http_t gw_http_t;

/* Listens on addr (`host:port`) serving calls with ctx (borrowed: it
 * outlives the server). NULL when it cannot listen. */
gw_http_t *gw_http_new (const char *addr, const gw_ctx_t *ctx);
void gw_http_destroy (gw_http_t **self_p);

/* The port it listens on. */
int gw_http_port (gw_http_t *self);

#endif
