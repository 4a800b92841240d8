/* runroute: the orchestrator instance that owns a run. See runroute.h. */
#include "runroute.h"
#include "mpjson.h"

#include <stdio.h>
#include <string.h>

int
runroute_of_record (const json_t *record, char *service, size_t len)
{
    const char *owner = json_string_value (json_object_get (record, "orchestrator"));
    /* An owner with a dot would address some other service's instance. */
    if (owner && *owner && !strchr (owner, '.')) {
        snprintf (service, len, "orchestrator.%s", owner);
        return 0;
    }
    snprintf (service, len, "orchestrator");
    return -1;
}

int
runroute_service (bus_client_t *client, const char *run, char *service, size_t len)
{
    snprintf (service, len, "orchestrator");
    proto_msg_t *req = proto_msg_new (PROTO_run_record_get, NULL);
    if (!req || proto_set_str (&req->body.run_record_get.run, run)) {
        proto_msg_destroy (&req);
        return -1;
    }
    proto_msg_t *rep = bus_client_request (client, "event-log", req);
    proto_msg_destroy (&req);
    int rc = -1;
    if (rep && rep->type == PROTO_run_record) {
        char why[128];
        json_t *rec = mpjson_decode (rep->body.run_record.run.data, rep->body.run_record.run.size,
                                     8, why, sizeof why);
        rc = runroute_of_record (rec, service, len);
        json_decref (rec);
    }
    proto_msg_destroy (&rep);
    return rc;
}
