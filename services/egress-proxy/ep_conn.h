/* ep_conn: one sandbox connection through the egress proxy, and the data
 * thread's state it works in (private to ep_loop.c and ep_conn.c).
 *
 * A connection goes: head (the client's first bytes: an HTTP request head
 * or a SOCKS5 greeting and request, bounded, under the first-bytes timer)
 * -> resolve -> connect -> first flight (CONNECT and SOCKS5 by name: the
 * TLS ClientHello's server name must be the host asked for) -> relay ->
 * closing (a refusal written, then the socket closed). */
#ifndef CAISSON_EP_CONN_H
#define CAISSON_EP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ep_events.h"
#include "ep_http.h"
#include "ep_loop.h"
#include "ep_resolve.h"

#define EP_BUF (64 * 1024)
#define EP_PIPE (256 * 1024) /* the relay's splice pipes, per direction */

typedef enum { EP_TAG_LISTEN, EP_TAG_CLIENT, EP_TAG_UP, EP_TAG_QUEUE, EP_TAG_RESOLVE } ep_tagkind_t;

typedef struct {
    ep_tagkind_t kind;
    void *p;
} ep_tag_t;

typedef struct ep_conn_s ep_conn_t;

/* The data thread's side of a box. */
typedef struct ep_lbox_s {
    char id[97];
    ep_box_t *box;              /* the current one (a reference) */
    int lfd;
    ep_tag_t tag;
    unsigned open, pending;     /* counted connections; over-limit ones waiting */
    bool paused;                /* the listener rests (descriptors ran out) */
    bool dead;                  /* dropped: freed once the epoll batch is done */
    double tokens;              /* bytes_per_min bucket */
    uint64_t refill_ms;
    ep_evbudget_t budget;
    ep_conn_t *conns;
    struct ep_lbox_s *next;
} ep_lbox_t;



typedef enum { ST_HEAD, ST_RESOLVE, ST_CONNECT, ST_FIRST, ST_RELAY, ST_CLOSING } ep_state_t;

struct ep_conn_s {
    uint64_t id;
    ep_lbox_t *lb;
    ep_state_t state;
    int cfd, ufd;
    ep_tag_t ctag, utag;
    bool c_rd, c_wr, u_rd, u_wr; /* edge-triggered readiness not yet used up */
    bool again;                 /* more to move: pump again next turn */
    bool dead;                  /* closed: freed once the epoll batch is done */
    const char *proto;          /* "http", "connect", "socks5" */
    bool counted;               /* in lb->open */
    bool allowed;               /* an allow was told: a close follows */
    bool port_named, by_name;
    const char *refuse;         /* set at accept: refuse once parsed */
    int refuse_status;
    bool socks_greeted;
    char host[256];
    uint16_t port;
    char addr[64];
    char rule[301];
    struct sockaddr_storage cand[EP_RESOLVE_MAX];
    size_t ncand, chosen;
    ep_http_req_t req;
    uint8_t in[EP_BUF];         /* client -> upstream */
    size_t in_len, in_off;
    uint8_t out[EP_BUF];        /* upstream -> client */
    size_t out_len, out_off;
    int c2u[2], u2c[2];         /* splice pipes in the relay (-1: buffers only) */
    size_t c2u_n, u2c_n, pipe_cap; /* bytes sitting in each pipe; their size */
    bool c_eof, u_eof, c_shut, u_shut;
    uint64_t deadline, start_ms, last_io;
    uint64_t up, down;
    char why[600];
    ep_conn_t *next, *prev;
};

typedef struct ep_data_s {
    ep_conf_t conf;
    int epfd;
    int qfd;                    /* eventfd: commands waiting */
    ep_tag_t qtag, rtag;
    ep_resolve_t *resolver;
    ep_events_t *events;
    ep_lbox_t *boxes;
    ep_conn_t *dead_conns;      /* closed in this batch: a later event may name them */
    ep_lbox_t *dead_boxes;
    uint64_t now;               /* ms, monotonic */
    uint64_t next_id;
    unsigned fds, fd_limit;     /* descriptors in use (counted), and the limit */
    int spare;                  /* held open to answer a client when they run out */
} ep_loop_priv_t;

/* ep_conn.c */

/* Accepts what waits on lb's listener. */
void ep_conn_accept (ep_loop_priv_t *L, ep_lbox_t *lb);
/* Handles readiness on one of c's sockets. */
void ep_conn_io (ep_loop_priv_t *L, ep_conn_t *c, bool up, uint32_t events);
/* Takes an answered name (the job is the caller's). */
void ep_conn_resolved (ep_loop_priv_t *L, ep_rjob_t *job);
/* Acts on c's timer when it has expired (ep_loop refills buckets). */
void ep_conn_tick (ep_loop_priv_t *L, ep_conn_t *c);
/* Tells verdict about c (with its bytes and duration when bytes). */
void ep_conn_tell (ep_loop_priv_t *L, ep_conn_t *c, const char *verdict, const char *reason,
                   bool bytes);
/* Queues n bytes of data for the client (what fits). */
void ep_conn_put_out (ep_conn_t *c, const void *data, size_t n);
/* Starts the relay (pipes when descriptors allow). */
void ep_conn_relay (ep_loop_priv_t *L, ep_conn_t *c);

/* ep_decide.c */

/* Reads the request in c->in (SOCKS5 when it starts 0x05, else HTTP);
 * once whole, decides: resolves, connects or refuses. */
void ep_conn_head (ep_loop_priv_t *L, ep_conn_t *c);
/* Refuses c: tells verdict and reason, writes the protocol's refusal
 * (status for HTTP, socks_rep for SOCKS5) and lets the client read it. */
void ep_conn_refuse (ep_loop_priv_t *L, ep_conn_t *c, int status, uint8_t socks_rep,
                     const char *verdict, const char *reason);
/* The upstream connect succeeded: tells allow and answers the client. */
void ep_conn_connected (ep_loop_priv_t *L, ep_conn_t *c);
/* Checks the first flight's TLS server name (final: no more bytes will
 * come). 1 when c was refused and closed. */
int ep_conn_first (ep_loop_priv_t *L, ep_conn_t *c, bool final);
/* Re-checks a live c against its box's (new) rules; closes it, verdict
 * revoked, when they refuse it. */
void ep_conn_recheck (ep_loop_priv_t *L, ep_conn_t *c);
/* Closes c now, telling verdict (NULL: tell nothing more); its memory
 * waits in L->dead_conns until the loop's batch of events is done. */
void ep_conn_close (ep_loop_priv_t *L, ep_conn_t *c, const char *verdict, const char *reason);
/* Moves what c's sockets allow (after readiness, a refill, or a turn cut
 * short). */
void ep_conn_pump (ep_loop_priv_t *L, ep_conn_t *c);

#endif
