/* bus_client: Majordomo client over DEALER. See bus_client.h. */
#include "bus_client.h"
#include "busio.h"
#include "cfg.h"
#include "mdp.h"

#include <czmq.h>
#include <errno.h>
#include <string.h>

struct _bus_client_t {
    zsock_t *sock;
    void *raw;
    int timeout_ms;
    int retries;
    const atomic_bool *abort;
};

/* How often a request waiting with an abort flag looks at it. */
#define ABORT_CHECK_MS 100

bus_client_t *
bus_client_new (const char *endpoint)
{
    bus_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = busio_socket (ZMQ_DEALER, endpoint, false);
    if (!self->sock) {
        free (self);
        return NULL;
    }
    self->raw = zsock_resolve (self->sock);
    bus_client_set_timeout (self, (int) cfg_u64 ("CAISSON_REQUEST_TIMEOUT_MS"),
                            (int) cfg_u64 ("CAISSON_REQUEST_RETRIES"));
    return self;
}

void
bus_client_destroy (bus_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy (&(*self_p)->sock);
    free (*self_p);
    *self_p = NULL;
}

void
bus_client_set_timeout (bus_client_t *self, int timeout_ms, int retries)
{
    self->timeout_ms = timeout_ms;
    self->retries = retries;
    /* A DEALER whose handshake the broker refused (a stale or unknown key)
     * has no peer and would block a send for ever: it times out instead. */
    zsock_set_sndtimeo (self->sock, timeout_ms);
}

void
bus_client_set_abort (bus_client_t *self, const atomic_bool *abort)
{
    self->abort = abort;
}

static bool
aborted (const bus_client_t *self)
{
    return self->abort && atomic_load (self->abort);
}

int
bus_client_send (bus_client_t *self, const char *service, const uint8_t *data,
                 size_t size)
{
    const void *parts[] = { "", MDP_CLIENT, service, data };
    size_t sizes[] = { 0, strlen (MDP_CLIENT), strlen (service), size };
    return busio_send (self->raw, 4, parts, sizes);
}

proto_msg_t *
bus_client_recv (bus_client_t *self, int timeout_ms, proto_err_t *err)
{
    proto_err_t local;
    if (!err)
        err = &local;
    memset (err, 0, sizeof *err);
    zmq_pollitem_t item = { self->raw, 0, ZMQ_POLLIN, 0 };
    busio_msg_t m;
    while (true) {
        if (busio_recv (self->raw, &m, ZMQ_DONTWAIT) == 0)
            break;
        if (errno == EPROTO)
            continue;       /* a malformed reply is dropped, not fatal */
        int rc = zmq_poll (&item, 1, timeout_ms);
        if (rc <= 0) {
            errno = rc == 0 ? ETIMEDOUT : EINTR;
            return NULL;
        }
    }
    proto_msg_t *reply = NULL;
    if (m.n == 4 && busio_is (&m.f[1], MDP_CLIENT))
        reply = proto_decode (zmq_msg_data (&m.f[3]), zmq_msg_size (&m.f[3]), err);
    else {
        err->code = PROTO_E_INVALID;
        snprintf (err->text, sizeof err->text, "reply: not an MDP client reply (%d frames)", m.n);
    }
    busio_close (&m);
    if (!reply)
        errno = EPROTO;
    return reply;
}

static bool
answers (const proto_msg_t *reply, const proto_msg_t *req)
{
    return reply->env.cause && strcmp (reply->env.cause, req->env.id) == 0;
}

/* reply itself when it is of the type proto/ declares for req, or an
 * `error`; else an `internal` error that names the mismatch (reply is
 * taken). A peer of another version may answer so; the caller then has
 * one case less to tell apart. */
static proto_msg_t *
declared (const char *service, const proto_msg_t *req, proto_msg_t *reply)
{
    proto_type_t want = proto_reply_of (req->type);
    if (want == PROTO_TYPE_COUNT || reply->type == want || reply->type == PROTO_error)
        return reply;
    proto_msg_t *err = proto_error_new (req, PROTO_ERR_internal,
                                        "%s answered %s with %s, not the declared %s", service,
                                        proto_type_name (req->type),
                                        proto_type_name (reply->type), proto_type_name (want));
    proto_msg_destroy (&reply);
    return err;
}

proto_msg_t *
bus_client_request (bus_client_t *self, const char *service, const proto_msg_t *req)
{
    uint8_t *data;
    size_t size;
    if (proto_encode (req, &data, &size)) {
        errno = ENOMEM;
        return NULL;
    }
    proto_msg_t *reply = NULL;
    int why = ETIMEDOUT;
    for (int attempt = 0; attempt <= self->retries && !reply; attempt++) {
        if (bus_client_send (self, service, data, size))
            break;
        int64_t deadline = zclock_mono () + self->timeout_ms;
        while (!reply) {
            int64_t left = deadline - zclock_mono ();
            if (aborted (self)) {
                why = ECANCELED;
                goto done;
            }
            if (left <= 0)
                break;
            if (self->abort && left > ABORT_CHECK_MS)
                left = ABORT_CHECK_MS;
            proto_msg_t *m = bus_client_recv (self, (int) left, NULL);
            if (!m && errno == EINTR) {
                why = EINTR;
                goto done;
            }
            if (m && answers (m, req))
                reply = m;
            else
                proto_msg_destroy (&m);   /* a late answer to an older request */
        }
    }
done:
    free (data);
    if (!reply)
        errno = why;
    return reply ? declared (service, req, reply) : NULL;
}

zsock_t *
bus_client_socket (bus_client_t *self)
{
    return self->sock;
}
