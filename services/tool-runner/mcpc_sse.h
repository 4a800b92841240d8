/* mcpc_sse: the events of a server-sent-event stream (text/event-stream),
 * as a Streamable HTTP MCP server answers a request with.
 *
 * Bytes arrive in pieces of any size; each whole event (its `data:` lines
 * joined with newlines, its `event:` type) goes to a callback as soon as
 * its blank line arrives. Comments, `id:` and `retry:` are skipped (the
 * client does not resume streams). A hostile server cannot make it hold
 * more than one event's cap: a longer event or line fails the stream. */
#ifndef TR_MCPC_SSE_H
#define TR_MCPC_SSE_H

#include <stddef.h>

typedef struct _mcpc_sse_t mcpc_sse_t;

/* One event: type ("message" when the stream gave none) and its data (NUL
 * terminated, len bytes; borrowed for the call). Non-zero stops the feed. */
typedef int (mcpc_sse_event_fn) (void *arg, const char *type, const char *data, size_t len);

/* A parser handing events of at most max bytes to fn with arg. */
mcpc_sse_t *mcpc_sse_new (size_t max, mcpc_sse_event_fn *fn, void *arg);
void mcpc_sse_destroy (mcpc_sse_t **self_p);

/* Takes len more bytes: 0; 1 when the callback stopped it; -1 when an
 * event or line grew past max (the stream is then unusable). */
int mcpc_sse_feed (mcpc_sse_t *self, const char *data, size_t len);

#endif
