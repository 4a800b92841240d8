/* mpr: strict msgpack reading. See mpr.h. */
#include "mpr.h"

#include <string.h>

static uint64_t
be (const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Takes an n-byte big-endian length that must be followed by that many
 * payload bytes. */
static mpr_err_t
payload (mpr_t *r, mpr_item_t *it, int lenbytes, int extbytes)
{
    if (mpr_left (r) < (size_t) (lenbytes + extbytes))
        return MPR_E_TRUNCATED;
    uint64_t n = be (r->p, lenbytes);
    r->p += lenbytes + extbytes;
    if (n > mpr_left (r))
        return MPR_E_BOMB;
    it->ptr = r->p;
    it->len = (uint32_t) n;
    r->p += n;
    return MPR_OK;
}

static mpr_err_t
container (mpr_t *r, mpr_item_t *it, mpr_kind_t kind, uint64_t n)
{
    it->kind = kind;
    uint64_t need = kind == MPR_MAP ? 2 * n : n;
    if (need > mpr_left (r))
        return MPR_E_BOMB;
    it->v.count = (uint32_t) n;
    return MPR_OK;
}

static mpr_err_t
fixed (mpr_t *r, int n)
{
    return mpr_left (r) < (size_t) n ? MPR_E_TRUNCATED : MPR_OK;
}

static mpr_err_t
fixext (mpr_t *r, mpr_item_t *it, uint32_t n)
{
    if (mpr_left (r) < 1 + (size_t) n)
        return MPR_E_TRUNCATED;
    it->kind = MPR_EXT;
    it->ptr = r->p + 1;
    it->len = n;
    r->p += 1 + n;
    return MPR_OK;
}

mpr_err_t
mpr_next (mpr_t *r, mpr_item_t *it)
{
    memset (it, 0, sizeof *it);
    if (r->p >= r->end)
        return MPR_E_TRUNCATED;
    uint8_t c = *r->p++;
    mpr_err_t rc;

    if (c <= 0x7f) { it->kind = MPR_UINT; it->v.u = c; return MPR_OK; }
    if (c >= 0xe0) { it->kind = MPR_INT; it->v.i = (int8_t) c; return MPR_OK; }
    if ((c & 0xf0) == 0x80) return container (r, it, MPR_MAP, c & 0x0f);
    if ((c & 0xf0) == 0x90) return container (r, it, MPR_ARRAY, c & 0x0f);
    if ((c & 0xe0) == 0xa0) {
        it->kind = MPR_STR;
        uint32_t n = c & 0x1f;
        if (n > mpr_left (r))
            return MPR_E_BOMB;
        it->ptr = r->p;
        it->len = n;
        r->p += n;
        return MPR_OK;
    }
    switch (c) {
    case 0xc0: it->kind = MPR_NIL; return MPR_OK;
    case 0xc2: case 0xc3: it->kind = MPR_BOOL; it->v.b = c == 0xc3; return MPR_OK;
    case 0xc4: it->kind = MPR_BIN; return payload (r, it, 1, 0);
    case 0xc5: it->kind = MPR_BIN; return payload (r, it, 2, 0);
    case 0xc6: it->kind = MPR_BIN; return payload (r, it, 4, 0);
    case 0xc7: it->kind = MPR_EXT; return payload (r, it, 1, 1);
    case 0xc8: it->kind = MPR_EXT; return payload (r, it, 2, 1);
    case 0xc9: it->kind = MPR_EXT; return payload (r, it, 4, 1);
    case 0xca: case 0xcb: {
        int n = c == 0xca ? 4 : 8;
        if ((rc = fixed (r, n)))
            return rc;
        uint64_t bits = be (r->p, n);
        r->p += n;
        it->kind = MPR_FLOAT;
        if (n == 4) {
            uint32_t b32 = (uint32_t) bits;
            float f;
            memcpy (&f, &b32, 4);
            it->v.f = f;
        }
        else
            memcpy (&it->v.f, &bits, 8);
        return MPR_OK;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int n = 1 << (c - 0xcc);
        if ((rc = fixed (r, n)))
            return rc;
        it->kind = MPR_UINT;
        it->v.u = be (r->p, n);
        r->p += n;
        return MPR_OK;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int n = 1 << (c - 0xd0);
        if ((rc = fixed (r, n)))
            return rc;
        uint64_t u = be (r->p, n);
        r->p += n;
        /* sign-extend from n bytes */
        if (n < 8 && (u >> (8 * n - 1)))
            u |= ~((UINT64_C (1) << (8 * n)) - 1);
        it->kind = MPR_INT;
        memcpy (&it->v.i, &u, 8);
        return MPR_OK;
    }
    case 0xd4: return fixext (r, it, 1);
    case 0xd5: return fixext (r, it, 2);
    case 0xd6: return fixext (r, it, 4);
    case 0xd7: return fixext (r, it, 8);
    case 0xd8: return fixext (r, it, 16);
    case 0xd9: it->kind = MPR_STR; return payload (r, it, 1, 0);
    case 0xda: it->kind = MPR_STR; return payload (r, it, 2, 0);
    case 0xdb: it->kind = MPR_STR; return payload (r, it, 4, 0);
    case 0xdc: case 0xdd: {
        int n = c == 0xdc ? 2 : 4;
        if ((rc = fixed (r, n)))
            return rc;
        uint64_t cnt = be (r->p, n);
        r->p += n;
        return container (r, it, MPR_ARRAY, cnt);
    }
    case 0xde: case 0xdf: {
        int n = c == 0xde ? 2 : 4;
        if ((rc = fixed (r, n)))
            return rc;
        uint64_t cnt = be (r->p, n);
        r->p += n;
        return container (r, it, MPR_MAP, cnt);
    }
    default:
        return MPR_E_INVALID;   /* 0xc1, never used */
    }
}

mpr_err_t
mpr_skip (mpr_t *r, int depth_left)
{
    mpr_item_t it;
    mpr_err_t rc = mpr_next (r, &it);
    if (rc)
        return rc;
    if (it.kind != MPR_ARRAY && it.kind != MPR_MAP)
        return MPR_OK;
    if (depth_left <= 0)
        return MPR_E_DEEP;
    uint64_t items = it.kind == MPR_MAP ? 2 * (uint64_t) it.v.count : it.v.count;
    for (uint64_t i = 0; i < items; i++)
        if ((rc = mpr_skip (r, depth_left - 1)))
            return rc;
    return MPR_OK;
}

const char *
mpr_kind_name (mpr_kind_t kind)
{
    static const char *names[] = { "nil", "boolean", "unsigned integer",
                                   "integer", "float", "string", "binary",
                                   "array", "map", "extension" };
    return names[kind];
}
