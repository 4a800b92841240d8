/* gw_stack: a whole `caisson up` stack for the model gateway's sandbox
 * tests (issue 16). Its providers are the scripted model (llm-replay) standing
 * in for OpenAI and Anthropic: OPENAI_BASE_URL and ANTHROPIC_BASE_URL point
 * at one llm-replay that answers only a random "real" key,
 * sk-caisson-REAL-<random>, given to the stack as OPENAI_API_KEY and
 * ANTHROPIC_API_KEY. Sandboxes need root: without it gws_up starts nothing
 * and the tests skip. Bus helpers fail the test on an `error` reply. */
#ifndef CAISSON_TEST_GW_STACK_H
#define CAISSON_TEST_GW_STACK_H

#include "support.h"

/* Starts the stack in a fresh data dir named after name, with env's
 * `NAME=VALUE` entries (NULL-ended; may be NULL) set first. Returns false,
 * starting nothing, when not root. */
bool gws_up (const char *name, const char *const env[]);
/* `caisson down` and the scripted model stopped; nothing when not up. */
void gws_down (void);
/* The stack's data dir ("" when not up) and the real key (borrowed). */
const char *gws_dir (void);
const char *gws_real_key (void);

/* A request of type from user (new, not an operator's). */
proto_msg_t *gws_as (const char *user, proto_type_t type);
/* Sends req (taken) to service; its reply (the caller's), never `error`. */
proto_msg_t *gws_ask (proto_msg_t *req, const char *service);
/* user's new sandbox in network mode net, 600 s to live: its sandbox.info. */
proto_msg_t *gws_sandbox (const char *user, const char *net);
/* Runs `/bin/sh -c cmd` in user's sandbox id: its exec result. */
proto_msg_t *gws_sh (const char *user, const char *id, const char *cmd);
/* Destroys user's sandbox id. */
void gws_destroy (const char *user, const char *id);
/* The pid of the stack's process name, from `caisson status --json`. */
pid_t gws_pid_of (const char *name);

#endif
