/* ep_conn: one sandbox connection through the egress proxy (ep_conn.h):
 * its protocol, the policy, the connect, the first flight's server name,
 * the relay and every refusal. Sockets are edge-triggered: c_rd/c_wr/
 * u_rd/u_wr say what readiness is not used up yet. */
#define _GNU_SOURCE /* accept4, struct ucred */
#include "ep_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clog.h"
#include "ep_sni.h"
#include "ep_socks5.h"
#include "xalloc.h"

#define CLOSING_MS 2000
#define ROUNDS 32

static bool is_socks (const ep_conn_t *c) { return !strcmp (c->proto, "socks5"); }
static bool is_connect (const ep_conn_t *c) { return !strcmp (c->proto, "connect"); }

static egress_policy_t
policy_of (ep_loop_priv_t *L, const ep_box_t *box)
{
    egress_policy_t p = { box->allow, box->deny, L->conf.ceiling, L->conf.deny_all };
    return p;
}

static void
tell (ep_loop_priv_t *L, ep_conn_t *c, const char *verdict, const char *reason, bool bytes)
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
        tell (L, c, verdict, reason, true);
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

static void
put_out (ep_conn_t *c, const void *data, size_t n)
{
    if (n > EP_BUF - c->out_len)
        n = EP_BUF - c->out_len;
    memcpy (c->out + c->out_len, data, n);
    c->out_len += n;
}

static void
drop_upstream (ep_loop_priv_t *L, ep_conn_t *c)
{
    if (c->ufd >= 0) {
        close (c->ufd);
        L->fds--;
        c->ufd = -1;
    }
}

/* Refuses c: tells verdict and reason, writes the protocol's refusal and
 * lets the client read it before closing. */
static void
refuse (ep_loop_priv_t *L, ep_conn_t *c, int status, uint8_t socks_rep, const char *verdict,
        const char *reason)
{
    tell (L, c, verdict, reason, false);
    atomic_fetch_add (&c->lb->box->ctr->refused, 1);
    drop_upstream (L, c);
    c->allowed = false;
    if (is_socks (c)) {
        uint8_t r[10];
        ep_socks5_reply (socks_rep, r);
        put_out (c, r, sizeof r);
    } else {
        size_t n = 0;
        char *resp = ep_http_refusal (status, reason, is_connect (c), &n);
        if (resp)
            put_out (c, resp, n);
        free (resp);
    }
    c->state = ST_CLOSING;
    c->in_len = c->in_off = 0;
    c->deadline = L->now + CLOSING_MS;
    c->again = true;
}

/* The relay splices through two pipes (no copy through the proxy) when
 * it can have them; else it copies through the buffers. */
static void
relay (ep_loop_priv_t *L, ep_conn_t *c)
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

static void
connected (ep_loop_priv_t *L, ep_conn_t *c)
{
    c->allowed = true;
    tell (L, c, "allow", NULL, false);
    if (!strcmp (c->proto, "http")) {
        size_t n = 0, rest = c->in_len - c->req.head_len;
        char *head = ep_http_origin_head ((const char *) c->in, &c->req, &n);
        if (!head || n + rest > EP_BUF) {
            free (head);
            refuse (L, c, 400, 0, "error", "request head cannot be rewritten");
            return;
        }
        memmove (c->in + n, c->in + c->req.head_len, rest);
        memcpy (c->in, head, n);
        free (head);
        c->in_len = n + rest;
        relay (L, c);
        return;
    }
    if (is_connect (c)) {
        put_out (c, ep_http_established, strlen (ep_http_established));
        memmove (c->in, c->in + c->req.head_len, c->in_len - c->req.head_len);
        c->in_len -= c->req.head_len;
    } else {
        uint8_t r[10];
        ep_socks5_reply (EP_SOCKS5_OK, r);
        put_out (c, r, sizeof r);
    }
    if (!c->by_name) {
        relay (L, c);
        return;
    }
    /* wait for the client's first flight: a ClientHello's server name */
    c->state = ST_FIRST;
    c->deadline = L->now + L->conf.first_ms;
    c->again = true;
}

static void
connect_to (ep_loop_priv_t *L, ep_conn_t *c)
{
    struct sockaddr_storage *ss = &c->cand[c->chosen];
    socklen_t len = ss->ss_family == AF_INET ? sizeof (struct sockaddr_in)
                                             : sizeof (struct sockaddr_in6);
    int fd = socket (ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || (connect (fd, (struct sockaddr *) ss, len) && errno != EINPROGRESS)) {
        snprintf (c->why, sizeof c->why, "cannot connect to %s:%u (%s)", c->host, c->port,
                  strerror (errno));
        if (fd >= 0)
            close (fd);
        refuse (L, c, 502, EP_SOCKS5_REFUSED, "error", c->why);
        return;
    }
    c->ufd = fd;
    L->fds++;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                              .data.ptr = &c->utag };
    epoll_ctl (L->epfd, EPOLL_CTL_ADD, fd, &ev);
    c->state = ST_CONNECT;
    c->deadline = L->now + L->conf.connect_ms;
}

