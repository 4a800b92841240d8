/* ep_conn: one sandbox connection's life in the data thread (ep_conn.h):
 * accept (peer uid, limits, descriptors), moving bytes (the head, the
 * first flight, the relay spliced through pipes, a refusal's last words),
 * throttling, timers and close. What it may do is ep_decide.c's. Sockets
 * are edge-triggered: c_rd/c_wr/u_rd/u_wr say what readiness is not used
 * up yet. */
#define _GNU_SOURCE /* accept4, struct ucred */
#include "ep_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ep_sni.h"
#include "ep_socks5.h"
#include "xalloc.h"

#define ROUNDS 32

void
ep_conn_tell (ep_loop_priv_t *L, ep_conn_t *c, const char *verdict, const char *reason, bool bytes)
{
    ep_event_t ev = { .protocol = c->proto, .host = c->host, .port = c->port, .addr = c->addr,
                      .verdict = verdict, .rule = c->rule, .reason = reason };
    if (bytes) {
        ev.bytes_up = c->up;
        ev.bytes_down = c->down;
        ev.ms = L->now - c->start_ms;
    }
    ep_events_emit (L->events, c->lb->box, &c->lb->budget, L->now, &ev);
}

void
ep_conn_close (ep_loop_priv_t *L, ep_conn_t *c, const char *verdict, const char *reason)
{
    ep_lbox_t *lb = c->lb;
    if (verdict)
        ep_conn_tell (L, c, verdict, reason, true);
    if (c->cfd >= 0) {
        close (c->cfd);
        L->fds--;
    }
    if (c->ufd >= 0) {
        close (c->ufd);
        L->fds--;
    }
    for (int i = 0; i < 2; i++)
        if (c->c2u[i] >= 0) {
            close (c->c2u[i]);
            close (c->u2c[i]);
            L->fds -= 2;
        }
    if (c->counted) {
        lb->open--;
        atomic_fetch_sub (&lb->box->ctr->open, 1);
    } else
        lb->pending--;
    if (c->prev)
        c->prev->next = c->next;
    else
        lb->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->dead = true;
    c->next = L->dead_conns;
    L->dead_conns = c;
}

void
ep_conn_put_out (ep_conn_t *c, const void *data, size_t n)
{
    if (n > EP_BUF - c->out_len)
        n = EP_BUF - c->out_len;
    memcpy (c->out + c->out_len, data, n);
    c->out_len += n;
}

/* The relay splices through two pipes (no copy through the proxy) when
 * it can have them; else it copies through the buffers. */
void
ep_conn_relay (ep_loop_priv_t *L, ep_conn_t *c)
{
    if (L->fds + 4 + 16 <= L->fd_limit && !pipe2 (c->c2u, O_NONBLOCK | O_CLOEXEC)) {
        if (pipe2 (c->u2c, O_NONBLOCK | O_CLOEXEC)) {
            close (c->c2u[0]);
            close (c->c2u[1]);
            c->c2u[0] = c->c2u[1] = -1;
        } else {
            L->fds += 4;
            fcntl (c->c2u[1], F_SETPIPE_SZ, EP_PIPE);
            fcntl (c->u2c[1], F_SETPIPE_SZ, EP_PIPE);
            int a = fcntl (c->c2u[1], F_GETPIPE_SZ), b = fcntl (c->u2c[1], F_GETPIPE_SZ);
            c->pipe_cap = (size_t) (a < b ? a : b);
        }
    }
    c->state = ST_RELAY;
    c->deadline = 0;
    c->last_io = L->now;
    c->again = true;
}

