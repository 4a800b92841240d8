/* svc: what every Caisson service process does the same way.
 *
 * A service's main.c fills an svc_def_t and calls svc_main, which parses
 * --help and --version, checks the configuration, takes the instance id
 * the data dir keeps for it (svc_ident.h) unless CAISSON_INSTANCE names
 * one, names the log, registers a bus worker for the service (which
 * answers health and ping, and hands every other request to the
 * service's route for its type), publishes
 * `svc.<name>.started`, runs one zloop until SIGTERM or SIGINT, and then
 * publishes `svc.<name>.stopping` and releases everything. */
#ifndef CAISSON_SVC_H
#define CAISSON_SVC_H

#include <czmq.h>
#include <stdbool.h>
#include "bus_pub.h"
#include "bus_worker.h"

typedef struct _svc_t svc_t;

typedef struct {
    const char *name;           /* service name, e.g. "event-log" */
    const char *summary;        /* one line for --help */
    /* The service's requests, one row per type, ended by BUS_ROUTES_END;
     * each handler gets the svc_t as arg. A type with no row is answered
     * `unknown_type`; a handler's reply is checked against proto/'s R
     * rows (bus_worker.h). NULL: the service serves none. */
    const bus_route_t *routes;
    /* Called once the bus is up, before the loop runs: open stores, add
     * readers and timers. Returns 0, or -1 to exit with status 1. */
    int (*setup) (svc_t *svc);
    /* Called after the loop ends, to release what setup made. */
    void (*teardown) (svc_t *svc);
    /* True: the store (svc_store_dir) is this process's alone. svc_main
     * locks it before the bus is up, and a second process on the same
     * store exits with status 2 and a message naming the holder. */
    bool exclusive_store;
} svc_def_t;

/* Runs the service to completion. Returns the process exit status. */
int svc_main (int argc, char **argv, const svc_def_t *def);

/* What the setup and handler functions work with (all borrowed). */
zloop_t *svc_loop (svc_t *self);
bus_pub_t *svc_pub (svc_t *self);
bus_worker_t *svc_worker (svc_t *self);
const char *svc_instance (svc_t *self);
/* Writes the directory of this process's store for its service into dir:
 * DATA/<service>, or DATA/<service>/<instance> with
 * CAISSON_STORE_PER_INSTANCE=1. Returns 0, or -1 when it does not fit. */
int svc_store_dir (svc_t *self, char *dir, size_t len);
/* Per-service state that setup stores and the handler reads. */
void svc_set_state (svc_t *self, void *state);
void *svc_state (svc_t *self);

/* Prints the standard --help text for a program: summary, usage, and the
 * settings from cfg that apply to it. */
/* Closes every descriptor from lowfd up, in a child about to exec, so it
 * passes on nothing its parent holds (or inherited) beyond what it set up
 * below lowfd. close_range first; without it (ENOSYS, or a filter), a
 * loop over /proc/self/fd, and without /proc, every number up to 65535. */
void svc_close_from (int lowfd);

void svc_usage (const char *program, const char *summary, const char *usage);

#endif
