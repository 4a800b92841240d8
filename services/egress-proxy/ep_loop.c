/* ep_loop: the data-plane thread (ep_loop.h): epoll over listeners,
 * connections, the command queue and the resolver's answers; timers and
 * the bytes-per-minute buckets by a periodic pass. */
#include "ep_loop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clog.h"
#include "ep_conn.h"
#include "xalloc.h"

#define TICK_MS 50
#define BASE_FDS 32 /* beyond those open at start: the loop's, the publisher's, reconnects */

typedef struct cmd_s {
    ep_box_t *box;              /* NULL: drop */
    int lfd;
    char id[97];
    struct cmd_s *next;
} cmd_t;

struct _ep_loop_t {
    ep_loop_priv_t L;
    pthread_t th;
    pthread_mutex_t mu;
    cmd_t *cmds, *cmds_tail;
    bool stop;
};

/* The public handle is the private loop with its queue around it. */
typedef struct _ep_loop_t loop_t;

static uint64_t
now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int
ep_listen_open (const char *data, const char *id, char *path, size_t pn, char *why, size_t wn)
{
    return ep_listen_open_as (data, id, EGRESS_SOCKET_NAME, path, pn, why, wn);
}

int
ep_listen_open_as (const char *data, const char *id, const char *name, char *path, size_t pn,
                   char *why, size_t wn)
{
    char dir[4096];
    struct stat st;
    if (egress_socket_dir (data, id, dir, sizeof dir)) {
        snprintf (why, wn, "no socket directory for sandbox '%s'", id);
        return -1;
    }
    /* lstat: the directory itself, never where a symlink points */
    if (lstat (dir, &st) || !S_ISDIR (st.st_mode)) {
        snprintf (why, wn, "%s is not a directory", dir);
        return -1;
    }
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if ((size_t) snprintf (path, pn, "%s/%s", dir, name) >= pn
        || strlen (path) >= sizeof sun.sun_path) {
        snprintf (why, wn, "socket path too long for sandbox '%s'", id);
        return -1;
    }
    snprintf (sun.sun_path, sizeof sun.sun_path, "%s", path);
    if (!lstat (path, &st) && !S_ISDIR (st.st_mode))
        unlink (path);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind (fd, (struct sockaddr *) &sun, sizeof sun) || chmod (path, 0666)
        || listen (fd, 128)) {
        snprintf (why, wn, "cannot listen on %s: %s", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

/* How many descriptors the process has open now. */
static unsigned
open_fds (void)
{
    unsigned n = 0;
    DIR *d = opendir ("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir (d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir (d);
    return n;
}

static ep_lbox_t *
find (ep_loop_priv_t *L, const char *id)
{
    for (ep_lbox_t *lb = L->boxes; lb; lb = lb->next)
        if (!strcmp (lb->id, id))
            return lb;
    return NULL;
}

static void
unlisten (ep_loop_priv_t *L, ep_lbox_t *lb)
{
    if (lb->lfd >= 0) {
        close (lb->lfd);
        L->fds--;
        lb->lfd = -1;
    }
}

static void
drop_box (ep_loop_priv_t *L, ep_lbox_t *lb)
{
    while (lb->conns)
        ep_conn_close (L, lb->conns, lb->conns->allowed ? "revoked" : NULL,
                       lb->conns->allowed ? "the sandbox's policy was removed" : NULL);
    unlisten (L, lb);
    ep_lbox_t **pp = &L->boxes;
    while (*pp != lb)
        pp = &(*pp)->next;
    *pp = lb->next;
    lb->dead = true;
    lb->next = L->dead_boxes;
    L->dead_boxes = lb;
}

/* Frees what was closed or dropped during the last batch of events. */
static void
bury (ep_loop_priv_t *L)
{
    while (L->dead_conns) {
        ep_conn_t *c = L->dead_conns;
        L->dead_conns = c->next;
        free (c);
    }
    while (L->dead_boxes) {
        ep_lbox_t *lb = L->dead_boxes;
        L->dead_boxes = lb->next;
        ep_box_unref (&lb->box);
        free (lb);
    }
}

static void
apply (ep_loop_priv_t *L, cmd_t *cmd)
{
    ep_lbox_t *lb = find (L, cmd->box ? cmd->box->id : cmd->id);
    if (!cmd->box) {
        if (lb)
            drop_box (L, lb);
        return;
    }
    if (!lb) {
        lb = xcalloc (1, sizeof *lb);
        snprintf (lb->id, sizeof lb->id, "%s", cmd->box->id);
        lb->lfd = -1;
        lb->tag = (ep_tag_t) { EP_TAG_LISTEN, lb };
        lb->refill_ms = L->now;
        lb->budget.window_ms = L->now;
        lb->next = L->boxes;
        L->boxes = lb;
    }
    ep_box_unref (&lb->box);
    lb->box = cmd->box;
    if (!lb->tokens)
        lb->tokens = (double) (lb->box->bytes_per_min / 60);
    if (cmd->lfd >= 0) {
        unlisten (L, lb);
        lb->paused = false;
        lb->lfd = cmd->lfd;
        L->fds++;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lb->tag };
        epoll_ctl (L->epfd, EPOLL_CTL_ADD, lb->lfd, &ev);
    }
    ep_conn_t *next;
    for (ep_conn_t *c = lb->conns; c; c = next) {
        next = c->next;
        ep_conn_recheck (L, c);
    }
}

static void
take_commands (loop_t *self)
{
    uint64_t v;
    if (read (self->L.qfd, &v, sizeof v) < 0) {
        /* nothing counted: the list decides */
    }
    pthread_mutex_lock (&self->mu);
    cmd_t *cmd = self->cmds;
    self->cmds = self->cmds_tail = NULL;
    pthread_mutex_unlock (&self->mu);
    while (cmd) {
        cmd_t *next = cmd->next;
        apply (&self->L, cmd);
        free (cmd);
        cmd = next;
    }
}

/* Refills each box's bucket, then runs every connection's timer and any
 * pump a busy stream or a refill asks for. */
static void
tick (ep_loop_priv_t *L)
{
    for (ep_lbox_t *lb = L->boxes; lb; lb = lb->next) {
        uint64_t bpm = lb->box->bytes_per_min;
        bool was_dry = lb->tokens <= 0;
        if (bpm) {
            double cap = (double) bpm / 60.0 < 2.0 * EP_BUF ? 2.0 * EP_BUF : (double) bpm / 60.0;
            lb->tokens += (double) (L->now - lb->refill_ms) * (double) bpm / 60000.0;
            if (lb->tokens > cap)
                lb->tokens = cap;
        }
        lb->refill_ms = L->now;
        if (lb->paused && lb->lfd >= 0) {
            struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lb->tag };
            epoll_ctl (L->epfd, EPOLL_CTL_MOD, lb->lfd, &ev);
            lb->paused = false;
        }
        ep_conn_t *next;
        for (ep_conn_t *c = lb->conns; c; c = next) {
            next = c->next;
            if (c->again || (was_dry && lb->tokens > 0))
                ep_conn_pump (L, c);
        }
        for (ep_conn_t *c = lb->conns; c; c = next) {
            next = c->next;
            ep_conn_tick (L, c);
        }
    }
}

static bool
busy (ep_loop_priv_t *L)
{
    for (ep_lbox_t *lb = L->boxes; lb; lb = lb->next)
        for (ep_conn_t *c = lb->conns; c; c = c->next)
            if (c->again)
                return true;
    return false;
}

static void *
run (void *arg)
{
    loop_t *self = arg;
    ep_loop_priv_t *L = &self->L;
    L->spare = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    L->events = ep_events_new (L->conf.pub_ep, L->conf.bus_ep);
    if (!L->events)
        clog_error (NULL, "egress events cannot be published on %s", L->conf.pub_ep);
    uint64_t last_tick = 0;
    struct epoll_event evs[64];
    for (;;) {
        pthread_mutex_lock (&self->mu);
        bool stop = self->stop;
        pthread_mutex_unlock (&self->mu);
        if (stop)
            break;
        int n = epoll_wait (L->epfd, evs, 64, busy (L) ? 0 : TICK_MS);
        L->now = now_ms ();
        for (int i = 0; i < n; i++) {
            ep_tag_t *tag = evs[i].data.ptr;
            if (tag->kind == EP_TAG_QUEUE)
                take_commands (self);
            else if (tag->kind == EP_TAG_RESOLVE) {
                ep_rjob_t *job;
                while ((job = ep_resolve_take (L->resolver))) {
                    ep_conn_resolved (L, job);
                    free (job);
                }
            } else if (tag->kind == EP_TAG_LISTEN) {
                if (!((ep_lbox_t *) tag->p)->dead)
                    ep_conn_accept (L, tag->p);
            } else if (!((ep_conn_t *) tag->p)->dead)
                ep_conn_io (L, tag->p, tag->kind == EP_TAG_UP, evs[i].events);
        }
        if (n < 0 && errno != EINTR)
            break;
        if (L->now - last_tick >= TICK_MS || busy (L)) {
            tick (L);
            last_tick = L->now;
        }
        if (L->events)
            ep_events_drain (L->events);
        bury (L);
    }
    while (L->boxes)
        drop_box (L, L->boxes);
    bury (L);
    ep_events_destroy (&L->events);
    if (L->spare >= 0)
        close (L->spare);
    return NULL;
}

ep_loop_t *
ep_loop_new (const ep_conf_t *conf)
{
    loop_t *self = xcalloc (1, sizeof *self);
    ep_loop_priv_t *L = &self->L;
    L->conf = *conf;
    pthread_mutex_init (&self->mu, NULL);
    /* Every sandbox's connections share these descriptors: take all the
     * hard limit allows (up to 2^20), not the usual soft 1024, which a few
     * sandboxes of one user would fill for everyone. */
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl))
        L->fd_limit = 1024;
    else {
        rlim_t want = rl.rlim_max < (1u << 20) ? rl.rlim_max : (1u << 20);
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want;
            if (setrlimit (RLIMIT_NOFILE, &rl))
                getrlimit (RLIMIT_NOFILE, &rl);
        }
        L->fd_limit = (unsigned) (rl.rlim_cur < (1u << 20) ? rl.rlim_cur : (1u << 20));
    }
    L->fds = open_fds () + BASE_FDS;
    L->now = now_ms ();
    L->epfd = epoll_create1 (EPOLL_CLOEXEC);
    L->qfd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    L->resolver = ep_resolve_new (conf->resolvers, conf->hosts);
    L->qtag = (ep_tag_t) { EP_TAG_QUEUE, NULL };
    L->rtag = (ep_tag_t) { EP_TAG_RESOLVE, NULL };
    bool ok = L->epfd >= 0 && L->qfd >= 0 && L->resolver;
    struct epoll_event q = { .events = EPOLLIN, .data.ptr = &L->qtag };
    struct epoll_event r = { .events = EPOLLIN, .data.ptr = &L->rtag };
    ok = ok && !epoll_ctl (L->epfd, EPOLL_CTL_ADD, L->qfd, &q)
         && !epoll_ctl (L->epfd, EPOLL_CTL_ADD, ep_resolve_fd (L->resolver), &r)
         && !pthread_create (&self->th, NULL, run, self);
    if (!ok) {
        ep_resolve_destroy (&L->resolver);
        if (L->epfd >= 0)
            close (L->epfd);
        if (L->qfd >= 0)
            close (L->qfd);
        pthread_mutex_destroy (&self->mu);
        free (self);
        return NULL;
    }
    return (ep_loop_t *) self;
}

