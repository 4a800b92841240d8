/* sbx_stdin: a process's standard input, written without blocking. See
 * sbx_stdin.h. */
#include "sbx_stdin.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
enqueue (sbx_stdin_t *self, const uint8_t *data, size_t len)
{
    size_t left = self->len - self->off;
    if (self->off && left)
        memmove (self->q, self->q + self->off, left);
    uint8_t *q = realloc (self->q, left + len ? left + len : 1);
    if (!q)
        return -1;
    memcpy (q + left, data, len);
    self->q = q;
    self->len = left + len;
    self->off = 0;
    return 0;
}

void
sbx_stdin_close (sbx_stdin_t *self, bool broken)
{
    if (self->fd >= 0)
        close (self->fd);
    self->fd = -1;
    free (self->q);
    self->q = NULL;
    self->len = self->off = 0;
    self->closing = false;
    if (broken)
        self->broken = true;
    else
        self->closed = true;
}

int
sbx_stdin_open (sbx_stdin_t *self, int fd, const uint8_t *data, size_t len, bool interactive)
{
    memset (self, 0, sizeof *self);
    self->fd = fd;
    self->interactive = interactive;
    if (len && enqueue (self, data, len)) {
        sbx_stdin_close (self, false);
        return -1;
    }
    if (!interactive && !len)
        sbx_stdin_close (self, false);
    return 0;
}

size_t
sbx_stdin_queued (const sbx_stdin_t *self)
{
    return self->len - self->off;
}

int
sbx_stdin_put (sbx_stdin_t *self, const uint8_t *data, size_t len, bool close, size_t *written)
{
    *written = 0;
    if (!sbx_stdin_queued (self) && len) {
        ssize_t w = write (self->fd, data, len);
        if (w > 0)
            *written = (size_t) w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            self->broken = true;    /* closed by the loop (sbx_stdin_service) */
            return -1;
        }
    }
    if (*written < len && enqueue (self, data + *written, len - *written))
        return -2;
    self->closing = self->closing || close;
    return 0;
}

short
sbx_stdin_events (const sbx_stdin_t *self)
{
    return sbx_stdin_queued (self) || self->closing || self->broken ? POLLOUT : 0;
}

void
sbx_stdin_service (sbx_stdin_t *self, short revents)
{
    ssize_t w = 0;
    if (sbx_stdin_queued (self) && !self->broken) {
        w = write (self->fd, self->q + self->off, self->len - self->off);
        if (w > 0)
            self->off += (size_t) w;
    }
    bool gone = self->broken || (w < 0 && errno != EAGAIN && errno != EINTR)
                || (revents & (POLLERR | POLLHUP));
    if (gone)
        sbx_stdin_close (self, self->interactive || self->broken);
    else if (!sbx_stdin_queued (self) && (!self->interactive || self->closing))
        sbx_stdin_close (self, false);
}
