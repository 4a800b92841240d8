/* cid: 128-bit printable identifiers for messages, runs and instances.
 *
 * An id is 48 bits of milliseconds since the epoch followed by 80 random
 * bits, written as 26 characters of Crockford base32 (the ULID layout), so
 * ids sort by creation time: LMDB keys built from them append in order. */
#ifndef CAISSON_CID_H
#define CAISSON_CID_H

#include <stdbool.h>
#include <stddef.h>

#define CID_LEN 26
#define CID_SIZE (CID_LEN + 1)

/* Writes a new id and its terminating NUL into out. Random bits come from
 * getrandom(2); ids made in one millisecond still differ. */
void cid_new (char out[CID_SIZE]);

/* Writes a short random token of len characters (1..CID_LEN) from the same
 * alphabet, e.g. for instance names. */
void cid_token (char *out, size_t len);

/* True when s is exactly one well-formed id. */
bool cid_valid (const char *s);

/* True when s can name a thread a client chose (1..max bytes of letters,
 * digits, '.', '_', ':' and '-', as a UUID or a ULID are): such a name is
 * printed in terminals, logs and prompts, where a line break or an escape
 * sequence in it would write lines of its own. */
bool cid_name_ok (const char *s, size_t max);

#endif
