/* llm_provider: the provider table (see llm_provider.h). Every provider
 * but Anthropic speaks OpenAI Chat Completions.
 *
 * Quirks, from the providers' documentation and reported failures:
 * Mistral answers 422 "extra_forbidden" to `stream_options` and includes
 * usage in its last chunk unasked. Groq accepts `stream_options` (older
 * streams carried usage under `x_groq`, which llm_openai.c also reads).
 * Gemini's OpenAI-compatible endpoint takes the OpenAI request as is. */
#include "llm_provider.h"
#include "cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const llm_provider_t table[] = {
    { .name = "openai", .proto = LLM_OPENAI, .base_url = "https://api.openai.com/v1",
      .url_env = "OPENAI_BASE_URL", .key_env = "OPENAI_API_KEY",
      .default_model = "openai/gpt-4o-mini" },
    { .name = "anthropic", .proto = LLM_ANTHROPIC, .base_url = "https://api.anthropic.com/v1",
      .url_env = "ANTHROPIC_BASE_URL", .key_env = "ANTHROPIC_API_KEY",
      .default_model = "anthropic/claude-sonnet-4-5" },
    { .name = "google", .proto = LLM_OPENAI,
      .base_url = "https://generativelanguage.googleapis.com/v1beta/openai",
      .url_env = "GOOGLE_BASE_URL", .key_env = "GEMINI_API_KEY", .key_env_alt = "GOOGLE_API_KEY",
      .default_model = "google/gemini-2.5-flash" },
    { .name = "groq", .proto = LLM_OPENAI, .base_url = "https://api.groq.com/openai/v1",
      .url_env = "GROQ_BASE_URL", .key_env = "GROQ_API_KEY",
      .default_model = "groq/llama-3.3-70b-versatile" },
    { .name = "mistral", .proto = LLM_OPENAI, .base_url = "https://api.mistral.ai/v1",
      .url_env = "MISTRAL_BASE_URL", .key_env = "MISTRAL_API_KEY",
      .default_model = "mistral/mistral-large-latest", .quirks = LLM_QUIRK_NO_STREAM_OPTIONS },
    { .name = "cerebras", .proto = LLM_OPENAI, .base_url = "https://api.cerebras.ai/v1",
      .url_env = "CEREBRAS_BASE_URL", .key_env = "CEREBRAS_API_KEY",
      .default_model = "cerebras/llama-3.3-70b" },
    { .name = "openrouter", .proto = LLM_OPENAI, .base_url = "https://openrouter.ai/api/v1",
      .url_env = "OPENROUTER_BASE_URL", .key_env = "OPENROUTER_API_KEY",
      .default_model = "openrouter/openai/gpt-4o-mini" },
    /* local servers: their model is whatever was loaded, so no default */
    { .name = "ollama", .proto = LLM_OPENAI, .base_url = "http://127.0.0.1:11434/v1",
      .url_env = "OLLAMA_BASE_URL" },
    { .name = "vllm", .proto = LLM_OPENAI, .base_url = "http://127.0.0.1:8000/v1",
      .url_env = "VLLM_BASE_URL", .key_env = "VLLM_API_KEY" },
    { .name = "llamacpp", .proto = LLM_OPENAI, .base_url = "http://127.0.0.1:8080/v1",
      .url_env = "LLAMACPP_BASE_URL" },
    /* The scripted model (caisson-llm-replay): either protocol, no key. */
    { .name = "replay", .proto = LLM_OPENAI, .base_url = "http://127.0.0.1:7391/v1",
      .url_env = "CAISSON_LLM_REPLAY_URL" },
    { .name = "replay-anthropic", .proto = LLM_ANTHROPIC, .base_url = "http://127.0.0.1:7391/v1",
      .url_env = "CAISSON_LLM_REPLAY_URL" },
};

#define NPROVIDERS (sizeof table / sizeof table[0])

const llm_provider_t *
llm_provider_find (const char *name, const char **model_out)
{
    const char *slash = strchr (name, '/');
    if (!slash)
        return NULL;
    size_t n = (size_t) (slash - name);
    for (size_t i = 0; i < NPROVIDERS; i++)
        if (strlen (table[i].name) == n && memcmp (table[i].name, name, n) == 0) {
            if (model_out)
                *model_out = slash + 1;
            return &table[i];
        }
    return NULL;
}

const llm_provider_t *
llm_provider_at (size_t i)
{
    return i < NPROVIDERS ? &table[i] : NULL;
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
    if ((!v || !*v) && p->key_env_alt)
        v = getenv (p->key_env_alt);
    return v && *v ? v : NULL;
}

const llm_provider_t *
llm_provider_configured (void)
{
    for (size_t i = 0; i < NPROVIDERS; i++)
        if (table[i].default_model && llm_provider_key (&table[i]))
            return &table[i];
    return NULL;
}

const char *
llm_provider_default_model (void)
{
    const char *m = cfg_str ("MODEL");
    if (*m)
        return m;
    const llm_provider_t *p = llm_provider_configured ();
    return p ? p->default_model : "replay/demo";
}

int
llm_provider_check_default (char *why, size_t whylen)
{
    const char *model = llm_provider_default_model (), *name = NULL;
    if (llm_provider_find (model, &name) && *name)
        return 0;
    char known[256] = "";
    for (size_t i = 0; i < NPROVIDERS; i++)
        snprintf (known + strlen (known), sizeof known - strlen (known), "%s%s",
                  i ? ", " : "", table[i].name);
    snprintf (why, whylen, "MODEL '%s' names no known provider: write provider/model, "
              "the provider one of %s", model, known);
    return -1;
}

