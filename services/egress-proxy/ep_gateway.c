/* ep_gateway: see ep_gateway.h. Each connection has a buffer per
 * direction, read into only when empty (a slow reader holds back its
 * writer), as the init's forwarder does (init/sbx_net.c). */
#define _GNU_SOURCE
#include "ep_gateway.h"
#include "clog.h"
#include "ep_events.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GW_BUF (64 * 1024)
#define GW_CONNS 256
/* One owner's sandboxes may hold a quarter of the connections: without a
 * share, one user's idle connections took all and starved every other. */
#define GW_CONNS_PER_OWNER (GW_CONNS / 4)
#define GW_BOXES 1024

typedef struct {
    char data[GW_BUF];
    size_t off, len;
    bool eof, shut;
} gpipe_t;

typedef struct gbox_s gbox_t;

typedef struct {
    gbox_t *gb;
    int c, u;
    bool connecting;
    gpipe_t up, down;           /* client -> gateway; gateway -> client */
    uint64_t start_ms, nup, ndown;
    bool dead;
} gconn_t;

struct gbox_s {
    ep_box_t *box;
    int lfd;
    ep_evbudget_t budget;
    bool dead;
};

typedef struct cmd_s {
    ep_box_t *box;              /* set: the new box; NULL: a drop */
    int lfd;
    char id[97];
    struct cmd_s *next;
} cmd_t;

struct _ep_gateway_t {
    char host[256], port[8];
    const char *pub_ep, *bus_ep;
    bool peer_uid_check;
    pthread_t thread;
    int wake[2];
    pthread_mutex_t mu;
    cmd_t *cmds, **tail;
    atomic_bool stop;
    /* the thread's own */
    ep_events_t *events;
    gbox_t *boxes[GW_BOXES];
    size_t nboxes;
    gconn_t *conns[GW_CONNS];
    size_t nconns;
};

static uint64_t
now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void
tell (ep_gateway_t *self, gconn_t *k, const char *verdict, const char *reason)
{
    if (!self->events)
        return;
    ep_event_t ev = { .protocol = "gateway", .host = self->host,
                      .port = (uint16_t) atoi (self->port), .verdict = verdict,
                      .reason = reason, .bytes_up = k->nup, .bytes_down = k->ndown,
                      .ms = now_ms () - k->start_ms };
    ep_events_emit (self->events, k->gb->box, &k->gb->budget, now_ms (), &ev);
}

static void
conn_close (ep_gateway_t *self, gconn_t *k, const char *verdict, const char *reason)
{
    if (k->dead)
        return;
    tell (self, k, verdict, reason);
    atomic_fetch_sub (&k->gb->box->ctr->open, 1);
    close (k->c);
    if (k->u >= 0)
        close (k->u);
    k->dead = true;
}

/* A non-blocking connection to the gateway, or -1. */
static int
dial (ep_gateway_t *self, bool *pending)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    if (getaddrinfo (self->host, self->port, &hints, &res) || !res)
        return -1;
    int fd = socket (res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect (fd, res->ai_addr, res->ai_addrlen) && errno != EINPROGRESS) {
        close (fd);
        fd = -1;
    }
    *pending = fd >= 0;
    freeaddrinfo (res);
    return fd;
}

/* Connections open for the owner of box (its sandbox when it has none). */
static size_t
owner_conns (const ep_gateway_t *self, const ep_box_t *box)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nconns; i++) {
        const ep_box_t *b = self->conns[i]->gb->box;
        n += !self->conns[i]->dead && (*box->owner ? !strcmp (b->owner, box->owner)
                                                   : !strcmp (b->id, box->id));
    }
    return n;
}

