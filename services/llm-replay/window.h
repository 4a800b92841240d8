/* window: the scripted model's context window and its summaries.
 *
 * Like a provider, the scripted model has a declared context window
 * (CAISSON_LLM_REPLAY_CONTEXT tokens, a token being 4 bytes of the request
 * body, the estimate the orchestrator makes too) and refuses a larger
 * request with HTTP 400 `context_length_exceeded`, so a test of a long run
 * shows the orchestrator kept its requests inside it. It also answers the
 * orchestrator's summary requests (a user message whose first line is
 * `[caisson:summarise]`) with a deterministic summary of the transcript
 * in it, whatever the cassette. */
#ifndef CAISSON_REPLAY_WINDOW_H
#define CAISSON_REPLAY_WINDOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* The tokens of a request body of len bytes. */
uint64_t window_tokens (size_t len);

/* The provider's error body refusing a request of tokens over window
 * (new): OpenAI's `{error: {message, type, code: context_length_exceeded}}`
 * or Anthropic's `{type: error, error: {type, message}}`. */
char *window_refusal (bool anthropic, uint64_t tokens, uint64_t window);

/* When conversation (cassette.h's neutral form) is a summary request, its
 * summary (new): the turns, tool results by tool and the sandbox ids the
 * transcript names; else NULL. */
char *window_summary (const json_t *conversation);

#endif
