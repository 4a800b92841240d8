/* runview: a run as `caisson run` shows it in a terminal, rendered from
 * one ordered sequence: the run's stored events, each once, in run_seq
 * order (a gap in what the tap delivered is read back from event-log with
 * events.read). Model text deltas are never part of that output: on a
 * terminal they are a provisional tail on stderr, which the next stored
 * event erases, so stdout is the stored transcript and nothing else. */
#ifndef CAISSON_RUNVIEW_H
#define CAISSON_RUNVIEW_H

#include "bus_client.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _runview_t runview_t;

/* Called for a stored ask_approval, once, in order; data is its payload. */
typedef void (runview_ask_fn) (void *arg, const json_t *data);

/* A view of run, reading back through c; tail: show deltas on stderr. */
runview_t *runview_new (bus_client_t *c, const char *run, bool tail, runview_ask_fn *ask,
                        void *arg);
void runview_destroy (runview_t **self_p);

/* Takes one event published for the run (kind, its data, and run_seq: 0
 * for a delta; a stored event without one is shown as it comes). Returns the command's exit status once the run has ended
 * (0 completed, 1 otherwise), else -1. */
int runview_event (runview_t *self, const char *kind, const json_t *data, uint64_t run_seq);

/* Renders whatever is stored after the last event shown (the run ended
 * by run.get, or events went by unseen). Returns as runview_event. */
int runview_catch_up (runview_t *self);

#endif
