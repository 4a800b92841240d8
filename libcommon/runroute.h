/* runroute: where to send a request when plain `service` is not enough.
 * With several orchestrators, only the one that started a run holds it;
 * event-log's record of the run names that instance (from its
 * `run_started` event), so clients (the CLI, ui-bridge) address
 * `orchestrator.<instance>` and the broker routes there. A sandbox id
 * names the sandbox-manager that made it, so a request about a sandbox
 * (from tool-runner, ui-bridge, the CLI) goes to that instance. And a
 * question about every host (each sandbox-manager's sandboxes) goes to
 * each instance the broker knows. */
#ifndef CAISSON_RUNROUTE_H
#define CAISSON_RUNROUTE_H

#include "bus_client.h"
#include <jansson.h>
#include <stddef.h>

/* Writes into service the address for requests about run: the owning
 * instance's, or plain `orchestrator` when event-log does not know it
 * (yet). Returns 0 when an owner was found, -1 when falling back. */
int runroute_service (bus_client_t *client, const char *run, char *service, size_t len);

/* The same from a run's record already at hand (event-log's run.record
 * decoded to JSON); record may be NULL. */
int runroute_of_record (const json_t *record, char *service, size_t len);

/* The address for a run.start on thread: the orchestrator instance that
 * holds its conversation (the thread record's `orchestrator`: the one
 * that ran or adopted its last run) when the broker lists it now, else
 * plain `orchestrator` (any instance; one without the conversation
 * rebuilds it from event-log). thread.get (head only) is asked as
 * cause's user (NULL: the client's), so another user's thread routes
 * nowhere special. Returns 0 when routed to the holder, -1 otherwise. */
int runroute_thread (bus_client_t *client, const proto_msg_t *cause, const char *thread,
                     char *service, size_t len);

/* The same from a thread record (may be NULL) and the instances listed
 * now (runroute_instances's array). */
int runroute_thread_of (const json_t *thread, const json_t *instances, char *service,
                        size_t len);

/* The address of the sandbox-manager that owns sandbox id (sandbox_id.h):
 * `sandbox-manager.<instance>`, or plain `sandbox-manager` when id is not
 * a sandbox id. Returns 0 when it names an instance, -1 otherwise. */
int runroute_sandbox (const char *id, char *service, size_t len);

/* The addresses of every instance of service registered with the broker
 * now (`service.<instance>` strings), from the broker's bus.instances; a
 * new array the caller releases. When the broker names none or does not
 * answer, the array holds plain service, so callers still ask once. */
json_t *runroute_instances (bus_client_t *client, const char *service);

#endif
