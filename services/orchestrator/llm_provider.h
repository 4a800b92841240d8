/* llm_provider: which wire protocol, base URL and key a model name means.
 *
 * A model is named `provider/model` (`openai/gpt-4o-mini`,
 * `anthropic/claude-sonnet-4-5`, `google/gemini-2.5-flash`,
 * `ollama/llama3.2`). The provider picks the protocol, the default base
 * URL, the environment variables that override the URL and hold the key,
 * the model a deployment with only that key runs by default, and the
 * provider's request quirks. The key's value is read here and never
 * logged: callers get it only to put in a request header. */
#ifndef CAISSON_LLM_PROVIDER_H
#define CAISSON_LLM_PROVIDER_H

#include "llm.h"

/* Request quirks: what a provider's OpenAI-compatible endpoint rejects. */
#define LLM_QUIRK_NO_STREAM_OPTIONS 1u /* 422 on `stream_options`; sends usage anyway */

typedef struct {
    const char *name;           /* "openai" */
    llm_proto_t proto;
    const char *base_url;       /* default, e.g. "https://api.openai.com/v1" */
    const char *url_env;        /* "OPENAI_BASE_URL" */
    const char *key_env;        /* "OPENAI_API_KEY"; NULL: no key needed */
    const char *key_env_alt;    /* a second name for the key (GOOGLE_API_KEY), or NULL */
    const char *default_model;  /* the default when this is the first keyed provider */
    unsigned quirks;            /* LLM_QUIRK_* */
} llm_provider_t;

/* The provider of "provider/model" (NULL when unknown); *model_out points
 * at the model part of name. */
const llm_provider_t *llm_provider_find (const char *name, const char **model_out);

/* The i-th provider of the table (i from 0), or NULL past its end: for
 * whatever must list every provider (the deployment files' test). */
const llm_provider_t *llm_provider_at (size_t i);

/* The base URL in effect: the environment's override, else the default
 * (borrowed). */
const char *llm_provider_url (const llm_provider_t *p);

/* The key from the environment, or NULL (borrowed; never log it). */
const char *llm_provider_key (const llm_provider_t *p);

/* The first provider, in table order, whose key is set and which has a
 * default model, or NULL: what picks the default. The order is openai,
 * anthropic, google, groq, mistral, cerebras, openrouter. */
const llm_provider_t *llm_provider_configured (void);

/* The model runs use when they name none (borrowed): the MODEL setting
 * when set, else the first configured provider's default model, else
 * "replay/demo" (the scripted model). */
const char *llm_provider_default_model (void);

/* Checks the default model names a known provider and a model. Returns
 * 0, or -1 with why (for the person who set MODEL). */
int llm_provider_check_default (char *why, size_t whylen);

/* The names of the providers whose key is set, comma-separated, or
 * "none" (a new string). Names only: never a key. */
char *llm_provider_keyed (void);

/* The model set-up in one line, for a person starting the stack (a new
 * string, names only, never a key): "provider keys: groq; default model:
 * groq/llama-3.3-70b-versatile (groq's, the first provider with a key)",
 * with where the default came from: MODEL, the first keyed provider, or
 * no key at all (the scripted model). */
char *llm_provider_summary (void);

/* True when the deployment set p up: its key or its URL is in the
 * environment. A provider it did not set up would be reached at its
 * default URL (a loopback port for the local ones), which nobody chose. */
bool llm_provider_set_up (const llm_provider_t *p);

/* The context window of model `name` (`provider/model`) in tokens: its
 * CAISSON_MODEL_CONTEXT entry (`name=tokens`, else one for its provider
 * written with a star as model), else the known window of its model family, else its provider's default
 * (local servers: 8192, what they commonly load with); `replay/...` and
 * `replay-anthropic/...`: CAISSON_LLM_REPLAY_CONTEXT, the scripted model's
 * declared window. An OpenRouter model is looked up as the model it routes
 * to (`openrouter/anthropic/claude-...`). */
uint64_t llm_provider_context (const char *name);
/* The same when it is a maximum, not a guess: a CAISSON_MODEL_CONTEXT
 * entry, the scripted model's, or a row of a model family; 0 when only a
 * provider's default is known (the model gateway bounds what a call can be
 * billed by it, and a default may fall short of a model the provider
 * serves). */
uint64_t llm_provider_context_known (const char *name);

/* body (a request from llm_*_request) with p's quirks applied: a new
 * string, or NULL when body is not JSON or memory runs out. */
char *llm_provider_adapt (const llm_provider_t *p, const char *body);

#endif
