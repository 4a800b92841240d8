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
