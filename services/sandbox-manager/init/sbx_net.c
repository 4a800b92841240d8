/* sbx_net: see sbx_net.h. Each connection is a pair of sockets and a
 * buffer per direction: read into it only when it is empty, write it out,
 * then read again (a few rounds per wakeup while both sides keep up), so a
 * slow reader holds back its writer (no unbounded queue). Measured against
 * splice through a pipe per direction, this moved 2-3 times the bytes per
 * second here (AF_UNIX to loopback TCP), and needs two descriptors per
 * connection, not six. An end of stream is passed on with shutdown(SHUT_WR) once the
 * buffer in that direction is drained; the connection closes when both
 * directions have ended or either side fails. */
#define _GNU_SOURCE
#include "sbx_net.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF (256 * 1024)

/* One direction: bytes read from one side, not yet written to the other. */
typedef struct {
    char data[BUF];
    size_t off, len;
    bool eof;                   /* the reading side ended */
    bool shut;                  /* and the end was passed on */
} pipe_t;

typedef struct {
    int c, u;                   /* the client in the sandbox; the proxy (-1: unreachable) */
    int err;                    /* why u is -1 (an errno) */
    pipe_t up, down;            /* client -> proxy; proxy -> client */
    bool dead;
} conn_t;

struct _sbx_net_t {
    char path[108];
    char what[64];              /* where the socket leads, for a 502 */
    int lfd[2];                 /* 127.0.0.1:PORT; /run/caisson/egress.sock (or -1) */
    int spare;                  /* held for when descriptors run out (accept_one) */
    conn_t *conns[SBX_NET_CONNS];
    size_t n;
};

/* Why a dial to the socket failed, in words a sandbox's user can act on. */
static const char *
cause_of (int err)
{
    switch (err) {
    case ENOENT:
        return "egress-proxy's socket for this sandbox is not there (egress-proxy is not "
               "running on this host, or does not serve this sandbox)";
    case ECONNREFUSED:
        return "nothing listens on egress-proxy's socket for this sandbox (it stopped)";
    case EAGAIN:
        return "egress-proxy's socket backlog is full (it is overloaded); try again";
    default:
        return strerror (err);
    }
}

sbx_net_t *
sbx_net_new (const char *socket_path, const char *what)
{
    sbx_net_t *self = xcalloc (1, sizeof *self);
    snprintf (self->path, sizeof self->path, "%s", socket_path);
    snprintf (self->what, sizeof self->what, "%s", what);
    self->lfd[0] = self->lfd[1] = self->spare = -1;
    return self;
}

static void
conn_close (conn_t *k)
{
    close (k->c);
    if (k->u >= 0)
        close (k->u);
    free (k);
}

void
sbx_net_destroy (sbx_net_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_net_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        conn_close (self->conns[i]);
    for (int i = 0; i < 2; i++)
        if (self->lfd[i] >= 0)
            close (self->lfd[i]);
    if (self->spare >= 0)
        close (self->spare);
    free (self);
    *self_p = NULL;
}

int
sbx_net_start (sbx_net_t *self, unsigned port, char *why, size_t whylen)
{
    if (self->lfd[0] >= 0)
        return 0;
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)
        || bind (fd, (struct sockaddr *) &a, sizeof a) || listen (fd, 64)) {
        snprintf (why, whylen, "listening on 127.0.0.1:%u: %s", port, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    self->lfd[0] = fd;
    self->spare = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    return 0;
}

void
sbx_net_listen_too (sbx_net_t *self, int lfd)
{
    if (self->lfd[1] < 0)
        self->lfd[1] = lfd;
}

size_t
sbx_net_count (const sbx_net_t *self)
{
    return self->n;
}

/* A new connection to the proxy, or -1 when it cannot be reached now. */
static int
dial (const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf (a.sun_path, sizeof a.sun_path, "%s", path);
    /* A non-blocking Unix connect completes or fails at once (EAGAIN when
     * the proxy's backlog is full: unreachable too), so the init never
     * waits on the proxy. */
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect (fd, (struct sockaddr *) &a, sizeof a)) {
        int err = errno;
        if (fd >= 0)
            close (fd);
        errno = err;
        return -1;
    }
    return fd;
}

static void
accept_one (sbx_net_t *self, int lfd)
{
    /* cppcheck-suppress nullPointer ; gnu.cfg wrongly wants accept4's address */
    int c = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0 && (errno == EMFILE || errno == ENFILE) && self->spare >= 0) {
        /* No descriptor left for it: take it with the spare and close it,
         * so the listener does not stay readable (a busy loop). */
        close (self->spare);
        /* cppcheck-suppress nullPointer ; gnu.cfg wrongly wants accept4's address */
        c = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            close (c);
        self->spare = open ("/dev/null", O_RDONLY | O_CLOEXEC);
        return;
    }
    if (c < 0)
        return;
    conn_t *k = xcalloc (1, sizeof *k);
    k->c = c;
    k->u = dial (self->path);
    k->err = errno;
    self->conns[self->n++] = k;
}

