/* ep_loop: the egress proxy's data plane, one epoll thread.
 *
 * It holds one listening Unix socket per box, accepts the sandbox's
 * connections on it, and carries each through its protocol (HTTP forward,
 * CONNECT, SOCKS5: ep_conn.c), the policy, resolution (ep_resolve.h), the
 * connect and the relay, telling every decision (ep_events.h). The control
 * thread hands it boxes and drops through a queue; it never touches the
 * loop's state otherwise. */
#ifndef CAISSON_EP_LOOP_H
#define CAISSON_EP_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "ep_table.h"

/* An address the proxy never connects to, whatever the rules: a bus
 * endpoint. any: every address on that port (a wildcard bind). */
typedef struct {
    struct sockaddr_storage addr;
    uint16_t port;
    bool any;
} ep_hard_t;

#define EP_HARD_MAX 32

typedef struct {
    const char *pub_ep;         /* CAISSON_BUS_PUB */
    const char *bus_ep;         /* CAISSON_BUS */
    const egress_rules_t *ceiling;  /* borrowed: outlives the loop; may be NULL */
    const egress_rules_t *deny_all; /* likewise */
    ep_hard_t hard[EP_HARD_MAX];
    size_t nhard;
    bool peer_uid_check;
    unsigned resolvers;
    const char *hosts;          /* CAISSON_EGRESS_HOSTS */
    uint64_t resolve_ms, connect_ms, first_ms, idle_ms;
} ep_conf_t;

typedef struct _ep_loop_t ep_loop_t;

/* Starts the thread. conf is copied (its pointers stay borrowed). NULL
 * when it cannot start. */
ep_loop_t *ep_loop_new (const ep_conf_t *conf);
/* Stops the thread, closing every connection and listener (sockets stay
 * on disk: a restarted proxy binds them again). */
void ep_loop_destroy (ep_loop_t **self_p);
/* Serves box (the loop takes the reference) on lfd, a listening socket
 * (the loop takes it), or on the box's current one when lfd is -1: a
 * replace, whose live connections the new rules refuse are revoked. */
void ep_loop_set (ep_loop_t *self, ep_box_t *box, int lfd);
/* Forgets the box of id: closes its connections and listener. */
void ep_loop_drop (ep_loop_t *self, const char *id);

/* Opens the box's listening socket in egress_socket_dir (data, id): the
 * directory must be a real directory (not a symlink); a stale socket is
 * removed; the new one is mode 0666 (the sandbox's uid is checked by
 * SO_PEERCRED instead). The fd, with path (pn bytes) naming it, or -1 with
 * why set. */
int ep_listen_open (const char *data, const char *id, char *path, size_t pn, char *why,
                    size_t wn);
/* The same for a socket of another name in that directory. */
int ep_listen_open_as (const char *data, const char *id, const char *name, char *path,
                       size_t pn, char *why, size_t wn);

#endif
