/* buspool: a bounded pool of bus clients. See buspool.h. */
#include "buspool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct _buspool_t {
    char *endpoint;
    pthread_mutex_t lock;
    pthread_cond_t returned;
    bus_client_t **idle;
    size_t nidle;
    size_t made;
    size_t max;
    const atomic_bool *stopping;
};

buspool_t *
buspool_new (const char *endpoint, size_t max, const atomic_bool *stopping)
{
    buspool_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    self->idle = calloc (max ? max : 1, sizeof *self->idle);
    self->max = max ? max : 1;
    self->stopping = stopping;
    if (!self->endpoint || !self->idle) {
        free (self->endpoint);
        free (self->idle);
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->returned, NULL);
    return self;
}

void
buspool_destroy (buspool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    buspool_t *self = *self_p;
    for (size_t i = 0; i < self->nidle; i++)
        bus_client_destroy (&self->idle[i]);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->returned);
    free (self->idle);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

bus_client_t *
buspool_take (buspool_t *self)
{
    pthread_mutex_lock (&self->lock);
    while (self->nidle == 0 && self->made == self->max)
        pthread_cond_wait (&self->returned, &self->lock);
    bus_client_t *client = NULL;
    if (self->nidle)
        client = self->idle[--self->nidle];
    else {
        self->made++;
        pthread_mutex_unlock (&self->lock);
        client = bus_client_new (self->endpoint);
        if (client) {
            bus_client_set_abort (client, self->stopping);
            return client;
        }
        pthread_mutex_lock (&self->lock);
        self->made--;
    }
    pthread_mutex_unlock (&self->lock);
    return client;
}

void
buspool_give (buspool_t *self, bus_client_t *client)
{
    if (!client)
        return;
    pthread_mutex_lock (&self->lock);
    self->idle[self->nidle++] = client;
    pthread_cond_signal (&self->returned);
    pthread_mutex_unlock (&self->lock);
}

proto_msg_t *
buspool_request (buspool_t *self, const char *service, const proto_msg_t *req, int timeout_ms)
{
    bus_client_t *client = buspool_take (self);
    if (!client)
        return NULL;
    bus_client_set_timeout (client, timeout_ms, 1);
    proto_msg_t *rep = bus_client_request (client, service, req);
    buspool_give (self, client);
    return rep;
}
