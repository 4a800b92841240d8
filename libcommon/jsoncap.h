/* jsoncap: a JSON value made to fit a byte budget and stay valid JSON.
 *
 * A tool's result may be larger than what a model (or a frame) takes.
 * Cutting its text leaves invalid JSON the model cannot read; this cuts
 * inside the value instead: the longest strings lose their tails (marked
 * with how much was cut), the longest arrays lose their last items, and
 * the result says it was truncated, so what is left still parses and
 * keeps its shape. */
#ifndef JSONCAP_H
#define JSONCAP_H

#include <jansson.h>
#include <stddef.h>

/* A new value whose compact encoding is at most max bytes (max at least
 * 256). When v fits, a new reference to v. Otherwise a cut copy: an
 * object gets `truncated: true` and `originalBytes`; anything else is
 * wrapped as {truncated: true, originalBytes, result: <cut copy>}. If no
 * cut is enough, {truncated: true, originalBytes, message}. */
json_t *jsoncap_fit (json_t *v, size_t max);
/* The same, writing into *work (when not NULL) the bytes it encoded on the
 * way: its work, which stays within JSONCAP_WORK_MAX plus one encoding of
 * the value however the value is shaped. */
json_t *jsoncap_fit_counted (json_t *v, size_t max, size_t *work);

/* How many bytes of encoding the cutting rounds may take in all. */
#define JSONCAP_WORK_MAX ((size_t) 128 << 20)

#endif