char *
llm_provider_keyed (void)
{
    char out[256] = "";
    for (size_t i = 0; i < NPROVIDERS; i++)
        if (table[i].key_env && llm_provider_key (&table[i]))
            snprintf (out + strlen (out), sizeof out - strlen (out), "%s%s", *out ? ", " : "",
                      table[i].name);
    return strdup (*out ? out : "none");
}

char *
llm_provider_summary (void)
{
    char *keyed = llm_provider_keyed (), line[512], source[128];
    const llm_provider_t *p = llm_provider_configured ();
    if (*cfg_str ("MODEL"))
        snprintf (source, sizeof source, "set by MODEL");
    else if (p)
        snprintf (source, sizeof source, "%s's, the first provider with a key", p->name);
    else
        snprintf (source, sizeof source, "the scripted model: no provider key is set");
    snprintf (line, sizeof line, "provider keys: %s; default model: %s (%s)", keyed,
              llm_provider_default_model (), source);
    free (keyed);
    return strdup (line);
}

bool
llm_provider_set_up (const llm_provider_t *p)
{
    const char *url = p->url_env ? getenv (p->url_env) : NULL;
    return llm_provider_key (p) || (url && *url);
}

char *
llm_provider_adapt (const llm_provider_t *p, const char *body)
{
    if (!(p->quirks & LLM_QUIRK_NO_STREAM_OPTIONS))
        return strdup (body);
    json_t *req = json_loads (body, 0, NULL);
    if (!json_is_object (req)) {
        json_decref (req);
        return NULL;
    }
    json_object_del (req, "stream_options");
    char *out = json_dumps (req, JSON_COMPACT);
    json_decref (req);
    return out;
}

/* Context windows (tokens) by `provider/model` prefix, the longest
 * matching prefix winning; a bare `provider/` is the provider's default.
 * From the providers' model pages; a deployment that knows better sets
 * CAISSON_MODEL_CONTEXT. Local servers run whatever context they were
 * started with, so theirs is a guess on the small side. */
static const struct {
    const char *prefix;
    uint64_t tokens;
} windows[] = {
    { "openai/", 128000 },         { "openai/gpt-4.1", 1047576 },
    { "openai/gpt-5", 400000 },    { "openai/o1", 200000 },
    { "openai/o3", 200000 },       { "openai/o4", 200000 },
    { "openai/gpt-3.5", 16385 },   { "anthropic/", 200000 },
    { "google/", 1048576 },        { "groq/", 131072 },
    { "mistral/", 32768 },         { "mistral/mistral-large", 131072 },
    { "mistral/mistral-medium", 131072 }, { "cerebras/", 32768 },
    { "openrouter/", 32768 },      { "ollama/", 8192 },
    { "vllm/", 32768 },            { "llamacpp/", 8192 },
};

/* Whether the table's prefix of n bytes matched in name names more than
 * a provider (`openai/gpt-4.1`, not `openai/`). */
static bool
windows_prefix_is_model (const char *name, size_t n)
{
    const char *slash = strchr (name, '/');
    return slash && (size_t) (slash - name) + 1 < n;
}

/* CAISSON_MODEL_CONTEXT's window for name: an exact entry, else its
 * provider's (`<provider>/` plus a star); 0 when neither (or not a positive integer). */
static uint64_t
context_setting (const char *name)
{
    const char *slash = strchr (name, '/');
    size_t plen = slash ? (size_t) (slash - name) + 1 : 0;
    uint64_t exact = 0, any = 0;
    char *list = strdup (cfg_str ("CAISSON_MODEL_CONTEXT")), *save = NULL;
    for (char *e = list ? strtok_r (list, ",", &save) : NULL; e; e = strtok_r (NULL, ",", &save)) {
        while (*e == ' ')
            e++;
        char *eq = strrchr (e, '='), *end = NULL;
        if (!eq)
            continue;
        *eq = '\0';
        unsigned long long v = strtoull (eq + 1, &end, 10);
        if (!v || !end || *end)
            continue;
        if (strcmp (e, name) == 0)
            exact = v;
        else if (plen && strlen (e) == plen + 1 && strncmp (e, name, plen) == 0
                 && e[plen] == '*')
            any = v;
    }
    free (list);
    return exact ? exact : any;
}

/* name's window (see llm_provider_context); *family: it came from a
 * setting, the scripted model or a model family's row, not a default. */
static uint64_t
context_of (const char *name, bool *family)
{
    *family = true;
    uint64_t set = context_setting (name);
    if (set)
        return set;
    if (strncmp (name, "replay/", 7) == 0 || strncmp (name, "replay-anthropic/", 17) == 0) {
        uint64_t v = cfg_u64 ("CAISSON_LLM_REPLAY_CONTEXT");
        return v ? v : 131072;
    }
    if (strncmp (name, "openrouter/", 11) == 0 && llm_provider_find (name + 11, NULL)
        && strncmp (name + 11, "openrouter/", 11))
        return context_of (name + 11, family);
    size_t best = 0;
    uint64_t tokens = 8192;
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        size_t n = strlen (windows[i].prefix);
        if (n > best && strncmp (name, windows[i].prefix, n) == 0) {
            best = n;
            tokens = windows[i].tokens;
        }
    }
    /* a provider's row ends at its slash: a default */
    *family = best && windows_prefix_is_model (name, best);
    return tokens;
}

uint64_t
llm_provider_context (const char *name)
{
    bool family;
    return context_of (name, &family);
}

uint64_t
llm_provider_context_known (const char *name)
{
    bool family;
    uint64_t w = context_of (name, &family);
    return family ? w : 0;
}
