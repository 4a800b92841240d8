/* gw_bus: see gw_bus.h. */
#include "gw_bus.h"
#include "bus_client.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct _gw_bus_t {
    char *endpoint;
    const atomic_bool *stop;
    pthread_mutex_t lock;
    bus_client_t **idle;
    size_t nidle, cap;
};

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
    return self;
}

void
gw_bus_destroy (gw_bus_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_bus_t *self = *self_p;
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
