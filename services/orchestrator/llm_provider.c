/* llm_provider: the provider table (see llm_provider.h). Every provider
 * but Anthropic speaks OpenAI Chat Completions. */
#include "llm_provider.h"

#include <stdlib.h>
#include <string.h>

static const llm_provider_t table[] = {
    { "openai", LLM_OPENAI, "https://api.openai.com/v1", "OPENAI_BASE_URL", "OPENAI_API_KEY" },
    { "anthropic", LLM_ANTHROPIC, "https://api.anthropic.com/v1", "ANTHROPIC_BASE_URL",
      "ANTHROPIC_API_KEY" },
    { "groq", LLM_OPENAI, "https://api.groq.com/openai/v1", "GROQ_BASE_URL", "GROQ_API_KEY" },
    { "mistral", LLM_OPENAI, "https://api.mistral.ai/v1", "MISTRAL_BASE_URL", "MISTRAL_API_KEY" },
    { "cerebras", LLM_OPENAI, "https://api.cerebras.ai/v1", "CEREBRAS_BASE_URL",
      "CEREBRAS_API_KEY" },
    { "openrouter", LLM_OPENAI, "https://openrouter.ai/api/v1", "OPENROUTER_BASE_URL",
      "OPENROUTER_API_KEY" },
    { "ollama", LLM_OPENAI, "http://127.0.0.1:11434/v1", "OLLAMA_BASE_URL", NULL },
    { "vllm", LLM_OPENAI, "http://127.0.0.1:8000/v1", "VLLM_BASE_URL", "VLLM_API_KEY" },
    { "llamacpp", LLM_OPENAI, "http://127.0.0.1:8080/v1", "LLAMACPP_BASE_URL", NULL },
    /* The scripted model (caisson-llm-replay): either protocol, no key. */
    { "replay", LLM_OPENAI, "http://127.0.0.1:7391/v1", "CAISSON_LLM_REPLAY_URL", NULL },
    { "replay-anthropic", LLM_ANTHROPIC, "http://127.0.0.1:7391/v1", "CAISSON_LLM_REPLAY_URL",
      NULL },
};

const llm_provider_t *
llm_provider_find (const char *name, const char **model_out)
{
    const char *slash = strchr (name, '/');
    if (!slash)
        return NULL;
    size_t n = (size_t) (slash - name);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strlen (table[i].name) == n && memcmp (table[i].name, name, n) == 0) {
            if (model_out)
                *model_out = slash + 1;
            return &table[i];
        }
    return NULL;
}

const char *
llm_provider_url (const llm_provider_t *p)
{
    const char *v = p->url_env ? getenv (p->url_env) : NULL;
    return v && *v ? v : p->base_url;
}

const char *
llm_provider_key (const llm_provider_t *p)
{
    const char *v = p->key_env ? getenv (p->key_env) : NULL;
    return v && *v ? v : NULL;
}

const llm_provider_t *
llm_provider_configured (void)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].key_env && llm_provider_key (&table[i]))
            return &table[i];
    return NULL;
}

bool
llm_provider_set_up (const llm_provider_t *p)
{
    const char *url = p->url_env ? getenv (p->url_env) : NULL;
    return llm_provider_key (p) || (url && *url);
}
