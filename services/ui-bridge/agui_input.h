/* agui_input: what an AG-UI RunAgentInput brings besides its task, made
 * into run.start's `context`, `state` and `client_history` (proto/
 * runs.def): checked against limits, and its `messages` compared with the
 * thread's stored turns (thread.get), which are the truth of what
 * happened in Caisson runs.
 *
 * The rule (docs/api.md, AG-UI): the last user message is the task. The
 * messages before it are read as exchanges, each opened by a user
 * message. A user message equal to the task of a stored run (the next
 * ones in order) opens that run's exchange: it is not shown again, and
 * neither are its assistant texts and tool calls and results found in
 * the run's stored turns; one that is not (an edited answer, a call the
 * run never made) contradicts the stored thread: the stored turns win and
 * it is left out, counted as ignored and said why. Every other message
 * (exchanges the thread does not have, and any system or developer
 * message) is the client's own: passed on as client history, which the
 * model is shown fenced as data, never as instructions. Messages after
 * the task, and activity or reasoning messages, are ignored. Pure: no
 * bus, no HTTP. */
#ifndef CAISSON_AGUI_INPUT_H
#define CAISSON_AGUI_INPUT_H

#include <jansson.h>
#include <stddef.h>

#define AGUI_INPUT_MAX_MESSAGES 512
#define AGUI_INPUT_MAX_MESSAGE_TEXT (2u << 20)  /* of all messages together */

/* The task: the text of the last user message of messages (borrowed from
 * it; its first text part when its content is a list), or NULL. */
const char *agui_input_task (const json_t *messages);

/* Checks in's messages, context and state against their shapes and
 * limits. 0, or -1 with code (an AG-UI RUN_ERROR code, e.g.
 * `agui_state_too_deep`; at least 32 bytes) and why filled. */
int agui_input_check (const json_t *in, char *code, size_t codelen, char *why,
                      size_t whylen);

/* The `client_history` of in's messages against runs (thread.get's runs,
 * borrowed; NULL or empty for a new thread): {messages: [{role,
 * content}], matched, ignored, why?} (new), or NULL when nothing came
 * before the task and nothing was ignored. in must have passed
 * agui_input_check. */
json_t *agui_input_history (const json_t *in, const json_t *runs);

#endif