/* An IPv4-mapped IPv6 address as the IPv4 address it holds (so a bus on
 * 127.0.0.1 is not reached as ::ffff:127.0.0.1). */
static struct sockaddr_storage
unmapped (const struct sockaddr_storage *ss)
{
    struct sockaddr_storage out = *ss;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) ss;
    if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED (&in6->sin6_addr)) {
        struct sockaddr_in *in = (struct sockaddr_in *) &out;
        memset (&out, 0, sizeof out);
        in->sin_family = AF_INET;
        memcpy (&in->sin_addr, &in6->sin6_addr.s6_addr[12], 4);
    }
    return out;
}

static bool
hard_denied (ep_loop_priv_t *L, const struct sockaddr_storage *raw, uint16_t port)
{
    struct sockaddr_storage a = unmapped (raw), *ss = &a;
    for (size_t i = 0; i < L->conf.nhard; i++) {
        const ep_hard_t *h = &L->conf.hard[i];
        if (h->port != port)
            continue;
        if (h->any)
            return true;
        if (h->addr.ss_family != ss->ss_family)
            continue;
        if (ss->ss_family == AF_INET
            && ((const struct sockaddr_in *) ss)->sin_addr.s_addr
                   == ((const struct sockaddr_in *) &h->addr)->sin_addr.s_addr)
            return true;
        if (ss->ss_family == AF_INET6
            && !memcmp (&((const struct sockaddr_in6 *) ss)->sin6_addr,
                        &((const struct sockaddr_in6 *) &h->addr)->sin6_addr, 16))
            return true;
    }
    return false;
}

static void
addr_text (const struct sockaddr_storage *ss, char *out, size_t n)
{
    const void *a = ss->ss_family == AF_INET
                        ? (const void *) &((const struct sockaddr_in *) ss)->sin_addr
                        : (const void *) &((const struct sockaddr_in6 *) ss)->sin6_addr;
    if (!inet_ntop (ss->ss_family, a, out, (socklen_t) n))
        snprintf (out, n, "?");
}

/* The address step over every candidate; the first that passes is the one
 * connected to (never resolved again). */
static void
check_addrs (ep_loop_priv_t *L, ep_conn_t *c)
{
    egress_policy_t pol = policy_of (L, c->lb->box);
    egress_verdict_t first = { 0 };
    char first_addr[64] = "";
    for (size_t i = 0; i < c->ncand; i++) {
        struct sockaddr_storage *ss = &c->cand[i];
        if (ss->ss_family == AF_INET)
            ((struct sockaddr_in *) ss)->sin_port = htons (c->port);
        else
            ((struct sockaddr_in6 *) ss)->sin6_port = htons (c->port);
        char text[64];
        addr_text (ss, text, sizeof text);
        egress_verdict_t v = { 0 };
        egress_addr_class_t cls = egress_addr_class ((const struct sockaddr *) ss);
        if (hard_denied (L, ss, c->port))
            snprintf (v.reason, sizeof v.reason, "blocked by policy: %s:%u is the Caisson bus",
                      c->host, c->port);
        else if (cls == EGRESS_ADDR_UNSPEC || cls == EGRESS_ADDR_MULTICAST)
            /* never a destination, whatever a CIDR rule says */
            snprintf (v.reason, sizeof v.reason, "blocked by policy: %s resolves to %s, a %s "
                      "address", c->host, text, egress_addr_class_name (cls));
        else
            v = egress_check_addr (&pol, c->host, (const struct sockaddr *) ss, c->port);
        if (v.allow) {
            snprintf (c->addr, sizeof c->addr, "%s", text);
            if (!c->by_name) {
                snprintf (c->rule, sizeof c->rule, "%s", v.rule);
                c->port_named = v.port_named;
            }
            c->chosen = i;
            connect_to (L, c);
            return;
        }
        if (!*first_addr) {
            first = v;
            snprintf (first_addr, sizeof first_addr, "%s", text);
        }
    }
    snprintf (c->addr, sizeof c->addr, "%s", first_addr);
    snprintf (c->rule, sizeof c->rule, "%s", first.rule);
    refuse (L, c, 403, EP_SOCKS5_RULESET, "deny", first.reason);
}

