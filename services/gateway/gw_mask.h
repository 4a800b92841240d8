/* gw_mask: the real provider key taken out of what goes back to a client.
 *
 * A provider may echo the key it was sent: in an error body, or in a 200
 * (a header echo, an Anthropic `event: error` in a stream). Every copy of
 * the key is replaced by `***`, written literally or with any of its
 * characters escaped as JSON writes them (`\u00XX`, `\/`) or as URLs do
 * (`%XX`, either case). Answers pass through as a stream: bytes that may
 * begin a copy of the key (a prefix of one, written any of those ways) are
 * held until the next bytes say whether they do, so a key split across
 * pieces is still masked, and every other byte leaves unchanged and at
 * once (an SSE event's last bytes are not delayed: they never begin the
 * key). Other encodings (base64 and the like) are not recognised. */
#ifndef CAISSON_GW_MASK_H
#define CAISSON_GW_MASK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _gw_mask_t gw_mask_t;

/* A mask for secret (borrowed; NULL or under 4 bytes: bytes pass as they
 * are). NULL when memory runs out. */
gw_mask_t *gw_mask_new (const char *secret);
void gw_mask_destroy (gw_mask_t **self_p);

/* Takes n more bytes. -1 when memory runs out. */
int gw_mask_feed (gw_mask_t *self, const char *data, size_t n);

/* No more bytes come: the held ones go out (whole: they did not become
 * the key), or are dropped (!whole: the input was cut, and what may have
 * been the start of the key does not leave). */
void gw_mask_finish (gw_mask_t *self, bool whole);

/* The bytes ready for the client (borrowed) and how many; consume takes
 * n of them. */
const char *gw_mask_ready (gw_mask_t *self, size_t *n);
void gw_mask_consume (gw_mask_t *self, size_t n);

#endif
