/* probe: health over the bus. See probe.h. */
#include "probe.h"
#include "mdp.h"

#include <stdio.h>
#include <string.h>

proto_msg_t *
probe_health (bus_client_t *client, const char *name, const char *instance,
              int timeout_ms)
{
    char address[MDP_MAX_SERVICE + 1];
    if (strcmp (name, MDP_BROKER_SERVICE) == 0)
        snprintf (address, sizeof address, "%s", name);
    else
        snprintf (address, sizeof address, "%s.%s", name, instance);
    proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
    bus_client_set_timeout (client, timeout_ms, 0);
    proto_msg_t *rep = bus_client_request (client, address, req);
    proto_msg_destroy (&req);
    if (rep && rep->type == PROTO_error)
        proto_msg_destroy (&rep);
    return rep;
}
