/* llm_embed: embeddings from a provider's OpenAI-compatible
 * `POST <base>/embeddings` (OpenAI, Ollama, vLLM, llama.cpp, the scripted
 * model), for recall's semantic search.
 *
 * The model is named as chat models are, `provider/model`
 * (CAISSON_EMBED_MODEL), and reached the same way: the provider table's
 * base URL and key (llm_provider.h), or, when the orchestrator's calls go
 * through the model gateway, the gateway's URL and a virtual key; the key
 * goes into the Authorization header only, never into a log or an error. An answer is trusted only
 * after checks: one vector per input, in order of `index`, every one of
 * the same dimensions (at most LLM_EMBED_DIMS_MAX), every number finite.
 *
 * llm_embed_fetch blocks (libcurl's easy interface), so the orchestrator
 * calls it from a thread of its own (recall_client.h), never its loop. */
#ifndef CAISSON_LLM_EMBED_H
#define CAISSON_LLM_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#define LLM_EMBED_INPUTS_MAX 64
#define LLM_EMBED_DIMS_MAX 4096
#define LLM_EMBED_TEXT_MAX 16384    /* bytes of one input sent; cut on a UTF-8 boundary */

/* count vectors of dims floats each, one after the other in data. */
typedef struct {
    float *data;
    size_t count, dims;
} llm_embeddings_t;

void llm_embeddings_clear (llm_embeddings_t *e);

/* The request body for model (the part after `provider/`) and n texts,
 * a new string; NULL when n is 0 or above LLM_EMBED_INPUTS_MAX. */
char *llm_embed_request (const char *model, const char *const *texts, size_t n);

/* Reads a response body for n inputs into out. Returns 0, or -1 with why
 * (which never quotes more than a little of the body). */
int llm_embed_parse (const char *body, size_t len, size_t n, llm_embeddings_t *out,
                     char *why, size_t whylen);

/* Embeds n texts with spec (`provider/model`), waiting at most timeout_ms.
 * Returns 0 with out filled, or -1 with why: an unknown provider, one
 * with no embeddings endpoint (Anthropic's protocol), the transport's
 * failure, the provider's HTTP status and error, or a malformed answer. */
int llm_embed_fetch (const char *spec, const char *const *texts, size_t n, long timeout_ms,
                     llm_embeddings_t *out, char *why, size_t whylen);

/* The same through the model gateway (CAISSON_GATEWAY_ORCHESTRATOR=1): to
 * base (the gateway's `.../v1`) with vkey (a virtual key) instead of the
 * provider's URL and key, naming the whole spec as the model. base NULL:
 * llm_embed_fetch. */
int llm_embed_fetch_via (const char *spec, const char *base, const char *vkey,
                         const char *const *texts, size_t n, long timeout_ms,
                         llm_embeddings_t *out, char *why, size_t whylen);

#endif
