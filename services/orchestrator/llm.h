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
 * How a turn ended is llm_turn_t.finish, one of llm_finish_t whatever the
 * protocol said: OpenAI finish_reason stop / tool_calls / length /
 * content_filter, Anthropic stop_reason end_turn / stop_sequence /
 * tool_use / max_tokens / refusal. A turn that hit its output limit
 * (LLM_FINISH_LENGTH) is complete as a stream but not as an answer: its
 * text, and any tool call's arguments, may stop mid-way; the caller
 * decides (ask to continue, or end the run as truncated).
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

/* How a model turn ended. */
typedef enum {
    LLM_FINISH_NONE,            /* not ended: an error, or still streaming */
    LLM_FINISH_STOP,            /* the model's answer is complete */
    LLM_FINISH_TOOL_CALLS,      /* it asks for the turn's tool calls */
    LLM_FINISH_LENGTH,          /* cut at the output token limit */
    LLM_FINISH_FILTER,          /* refused by the provider's content filter */
    LLM_FINISH_ERROR            /* the call failed (llm_result_t.error says why) */
} llm_finish_t;

/* "stop", "tool_calls", "length", "content_filter", "error", "none". */
const char *llm_finish_name (llm_finish_t finish);

/* The finish a protocol's stop reason means; an unknown or missing one is
 * TOOL_CALLS when the turn has calls, else STOP. */
llm_finish_t llm_finish_of (llm_proto_t proto, const char *stop, size_t ncalls);

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
    char stop[32];              /* the provider's stop / finish reason, verbatim */
    llm_finish_t finish;        /* what stop means; set by llm_stream_finish */
    uint64_t input_tokens, output_tokens, cached_tokens, cache_write_tokens;
    bool usage;                 /* the provider reported usage */
    bool estimated;             /* no usage came: tokens are llm_turn_estimate's */
    bool complete;              /* [DONE] or message_stop seen */
    bool retryable;             /* error is a provider fault worth another try */
    char error[512];            /* a provider error or a parse fault */
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

/* When the provider sent no usage (turn->usage false), estimates it so a
 * token budget still counts: input = request_bytes / 4, output = (text +
 * tool names and arguments) bytes / 4, at least 1 each, and sets
 * turn->estimated. Four bytes a token is the usual rule of thumb for
 * English and code; it is an estimate, flagged as one, not a count. */
void llm_turn_estimate (llm_turn_t *turn, size_t request_bytes);

/* Accumulators the protocol parsers share. Each returns 0 or -1. */
int llm_turn_text (llm_turn_t *turn, const char *text, size_t len);
llm_call_t *llm_turn_call (llm_turn_t *turn, size_t index);
int llm_call_args (llm_turn_t *turn, llm_call_t *call, const char *frag, size_t len);
void llm_turn_fail (llm_turn_t *turn, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Whether a provider error of this type (OpenAI error.type, Anthropic
 * error.type; NULL when none) may succeed if tried again: not for
 * requests the provider calls invalid, unauthenticated, forbidden or not
 * found, which fail the same way every time; yes for the rest
 * (overloaded_error, api_error, rate limits, server errors). */
bool llm_error_retryable (const char *type);

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

/* Tool names on the wire: "git.openPR" <-> "git__openPR". New strings.
 * Reading back is blind: "a_.b" goes out as "a___b" and reads back as
 * "a._b"; a caller that knows the tools offered finds the one meant. */
char *llm_wire_name (const char *name);
char *llm_tool_name (const char *wire);

/* Whether name's wire spelling is one both providers take: 1 to 64 of
 * A-Z a-z 0-9 _ - (a dot counts two). */
bool llm_wire_name_ok (const char *name);

#endif