static bool
literal (const char *host, struct sockaddr_storage *ss)
{
    memset (ss, 0, sizeof *ss);
    char buf[256];
    snprintf (buf, sizeof buf, "%s", host);
    size_t n = strlen (buf);
    char *h = buf;
    if (n > 1 && buf[0] == '[' && buf[n - 1] == ']') {
        buf[n - 1] = 0;
        h++;
    }
    if (inet_pton (AF_INET, h, &((struct sockaddr_in *) ss)->sin_addr) == 1) {
        ss->ss_family = AF_INET;
        return true;
    }
    if (inet_pton (AF_INET6, h, &((struct sockaddr_in6 *) ss)->sin6_addr) == 1) {
        ss->ss_family = AF_INET6;
        return true;
    }
    return false;
}

/* The request is known (host, port, protocol): refusals set at accept,
 * then the name step, then resolution or the address step. */
static void
decide (ep_loop_priv_t *L, ep_conn_t *c)
{
    if (c->refuse) {
        refuse (L, c, c->refuse_status, EP_SOCKS5_RULESET, "deny", c->why);
        return;
    }
    char norm[256], why[256];
    if (egress_host_normalize (c->host, norm, sizeof norm, why, sizeof why)) {
        snprintf (c->why, sizeof c->why, "bad host '%.200s': %.200s", c->host, why);
        refuse (L, c, 400, EP_SOCKS5_FAIL, "error", c->why);
        return;
    }
    snprintf (c->host, sizeof c->host, "%s", norm);
    egress_policy_t pol = policy_of (L, c->lb->box);
    egress_verdict_t v = egress_check_name (&pol, c->host, c->port);
    snprintf (c->rule, sizeof c->rule, "%s", v.rule);
    if (!v.allow) {
        refuse (L, c, 403, EP_SOCKS5_RULESET, "deny", v.reason);
        return;
    }
    c->port_named = v.port_named;
    if (literal (c->host, &c->cand[0])) {
        c->by_name = false;
        c->ncand = 1;
        check_addrs (L, c);
        return;
    }
    c->by_name = true;
    ep_rjob_t *job = xcalloc (1, sizeof *job);
    job->conn_id = c->id;
    snprintf (job->host, sizeof job->host, "%s", c->host);
    ep_resolve_submit (L->resolver, job);
    c->state = ST_RESOLVE;
    c->deadline = L->now + L->conf.resolve_ms;
}

void
ep_conn_resolved (ep_loop_priv_t *L, ep_rjob_t *job)
{
    for (ep_lbox_t *lb = L->boxes; lb; lb = lb->next)
        for (ep_conn_t *c = lb->conns; c; c = c->next)
            if (c->id == job->conn_id && c->state == ST_RESOLVE) {
                if (job->err || !job->n) {
                    snprintf (c->why, sizeof c->why, "cannot resolve %s", c->host);
                    refuse (L, c, 502, EP_SOCKS5_HOST_UNREACH, "error", c->why);
                } else {
                    memcpy (c->cand, job->addr, sizeof c->cand);
                    c->ncand = job->n;
                    check_addrs (L, c);
                }
                ep_conn_pump (L, c);
                return;
            }
}

