/* render: a cassette reply as a response body, in either wire protocol,
 * streamed or whole, byte for byte what a provider would send (see llm.h
 * on the client side). Streamed text and tool arguments are split into
 * deltas of about `chunk` bytes, never inside a UTF-8 character. */
#ifndef CAISSON_RENDER_H
#define CAISSON_RENDER_H

#include "cassette.h"

/* Server-sent event streams: new strings the caller frees, or NULL when
 * out of memory. input_tokens is reported as the request's usage. OpenAI
 * sends its usage-only last chunk only when the request asked for it
 * (stream_options.include_usage, as OpenAI does); Anthropic's usage is
 * always in message_start and message_delta. */
char *render_openai (const cassette_reply_t *reply, const char *model, uint64_t input_tokens,
                     bool include_usage);
char *render_anthropic (const cassette_reply_t *reply, const char *model, uint64_t input_tokens);

/* The same reply as one JSON body, for a request with `stream: false`:
 * OpenAI's chat.completion object, Anthropic's message object, each with
 * its usage (unless the reply sends none). New strings, or NULL. */
char *render_openai_whole (const cassette_reply_t *reply, const char *model,
                           uint64_t input_tokens);
char *render_anthropic_whole (const cassette_reply_t *reply, const char *model,
                              uint64_t input_tokens);

/* The model list of GET /v1/models: OpenAI's `{object: list, data}`, or
 * Anthropic's `{data, has_more, first_id, last_id}` when anthropic. */
char *render_models (bool anthropic);

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
