/* app: what every ui-bridge route shares (the bus pool, tokens, limits,
 * metrics), and the helpers routes use to turn bus replies into HTTP.
 *
 * Routes are functions `http_res_t *fn (app_t *, http_req_t *)` listed in
 * router.c; they run on the connection's own thread (see http.h). */
#ifndef CAISSON_APP_H
#define CAISSON_APP_H

#include <jansson.h>
#include <stdatomic.h>

#include "auth.h"
#include "buspool.h"
#include "http.h"
#include "metrics.h"
#include "proto.h"
#include "tokens.h"

typedef struct {
    buspool_t *bus;
    tokens_t *tokens;
    auth_t *auth;
    metrics_t *metrics;
    const char *instance;
    atomic_bool stopping;       /* set at shutdown: streams end */
    char sub_endpoint[512];     /* the event proxy, for streams */
    struct _mcp_t *mcp;         /* /mcp's sessions and caches (mcp_http.h) */
} app_t;

typedef http_res_t *(route_fn) (app_t *app, http_req_t *req);

/* The router: matches req to a route, authenticates /api and /agui, and
 * runs it. An http_handler_fn with app as its argument. */
http_res_t *router_handle (http_req_t *req, void *app);

/* Records a finished request in the metrics. An http_done_fn. */
void router_done (const http_req_t *req, int status, void *app);

/* Parses req's body as a JSON object into *obj. Returns NULL, or the 400
 * response to send. */
http_res_t *app_body (http_req_t *req, json_t **obj);

/* A new request of type for req: its correlation id, user and operator
 * flag set. */
proto_msg_t *app_msg (http_req_t *req, proto_type_t type);

/* True when id, a path segment naming a run or a sandbox, is 1 to max
 * letters, digits, '-' and '_': nothing else reaches a bus request. */
bool app_valid_id (const char *id, size_t max);

/* True when req's user may see what owner owns: their own, and all of it
 * for an operator. */
bool app_visible (const http_req_t *req, const char *owner);

/* Sends msg to service and returns the reply in *rep: of the type proto/
 * declares for msg (proto_reply_of). Otherwise NULL goes to *rep and the
 * HTTP error to answer with is returned: 504 on timeout, else the status
 * errors.def declares for the `error` reply's code (a reply of another
 * type is an `internal` error, 502). Takes msg. */
http_res_t *app_call (app_t *app, const char *service, proto_msg_t *msg, int timeout_ms,
                      proto_msg_t **rep);

/* The same in JSON: sends a request of type whose body fields come from
 * obj (not taken, keyed by HTTP names: pjson.h) and gives its declared
 * reply's body as a new JSON object in *out. */
http_res_t *app_call_json (app_t *app, http_req_t *req, const char *service, proto_type_t type,
                           json_t *obj, int timeout_ms, json_t **out);

/* The reply's body as a JSON response with status. Takes rep. */
http_res_t *app_reply_json (int status, proto_msg_t *rep);

#endif
