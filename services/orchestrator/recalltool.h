/* recalltool: recall as the run and the model see it, with no I/O (the
 * searches are recaller's): the `recall` tool (its spec, its arguments
 * checked), the tool's result with every recalled text fenced as data
 * (libcommon/fence.h: they are other conversations' words, possibly
 * hostile), and the automatic top-k's relevance floor and the text of the
 * message it adds before the task (docs/recall.md, "In runs"). Hits are
 * event-log's (`recall.results`' hits: {thread, run, seq, ts, role,
 * text, score, window}). */
#ifndef CAISSON_RECALLTOOL_H
#define CAISSON_RECALLTOOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define RECALLTOOL_NAME "recall"
#define RECALLTOOL_K_MAX 10         /* most hits one call returns */

/* The tool as the model sees it, {name, description, inputSchema} (new). */
json_t *recalltool_spec (void);

/* True when name is the tool's. */
bool recalltool_is (const char *name);

/* The model's args checked: {query, k, mode?, includeCurrentThread} (new;
 * k defaults to 5), or NULL with why filled. */
json_t *recalltool_query (const json_t *args, char *why, size_t whylen);

/* The tool's result (new) for event-log's hits ranked by mode: {success,
 * mode, approximate, hits: [{thread, run, seq, time, role, score, text,
 * window: [{run, seq, time, role, text} | {seq, hit: true}]}]}, every
 * text a fenced block of kind `recalled`. NULL when no fence can be made
 * (no random nonce). */
json_t *recalltool_result (const json_t *hits, const char *mode, bool approximate);

/* The floors of the automatic top-k. */
typedef struct {
    double min_bm25;                /* lexical: least BM25 score */
    double min_cosine;              /* semantic: least cosine */
} recalltool_floor_t;

/* The hits (borrowed, best first, ranked by mode) the automatic top-k
 * keeps (new): at most k, passing floor. hybrid scores are ranks fused,
 * with no absolute meaning, so no hybrid hit passes (the automatic
 * search asks for lexical or semantic). */
json_t *recalltool_keep (const json_t *hits, const char *mode, const recalltool_floor_t *floor,
                         size_t k);

/* [{thread, run, seq, score}] of hits, for the `recalled` event (new). */
json_t *recalltool_refs (const json_t *hits);

/* The data the automatic top-k shows (new, unfenced: the run fences it
 * anew for every request): each hit's window of its thread, in order,
 * headed by its thread, run and time, the hit marked; a message's lines
 * after its first are indented, so none passes for a header. */
char *recalltool_render (const json_t *hits);

#endif
