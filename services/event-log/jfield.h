/* jfield: fields of the JSON records event-log reads back (spend records
 * and the events made from them), with what a missing or mistyped field
 * reads as, so callers need no check of their own. */
#ifndef CAISSON_JFIELD_H
#define CAISSON_JFIELD_H

#include <jansson.h>
#include <stdint.h>

/* o's string field k (borrowed), or "" when absent or not a string. */
const char *jfield_str (const json_t *o, const char *k);
/* o's integer field k, or 0 when absent, not an integer or negative. */
uint64_t jfield_u64 (const json_t *o, const char *k);

#endif
