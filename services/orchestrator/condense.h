/* condense: keeps the request a run sends inside its model's context
 * window. Pure JSON, no I/O: run_condense.c drives it for the run.
 *
 * The run keeps its whole conversation (`messages`, see run_convo.h);
 * what it sends is a view of it shaped by a small state (a JSON object
 * kept in the run's snapshot):
 * - `elideBefore`: tool results before this index are replaced by a note
 *   naming the tool, its size, its call and its ids (sandboxId, url...);
 *   the `tool_result` event keeps the result whole;
 * - `summaryUpto`, `summary`, `summaryTurns`: messages before this index
 *   (an assistant message, so no tool result loses its call), except the
 *   run's task, are replaced by one fenced user message holding a summary
 *   the model wrote (`<caisson-summary turns="N">`, N the assistant turns
 *   after the task it stands for);
 * - `clip`: the longest a kept tool result may be, in bytes (0: no limit).
 * Tokens are estimated as compact JSON bytes / 4, plus a little for the
 * wire's wrapping of each message and call. */
#ifndef CAISSON_CONDENSE_H
#define CAISSON_CONDENSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The first line of a summary request's user message, by which the
 * scripted model knows it (docs/llm-replay.md). */
#define CONDENSE_SUMMARISE_MARK "[caisson:summarise]"
/* How a summary message starts. */
#define CONDENSE_SUMMARY_MARK "<caisson-summary"

typedef struct {
    uint64_t window;            /* the model's context window, tokens */
    uint64_t target;            /* condense a request above this (share x window) */
    uint64_t hard;              /* never send one above this (window - reply room) */
    size_t keep_turns;          /* the latest assistant turns left whole */
} condense_limits_t;

typedef enum {
    CONDENSE_SEND,              /* the view fits (perhaps after elision or clipping) */
    CONDENSE_SUMMARISE,         /* ask the model for a summary first */
    CONDENSE_EXHAUSTED,         /* nothing left to condense and it does not fit */
} condense_verdict_t;

/* Limits for a window: target share x window, hard window minus the room
 * for the reply (max_out, at most a quarter of the window). */
void condense_limits (condense_limits_t *lim, uint64_t window, double share, size_t keep_turns,
                      uint64_t max_out);

/* Estimated tokens of a JSON value (compact bytes / 4, rounded up). */
uint64_t condense_tokens (const json_t *j);
/* Estimated tokens of the tool schemas as sent (with their wrapping). */
uint64_t condense_tools_tokens (const json_t *tools);

/* The messages to send (new): messages (borrowed) with state applied;
 * task_at is the run's task (kept verbatim). state may be NULL. */
json_t *condense_view (const json_t *messages, size_t task_at, const json_t *state);
/* Estimated tokens of that view plus fixed (system prompt, tools). */
uint64_t condense_total (const json_t *messages, size_t task_at, const json_t *state,
                         uint64_t fixed);

/* Decides the next request: elides old tool results into state while
 * over lim->target, then asks for a summary when there are turns older
 * than the kept ones not summarised yet, else clips kept results. Each
 * step taken is appended to steps ({step, tokensBefore, tokensAfter,
 * elided, summarised}); *total gets the estimate of the view now. */
condense_verdict_t condense_plan (json_t *state, const json_t *messages, size_t task_at,
                                  uint64_t fixed, const condense_limits_t *lim, json_t *steps,
                                  uint64_t *total);

/* The request asking the model to summarise the turns a summary would
 * replace now (new messages: one user message, first line
 * CONDENSE_SUMMARISE_MARK), fitting lim->target with fixed; *upto gets
 * the boundary to pass to condense_summary_apply. NULL when there is
 * nothing to summarise. */
json_t *condense_summary_request (const json_t *messages, size_t task_at, const json_t *state,
                                  uint64_t fixed, const condense_limits_t *lim, size_t *upto);

/* Puts the model's summary text (cut to cap bytes) in state for the
 * messages before upto. Returns how many messages it now stands for. */
size_t condense_summary_apply (json_t *state, const json_t *messages, size_t task_at,
                               const char *text, size_t upto, size_t cap);

/* How many tool results the view elides under state. */
size_t condense_elided (const json_t *messages, const json_t *state);

#endif
