/* llm_provider: which wire protocol, base URL and key a model name means.
 *
 * A model is named `provider/model` (`openai/gpt-4o-mini`,
 * `anthropic/claude-sonnet-4-5`, `ollama/llama3.2`). The provider picks the
 * protocol, the default base URL, and the environment variables that
 * override the URL and hold the key. The key's value is read here and
 * never logged: callers get it only to put in a request header. */
#ifndef CAISSON_LLM_PROVIDER_H
#define CAISSON_LLM_PROVIDER_H

#include "llm.h"

typedef struct {
    const char *name;           /* "openai" */
    llm_proto_t proto;
    const char *base_url;       /* default, e.g. "https://api.openai.com/v1" */
    const char *url_env;        /* "OPENAI_BASE_URL" */
    const char *key_env;        /* "OPENAI_API_KEY"; NULL: no key needed */
} llm_provider_t;

/* The provider of "provider/model" (NULL when unknown); *model_out points
 * at the model part of name. */
const llm_provider_t *llm_provider_find (const char *name, const char **model_out);

/* The base URL in effect: the environment's override, else the default
 * (borrowed). */
const char *llm_provider_url (const llm_provider_t *p);

/* The key from the environment, or NULL (borrowed; never log it). */
const char *llm_provider_key (const llm_provider_t *p);

/* The first provider whose key is set, or NULL: what picks a default. */
const llm_provider_t *llm_provider_configured (void);

/* True when the deployment set p up: its key or its URL is in the
 * environment. A provider it did not set up would be reached at its
 * default URL (a loopback port for the local ones), which nobody chose. */
bool llm_provider_set_up (const llm_provider_t *p);

#endif
