/* mpr: a strict, allocation-free msgpack reader for untrusted bytes.
 *
 * msgpack-c's unpacker allocates a container's declared size before reading
 * it (five bytes can ask for ~96 GiB), so Caisson decodes with this cursor
 * instead and uses msgpack-c only to write. Every length and count is
 * checked against the bytes that remain before it is believed: a string
 * must fit, and a container of n items needs at least n (array) or 2n (map)
 * more bytes, since every item takes one. Nothing here allocates. */
#ifndef CAISSON_MPR_H
#define CAISSON_MPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    MPR_NIL, MPR_BOOL, MPR_UINT, MPR_INT, MPR_FLOAT, MPR_STR, MPR_BIN,
    MPR_ARRAY, MPR_MAP, MPR_EXT
} mpr_kind_t;

typedef enum {
    MPR_OK = 0,
    MPR_E_TRUNCATED = -1,   /* the bytes end inside a header or fixed-size value */
    MPR_E_BOMB = -2,        /* a length or count larger than the rest */
    MPR_E_INVALID = -3,     /* the reserved byte 0xc1 */
    MPR_E_DEEP = -4,        /* nesting past the caller's limit */
} mpr_err_t;

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} mpr_t;

/* One item's header. For STR, BIN and EXT, ptr/len span the payload,
 * already checked to lie inside the buffer; for ARRAY and MAP, count is the
 * number of items (pairs for a map) that follow. */
typedef struct {
    mpr_kind_t kind;
    union {
        bool b;
        uint64_t u;
        int64_t i;
        double f;
        uint32_t count;
    } v;
    const uint8_t *ptr;
    uint32_t len;
} mpr_item_t;

static inline void
mpr_init (mpr_t *r, const void *data, size_t len)
{
    r->p = (const uint8_t *) data;
    r->end = r->p + len;
}

static inline size_t
mpr_left (const mpr_t *r)
{
    return (size_t) (r->end - r->p);
}

/* Reads one item's header and advances past it (past the payload for
 * STR/BIN/EXT; to the first child for containers). */
mpr_err_t mpr_next (mpr_t *r, mpr_item_t *it);

/* Skips one whole item, children included, checking all of it.
 * depth_left is how many more container levels may open (0 refuses any
 * container). */
mpr_err_t mpr_skip (mpr_t *r, int depth_left);

/* A short English name for an item kind ("string", "map", ...). */
const char *mpr_kind_name (mpr_kind_t kind);

#endif
