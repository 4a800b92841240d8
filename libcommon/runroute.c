/* runroute: which instance a request goes to: the orchestrator that owns a
 * run, the sandbox-manager that owns a sandbox, or every instance of a
 * service. See runroute.h. */
#include "runroute.h"
#include "mdp.h"
#include "mpjson.h"
#include "sandbox_id.h"

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
runroute_sandbox (const char *id, char *service, size_t len)
{
    char inst[SANDBOX_ID_INSTANCE_MAX + 1];
    if (sandbox_id_instance (id, inst, sizeof inst) == 0) {
        snprintf (service, len, "sandbox-manager.%s", inst);
        return 0;
    }
    snprintf (service, len, "sandbox-manager");
    return -1;
}

json_t *
runroute_instances (bus_client_t *client, const char *service)
{
    json_t *out = json_array ();
    proto_msg_t *req = proto_msg_new (PROTO_bus_instances, NULL);
    proto_msg_t *rep = NULL;
    proto_set_str (&req->body.bus_instances.service, service);
    rep = bus_client_request (client, MDP_BROKER_SERVICE, req);
    proto_msg_destroy (&req);
    json_t *ids = NULL;
    if (rep && rep->type != PROTO_error) {
        ids = mpjson_get (&rep->body.bus_instance_list.instances, 2);
    }
    proto_msg_destroy (&rep);
    size_t i;
    json_t *id;
    json_array_foreach (ids, i, id) {
        const char *s = json_string_value (id);
        if (s && *s && !strchr (s, '.'))
            json_array_append_new (out, json_sprintf ("%s.%s", service, s));
    }
    json_decref (ids);
    if (json_array_size (out) == 0)
        json_array_append_new (out, json_string (service));
    return out;
}

int
runroute_service (bus_client_t *client, const char *run, char *service, size_t len)
{
    snprintf (service, len, "orchestrator");
    proto_msg_t *req = proto_msg_new (PROTO_run_record_get, NULL);
    proto_set_str (&req->body.run_record_get.run, run);
    proto_msg_t *rep = bus_client_request (client, "event-log", req);
    proto_msg_destroy (&req);
    int rc = -1;
    if (rep && rep->type != PROTO_error) {
        json_t *rec = mpjson_get (&rep->body.run_record.run, 8);
        rc = runroute_of_record (rec, service, len);
        json_decref (rec);
    }
    proto_msg_destroy (&rep);
    return rc;
}

int
runroute_thread_of (const json_t *thread, const json_t *instances, char *service, size_t len)
{
    char holder[160];
    snprintf (service, len, "orchestrator");
    if (runroute_of_record (thread, holder, sizeof holder))
        return -1;
    size_t i;
    json_t *s;
    json_array_foreach (instances, i, s)
        if (!strcmp (json_string_value (s) ?: "", holder)) {
            snprintf (service, len, "%s", holder);
            return 0;
        }
    return -1;
}

int
runroute_thread (bus_client_t *client, const proto_msg_t *cause, const char *thread,
                 char *service, size_t len)
{
    snprintf (service, len, "orchestrator");
    if (!thread || !*thread)
        return -1;
    proto_msg_t *req = proto_msg_new (PROTO_thread_get, cause);
    proto_set_str (&req->body.thread_get.thread_id, thread);
    req->body.thread_get.head = true;
    proto_msg_t *rep = bus_client_request (client, "event-log", req);
    proto_msg_destroy (&req);
    json_t *t = rep && rep->type == PROTO_thread_convo
              ? mpjson_get (&rep->body.thread_convo.thread, 8) : NULL;
    proto_msg_destroy (&rep);
    int rc = -1;
    if (json_object_get (t, "orchestrator")) {
        json_t *live = runroute_instances (client, "orchestrator");
        rc = runroute_thread_of (t, live, service, len);
        json_decref (live);
    }
    json_decref (t);
    return rc;
}
