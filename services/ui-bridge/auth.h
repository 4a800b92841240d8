/* auth: who is asking, and whether they may ask again so soon.
 *
 * Every /api and /agui request carries `Authorization: Bearer <token>`;
 * the token is looked up hashed (tokens.h). Each token then draws from a
 * token bucket of CAISSON_HTTP_RATE requests per second with bursts of
 * CAISSON_HTTP_BURST, so one client cannot starve the others; a streaming
 * request counts once, when it opens. */
#ifndef CAISSON_AUTH_H
#define CAISSON_AUTH_H

#include "http.h"
#include "tokens.h"

typedef struct _auth_t auth_t;

auth_t *auth_new (tokens_t *tokens);
void auth_destroy (auth_t **self_p);

/* Authenticates req (filling req->user and req->operator_) and charges
 * its rate. Returns NULL when the request may go on, else the error
 * response to send (401 or 429). */
http_res_t *auth_check (auth_t *self, http_req_t *req);

#endif
