/* sbx_wire: framed proto messages over a Unix socket. See sbx_wire.h. */
#include "sbx_wire.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct _sbx_wire_t {
    int fd;
    uint8_t *buf;
    size_t len, cap;
};

sbx_wire_t *
sbx_wire_new (int fd)
{
    sbx_wire_t *self = calloc (1, sizeof *self);
    if (self)
        self->fd = fd;
    return self;
}

void
sbx_wire_destroy (sbx_wire_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->buf);
    free (*self_p);
    *self_p = NULL;
}

static int
write_all (int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write (fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            poll (&pfd, 1, 1000);
            continue;
        }
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

int
sbx_wire_send (sbx_wire_t *self, const proto_msg_t *msg)
{
    uint8_t *data;
    size_t size;
    if (proto_encode (msg, &data, &size))
        return -1;
    uint8_t head[4] = { (uint8_t) (size >> 24), (uint8_t) (size >> 16),
                        (uint8_t) (size >> 8), (uint8_t) size };
    int rc = write_all (self->fd, head, 4) || write_all (self->fd, data, size) ? -1 : 0;
    free (data);
    return rc;
}

int
sbx_wire_fill (sbx_wire_t *self)
{
    for (;;) {
        if (self->cap - self->len < 65536) {
            size_t cap = self->cap ? self->cap * 2 : 131072;
            uint8_t *b = realloc (self->buf, cap);
            if (!b)
                return -1;
            self->buf = b;
            self->cap = cap;
        }
        ssize_t r = read (self->fd, self->buf + self->len, self->cap - self->len);
        if (r > 0) {
            self->len += (size_t) r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return 0;
        return -1;
    }
}

proto_msg_t *
sbx_wire_next (sbx_wire_t *self, int *bad)
{
    *bad = 0;
    while (self->len >= 4) {
        size_t size = (size_t) self->buf[0] << 24 | (size_t) self->buf[1] << 16
                      | (size_t) self->buf[2] << 8 | self->buf[3];
        if (size > proto_max_frame ()) {
            self->len = 0;      /* the stream is out of step: drop it all */
            *bad = 1;
            return NULL;
        }
        if (self->len < 4 + size)
            return NULL;
        proto_err_t err;
        proto_msg_t *msg = proto_decode (self->buf + 4, size, &err);
        memmove (self->buf, self->buf + 4 + size, self->len - 4 - size);
        self->len -= 4 + size;
        if (msg)
            return msg;
        *bad = 1;
    }
    return NULL;
}
