/* prompt: the orchestrator's system prompt, versioned. Every run records
 * the version it used (run_started's promptVersion), so a change in
 * behaviour can be traced to a change in the prompt. */
#ifndef CAISSON_PROMPT_H
#define CAISSON_PROMPT_H

#include <stddef.h>

#define PROMPT_VERSION "caisson-agent-2"

/* The system prompt text (static). */
const char *prompt_system (void);

/* The user message that asks a model whose turn was cut at its output
 * limit (LLM_FINISH_LENGTH) to go on (static). The cut turn stays in the
 * conversation as the assistant's message; a cut tool call is dropped
 * (its arguments are not whole JSON), so the model is told to make it
 * again. */
const char *prompt_continue (void);

/* The user message that carries the working memory into a model request:
 * fenced (a fenced block from fence_wrap), its version and size (new). */
char *prompt_memory (const char *fenced, unsigned long long version, size_t bytes, size_t max);

/* The user message that carries what the automatic recall found before
 * the task: fenced (a fenced block from fence_wrap) (new). */
char *prompt_recalled (const char *fenced);

#endif
