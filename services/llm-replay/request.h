/* request: what llm-replay reads of a model request (a parsed OpenAI
 * Chat Completions or Anthropic Messages body), for main.c to pick the
 * cassette turn that answers it. */
#ifndef CAISSON_REQUEST_H
#define CAISSON_REQUEST_H

#include "cassette.h"

#include <jansson.h>
#include <stdbool.h>

/* The request's messages as a neutral conversation (new; see
 * cassette.h), tool results named after the call they answer. anthropic:
 * the body is Anthropic's (tool results inside user messages). */
json_t *request_conversation (const json_t *req, bool anthropic);
/* The names of the tools the request offers, as the tool-runner knows
 * them (new): OpenAI's tools[].function.name, Anthropic's tools[].name. */
json_t *request_offered (const json_t *req);
/* Whether every tool the request offers is named as both providers
 * demand, ^[a-zA-Z0-9_-]{1,64}$ (a 400 otherwise); false with why
 * naming the first that is not. */
bool request_names_ok (const json_t *req, char *why, size_t whylen);
/* The orchestrator's request for a thread's title (its system prompt
 * opens with "Name this conversation", services/orchestrator/titler.h):
 * the scripted answer is deterministic, `About: ` and the first six
 * words of the task conv names. Fills r and returns true for such a
 * request; false (r untouched) otherwise. */
bool request_title (const json_t *req, const json_t *conv, cassette_reply_t *r);

#endif
