/* cliask: a CLI command's request and the error it prints (see cliask.h). */
#include "cliask.h"
#include "cfg.h"

#include <stdio.h>

int
cliask_report (const char *service, const proto_msg_t *rep)
{
    if (!rep)
        fprintf (stderr, "caisson: %s did not answer at %s\n", service, cfg_str ("CAISSON_BUS"));
    else if (rep->type == PROTO_error)
        fprintf (stderr, "caisson: %s: %s\n", rep->body.error.code, rep->body.error.message);
    return rep && rep->type != PROTO_error ? 0 : 1;
}

proto_msg_t *
cliask (bus_client_t *c, const char *service, proto_msg_t *req)
{
    proto_msg_t *rep = req ? bus_client_request (c, service, req) : NULL;
    proto_msg_destroy (&req);
    if (cliask_report (service, rep))
        proto_msg_destroy (&rep);
    return rep;
}