static void
accept_one (ep_gateway_t *self, gbox_t *gb)
{
    /* cppcheck-suppress nullPointer ; gnu.cfg wrongly wants accept4's address */
    int c = accept4 (gb->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
        return;
    struct ucred cr;
    socklen_t crl = sizeof cr;
    if (self->nconns >= GW_CONNS || owner_conns (self, gb->box) >= GW_CONNS_PER_OWNER
        || (self->peer_uid_check && (getsockopt (c, SOL_SOCKET, SO_PEERCRED, &cr, &crl)
                                     || cr.uid != gb->box->uid))) {
        close (c);
        atomic_fetch_add (&gb->box->ctr->refused, 1);
        return;
    }
    gconn_t *k = xcalloc (1, sizeof *k);
    k->gb = gb;
    k->c = c;
    k->start_ms = now_ms ();
    atomic_fetch_add (&gb->box->ctr->open, 1);
    atomic_fetch_add (&gb->box->ctr->total, 1);
    self->conns[self->nconns++] = k;
    k->u = dial (self, &k->connecting);
    if (k->u < 0)
        conn_close (self, k, "error", "the model gateway is unreachable");
}

/* Moves what can be moved through p from in to out; false on failure. */
static bool
pump (gpipe_t *p, int in, int out, uint64_t *count, atomic_uint_fast64_t *ctr)
{
    for (int round = 0; round < 4; round++) {
        bool moved = false;
        if (!p->len && !p->eof) {
            ssize_t r = recv (in, p->data, GW_BUF, 0);
            if (r > 0) {
                p->off = 0;
                p->len = (size_t) r;
                *count += (uint64_t) r;
                atomic_fetch_add (ctr, (uint64_t) r);
                moved = true;
            }
            else if (r == 0)
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
            }
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
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

static void
service (ep_gateway_t *self, gconn_t *k, short cr, short ur)
{
    if (k->dead)
        return;
    if (k->connecting) {
        if (!ur)
            return;
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt (k->u, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            conn_close (self, k, "error", strerror (err));
            return;
        }
        k->connecting = false;
        tell (self, k, "allow", "the model gateway");
    }
    if (!cr && !ur)
        return;
    ep_counters_t *ctr = k->gb->box->ctr;
    bool ok = pump (&k->up, k->c, k->u, &k->nup, &ctr->bytes_up)
           && pump (&k->down, k->u, k->c, &k->ndown, &ctr->bytes_down);
    if (!ok || ((cr | ur) & (POLLERR | POLLNVAL)))
        conn_close (self, k, "close", ok ? "socket error" : strerror (errno));
    else if (k->up.shut && k->down.shut)
        conn_close (self, k, "close", "");
}

static gbox_t *
find (ep_gateway_t *self, const char *id)
{
    for (size_t i = 0; i < self->nboxes; i++)
        if (!self->boxes[i]->dead && !strcmp (self->boxes[i]->box->id, id))
            return self->boxes[i];
    return NULL;
}

/* Applies the control thread's commands. */
static void
take_commands (ep_gateway_t *self)
{
    char b[64];
    while (read (self->wake[0], b, sizeof b) > 0)
        ;
    pthread_mutex_lock (&self->mu);
    cmd_t *list = self->cmds;
    self->cmds = NULL;
    self->tail = &self->cmds;
    pthread_mutex_unlock (&self->mu);
    while (list) {
        cmd_t *c = list;
        list = c->next;
        gbox_t *gb = find (self, c->box ? c->box->id : c->id);
        if (c->box && gb) {
            ep_box_unref (&gb->box);    /* the connections follow the new box */
            gb->box = c->box;
            if (c->lfd >= 0) {
                close (gb->lfd);
                gb->lfd = c->lfd;
            }
        }
        else if (c->box && c->lfd >= 0 && self->nboxes < GW_BOXES) {
            gb = xcalloc (1, sizeof *gb);
            gb->box = c->box;
            gb->lfd = c->lfd;
            self->boxes[self->nboxes++] = gb;
        }
        else if (c->box) {
            ep_box_unref (&c->box);
            if (c->lfd >= 0)
                close (c->lfd);
        }
        else if (gb) {
            for (size_t i = 0; i < self->nconns; i++)
                if (self->conns[i]->gb == gb)
                    conn_close (self, self->conns[i], "revoked", "the sandbox is gone");
            gb->dead = true;
        }
        free (c);
    }
}

/* Frees closed connections and dropped boxes (nothing refers to them). */
static void
sweep (ep_gateway_t *self)
{
    size_t keep = 0;
    for (size_t i = 0; i < self->nconns; i++)
        if (self->conns[i]->dead)
            free (self->conns[i]);
        else
            self->conns[keep++] = self->conns[i];
    self->nconns = keep;
    keep = 0;
    for (size_t i = 0; i < self->nboxes; i++) {
        gbox_t *gb = self->boxes[i];
        if (gb->dead) {
            close (gb->lfd);
            ep_box_unref (&gb->box);
            free (gb);
        }
        else
            self->boxes[keep++] = gb;
    }
    self->nboxes = keep;
}

static void *
run (void *arg)
{
    ep_gateway_t *self = arg;
    self->events = ep_events_new (self->pub_ep, self->bus_ep);
    static struct pollfd fds[1 + GW_BOXES + 2 * GW_CONNS];
    while (!atomic_load (&self->stop)) {
        size_t n = 0;
        fds[n++] = (struct pollfd) { .fd = self->wake[0], .events = POLLIN };
        for (size_t i = 0; i < self->nboxes; i++)
            fds[n++] = (struct pollfd) { .fd = self->boxes[i]->lfd, .events = POLLIN };
        for (size_t i = 0; i < self->nconns; i++) {
            gconn_t *k = self->conns[i];
            short ce = 0, ue = 0;
            if (k->connecting)
                ue = POLLOUT;
            else {
                ce = (short) ((!k->up.len && !k->up.eof ? POLLIN : 0)
                              | (k->down.len ? POLLOUT : 0));
                ue = (short) ((!k->down.len && !k->down.eof ? POLLIN : 0)
                              | (k->up.len ? POLLOUT : 0));
            }
            fds[n++] = (struct pollfd) { .fd = k->c, .events = ce };
            fds[n++] = (struct pollfd) { .fd = k->u, .events = ue };
        }
        size_t nb = self->nboxes, nc = self->nconns;
        if (poll (fds, n, 500) < 0 && errno != EINTR)
            continue;
        if (self->events)
            ep_events_drain (self->events);
        for (size_t i = 0; i < nc; i++)
            service (self, self->conns[i], fds[1 + nb + 2 * i].revents,
                     fds[2 + nb + 2 * i].revents);
        for (size_t i = 0; i < nb; i++)
            if (fds[1 + i].revents & POLLIN)
                accept_one (self, self->boxes[i]);
        if (fds[0].revents)
            take_commands (self);
        sweep (self);
    }
    for (size_t i = 0; i < self->nconns; i++)
        conn_close (self, self->conns[i], NULL, NULL);
    for (size_t i = 0; i < self->nboxes; i++)
        self->boxes[i]->dead = true;
    sweep (self);
    ep_events_destroy (&self->events);
    return NULL;
}

ep_gateway_t *
ep_gateway_new (const char *url, const char *pub_ep, const char *bus_ep, bool peer_uid_check)
{
    const char *h = strstr (url, "://");
    h = h ? h + 3 : url;
    size_t hl = strcspn (h, ":/");
    const char *p = h[hl] == ':' ? h + hl + 1 : "80";
    size_t pl = strspn (p, "0123456789");
    if (!hl || hl >= 256 || !pl || pl >= 8) {
        clog_error (NULL, "CAISSON_GATEWAY_URL '%s': expected http://HOST:PORT", url);
        return NULL;
    }
    ep_gateway_t *self = xcalloc (1, sizeof *self);
    snprintf (self->host, sizeof self->host, "%.*s", (int) hl, h);
    snprintf (self->port, sizeof self->port, "%.*s", (int) pl, p);
    self->pub_ep = pub_ep;
    self->bus_ep = bus_ep;
    self->peer_uid_check = peer_uid_check;
    self->tail = &self->cmds;
    pthread_mutex_init (&self->mu, NULL);
    if (pipe2 (self->wake, O_NONBLOCK | O_CLOEXEC)
        || pthread_create (&self->thread, NULL, run, self)) {
        free (self);
        return NULL;
    }
    return self;
}

void
ep_gateway_destroy (ep_gateway_t **self_p)
{
    ep_gateway_t *self = *self_p;
    if (!self)
        return;
    atomic_store (&self->stop, true);
    if (write (self->wake[1], "x", 1) < 0) {
        /* the thread sees stop within its poll timeout anyway */
    }
    pthread_join (self->thread, NULL);
    while (self->cmds) {
        cmd_t *c = self->cmds;
        self->cmds = c->next;
        ep_box_unref (&c->box);
        if (c->lfd >= 0)
            close (c->lfd);
        free (c);
    }
    close (self->wake[0]);
    close (self->wake[1]);
    pthread_mutex_destroy (&self->mu);
    free (self);
    *self_p = NULL;
}

static void
push (ep_gateway_t *self, cmd_t *c)
{
    pthread_mutex_lock (&self->mu);
    *self->tail = c;
    self->tail = &c->next;
    pthread_mutex_unlock (&self->mu);
    if (write (self->wake[1], "x", 1) < 0) {
        /* the pipe is full: the thread is already awake */
    }
}

void
ep_gateway_set (ep_gateway_t *self, ep_box_t *box, int lfd)
{
    cmd_t *c = xcalloc (1, sizeof *c);
    c->box = box;
    c->lfd = lfd;
    push (self, c);
}

void
ep_gateway_drop (ep_gateway_t *self, const char *id)
{
    cmd_t *c = xcalloc (1, sizeof *c);
    snprintf (c->id, sizeof c->id, "%s", id);
    c->lfd = -1;
    push (self, c);
}
