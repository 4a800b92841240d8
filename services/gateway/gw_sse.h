/* gw_sse: the gateway's view of a provider's answer on its way through.
 *
 * A streamed answer is forwarded unchanged, one whole SSE event at a time
 * (providers flush whole events, so nothing waits longer than it would
 * have), while its usage is read off the events that carry it: OpenAI's
 * last chunk (`usage`, with `prompt_tokens_details.cached_tokens`; Groq's
 * `x_groq.usage`), Anthropic's `message_start` and `message_delta`. Lines
 * end in LF, CRLF or CR and bytes may be split anywhere. An event larger
 * than GW_SSE_EVENT_MAX is passed on unparsed as it comes. When the
 * gateway asked for usage the client did not (`withhold`), the one chunk
 * OpenAI adds for it (empty `choices`, a `usage`) is not forwarded.
 * Only `data:` lines of events that mention "usage" are parsed. */
#ifndef CAISSON_GW_SSE_H
#define CAISSON_GW_SSE_H

#include "llm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_SSE_EVENT_MAX ((size_t) 1 << 20)

/* Tokens of one call. in counts every input token, cached and written
 * to the cache included (Anthropic reports them apart; they are added). */
typedef struct {
    uint64_t in, out, cached, cache_write;
    bool seen;                  /* the provider reported usage */
} gw_usage_t;

typedef struct _gw_sse_t gw_sse_t;

gw_sse_t *gw_sse_new (llm_proto_t proto, bool withhold);
void gw_sse_destroy (gw_sse_t **self_p);

/* Takes n more bytes of the answer. 0, or -1 when memory runs out. */
int gw_sse_feed (gw_sse_t *self, const char *data, size_t n);

/* The bytes ready to forward (borrowed, valid until the next feed or
 * consume) and their count in *len. */
const char *gw_sse_ready (gw_sse_t *self, size_t *len);

/* n bytes of the ready ones were forwarded. */
void gw_sse_consume (gw_sse_t *self, size_t n);

/* The answer ended: an unfinished last event becomes ready as it is. */
void gw_sse_finish (gw_sse_t *self);

/* Bytes held back for an event not yet complete. */
size_t gw_sse_held (const gw_sse_t *self);

/* The usage read so far (borrowed). */
const gw_usage_t *gw_sse_usage (const gw_sse_t *self);

/* True when the usage chunk was withheld. */
bool gw_sse_withheld (const gw_sse_t *self);

/* Usage from a whole (not streamed) JSON answer of proto: chat, messages
 * or embeddings. False when body is not JSON or carries none. */
bool gw_usage_of_body (llm_proto_t proto, const char *body, size_t len, gw_usage_t *u);

#endif
