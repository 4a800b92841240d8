/* ep_resolve: the resolver pool (ep_resolve.h). */
#include "ep_resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xalloc.h"

#define MAX_THREADS 64

struct _ep_resolve_t {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ep_rjob_t *queue, *queue_tail, *done;
    bool stop;
    int efd;
    char *hosts;
    unsigned nthreads;
    pthread_t th[MAX_THREADS];
    char busy[MAX_THREADS][160];     /* the owner each thread resolves for, or "" */
};

static bool
add_addr (ep_rjob_t *job, const char *text)
{
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in *in = (struct sockaddr_in *) &ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
    if (inet_pton (AF_INET, text, &in->sin_addr) == 1)
        in->sin_family = AF_INET;
    else if (inet_pton (AF_INET6, text, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    else
        return false;
    if (job->n < EP_RESOLVE_MAX)
        job->addr[job->n++] = ss;
    return true;
}

int
ep_resolve_hosts_file (const char *path, ep_rjob_t *job)
{
    FILE *f = path && *path ? fopen (path, "re") : NULL;
    if (!f)
        return 0;
    char line[1024];
    while (fgets (line, sizeof line, f)) {
        char *hash = strchr (line, '#');
        if (hash)
            *hash = 0;
        char *save = NULL, *addr = strtok_r (line, " \t\r\n", &save), *name;
        while (addr && (name = strtok_r (NULL, " \t\r\n", &save)))
            if (!strcasecmp (name, job->host)) {
                add_addr (job, addr);
                break;
            }
    }
    fclose (f);
    return job->n > 0;
}

static void
resolve (ep_resolve_t *self, ep_rjob_t *job)
{
    job->n = 0;
    if (ep_resolve_hosts_file (self->hosts, job))
        return;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_ADDRCONFIG }, *res = NULL;
    job->err = getaddrinfo (job->host, NULL, &hints, &res);
    for (struct addrinfo *ai = res; ai && job->n < EP_RESOLVE_MAX; ai = ai->ai_next)
        if (ai->ai_addrlen <= sizeof job->addr[0]) {
            memset (&job->addr[job->n], 0, sizeof job->addr[0]);
            memcpy (&job->addr[job->n++], ai->ai_addr, ai->ai_addrlen);
        }
    if (res)
        freeaddrinfo (res);
    if (!job->err && !job->n)
        job->err = EAI_NONAME;
}

/* Unlinks job (after prev, or the head) from the queue. */
static void
unlink_job (ep_resolve_t *self, ep_rjob_t *prev, ep_rjob_t *job)
{
    if (prev)
        prev->next = job->next;
    else
        self->queue = job->next;
    if (self->queue_tail == job)
        self->queue_tail = prev;
}

/* The first queued job whose owner holds fewer than half the threads
 * (at least one), unlinked; NULL when none may run now. Under mu. */
static ep_rjob_t *
next_job (ep_resolve_t *self)
{
    unsigned cap = self->nthreads / 2 ? self->nthreads / 2 : 1;
    for (ep_rjob_t *prev = NULL, *job = self->queue; job; prev = job, job = job->next) {
        unsigned held = 0;
        for (unsigned i = 0; i < self->nthreads; i++)
            held += job->owner[0] && !strcmp (self->busy[i], job->owner);
        if (held < cap) {
            unlink_job (self, prev, job);
            return job;
        }
    }
    return NULL;
}

static unsigned
thread_index (ep_resolve_t *self)
{
    unsigned i = 0;
    while (i < self->nthreads && !pthread_equal (self->th[i], pthread_self ()))
        i++;
    return i;
}

static void *
worker (void *arg)
{
    ep_resolve_t *self = arg;
    pthread_mutex_lock (&self->mu);
    unsigned me = thread_index (self);
    while (!self->stop) {
        ep_rjob_t *job = next_job (self);
        if (!job) {
            pthread_cond_wait (&self->cv, &self->mu);
            continue;
        }
        if (me < MAX_THREADS)
            snprintf (self->busy[me], sizeof self->busy[me], "%s", job->owner);
        pthread_mutex_unlock (&self->mu);
        resolve (self, job);
        pthread_mutex_lock (&self->mu);
        if (me < MAX_THREADS)
            self->busy[me][0] = '\0';
        pthread_cond_broadcast (&self->cv);   /* an owner at its cap may run again */
        job->next = self->done;
        self->done = job;
        uint64_t one = 1;
        if (write (self->efd, &one, sizeof one) < 0) {
            /* the counter is only a wake-up: a full one already wakes */
        }
    }
    pthread_mutex_unlock (&self->mu);
    return NULL;
}

ep_resolve_t *
ep_resolve_new (unsigned threads, const char *hosts_file)
{
    ep_resolve_t *self = xcalloc (1, sizeof *self);
    pthread_mutex_init (&self->mu, NULL);
    pthread_cond_init (&self->cv, NULL);
    self->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->hosts = hosts_file && *hosts_file ? xstrdup (hosts_file) : NULL;
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    /* the workers wait for mu: each then finds itself in th[] */
    pthread_mutex_lock (&self->mu);
    for (unsigned i = 0; i < threads && self->efd >= 0; i++)
        if (pthread_create (&self->th[self->nthreads], NULL, worker, self) == 0)
            self->nthreads++;
    pthread_mutex_unlock (&self->mu);
    if (!self->nthreads) {
        ep_resolve_destroy (&self);
        return NULL;
    }
    return self;
}

static void
free_list (ep_rjob_t *j)
{
    while (j) {
        ep_rjob_t *next = j->next;
        free (j);
        j = next;
    }
}

void
ep_resolve_destroy (ep_resolve_t **self_p)
{
    ep_resolve_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->mu);
    self->stop = true;
    pthread_cond_broadcast (&self->cv);
    pthread_mutex_unlock (&self->mu);
    /* a thread inside getaddrinfo finishes its call first */
    for (unsigned i = 0; i < self->nthreads; i++)
        pthread_join (self->th[i], NULL);
    free_list (self->queue);
    free_list (self->done);
    if (self->efd >= 0)
        close (self->efd);
    free (self->hosts);
    pthread_mutex_destroy (&self->mu);
    pthread_cond_destroy (&self->cv);
    free (self);
    *self_p = NULL;
}

int
ep_resolve_fd (ep_resolve_t *self)
{
    return self->efd;
}

void
ep_resolve_submit (ep_resolve_t *self, ep_rjob_t *job)
{
    job->next = NULL;
    pthread_mutex_lock (&self->mu);
    if (self->queue_tail)
        self->queue_tail->next = job;
    else
        self->queue = job;
    self->queue_tail = job;
    pthread_cond_signal (&self->cv);
    pthread_mutex_unlock (&self->mu);
}

void
ep_resolve_cancel (ep_resolve_t *self, uint64_t conn_id)
{
    pthread_mutex_lock (&self->mu);
    for (ep_rjob_t *prev = NULL, *job = self->queue; job; prev = job, job = job->next)
        if (job->conn_id == conn_id) {
            unlink_job (self, prev, job);
            free (job);
            break;
        }
    pthread_mutex_unlock (&self->mu);
}

ep_rjob_t *
ep_resolve_take (ep_resolve_t *self)
{
    uint64_t v;
    if (read (self->efd, &v, sizeof v) < 0) {
        /* nothing counted: the list decides */
    }
    pthread_mutex_lock (&self->mu);
    ep_rjob_t *job = self->done;
    if (job)
        self->done = job->next;
    pthread_mutex_unlock (&self->mu);
    return job;
}
