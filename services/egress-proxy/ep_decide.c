/* ep_decide: what a sandbox connection may do (ep_conn.h): its request
 * read (HTTP head, SOCKS5 greeting and request), the name step, the
 * resolution, the address step over every candidate with the hard denies
 * (the bus endpoints, unspecified and multicast addresses), the connect to
 * the checked address, the first flight's TLS server name, refusals in
 * each protocol's words, and revocation when the rules change. */
#include "ep_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ep_sni.h"
#include "ep_socks5.h"
#include "xalloc.h"

#define CLOSING_MS 2000

static bool is_socks (const ep_conn_t *c) { return !strcmp (c->proto, "socks5"); }
static bool is_connect (const ep_conn_t *c) { return !strcmp (c->proto, "connect"); }

static egress_policy_t
policy_of (ep_loop_priv_t *L, const ep_box_t *box)
{
    egress_policy_t p = { box->allow, box->deny, L->conf.ceiling, L->conf.deny_all };
    return p;
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

void
ep_conn_refuse (ep_loop_priv_t *L, ep_conn_t *c, int status, uint8_t socks_rep,
                const char *verdict, const char *reason)
{
    ep_conn_tell (L, c, verdict, reason, false);
    atomic_fetch_add (&c->lb->box->ctr->refused, 1);
    drop_upstream (L, c);
    c->allowed = false;
    if (is_socks (c)) {
        uint8_t r[10];
        ep_socks5_reply (socks_rep, r);
        ep_conn_put_out (c, r, sizeof r);
    } else {
        size_t n = 0;
        char *resp = ep_http_refusal (status, reason, is_connect (c), &n);
        if (resp)
            ep_conn_put_out (c, resp, n);
        free (resp);
    }
    c->state = ST_CLOSING;
    c->in_len = c->in_off = 0;
    c->deadline = L->now + CLOSING_MS;
    c->again = true;
}

void
ep_conn_connected (ep_loop_priv_t *L, ep_conn_t *c)
{
    c->allowed = true;
    ep_conn_tell (L, c, "allow", NULL, false);
    if (!strcmp (c->proto, "http")) {
        size_t n = 0, rest = c->in_len - c->req.head_len;
        char *head = ep_http_origin_head ((const char *) c->in, &c->req, &n);
        if (!head || n + rest > EP_BUF) {
            free (head);
            ep_conn_refuse (L, c, 400, 0, "error", "request head cannot be rewritten");
            return;
        }
        memmove (c->in + n, c->in + c->req.head_len, rest);
        memcpy (c->in, head, n);
        free (head);
        c->in_len = n + rest;
        /* read while the head was parsed, counted as it goes out: the
         * rewritten head and whatever body came with it */
        ep_conn_spend (c, (ssize_t) c->in_len, true);
        ep_conn_relay (L, c);
        return;
    }
    if (is_connect (c)) {
        ep_conn_put_out (c, ep_http_established, strlen (ep_http_established));
        memmove (c->in, c->in + c->req.head_len, c->in_len - c->req.head_len);
        c->in_len -= c->req.head_len;
        ep_conn_spend (c, (ssize_t) c->in_len, true);
    } else {
        uint8_t r[10];
        ep_socks5_reply (EP_SOCKS5_OK, r);
        ep_conn_put_out (c, r, sizeof r);
        ep_conn_spend (c, (ssize_t) c->in_len, true);
    }
    if (!c->by_name) {
        ep_conn_relay (L, c);
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
        ep_conn_refuse (L, c, 502, EP_SOCKS5_REFUSED, "error", c->why);
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
    /* v4-mapped ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d, as
     * egress_addr_class reads them: where NAT64 routes, the latter reaches
     * the IPv4 address too */
    static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
    if (ss->ss_family == AF_INET6 && (IN6_IS_ADDR_V4MAPPED (&in6->sin6_addr)
                                      || !memcmp (in6->sin6_addr.s6_addr, nat64, 12))) {
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
    ep_conn_refuse (L, c, 403, EP_SOCKS5_RULESET, "deny", first.reason);
}

static bool
literal (const char *host, struct sockaddr_storage *ss)
{
    memset (ss, 0, sizeof *ss);
    char h[256];
    size_t n = strlen (host);
    if (n > 1 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof h)
        snprintf (h, sizeof h, "%.*s", (int) (n - 2), host + 1);
    else
        snprintf (h, sizeof h, "%s", host);
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
        ep_conn_refuse (L, c, c->refuse_status, EP_SOCKS5_RULESET, "deny", c->why);
        return;
    }
    char norm[256], why[256];
    if (egress_host_normalize (c->host, norm, sizeof norm, why, sizeof why)) {
        snprintf (c->why, sizeof c->why, "bad host '%.200s': %.200s", c->host, why);
        ep_conn_refuse (L, c, 400, EP_SOCKS5_FAIL, "error", c->why);
        return;
    }
    snprintf (c->host, sizeof c->host, "%s", norm);
    egress_policy_t pol = policy_of (L, c->lb->box);
    egress_verdict_t v = egress_check_name (&pol, c->host, c->port);
    snprintf (c->rule, sizeof c->rule, "%s", v.rule);
    if (!v.allow) {
        ep_conn_refuse (L, c, 403, EP_SOCKS5_RULESET, "deny", v.reason);
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
    const ep_box_t *box = c->lb->box;
    snprintf (job->owner, sizeof job->owner, "%s%s", *box->owner ? "user " : "sandbox ",
              *box->owner ? box->owner : box->id);
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
                    ep_conn_refuse (L, c, 502, EP_SOCKS5_HOST_UNREACH, "error", c->why);
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
                ep_conn_put_out (c, rep, 2);
            c->state = ST_CLOSING;
            c->deadline = L->now + CLOSING_MS;
            return;
        }
        ep_conn_put_out (c, rep, 2);
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
        ep_conn_refuse (L, c, 400, code, "error", "malformed SOCKS5 request");
        return;
    }
    snprintf (c->host, sizeof c->host, "%s", req.host);
    c->port = req.port;
    consume (c, req.used);
    if (req.cmd != 1) {
        snprintf (c->why, sizeof c->why, "SOCKS5 command %u is not supported (CONNECT only)",
                  req.cmd);
        ep_conn_refuse (L, c, 400, EP_SOCKS5_CMD_UNSUPPORTED, "deny", c->why);
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
    ep_conn_refuse (L, c, r == -1 ? 400 : 431, 0, "error", c->why);
}

void
ep_conn_head (ep_loop_priv_t *L, ep_conn_t *c)
{
    if (c->in[0] == 0x05)
        parse_socks (L, c);
    else
        parse_http (L, c);
}

static void
deny_after (ep_loop_priv_t *L, ep_conn_t *c, const char *reason)
{
    c->allowed = false;
    ep_conn_tell (L, c, "deny", reason, true);
    atomic_fetch_add (&c->lb->box->ctr->refused, 1);
}

/* The first flight of a CONNECT or SOCKS5 by name. 1 when c was closed. */
int
ep_conn_first (ep_loop_priv_t *L, ep_conn_t *c, bool final)
{
    char sni[256] = "", norm[256], why[128];
    ep_sni_result_t r = ep_sni_parse (c->in, c->in_len, sni, sizeof sni);
    if (r == EP_SNI_MORE && !final && c->in_len < EP_SNI_MAX_BYTES)
        return 0;
    if (r == EP_SNI_FOUND) {
        if (!egress_host_normalize (sni, norm, sizeof norm, why, sizeof why)
            && !strcasecmp (norm, c->host)) {
            ep_conn_relay (L, c);
            return 0;
        }
        snprintf (c->why, sizeof c->why,
                  "blocked by policy: TLS server name '%.180s' does not match CONNECT host "
                  "'%.240s'",
                  sni, c->host);
    } else if (c->port_named) {
        ep_conn_relay (L, c);
        return 0;
    } else
        snprintf (c->why, sizeof c->why,
                  "blocked by policy: %s:%u sent no TLS server name; only a rule naming the port "
                  "allows other protocols", c->host, c->port);
    deny_after (L, c, c->why);
    ep_conn_close (L, c, NULL, NULL);
    return 1;
}

void
ep_conn_recheck (ep_loop_priv_t *L, ep_conn_t *c)
{
    /* ST_CONNECT too: its address was checked under the old rules, and a
     * connect completing later would open a tunnel they no longer allow */
    if (c->state != ST_CONNECT && c->state != ST_FIRST && c->state != ST_RELAY)
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