/* Sends what waits in buf to fd. -1 on a hard error. */
static int
flush (int fd, uint8_t *buf, size_t *off, size_t *len, bool *ready, bool *moved)
{
    while (*ready && *len > *off) {
        ssize_t n = send (fd, buf + *off, *len - *off, MSG_NOSIGNAL);
        if (n > 0) {
            *off += (size_t) n;
            *moved = true;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            *ready = false;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            return -1;
    }
    if (*off == *len)
        *off = *len = 0;
    return 0;
}

/* Reads into buf[*len..cap). Returns bytes read, 0 nothing now, -1 EOF or
 * error. */
static ssize_t
fill (int fd, uint8_t *buf, size_t *len, size_t cap, bool *ready)
{
    if (!*ready || *len >= cap)
        return 0;
    ssize_t n = recv (fd, buf + *len, cap - *len, 0);
    if (n > 0) {
        *len += (size_t) n;
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        *ready = errno == EINTR;
        return 0;
    }
    return -1;
}

static bool
tokens_left (const ep_conn_t *c)
{
    return !c->lb->box->bytes_per_min || c->lb->tokens > 0;
}

static void
spend (ep_conn_t *c, ssize_t n, bool up)
{
    c->lb->tokens -= (double) n;
    if (up) {
        c->up += (uint64_t) n;
        atomic_fetch_add (&c->lb->box->ctr->bytes_up, (uint64_t) n);
    } else {
        c->down += (uint64_t) n;
        atomic_fetch_add (&c->lb->box->ctr->bytes_down, (uint64_t) n);
    }
}

/* One direction of the spliced relay: from src into the pipe (while its
 * bytes, *held, leave room and tokens last), then from the pipe to dst.
 * -1 on a hard error of dst. */
static int
splice_dir (ep_conn_t *c, int src, int dst, int pipe[2], size_t *held, bool *src_rd,
            bool *src_eof, bool *dst_wr, bool up, bool *moved)
{
    if (*src_rd && !*src_eof && *held < c->pipe_cap && tokens_left (c)) {
        ssize_t n = splice (src, NULL, pipe[1], NULL, c->pipe_cap - *held,
                            SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n > 0) {
            *held += (size_t) n;
            spend (c, n, up);
            *moved = true;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            *src_eof = true;
            *moved = true;
        } else if (errno == EAGAIN)
            *src_rd = false;
    }
    while (*held && *dst_wr) {
        ssize_t n = splice (pipe[0], NULL, dst, NULL, *held, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n > 0) {
            *held -= (size_t) n;
            *moved = true;
        } else if (n < 0 && errno == EAGAIN)
            *dst_wr = false;
        else if (!(n < 0 && errno == EINTR))
            return -1;
    }
    return 0;
}

/* The relay's moves once both buffers are empty and the pipes exist. 1 when
 * c was closed. */
static int
relay_spliced (ep_loop_priv_t *L, ep_conn_t *c, bool *moved)
{
    bool was = *moved;
    if (splice_dir (c, c->cfd, c->ufd, c->c2u, &c->c2u_n, &c->c_rd, &c->c_eof, &c->u_wr, true,
                    moved)
        || splice_dir (c, c->ufd, c->cfd, c->u2c, &c->u2c_n, &c->u_rd, &c->u_eof, &c->c_wr,
                       false, moved)) {
        ep_conn_close (L, c, "close", NULL);
        return 1;
    }
    if (*moved && !was)
        c->last_io = L->now;
    return 0;
}

/* One round of moving bytes. 1: c is gone; 0: nothing moved; 2: moved. */
static int
round_once (ep_loop_priv_t *L, ep_conn_t *c)
{
    bool moved = false;
    if (flush (c->cfd, c->out, &c->out_off, &c->out_len, &c->c_wr, &moved)) {
        ep_conn_close (L, c, c->allowed ? "close" : NULL, NULL);
        return 1;
    }
    if (c->state == ST_RELAY
        && flush (c->ufd, c->in, &c->in_off, &c->in_len, &c->u_wr, &moved)) {
        ep_conn_close (L, c, "close", NULL);
        return 1;
    }
    ep_state_t st = c->state;
    bool spliced = st == ST_RELAY && c->c2u[0] >= 0 && !c->in_len && !c->out_len;
    if (spliced && relay_spliced (L, c, &moved))
        return 1;
    size_t cap = spliced ? 0 : st == ST_HEAD ? EP_BUF - 1024 : st == ST_FIRST ? EP_SNI_MAX_BYTES
               : st == ST_RELAY ? EP_BUF : st == ST_CLOSING ? EP_BUF : 0;
    bool can = st == ST_HEAD || st == ST_CLOSING || tokens_left (c);
    if (cap && can && !c->c_eof) {
        ssize_t n = fill (c->cfd, c->in, &c->in_len, cap, &c->c_rd);
        if (n < 0)
            c->c_eof = true;
        if (n)
            moved = true;
        if (n > 0 && st == ST_CLOSING)
            c->in_len = 0;
        else if (n > 0 && st != ST_HEAD)
            spend (c, n, true);
        if (n > 0 && st == ST_RELAY)
            c->last_io = L->now;
    }
    if ((st == ST_FIRST || (st == ST_RELAY && !spliced)) && tokens_left (c) && !c->u_eof) {
        ssize_t n = fill (c->ufd, c->out, &c->out_len, EP_BUF, &c->u_rd);
        if (n < 0)
            c->u_eof = true;
        if (n)
            moved = true;
        if (n > 0) {
            spend (c, n, false);
            c->last_io = L->now;
        }
    }
    if (st == ST_HEAD) {
        if (c->in_len)
            ep_conn_head (L, c);
        if (c->state == ST_HEAD && c->c_eof) {
            ep_conn_close (L, c, NULL, NULL);
            return 1;
        }
    } else if (st == ST_FIRST) {
        if (ep_conn_first (L, c, c->c_eof))
            return 1;
    } else if (st == ST_RELAY) {
        if (c->c_eof && !c->in_len && !c->c2u_n && !c->u_shut) {
            shutdown (c->ufd, SHUT_WR);
            c->u_shut = true;
        }
        if (c->u_eof && !c->out_len && !c->u2c_n && !c->c_shut) {
            shutdown (c->cfd, SHUT_WR);
            c->c_shut = true;
        }
        if (c->u_shut && c->c_shut) {
            ep_conn_close (L, c, "close", NULL);
            return 1;
        }
    } else if (st == ST_CLOSING) {
        if (!c->out_len && !c->c_shut) {
            shutdown (c->cfd, SHUT_WR);
            c->c_shut = true;
        }
        if (c->c_shut && c->c_eof) {
            ep_conn_close (L, c, NULL, NULL);
            return 1;
        }
    }
    return moved || c->state != st ? 2 : 0;
}

void
ep_conn_pump (ep_loop_priv_t *L, ep_conn_t *c)
{
    c->again = false;
    for (int i = 0; i < ROUNDS; i++) {
        int r = round_once (L, c);
        if (r == 1)
            return;
        if (r == 0)
            return;
    }
    c->again = true;            /* a busy stream: the rest next turn */
}

void
ep_conn_io (ep_loop_priv_t *L, ep_conn_t *c, bool up, uint32_t events)
{
    bool rd = events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    bool wr = events & (EPOLLOUT | EPOLLHUP | EPOLLERR);
    if (!up) {
        c->c_rd |= rd;
        c->c_wr |= wr;
    } else if (c->state == ST_CONNECT) {
        if (!wr)
            return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt (c->ufd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
            snprintf (c->why, sizeof c->why, "cannot connect to %s:%u (%s)", c->host, c->port,
                      strerror (err ? err : errno));
            ep_conn_refuse (L, c, 502, EP_SOCKS5_REFUSED, "error", c->why);
        } else {
            c->u_rd = rd;
            c->u_wr = true;
            ep_conn_connected (L, c);
        }
    } else {
        c->u_rd |= rd;
        c->u_wr |= wr;
    }
    ep_conn_pump (L, c);
}

void
ep_conn_tick (ep_loop_priv_t *L, ep_conn_t *c)
{
    if (c->state == ST_RELAY) {
        if (L->conf.idle_ms && L->now - c->last_io > L->conf.idle_ms)
            ep_conn_close (L, c, "close", "idle");
        return;
    }
    if (!c->deadline || L->now < c->deadline)
        return;
    switch (c->state) {
    case ST_HEAD:
    case ST_CLOSING:
        ep_conn_close (L, c, NULL, NULL); /* a slow or silent client */
        return;
    case ST_RESOLVE:
        snprintf (c->why, sizeof c->why, "cannot resolve %s (timed out)", c->host);
        ep_conn_refuse (L, c, 502, EP_SOCKS5_HOST_UNREACH, "error", c->why);
        break;
    case ST_CONNECT:
        snprintf (c->why, sizeof c->why, "cannot connect to %s:%u (timed out)", c->host,
                  c->port);
        ep_conn_refuse (L, c, 502, EP_SOCKS5_HOST_UNREACH, "error", c->why);
        break;
    case ST_FIRST:
        if (ep_conn_first (L, c, true))
            return;
        break;
    case ST_RELAY:
        break;
    }
    ep_conn_pump (L, c);
}

/* Answers fd 503 and closes it: the proxy cannot take it. */
static void
refuse_full (ep_lbox_t *lb, int fd)
{
    static const char full[] = "HTTP/1.1 503 egress proxy is full\r\nContent-Type: text/plain\r\n"
                               "X-Caisson-Reason: too many connections\r\n"
                               "Content-Length: 22\r\nConnection: close\r\n\r\n"
                               "too many connections\r\n";
    if (send (fd, full, sizeof full - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the client learns from the close */
    }
    close (fd);
    atomic_fetch_add (&lb->box->ctr->refused, 1);
}

void
ep_conn_accept (ep_loop_priv_t *L, ep_lbox_t *lb)
{
    for (;;) {
        /* cppcheck-suppress nullPointer ; gnu.cfg wrongly wants accept4's address */
        int fd = accept4 (lb->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            /* out of descriptors after all: the spare one lets the client
             * be told; without it the listener rests a tick */
            if (L->spare >= 0) {
                close (L->spare);
                /* cppcheck-suppress nullPointer ; gnu.cfg wrongly wants accept4's address */
                fd = accept4 (lb->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd >= 0)
                    refuse_full (lb, fd);
                L->spare = open ("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                    continue;
            }
            struct epoll_event ev = { .events = 0, .data.ptr = &lb->tag };
            epoll_ctl (L->epfd, EPOLL_CTL_MOD, lb->lfd, &ev);
            lb->paused = true;
            return;
        }
        if (fd < 0)
            return;
        ep_box_t *box = lb->box;
        if (L->fds + 2 + 16 > L->fd_limit || lb->pending >= box->max_conns) {
            /* near the descriptor limit, or a flood of over-limit connections */
            refuse_full (lb, fd);
            continue;
        }
        ep_conn_t *c = xcalloc (1, sizeof *c);
        c->id = ++L->next_id;
        c->lb = lb;
        c->cfd = fd;
        c->ufd = -1;
        c->c2u[0] = c->c2u[1] = c->u2c[0] = c->u2c[1] = -1;
        c->proto = "http";
        c->ctag = (ep_tag_t) { EP_TAG_CLIENT, c };
        c->utag = (ep_tag_t) { EP_TAG_UP, c };
        c->start_ms = c->last_io = L->now;
        c->deadline = L->now + L->conf.first_ms;
        struct ucred cr = { 0 };
        socklen_t crl = sizeof cr;
        if (L->conf.peer_uid_check
            && (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) || cr.uid != box->uid)) {
            snprintf (c->why, sizeof c->why,
                      "blocked by policy: a connection from uid %u, not this sandbox's",
                      (unsigned) cr.uid);
            c->refuse = c->why;
            c->refuse_status = 403;
        } else if (lb->open >= box->max_conns) {
            snprintf (c->why, sizeof c->why, "too many connections (limit %llu)",
                      (unsigned long long) box->max_conns);
            c->refuse = c->why;
            c->refuse_status = 429;
        }
        if (c->refuse)
            lb->pending++;
        else {
            c->counted = true;
            lb->open++;
            atomic_fetch_add (&box->ctr->open, 1);
            atomic_fetch_add (&box->ctr->total, 1);
        }
        L->fds++;
        c->next = lb->conns;
        if (lb->conns)
            lb->conns->prev = c;
        lb->conns = c;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                  .data.ptr = &c->ctag };
        epoll_ctl (L->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}
