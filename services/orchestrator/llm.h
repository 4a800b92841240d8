/* llm: one model turn, streamed, whatever the wire protocol.
 *
 * An llm_stream_t takes the raw bytes of a streamed response body (OpenAI
 * Chat Completions or Anthropic Messages, both as server-sent events) and
 * builds an llm_turn_t: the text, the tool calls with their complete
 * argument strings, why the model stopped, and the token usage. Text
 * deltas are handed to a callback as they arrive. A stream that ends
 * before the protocol says it is complete is an error ("stream cut"), so a
 * cut response is never mistaken for an answer.
 *
 * The request side (llm_openai.c, llm_anthropic.c) builds a request body
 * from a protocol-neutral conversation: a JSON array of
 *   {role:"user", content}
 *   {role:"assistant", content?, tool_calls?:[{id, name, args}]}
 *   {role:"tool", tool_call_id, name, content}
 * and tools as [{name, description, inputSchema}]. Tool names travel with
 * dots encoded (see llm_wire_name), as both providers forbid them. */
#ifndef CAISSON_LLM_H
#define CAISSON_LLM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLM_MAX_CALLS 32
#define LLM_MAX_TEXT (4u << 20)

typedef enum { LLM_OPENAI, LLM_ANTHROPIC } llm_proto_t;

typedef struct {
    char *id;
    char *name;                 /* as the tool-runner knows it (dots decoded) */
    char *args;                 /* the JSON argument text, as streamed */
    size_t args_len, args_cap;
    long block;                 /* Anthropic: the content block index */
} llm_call_t;

typedef struct {
    char *text;
    size_t text_len, text_cap;
    llm_call_t calls[LLM_MAX_CALLS];
    size_t ncalls;
    char stop[32];              /* the provider's stop / finish reason */
    uint64_t input_tokens, output_tokens, cached_tokens, cache_write_tokens;
    bool complete;              /* [DONE] or message_stop seen */
    char error[256];            /* a provider error or a parse fault */
} llm_turn_t;

typedef struct _llm_stream_t llm_stream_t;

/* Receives each text delta as it arrives. */
typedef void (llm_delta_fn) (const char *text, size_t len, void *arg);

llm_stream_t *llm_stream_new (llm_proto_t proto, llm_delta_fn *fn, void *arg);
void llm_stream_destroy (llm_stream_t **self_p);

/* Feeds body bytes. Returns 0, or -1 once the stream is in error. */
int llm_stream_feed (llm_stream_t *self, const char *data, size_t len);

/* Ends the body. Returns 0 when the turn is complete, else -1 with the
 * reason in the turn's error. */
int llm_stream_finish (llm_stream_t *self);

/* The turn built so far (borrowed). */
llm_turn_t *llm_stream_turn (llm_stream_t *self);

/* Accumulators the protocol parsers share. Each returns 0 or -1. */
int llm_turn_text (llm_turn_t *turn, const char *text, size_t len);
llm_call_t *llm_turn_call (llm_turn_t *turn, size_t index);
int llm_call_args (llm_turn_t *turn, llm_call_t *call, const char *frag, size_t len);
void llm_turn_fail (llm_turn_t *turn, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Protocol event handlers (one SSE event's data). Return 0 or -1. */
int llm_openai_event (llm_turn_t *turn, const char *data, size_t len,
                      llm_delta_fn *fn, void *arg);
int llm_anthropic_event (llm_turn_t *turn, const char *data, size_t len,
                         llm_delta_fn *fn, void *arg);

/* Request bodies (new strings the caller frees, or NULL). max_tokens 0
 * leaves the provider's default where the protocol allows. */
char *llm_openai_request (const char *model, const char *system, const json_t *messages,
                          const json_t *tools, uint64_t max_tokens);
char *llm_anthropic_request (const char *model, const char *system, const json_t *messages,
                             const json_t *tools, uint64_t max_tokens);

/* Tool names on the wire: "git.openPR" <-> "git__openPR". New strings. */
char *llm_wire_name (const char *name);
char *llm_tool_name (const char *wire);

#endif
