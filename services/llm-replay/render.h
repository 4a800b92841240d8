/* render: a cassette reply as a streamed response body, in either wire
 * protocol, byte for byte what a provider would send (see llm.h on the
 * client side). Text and tool arguments are split into deltas of about
 * `chunk` bytes, never inside a UTF-8 character. */
#ifndef CAISSON_RENDER_H
#define CAISSON_RENDER_H

#include "cassette.h"

/* New strings the caller frees, or NULL when out of memory. input_tokens
 * is reported as the request's usage. */
char *render_openai (const cassette_reply_t *reply, const char *model, uint64_t input_tokens);
char *render_anthropic (const cassette_reply_t *reply, const char *model, uint64_t input_tokens);

/* The error body each protocol uses for a non-200 status. */
char *render_error (bool anthropic, int status, const char *message);

/* A provider error sent inside a 200 stream: Anthropic's `event: error`
 * ({"type":"error","error":{type, message}}), OpenAI's {"error":{...}}
 * chunk. A new string, or NULL. */
char *render_error_event (bool anthropic, const char *type, const char *message);

/* body (a rendered stream, stolen) cut after the event that ends past
 * its middle, then the provider's error event of type (NULL:
 * overloaded_error) and message (NULL: Overloaded): what Anthropic sends
 * when it is overloaded mid-reply. The new body. */
char *render_error_midway (char *body, bool anthropic, const char *type, const char *message);

#endif
