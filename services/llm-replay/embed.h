/* embed: the scripted model's embeddings (POST /v1/embeddings, the
 * OpenAI shape), deterministic and meaningful enough that a paraphrase
 * lands near its original, so recall's semantic path is tested over the
 * real HTTP path with no model.
 *
 * A text's vector is built from its words: lower-cased, stop words
 * dropped, a light suffix stemmer ("crashes" -> "crash", "parsing" ->
 * "pars"), then a small built-in table of concepts maps synonyms to one
 * name ("crash", "fail", "break" -> fail; "empty", "blank" -> empty).
 * Each name is feature-hashed (FNV-1a) to one dimension with a hashed
 * sign, and the sum is scaled to unit length. Two texts that say the same
 * with words of the same concepts get the same dimensions, so their
 * cosine is high; texts about other things share few. docs/llm-replay.md
 * lists the concepts. */
#ifndef CAISSON_EMBED_H
#define CAISSON_EMBED_H

#include <stddef.h>

#define EMBED_DIMS 256              /* unless the request asks `dimensions` */
#define EMBED_DIMS_MAX 4096
#define EMBED_INPUTS_MAX 2048

/* The vector of text (len bytes) in out (dims floats, unit length). */
void embed_text (const char *text, size_t len, float *out, size_t dims);

/* Answers an embeddings request body: the response body (a new string),
 * with *status 200, or an OpenAI-shaped error body with *status 400. */
char *embed_answer (const char *body, size_t len, int *status);

#endif
