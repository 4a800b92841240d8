/* auth: who is asking, and whether they may ask again so soon.
 *
 * Every /api and /agui request carries `Authorization: Bearer <token>`;
 * the token is looked up hashed (tokens.h). Each token then draws from a
 * token bucket of CAISSON_HTTP_RATE requests per second with bursts of
 * CAISSON_HTTP_BURST, so one client cannot starve the others; a streaming
 * request counts once, when it opens. A user may have at most
 * CAISSON_HTTP_MAX_PER_USER requests being served at once (streams
 * included). An address whose attempts failed CAISSON_HTTP_AUTH_FAILS
 * times within a minute gets 429 for CAISSON_HTTP_AUTH_COOLDOWN_S, right
 * token or not. */
#ifndef CAISSON_AUTH_H
#define CAISSON_AUTH_H

#include "http.h"
#include "tokens.h"

typedef struct _auth_t auth_t;

auth_t *auth_new (tokens_t *tokens);
void auth_destroy (auth_t **self_p);

/* Authenticates req (filling req->user and req->operator_), charges its
 * rate and counts it in flight. Returns NULL when the request may go on,
 * else the error response to send (401 or 429). */
http_res_t *auth_check (auth_t *self, http_req_t *req);

/* The request auth_check let through is done: it no longer counts. */
void auth_release (auth_t *self, const http_req_t *req);

#endif