/* Moves what can be moved through p, from fd in to fd out. Returns false
 * when the connection failed. */
static bool
pump (pipe_t *p, int in, int out)
{
    for (int round = 0; round < 4; round++) {
        bool moved = false;
        if (!p->len && !p->eof) {
            ssize_t r = recv (in, p->data, BUF, 0);
            if (r > 0) {
                p->off = 0;
                p->len = (size_t) r;
                moved = true;
            } else if (r == 0)
                p->eof = true;
            else if (errno != EAGAIN && errno != EINTR)
                return false;
        }
        if (p->len) {
            ssize_t w = send (out, p->data + p->off, p->len, MSG_NOSIGNAL);
            if (w > 0) {
                p->off += (size_t) w;
                p->len -= (size_t) w;
                moved = true;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR)
                return false;
        }
        if (!moved)
            break;
    }
    if (p->eof && !p->len && !p->shut) {
        shutdown (out, SHUT_WR);
        p->shut = true;
    }
    return true;
}

/* The proxy is unreachable: answer an HTTP client 502 once it has spoken
 * (a SOCKS5 client, whose first byte is 0x05, has no use for HTTP), naming
 * what could not be reached (self->what) and why. */
static void
refuse (sbx_net_t *self, conn_t *k)
{
    char b[1], body[400], head[700];
    ssize_t r = recv (k->c, b, 1, MSG_PEEK);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    k->dead = true;
    if (r != 1 || b[0] == 0x05)
        return;
    int n = snprintf (body, sizeof body, "%s unreachable: %s\n", self->what, cause_of (k->err));
    int h = snprintf (head, sizeof head, "HTTP/1.1 502 Bad Gateway\r\n"
                      "Content-Type: text/plain\r\n"
                      "X-Caisson-Reason: %s unreachable\r\n"
                      "Content-Length: %d\r\n"
                      "Connection: close\r\n\r\n%s", self->what, n, body);
    if (send (k->c, head, (size_t) h, MSG_NOSIGNAL) < 0) {
        /* nothing more to tell a client that has gone */
    }
}

int
sbx_net_pollfds (sbx_net_t *self, struct pollfd *fds, int max)
{
    int n = 0;
    if ((self->lfd[0] < 0 && self->lfd[1] < 0) || max < SBX_NET_POLLFDS)
        return 0;
    for (int i = 0; i < 2; i++)
        fds[n++] = (struct pollfd) { .fd = self->n < SBX_NET_CONNS ? self->lfd[i] : -1,
                                     .events = POLLIN };
    for (size_t i = 0; i < self->n; i++) {
        conn_t *k = self->conns[i];
        short ce = 0, ue = 0;
        if (k->u < 0)
            ce = POLLIN;
        else {
            if (!k->up.len && !k->up.eof)
                ce |= POLLIN;
            if (k->down.len)
                ce |= POLLOUT;
            if (!k->down.len && !k->down.eof)
                ue |= POLLIN;
            if (k->up.len)
                ue |= POLLOUT;
        }
        fds[n++] = (struct pollfd) { .fd = k->c, .events = ce };
        fds[n++] = (struct pollfd) { .fd = k->u, .events = ue };
    }
    return n;
}

void
sbx_net_service (sbx_net_t *self, const struct pollfd *fds, int nfds)
{
    if (nfds < 2)
        return;
    size_t had = ((size_t) nfds - 2) / 2;
    for (size_t i = 0; i < had && i < self->n; i++) {
        conn_t *k = self->conns[i];
        short cr = fds[2 + 2 * i].revents, ur = fds[3 + 2 * i].revents;
        if (!cr && !ur)
            continue;
        if (k->u < 0) {
            refuse (self, k);
            continue;
        }
        bool ok = pump (&k->up, k->c, k->u) && pump (&k->down, k->u, k->c);
        if (!ok || (k->up.shut && k->down.shut) || ((cr | ur) & (POLLERR | POLLNVAL)))
            k->dead = true;
    }
    size_t keep = 0;
    for (size_t i = 0; i < self->n; i++) {
        if (self->conns[i]->dead)
            conn_close (self->conns[i]);
        else
            self->conns[keep++] = self->conns[i];
    }
    self->n = keep;
    for (int l = 0; l < 2; l++)
        if (fds[l].revents & POLLIN)
            while (self->n < SBX_NET_CONNS) {
                size_t before = self->n;
                accept_one (self, self->lfd[l]);
                if (self->n == before)
                    break;
            }
}
