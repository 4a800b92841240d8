/* ep_resolve: names to addresses for the egress proxy, off its data
 * thread.
 *
 * A few threads (CAISSON_EGRESS_RESOLVERS) take jobs from a queue. Each
 * looks the name up in the hosts file (CAISSON_EGRESS_HOSTS, hosts(5)
 * format; the tests' resolver) first, else asks getaddrinfo, and queues
 * the job back; an eventfd tells the data thread. getaddrinfo cannot be
 * cancelled, so the data thread keeps its own timeout and drops late
 * answers (it matches jobs to connections by id). */
#ifndef CAISSON_EP_RESOLVE_H
#define CAISSON_EP_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define EP_RESOLVE_MAX 8

typedef struct ep_rjob_t {
    uint64_t conn_id;           /* the caller's: whose job this is */
    char host[256];
    int err;                    /* 0, or an EAI_* code */
    size_t n;                   /* addresses found (port 0) */
    struct sockaddr_storage addr[EP_RESOLVE_MAX];
    struct ep_rjob_t *next;
} ep_rjob_t;

typedef struct _ep_resolve_t ep_resolve_t;

/* A pool of threads (at least 1) reading hosts_file (NULL or "": none).
 * NULL when no thread starts. */
ep_resolve_t *ep_resolve_new (unsigned threads, const char *hosts_file);
void ep_resolve_destroy (ep_resolve_t **self_p);
/* Readable (an eventfd) when answered jobs wait in ep_resolve_take. */
int ep_resolve_fd (ep_resolve_t *self);
/* Queues job (the pool takes it, malloc'd). */
void ep_resolve_submit (ep_resolve_t *self, ep_rjob_t *job);
/* An answered job (the caller's), or NULL when none waits. */
ep_rjob_t *ep_resolve_take (ep_resolve_t *self);

/* Looks host up in the hosts file at path only. 1 found (job filled),
 * 0 not there. Exposed for ep_resolve's threads and tests. */
int ep_resolve_hosts_file (const char *path, ep_rjob_t *job);

#endif
