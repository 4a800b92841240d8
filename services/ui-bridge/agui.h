/* agui: Caisson run events to AG-UI 1.0 events (the protocol CopilotKit
 * front ends speak), one run at a time.
 *
 * A translator is fed a run's events in order (kind and data as stored,
 * plus the live text deltas) and appends the AG-UI events they become to
 * an array: TEXT_MESSAGE_START/CONTENT/END around model text,
 * TOOL_CALL_START/ARGS/END and TOOL_CALL_RESULT for tools Caisson runs,
 * TOOL_CALL_START/ARGS/END alone for a call to one of the client's own
 * tools (front-end tools), which ends the stream with a plain
 * RUN_FINISHED since the run now waits for the client's answer,
 * STEP_STARTED/FINISHED around loop steps, STATE_DELTA for the run's state
 * (status, plan), and a terminal RUN_FINISHED (a result, an interrupt
 * for an approval, or the `cancelled` outcome for a cancelled run) or
 * RUN_ERROR whose `code` is the run's status (failed, budget_exhausted,
 * truncated, refused, checks_failed...). It closes what it
 * opened before any step end or terminal event, so the stream passes the
 * reference client's sequence checks. Absent optional fields are left out,
 * never null.
 *
 * An approval interrupt's id is `<caisson run>:<tool call>:<run_seq>`: a
 * later request resuming it names the run to approve in, and where its
 * events continue, with no state kept in the bridge, so any instance can
 * serve the resume. A call to a client tool gets an id of the same form
 * in its TOOL_CALL_* events, so the tool message answering it names the
 * run, the call and where the events continue in the same way. */
#ifndef CAISSON_AGUI_H
#define CAISSON_AGUI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _agui_t agui_t;

/* A translator for the AG-UI run (thread_id, run_id) that follows the
 * Caisson run crun. */
agui_t *agui_new (const char *thread_id, const char *run_id, const char *crun);
void agui_destroy (agui_t **self_p);

/* RUN_STARTED and the first STATE_SNAPSHOT, appended to out. */
void agui_start (agui_t *self, json_t *out);

/* Feeds one event (data may be NULL; run_seq 0 for a delta). Appends the
 * AG-UI events to out. Returns true once the run has reached a terminal
 * AG-UI event: nothing more may follow it. */
bool agui_feed (agui_t *self, const char *kind, json_t *data, uint64_t run_seq, json_t *out);

/* Ends the stream with RUN_ERROR (after closing what is open), for a
 * failure outside the run's own events (the bus, a timeout). */
void agui_fail (agui_t *self, const char *code, const char *message, json_t *out);

/* Parses an interrupt id or a client tool call id made by this module.
 * Returns 0 and fills the parts (crun and call of at least 129 bytes), or
 * -1. */
int agui_interrupt_parse (const char *id, char *crun, char *call, uint64_t *run_seq);

/* One SSE frame for event: `data: <compact json>\n\n`. A new string. */
char *agui_frame (const json_t *event);

#endif
