/* ep_events: net events published and appended (ep_events.h). */
#include "ep_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_client.h"
#include "bus_pub.h"
#include "cfg.h"
#include "clog.h"
#include "evkind.h"
#include "mpjson.h"
#include "xalloc.h"

struct _ep_events_t {
    bus_pub_t *pub;
    bus_client_t *client;
    uint64_t per_min;
};

ep_events_t *
ep_events_new (const char *pub_ep, const char *bus_ep)
{
    bus_pub_t *pub = bus_pub_new (pub_ep);
    if (!pub)
        return NULL;
    ep_events_t *self = xcalloc (1, sizeof *self);
    self->pub = pub;
    self->client = bus_client_new (bus_ep);
    if (self->client)
        bus_client_set_timeout (self->client, 100, 0);
    self->per_min = cfg_u64 ("CAISSON_EGRESS_RUN_EVENTS_PER_MIN");
    return self;
}

void
ep_events_destroy (ep_events_t **self_p)
{
    ep_events_t *self = *self_p;
    if (!self)
        return;
    bus_pub_destroy (&self->pub);
    bus_client_destroy (&self->client);
    free (self);
    *self_p = NULL;
}

static void
set_opt (char **field, const char *s)
{
    if (s && *s)
        proto_set_str (field, s);
}

/* True when the budget lets one more run event of this kind through. */
static bool
spend (ep_events_t *self, ep_evbudget_t *b, uint64_t now_ms, bool refusal)
{
    if (now_ms - b->window_ms >= 60000) {
        b->window_ms = now_ms;
        b->used = 0;
    }
    uint64_t cap = refusal ? self->per_min : self->per_min - self->per_min / 4;
    if (b->used >= cap)
        return false;
    b->used++;
    return true;
}

static void
append (ep_events_t *self, const ep_box_t *box, const ep_event_t *ev)
{
    json_t *data = EVK (net, .sandboxId = box->id, .protocol = ev->protocol, .host = ev->host,
                        .port = ev->port, .verdict = ev->verdict,
                        .rule = ev->rule && *ev->rule ? ev->rule : NULL,
                        .reason = ev->reason && *ev->reason ? ev->reason : NULL,
                        .bytesUp = ev->bytes_up, .bytesDown = ev->bytes_down);
    if (!data)
        return;
    proto_msg_t *msg = proto_msg_new (PROTO_event_append, NULL);
    proto_set_str (&msg->env.run, box->run);
    if (strlen (box->corr) == 26)
        proto_set_str (&msg->env.corr, box->corr);
    set_opt (&msg->env.user, box->owner);
    proto_set_str (&msg->body.event_append.kind, "net");
    mpjson_set (&msg->body.event_append.data, data, 4);
    json_decref (data);
    uint8_t *data_out = NULL;
    size_t size = 0;
    if (proto_encode (msg, &data_out, &size)
        || bus_client_send (self->client, "event-log", data_out, size))
        clog_warn (box->corr, "net event of %s not appended to run %s", box->id, box->run);
    free (data_out);
    proto_msg_destroy (&msg);
}

void
ep_events_emit (ep_events_t *self, const ep_box_t *box, ep_evbudget_t *budget, uint64_t now_ms,
                const ep_event_t *ev)
{
    proto_msg_t *msg = proto_msg_new (PROTO_sandbox_net_event, NULL);
    proto_sandbox_net_event_t *b = &msg->body.sandbox_net_event;
    proto_set_str (&b->sandbox_id, box->id);
    set_opt (&b->run, box->run);
    set_opt (&b->corr, box->corr);
    if (*box->run)
        proto_set_str (&msg->env.run, box->run);
    proto_set_str (&b->protocol, ev->protocol);
    proto_set_str (&b->host, ev->host);
    b->port = ev->port;
    set_opt (&b->addr, ev->addr);
    proto_set_str (&b->verdict, ev->verdict);
    set_opt (&b->rule, ev->rule);
    set_opt (&b->reason, ev->reason);
    b->bytes_up = ev->bytes_up;
    b->bytes_down = ev->bytes_down;
    b->ms = ev->ms;
    char topic[128];
    snprintf (topic, sizeof topic, "sandbox.%s.net", box->id);
    if (bus_pub_send (self->pub, topic, msg))
        clog_warn (box->corr, "net event of %s not published", box->id);
    proto_msg_destroy (&msg);
    bool refusal = strcmp (ev->verdict, "allow") && strcmp (ev->verdict, "close");
    /* an allowed connection is appended once, when it ends, with bytes */
    if (*box->run && self->client && strcmp (ev->verdict, "allow")
        && spend (self, budget, now_ms, refusal))
        append (self, box, ev);
}

void
ep_events_drain (ep_events_t *self)
{
    if (!self->client)
        return;
    proto_msg_t *rep;
    proto_err_t err;
    while ((rep = bus_client_recv (self->client, 0, &err))) {
        if (rep->type == PROTO_error)
            clog_warn (NULL, "event-log refused a net event: %s",
                       rep->body.error.message ? rep->body.error.message : "");
        proto_msg_destroy (&rep);
    }
}
