/* gateway_fixture: the model gateway's stack for its tests (issue 16): the
 * broker, caisson-gateway-keys, caisson-gateway on a free port, the
 * scripted model (caisson-llm-replay serving tests/cassettes) behind it,
 * and event-log when asked. The scripted model stands in for the real
 * OpenAI and Anthropic (OPENAI_BASE_URL and ANTHROPIC_BASE_URL point at it)
 * and wants the stack's real key (OPENAI_API_KEY = ANTHROPIC_API_KEY =
 * CAISSON_LLM_REPLAY_KEY, random per stack), so every answer that comes
 * back proves the gateway forwarded the real key; virtual keys made over the bus as an operator
 * would; and the official SDKs run through tests/gateway/sdk.cjs.
 *
 * Prices are GWF_PRICES (every openai and anthropic model): input
 * free, output $1 per million tokens, i.e. 1000 nano-USD a token, so a call
 * of the gateway cassette (50 output tokens) costs exactly 50000 nano-USD. */
#ifndef CAISSON_GATEWAY_FIXTURE_H
#define CAISSON_GATEWAY_FIXTURE_H

#include "support.h"
#include "http_body.h"

#define GWF_PRICES "openai/*=0,1,0,4096;anthropic/*=0,1,0,4096"
#define GWF_MODELS "openai/*,anthropic/*,openai/t,anthropic/t"
#define GWF_MODEL "openai/t"        /* what the tests call on each protocol */
#define GWF_AMODEL "anthropic/t"
#define GWF_NUSD_PER_TOKEN 1000
#define GWF_FIXED_TASK "gateway: answer with fifty tokens"
#define GWF_FIXED_OUT 50
#define GWF_ECHO_TASK "gateway: quote the key back" /* a 400 whose message holds the real key */

/* What a key is made with; zero fields are left to the deployment. */
typedef struct {
    const char *models;         /* JSON array text of models; NULL: all */
    uint64_t rpm, tpm;
    uint64_t budget_tokens, budget_nusd;
    const char *window;         /* NULL: month */
    uint64_t expires_at;        /* ms since the epoch; 0: never */
} gwf_key_opts_t;

/* A key as made: its secret and id. */
typedef struct {
    char secret[256];
    char id[16];
} gwf_key_t;

/* Starts the stack in a fresh directory called name, the gateway and
 * gateway-keys with the extra NULL-ended "KEY=VALUE" env (may be NULL),
 * event-log too when eventlog. Fails the test, naming what did not come
 * up (a missing binary: caisson-gateway is slice C's, caisson-gateway-keys
 * slice B's). */
void gwf_up (const char *name, const char *const extra_env[], bool eventlog);

/* Stops everything gwf_up started, each expected to exit cleanly. */
void gwf_down (void);

/* The gateway's root URL (http://127.0.0.1:PORT) and the scripted
 * model's (its /v1 is the providers' base URL), and the real key. */
const char *gwf_base (void);
const char *gwf_replay_base (void);
const char *gwf_real_key (void);

/* A bus request as operator (op) user: the reply (the caller's), or a
 * failed test when none comes. */
proto_msg_t *gwf_request (const char *user, bool op, const char *service, proto_msg_t *req);

/* Makes a key for user over the bus (gkey.create, as an operator);
 * asserted to succeed. */
gwf_key_t gwf_key (const char *user, const gwf_key_opts_t *opts);

/* Revokes key id (gkey.revoke as an operator); asserted to revoke one. */
void gwf_revoke (const char *id);

/* The scope of key id named `key.<id>` in gkey.usage.get (new), e.g.
 * {spentNusd, reservedNusd, limitNusd, calls, refused, ...}. */
json_t *gwf_key_usage (const char *user, const char *id);

/* Waits up to 5 s for key id's reservations to be settled (reservedNusd
 * 0); its scope as gwf_key_usage gives it (new). */
json_t *gwf_key_settled (const char *user, const char *id);

/* llm-replay's GET /stats `requests`: the model calls it answered. */
long gwf_replay_requests (void);

/* POSTs body to base + path with key as either protocol sends it
 * (Bearer, or x-api-key when anthropic); the answer's bytes (the
 * caller's), asserted 200. */
char *gwf_post (const char *base, const char *path, const char *key, bool anthropic,
                const char *body);

/* A request body (new) for the fixed cassette with model, its max_tokens
 * the answer's length (so a call reserves exactly what it costs),
 * streamed or not, asking stream_options.include_usage when usage. */
char *gwf_fixed_body (const char *model, bool stream, bool usage);

/* The cassette's text (tests/cassettes/gateway_fixed.json), static. */
const char *gwf_fixed_text (void);

/* Runs `node tests/gateway/sdk.cjs` with args (NULL-ended; --base and the
 * key are the caller's) and returns its JSON line (new); fails the test
 * when it prints none. *rc (may be NULL) gets its exit status. */
json_t *gwf_sdk (const char *const args[], int *rc);

/* The same in two steps: starts it, its stdout in *out; then its result. */
pid_t gwf_sdk_start (const char *const args[], int *out);
json_t *gwf_sdk_wait (pid_t pid, int out, int *rc);

#endif
