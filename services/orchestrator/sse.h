/* sse: an incremental parser for text/event-stream bodies (model streams).
 *
 * Bytes arrive in whatever pieces the network gives: a boundary may fall
 * inside a line ending, a `data:` prefix, a JSON string or a UTF-8
 * character. The parser keeps the incomplete line, accepts LF, CRLF and CR
 * line ends, skips comments (keep-alives), joins multi-line data with LF,
 * and hands each complete event (on the blank line that ends it) to a
 * callback. A line or event longer than the limit is an error, not a
 * growing buffer. */
#ifndef CAISSON_SSE_H
#define CAISSON_SSE_H

#include <stddef.h>

typedef struct _sse_t sse_t;

/* Called per event: event name ("" when the stream gave none) and data
 * (NUL-terminated, len bytes). Returns 0, or -1 to stop the stream. */
typedef int (sse_event_fn) (const char *event, const char *data, size_t len, void *arg);

/* A parser holding at most max_event bytes of one event's data. */
sse_t *sse_new (size_t max_event, sse_event_fn *fn, void *arg);
void sse_destroy (sse_t **self_p);

/* Feeds len bytes. Returns 0, or -1 when an event is too large, memory
 * runs out, or the callback stopped the stream (see sse_error). */
int sse_feed (sse_t *self, const char *data, size_t len);

/* Ends the stream: an event still unterminated is dispatched, as the
 * spec's end-of-stream rule allows. Returns 0 or -1. */
int sse_finish (sse_t *self);

/* Why the last call failed, or "" (borrowed). */
const char *sse_error (sse_t *self);

#endif
