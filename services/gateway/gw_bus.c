/* gw_bus: see gw_bus.h. */
#include "gw_bus.h"
#include "bus_client.h"
#include "clog.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _gw_bus_t {
    char *endpoint;
    const atomic_bool *stop;
    pthread_mutex_t lock;
    bus_client_t **idle;
    size_t nidle, cap;
    /* posted requests, sent by the poster thread in order */
    pthread_t poster;
    bool posting, closing;
    pthread_cond_t wake, drained;
    zlistx_t *queue;
    bool sending;               /* the poster holds one it took */
};

static void *
poster (void *arg)
{
    gw_bus_t *self = arg;
    pthread_mutex_lock (&self->lock);
    for (;;) {
        while (!zlistx_size (self->queue) && !self->closing)
            pthread_cond_wait (&self->wake, &self->lock);
        proto_msg_t *req = zlistx_detach (self->queue, NULL);
        if (!req)
            break;
        self->sending = true;
        pthread_mutex_unlock (&self->lock);
        proto_msg_t *rep = gw_bus_request (self, req);
        if (!rep || rep->type == PROTO_error)
            clog_warn (req->env.corr, "%s not answered by gateway-keys: %s",
                       proto_type_name (req->type), rep ? rep->body.error.message : "no reply");
        proto_msg_destroy (&rep);
        proto_msg_destroy (&req);
        pthread_mutex_lock (&self->lock);
        self->sending = false;
        pthread_cond_broadcast (&self->drained);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

gw_bus_t *
gw_bus_new (const char *endpoint, const atomic_bool *stop)
{
    gw_bus_t *self = calloc (1, sizeof *self);
    if (!self || !(self->endpoint = strdup (endpoint))) {
        free (self);
        return NULL;
    }
    self->stop = stop;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    pthread_cond_init (&self->drained, NULL);
    self->queue = zlistx_new ();
    self->posting = self->queue && !pthread_create (&self->poster, NULL, poster, self);
    if (!self->posting) {
        gw_bus_destroy (&self);
        return NULL;
    }
    return self;
}

void
gw_bus_destroy (gw_bus_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_bus_t *self = *self_p;
    if (self->posting) {
        pthread_mutex_lock (&self->lock);
        self->closing = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->poster, NULL);
    }
    zlistx_destroy (&self->queue);
    pthread_cond_destroy (&self->wake);
    pthread_cond_destroy (&self->drained);
    for (size_t i = 0; i < self->nidle; i++)
        bus_client_destroy (&self->idle[i]);
    free (self->idle);
    pthread_mutex_destroy (&self->lock);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

proto_msg_t *
gw_bus_request (gw_bus_t *self, const proto_msg_t *req)
{
    bus_client_t *c = NULL;
    pthread_mutex_lock (&self->lock);
    if (self->nidle)
        c = self->idle[--self->nidle];
    pthread_mutex_unlock (&self->lock);
    if (!c && (c = bus_client_new (self->endpoint)))
        bus_client_set_abort (c, self->stop);
    if (!c)
        return NULL;
    proto_msg_t *rep = bus_client_request (c, "gateway-keys", req);
    pthread_mutex_lock (&self->lock);
    if (self->nidle == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        bus_client_t **b = realloc (self->idle, cap * sizeof *b);
        if (b) {
            self->idle = b;
            self->cap = cap;
        }
    }
    if (self->nidle < self->cap) {
        self->idle[self->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock (&self->lock);
    bus_client_destroy (&c);
    return rep;
}

void
gw_bus_post (gw_bus_t *self, proto_msg_t *req)
{
    pthread_mutex_lock (&self->lock);
    zlistx_add_end (self->queue, req);
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
}

void
gw_bus_drain (gw_bus_t *self, int timeout_ms)
{
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long) (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock (&self->lock);
    while ((zlistx_size (self->queue) || self->sending)
           && pthread_cond_timedwait (&self->drained, &self->lock, &until) == 0)
        ;
    pthread_mutex_unlock (&self->lock);
}
