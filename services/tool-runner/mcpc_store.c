/* mcpc_store: users' mcp.json documents in event-log. */
#include "mcpc_store.h"

#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Event-log's answer to m, or an error reply to cause naming it. */
static proto_msg_t *
ask (bus_client_t *client, const proto_msg_t *cause, proto_msg_t *m)
{
    proto_msg_t *rep = bus_client_request (client, "event-log", m);
    proto_msg_destroy (&m);
    if (!rep)
        return proto_error_new (cause, PROTO_ERR_unavailable, "event-log, which keeps users' "
                                "mcp.json, did not answer");
    return rep;
}

int
mcpc_store_load (bus_client_t *client, const char *user, char **content, uint64_t *version,
                 char *err, size_t errlen)
{
    proto_msg_t *m = proto_msg_new (PROTO_memory_get, NULL);
    proto_set_str (&m->env.user, user);
    proto_set_str (&m->body.memory_get.doc, "mcp");
    proto_msg_t *rep = ask (client, NULL, m);
    int rc = 0;
    if (rep->type == PROTO_memory) {
        *content = xstrdup (rep->body.memory.content ? rep->body.memory.content : "");
        *version = rep->body.memory.version;
    }
    else {
        snprintf (err, errlen, "your mcp.json could not be read: %s",
                  rep->type == PROTO_error ? rep->body.error.message : "no answer");
        rc = -1;
    }
    proto_msg_destroy (&rep);
    return rc;
}

proto_msg_t *
mcpc_store_ask (bus_client_t *client, const proto_msg_t *req)
{
    bool put = req->type == PROTO_mcp_config_put;
    proto_msg_t *m = proto_msg_new (put ? PROTO_memory_put : PROTO_memory_get, req);
    proto_set_str (&m->env.user, req->env.user);
    m->env.op = req->env.op;
    if (put) {
        const proto_mcp_config_put_t *b = &req->body.mcp_config_put;
        proto_memory_put_t *p = &m->body.memory_put;
        proto_set_str (&p->doc, "mcp");
        proto_set_str (&p->user, b->user);
        proto_set_str (&p->content, b->content);
        p->version = b->version;
        p->any_version = b->any_version;
    }
    else {
        proto_set_str (&m->body.memory_get.doc, "mcp");
        proto_set_str (&m->body.memory_get.user, req->body.mcp_config_get.user);
    }
    proto_msg_t *rep = ask (client, req, m);
    if (rep->type != PROTO_memory) {
        /* event-log's error, said to the asker as its own */
        proto_msg_t *e = proto_error_new (req, rep->type == PROTO_error
                                                   ? proto_error_lookup (rep->body.error.code)
                                                   : PROTO_ERR_internal,
                                          "%s", rep->type == PROTO_error
                                                    ? rep->body.error.message : "no answer");
        proto_msg_destroy (&rep);
        return e ? e : proto_error_new (req, PROTO_ERR_internal, "event-log failed");
    }
    proto_msg_t *out = proto_msg_new (PROTO_mcp_config, req);
    proto_mcp_config_t *c = &out->body.mcp_config;
    proto_set_str (&c->content, rep->body.memory.content ? rep->body.memory.content : "");
    c->version = rep->body.memory.version;
    proto_set_str (&c->user, rep->body.memory.user);
    c->updated = rep->body.memory.updated;
    proto_msg_destroy (&rep);
    return out;
}