static void
consume (ep_conn_t *c, size_t n)
{
    memmove (c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* SOCKS5: the greeting, then the request. */
static void
parse_socks (ep_loop_priv_t *L, ep_conn_t *c)
{
    c->proto = "socks5";
    if (!c->socks_greeted) {
        size_t used = 0;
        uint8_t rep[2];
        int r = ep_socks5_greeting (c->in, c->in_len, &used, rep);
        if (r == 0)
            return;
        if (r < 0 || rep[1] == 0xFF) {
            if (r >= 0)
                put_out (c, rep, 2);
            c->state = ST_CLOSING;
            c->deadline = L->now + CLOSING_MS;
            return;
        }
        put_out (c, rep, 2);
        consume (c, used);
        c->socks_greeted = true;
    }
    ep_socks5_req_t req;
    int r = ep_socks5_request (c->in, c->in_len, &req);
    if (r == 0)
        return;
    if (r < 0) {
        uint8_t code = -r >= EP_SOCKS5_FAIL && -r <= EP_SOCKS5_ATYP_UNSUPPORTED ? (uint8_t) -r
                                                                               : EP_SOCKS5_FAIL;
        refuse (L, c, 400, code, "error", "malformed SOCKS5 request");
        return;
    }
    snprintf (c->host, sizeof c->host, "%s", req.host);
    c->port = req.port;
    consume (c, req.used);
    if (req.cmd != 1) {
        snprintf (c->why, sizeof c->why, "SOCKS5 command %u is not supported (CONNECT only)",
                  req.cmd);
        refuse (L, c, 400, EP_SOCKS5_CMD_UNSUPPORTED, "deny", c->why);
        return;
    }
    decide (L, c);
}

static void
parse_http (ep_loop_priv_t *L, ep_conn_t *c)
{
    char why[256] = "";
    int r = ep_http_parse ((const char *) c->in, c->in_len, &c->req, why, sizeof why);
    if (r == 0 && c->in_len < EP_BUF - 1024)
        return;
    c->proto = c->req.connect ? "connect" : "http";
    if (r == 1) {
        snprintf (c->host, sizeof c->host, "%s", c->req.host);
        c->port = c->req.port;
        decide (L, c);
        return;
    }
    if (r == -1)
        snprintf (c->why, sizeof c->why, "malformed request: %s", why);
    else
        snprintf (c->why, sizeof c->why, "request head larger than %d bytes", EP_HTTP_HEAD_MAX);
    refuse (L, c, r == -1 ? 400 : 431, 0, "error", c->why);
}

static void
deny_after (ep_loop_priv_t *L, ep_conn_t *c, const char *reason)
{
    c->allowed = false;
    tell (L, c, "deny", reason, true);
    atomic_fetch_add (&c->lb->box->ctr->refused, 1);
}

/* The first flight of a CONNECT or SOCKS5 by name. 1 when c was closed. */
static int
check_first (ep_loop_priv_t *L, ep_conn_t *c, bool final)
{
    char sni[256] = "", norm[256], why[128];
    ep_sni_result_t r = ep_sni_parse (c->in, c->in_len, sni, sizeof sni);
    if (r == EP_SNI_MORE && !final && c->in_len < EP_SNI_MAX_BYTES)
        return 0;
    if (r == EP_SNI_FOUND) {
        if (!egress_host_normalize (sni, norm, sizeof norm, why, sizeof why)
            && !strcasecmp (norm, c->host)) {
            relay (L, c);
            return 0;
        }
        snprintf (c->why, sizeof c->why,
                  "blocked by policy: TLS server name '%.180s' does not match CONNECT host '%.240s'",
                  sni, c->host);
    } else if (c->port_named) {
        relay (L, c);
        return 0;
    } else
        snprintf (c->why, sizeof c->why,
                  "blocked by policy: %s:%u sent no TLS server name; only a rule naming the port "
                  "allows other protocols", c->host, c->port);
    deny_after (L, c, c->why);
    ep_conn_close (L, c, NULL, NULL);
    return 1;
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
        if (c->in_len && c->in[0] == 0x05)
            parse_socks (L, c);
        else if (c->in_len)
            parse_http (L, c);
        if (c->state == ST_HEAD && c->c_eof) {
            ep_conn_close (L, c, NULL, NULL);
            return 1;
        }
    } else if (st == ST_FIRST) {
        if (check_first (L, c, c->c_eof))
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
            refuse (L, c, 502, EP_SOCKS5_REFUSED, "error", c->why);
        } else {
            c->u_rd = rd;
            c->u_wr = true;
            connected (L, c);
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
        refuse (L, c, 502, EP_SOCKS5_HOST_UNREACH, "error", c->why);
        break;
    case ST_CONNECT:
        snprintf (c->why, sizeof c->why, "cannot connect to %s:%u (timed out)", c->host,
                  c->port);
        refuse (L, c, 502, EP_SOCKS5_HOST_UNREACH, "error", c->why);
        break;
    case ST_FIRST:
        if (check_first (L, c, true))
            return;
        break;
    case ST_RELAY:
        break;
    }
    ep_conn_pump (L, c);
}

void
ep_conn_recheck (ep_loop_priv_t *L, ep_conn_t *c)
{
    if (c->state != ST_FIRST && c->state != ST_RELAY)
        return;
    egress_policy_t pol = policy_of (L, c->lb->box);
    egress_verdict_t v = egress_check_name (&pol, c->host, c->port);
    if (v.allow)
        v = egress_check_addr (&pol, c->host, (const struct sockaddr *) &c->cand[c->chosen],
                               c->port);
    if (v.allow)
        return;
    snprintf (c->rule, sizeof c->rule, "%s", v.rule);
    ep_conn_close (L, c, "revoked", v.reason);
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
        int fd = accept4 (lb->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            /* out of descriptors after all: the spare one lets the client
             * be told; without it the listener rests a tick */
            if (L->spare >= 0) {
                close (L->spare);
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
