/* supervisor: starts the broker and the five services, keeps them up, and
 * stops them.
 *
 * Each process is a child with its own log file and a fixed instance id
 * for the life of the stack (so `<service>.<instance>` stays valid across
 * restarts). A child that exits is started again after a back-off that
 * doubles on each quick crash up to CAISSON_RESTART_MAX_MS and resets once
 * it has run for a while. Children get PR_SET_PDEATHSIG, so even a
 * supervisor killed with SIGKILL leaves nothing running. */
#ifndef CAISSON_SUPERVISOR_H
#define CAISSON_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct _supervisor_t supervisor_t;

/* How many processes on the bus a stack runs (the scripted model, off the
 * bus, is not one of them). */
#define SUPERVISOR_PROCS 9

/* A supervisor for the stack in data (absolute), running the binaries in
 * bindir. */
supervisor_t *supervisor_new (const char *data, const char *bindir);
void supervisor_destroy (supervisor_t **self_p);

/* Starts every process, broker first. Returns 0 or -1. */
int supervisor_start (supervisor_t *self);

/* The warning to show when no model provider is configured (so the stack
 * runs the scripted model, caisson-llm-replay), or NULL. */
const char *supervisor_offline_notice (void);

/* Waits until every process answers health, at most timeout_ms. Returns
 * 0 with the time taken in *elapsed_ms, or -1 with the name of the first
 * process that did not answer written to what. */
int supervisor_wait_healthy (supervisor_t *self, int timeout_ms, int64_t *elapsed_ms,
                             char *what, size_t whatlen);

/* Supervises until SIGINT or SIGTERM (zsys_interrupted). */
void supervisor_run (supervisor_t *self);

/* Stops every process, broker last: SIGTERM, then SIGKILL after a grace
 * period. */
void supervisor_stop_all (supervisor_t *self);

#endif
