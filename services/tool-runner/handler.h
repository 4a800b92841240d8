/* handler: tool-runner's requests, `tools.list` and `tools.call`.
 *
 * A call is checked (tool name, arguments against the schema, the run's
 * limits) and claimed by call id (calls.h) on the service loop, then run on
 * a job thread of its own, so the loop keeps serving heartbeats and other
 * calls however long a tool takes: the request is deferred
 * (bus_worker_defer) and answered when the thread is done. A call another
 * instance is running waits, deferred, for that instance's result or for
 * its lease to lapse, and is then taken over. */
#ifndef TR_HANDLER_H
#define TR_HANDLER_H

#include "svc.h"

typedef struct _handler_t handler_t;

/* Opens the store and catalogue and adds the job pipe and lease timer to
 * the service's loop. NULL on failure (logged). */
handler_t *handler_new (svc_t *svc);

/* Waits for running jobs (each ends by its deadline) and frees all. */
void handler_destroy (handler_t **self_p);

/* The svc_def_t routes: `tools.list`, `tools.call`, `mcp.list`; each handler's
 * arg is the svc_t whose state is a handler_t. */
extern const bus_route_t handler_routes[];

#endif
