/* cassette: the scripted conversations caisson-llm-replay plays
 * (format in docs/llm-replay.md).
 *
 * A cassette answers one task. The server is stateless about runs: the
 * request's conversation says where we are. The turn to play is the
 * number of assistant messages after the last user message whose text is
 * a cassette's task (a `<caisson-summary turns="N"` user message after it
 * counts as the N it replaced); the latest tool results (the tool
 * messages after the last assistant message) feed templates and
 * expectations. Only fault
 * counters are state, so that a retried request gets past its fault. */
#ifndef CAISSON_CASSETTE_H
#define CAISSON_CASSETTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _cassette_set_t cassette_set_t;

/* A conversation, whatever protocol it came in: an array of
 * {role: user|assistant|tool, content: string}. */

/* FAULT_STATUS: answer fault_status (401, 422, ...) with an error body;
 * FAULT_ERROR: half the stream, then the protocol's error event. */
typedef enum {
    FAULT_NONE, FAULT_429, FAULT_500, FAULT_STALL, FAULT_CUT, FAULT_STATUS, FAULT_ERROR
} fault_t;

/* What to send for one request. */
typedef struct {
    int status;                 /* 200, or the error status to answer */
    char *error;                /* the error message when status != 200 */
    fault_t fault;
    uint64_t retry_after;       /* seconds, for FAULT_429 */
    int fault_status;           /* for FAULT_STATUS */
    char *fault_type;           /* FAULT_ERROR's error type (overloaded_error), or NULL */
    char *fault_message;        /* the fault's message, or NULL for a default */
    char finish[32];            /* the turn's end: stop, tool_calls, length,
                                   content_filter; "" for stop or tool_calls */
    bool no_usage;              /* send no token usage */
    uint64_t latency_ms;        /* before the first byte */
    uint64_t chunk;             /* bytes per text delta / write; 0: whole */
    char *text;                 /* the turn's text (may be NULL) */
    json_t *tool_calls;         /* [{id, name, args}] (may be NULL) */
} cassette_reply_t;

/* Loads every *.json file of each directory in dirs (colon-separated). Returns NULL (with a log line naming
 * the file and the fault) when one does not load. */
cassette_set_t *cassette_set_load (const char *dir);
void cassette_set_destroy (cassette_set_t **self_p);
size_t cassette_set_size (cassette_set_t *self);

/* Decides the reply to a conversation (see above), given the names of the
 * tools the request offers (an array of strings, as the tool-runner names
 * them), filling *reply, which the caller releases with
 * cassette_reply_clear. Thread-safe. */
void cassette_set_play (cassette_set_t *self, const json_t *conversation,
                        const json_t *offered, cassette_reply_t *reply);
void cassette_reply_clear (cassette_reply_t *reply);

#endif
