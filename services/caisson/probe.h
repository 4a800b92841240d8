/* probe: asks one process of a stack for its health over the bus.
 *
 * The broker answers for service `bus`; every other process is asked at
 * its instance address `<service>.<instance>`, so the answer comes from
 * exactly the process the supervisor started, not from any replica. */
#ifndef CAISSON_PROBE_H
#define CAISSON_PROBE_H

#include "bus_client.h"

/* A health.rep from the process, or NULL when it did not answer within
 * timeout_ms or answered with something else. */
proto_msg_t *probe_health (bus_client_t *client, const char *name,
                           const char *instance, int timeout_ms);

#endif
