/* mcp_hangup: see mcp_hangup.h. */
#define _GNU_SOURCE
#include "mcp_hangup.h"

#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct _mcp_hangup_t {
    int fd, wake;
    mcp_hangup_fn *fn;
    void *arg;
    pthread_t thread;
};

static void *
s_watch (void *arg)
{
    mcp_hangup_t *self = arg;
    struct pollfd p[2] = { { .fd = self->fd, .events = POLLRDHUP },
                           { .fd = self->wake, .events = POLLIN } };
    for (;;) {
        if (poll (p, 2, -1) < 0)
            continue;
        if (p[1].revents)
            return NULL;
        if (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
            self->fn (self->arg);
            return NULL;
        }
    }
}

mcp_hangup_t *
mcp_hangup_start (int fd, mcp_hangup_fn *fn, void *arg)
{
    mcp_hangup_t *self = calloc (1, sizeof *self);
    if (!self || fd < 0)
        goto fail;
    self->fd = fd;
    self->fn = fn;
    self->arg = arg;
    self->wake = eventfd (0, EFD_CLOEXEC);
    if (self->wake < 0)
        goto fail;
    if (pthread_create (&self->thread, NULL, s_watch, self)) {
        close (self->wake);
        goto fail;
    }
    return self;
fail:
    free (self);
    return NULL;
}

void
mcp_hangup_stop (mcp_hangup_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcp_hangup_t *self = *self_p;
    uint64_t one = 1;
    if (write (self->wake, &one, sizeof one) < 0) {
        /* an eventfd write fails only on overflow: the thread is awake */
    }
    pthread_join (self->thread, NULL);
    close (self->wake);
    free (self);
    *self_p = NULL;
}