static void
post (loop_t *self, cmd_t *cmd)
{
    pthread_mutex_lock (&self->mu);
    if (self->cmds_tail)
        self->cmds_tail->next = cmd;
    else
        self->cmds = cmd;
    self->cmds_tail = cmd;
    pthread_mutex_unlock (&self->mu);
    uint64_t one = 1;
    if (write (self->L.qfd, &one, sizeof one) < 0)
        clog_warn (NULL, "egress loop not woken: %s", strerror (errno));
}

void
ep_loop_destroy (ep_loop_t **self_p)
{
    loop_t *self = (loop_t *) *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->mu);
    self->stop = true;
    pthread_mutex_unlock (&self->mu);
    uint64_t one = 1;
    if (write (self->L.qfd, &one, sizeof one) < 0) {
        /* the loop wakes within a tick anyway */
    }
    pthread_join (self->th, NULL);
    cmd_t *cmd = self->cmds;
    while (cmd) {
        cmd_t *next = cmd->next;
        ep_box_unref (&cmd->box);
        if (cmd->lfd >= 0)
            close (cmd->lfd);
        free (cmd);
        cmd = next;
    }
    ep_resolve_destroy (&self->L.resolver);
    close (self->L.epfd);
    close (self->L.qfd);
    pthread_mutex_destroy (&self->mu);
    free (self);
    *self_p = NULL;
}

void
ep_loop_set (ep_loop_t *self, ep_box_t *box, int lfd)
{
    cmd_t *cmd = xcalloc (1, sizeof *cmd);
    cmd->box = box;
    cmd->lfd = lfd;
    snprintf (cmd->id, sizeof cmd->id, "%s", box->id);
    post ((loop_t *) self, cmd);
}

void
ep_loop_drop (ep_loop_t *self, const char *id)
{
    cmd_t *cmd = xcalloc (1, sizeof *cmd);
    cmd->lfd = -1;
    snprintf (cmd->id, sizeof cmd->id, "%s", id);
    post ((loop_t *) self, cmd);
}
