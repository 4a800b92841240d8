/* recall_vec: the vectors of recall, and their approximate index.
 *
 * Each vector is stored scaled to unit length ('V'), so cosine is a dot
 * product. Past RECALL_EXACT_MAX vectors an exact scan of them all costs
 * too much (100k x 256 floats is 100 MB to read per query), so each
 * vector also has a 256-bit signature: the signs of its projections on
 * 256 fixed random hyperplanes (Charikar's SimHash; the Hamming distance
 * of two signatures estimates the angle between the vectors). Signatures
 * are packed 256 to an LMDB value ('S'), so a scan of 100k of them reads
 * 4.7 MB of contiguous pages; the best candidates by Hamming distance are
 * then reranked with their exact vectors. The hyperplanes' entries are
 * +-1 from a fixed hash, so they are the same in every process, for
 * every store, without being stored. */
#include "recall_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIG_WORDS 4                 /* 256 bits */
#define SIG_BLOCK 256               /* signatures per 'S' value */
#define RERANK_MIN 256              /* candidates reranked exactly, at least */
#define RERANK_PER_HIT 16

typedef struct {
    uint64_t msg;
    uint32_t thash, pad;
    uint64_t sig[SIG_WORDS];
} sig_t;

static uint64_t
mix (uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static void
signature (const float *v, size_t dims, uint64_t sig[SIG_WORDS])
{
    memset (sig, 0, SIG_WORDS * sizeof *sig);
    for (unsigned p = 0; p < SIG_WORDS * 64; p++) {
        double dot = 0;
        for (size_t i = 0; i < dims; i += 64) {
            uint64_t signs = mix ((uint64_t) p << 32 | (i / 64));
            size_t end = dims - i < 64 ? dims - i : 64;
            /* cppcheck-suppress knownConditionTrueFalse ; end is 1..64, not 0 */
            for (size_t j = 0; j < end; j++)
                dot += (signs >> j & 1) ? v[i + j] : -v[i + j];
        }
        if (dot >= 0)
            sig[p / 64] |= 1ull << (p % 64);
    }
}

static int
sig_append (MDB_txn *txn, MDB_dbi dbi, recall_user_t *u, const sig_t *s)
{
    uint8_t key[9], be[4];
    uint32_t blk = u->sig_blocks ? u->sig_blocks - 1 : 0;
    recall_be32 (be, blk);
    MDB_val k = { recall_key (key, RTAG_SIG, u->uid, be, 4), key }, v;
    int rc = u->sig_blocks ? mdb_get (txn, dbi, &k, &v) : MDB_NOTFOUND;
    size_t have = 0;
    if (!rc && v.mv_size / sizeof *s < SIG_BLOCK)
        have = v.mv_size / sizeof *s;
    else if (!rc || rc == MDB_NOTFOUND) {
        blk = u->sig_blocks++;
        recall_be32 (be, blk);
        recall_key (key, RTAG_SIG, u->uid, be, 4);
    }
    else
        return rc;
    sig_t *block = malloc ((have + 1) * sizeof *block);
    if (!block)
        return ENOMEM;
    if (have)
        memcpy (block, v.mv_data, have * sizeof *s);
    block[have] = *s;
    v = (MDB_val) { (have + 1) * sizeof *s, block };
    rc = mdb_put (txn, dbi, &k, &v, 0);
    free (block);
    return rc;
}

int
recall_put_vector (MDB_txn *txn, MDB_dbi dbi, const char *user, const char *run, uint64_t seq,
                   const char *model, const float *vec, size_t dims, bool *stored, char *why,
                   size_t whylen)
{
    *stored = false;
    uint8_t ekey[1 + RECALL_RUN_KEY + 8];
    ekey[0] = RTAG_EVENT;
    memset (ekey + 1, 0, RECALL_RUN_KEY);
    memcpy (ekey + 1, run, strnlen (run, RECALL_RUN_KEY));
    recall_be64 (ekey + 1 + RECALL_RUN_KEY, seq);
    MDB_val k = { sizeof ekey, ekey }, v;
    recall_user_t u;
    int rc = mdb_get (txn, dbi, &k, &v);
    if (!rc && v.mv_size != 12)
        return MDB_CORRUPTED;
    if (!rc)
        rc = recall_user_get (txn, dbi, user, false, &u);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    const uint8_t *e = v.mv_data;
    if (rc == MDB_NOTFOUND
        || ((uint32_t) e[0] << 24 | (uint32_t) e[1] << 16 | (uint32_t) e[2] << 8 | e[3])
           != u.uid) {
        snprintf (why, whylen, "run %s has no message at seq %llu", run,
                  (unsigned long long) seq);
        return RECALL_E_NOT_FOUND;
    }
    uint64_t msg = recall_get64 (e + 4);
    if (u.dims && (u.dims != dims || strcmp (u.model, model))) {
        snprintf (why, whylen, "the index holds %u-dimension vectors of %s, not %zu of %s",
                  u.dims, u.model, dims, model);
        return RECALL_E_VALUE;
    }
    if (strlen (model) >= sizeof u.model) {
        snprintf (why, whylen, "model name longer than %zu bytes", sizeof u.model - 1);
        return RECALL_E_VALUE;
    }
    recall_view_t mv;
    if ((rc = recall_msg_get (txn, dbi, u.uid, msg, &mv)))
        return rc == MDB_NOTFOUND ? (snprintf (why, whylen, "message forgotten"),
                                     RECALL_E_NOT_FOUND) : rc;
    uint8_t key[13], be[8];
    recall_be64 (be, msg);
    k = (MDB_val) { recall_key (key, RTAG_VEC, u.uid, be, 8), key };
    if (!(rc = mdb_get (txn, dbi, &k, &v)))
        return 0;
    if (rc != MDB_NOTFOUND)
        return rc;
    double norm = 0;
    for (size_t i = 0; i < dims; i++)
        norm += (double) vec[i] * vec[i];
    norm = sqrt (norm);
    if (!(norm > 0) || !isfinite (norm)) {
        snprintf (why, whylen, "vector has no length (all zeros) or overflows");
        return RECALL_E_VALUE;
    }
    v = (MDB_val) { 8 + dims * sizeof (float), NULL };
    if ((rc = mdb_put (txn, dbi, &k, &v, MDB_RESERVE)))
        return rc;
    float *unit = malloc (dims * sizeof *unit);
    if (!unit)
        return ENOMEM;
    for (size_t i = 0; i < dims; i++)
        unit[i] = (float) (vec[i] / norm);
    uint64_t th = mv.head.thash;
    memcpy (v.mv_data, &th, 8);
    memcpy ((uint8_t *) v.mv_data + 8, unit, dims * sizeof *unit);
    sig_t s = { .msg = msg, .thash = (uint32_t) th };
    signature (unit, dims, s.sig);
    free (unit);
    if (!u.dims) {
        u.dims = (uint32_t) dims;
        snprintf (u.model, sizeof u.model, "%s", model);
    }
    u.vecs++;
    if ((rc = sig_append (txn, dbi, &u, &s)))
        return rc;
    *stored = true;
    return recall_user_put (txn, dbi, user, &u);
}

/* The dot product of q with the stored vector val ('V': thash, floats),
 * read through a copy: LMDB's values are not aligned for floats. */
static double
dot_stored (const MDB_val *val, const float *q, size_t dims, float *tmp)
{
    memcpy (tmp, (const uint8_t *) val->mv_data + 8, dims * sizeof *tmp);
    double d = 0;
    for (size_t i = 0; i < dims; i++)
        d += (double) q[i] * tmp[i];
    return d;
}

/* The n best of the count candidates in all (reordered) copied into
 * out; how many. */
static long
keep_best (recall_cand_t *all, size_t count, size_t n, recall_cand_t *out)
{
    count = recall_best (all, count, n);
    memcpy (out, all, count * sizeof *all);
    return (long) count;
}

static long
rank_exact (MDB_txn *txn, MDB_dbi dbi, const recall_user_t *u, const float *q, bool xh_set,
            uint32_t xh, recall_cand_t *out, size_t n)
{
    size_t dims = u->dims, count = 0, cap = 1024;
    recall_cand_t *all = malloc (cap * sizeof *all);
    float *tmp = malloc (dims * sizeof *tmp);
    MDB_cursor *cur = NULL;
    long found = -1;
    if (!all || !tmp || mdb_cursor_open (txn, dbi, &cur))
        goto done;
    uint8_t key[5];
    recall_key (key, RTAG_VEC, u->uid, NULL, 0);
    MDB_val k = { 5, key }, v;
    int rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
    for (; !rc && k.mv_size == 13 && !memcmp (k.mv_data, key, 5);
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        uint64_t th;
        if (v.mv_size != 8 + dims * sizeof (float))
            continue;
        memcpy (&th, v.mv_data, 8);
        if (xh_set && (uint32_t) th == xh)
            continue;
        if (count == cap) {
            recall_cand_t *g = realloc (all, (cap *= 2) * sizeof *g);
            if (!g)
                goto done;
            all = g;
        }
        all[count++] = (recall_cand_t) { recall_get64 ((const uint8_t *) k.mv_data + 5),
                                         dot_stored (&v, q, dims, tmp) };
    }
    found = keep_best (all, count, n, out);
done:
    if (cur)
        mdb_cursor_close (cur);
    free (all);
    free (tmp);
    return found;
}

static long
rank_signatures (MDB_txn *txn, MDB_dbi dbi, const recall_user_t *u, const float *q,
                 bool xh_set, uint32_t xh, recall_cand_t *out, size_t n)
{
    size_t dims = u->dims, count = 0, want = n * RERANK_PER_HIT;
    if (want < RERANK_MIN)
        want = RERANK_MIN;
    recall_cand_t *all = malloc ((u->vecs + 1) * sizeof *all);
    float *tmp = malloc (dims * sizeof *tmp);
    MDB_cursor *cur = NULL;
    long found = -1;
    if (!all || !tmp || mdb_cursor_open (txn, dbi, &cur))
        goto done;
    uint64_t qs[SIG_WORDS];
    signature (q, dims, qs);
    uint8_t key[5];
    recall_key (key, RTAG_SIG, u->uid, NULL, 0);
    MDB_val k = { 5, key }, v;
    int rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
    for (; !rc && k.mv_size == 9 && !memcmp (k.mv_data, key, 5);
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        size_t m = v.mv_size / sizeof (sig_t);
        for (size_t i = 0; i < m && count <= u->vecs; i++) {
            sig_t s;
            memcpy (&s, (const uint8_t *) v.mv_data + i * sizeof s, sizeof s);
            if (xh_set && s.thash == xh)
                continue;
            int ham = 0;
            for (int w = 0; w < SIG_WORDS; w++)
                ham += __builtin_popcountll (s.sig[w] ^ qs[w]);
            all[count++] = (recall_cand_t) { s.msg, -ham };
        }
    }
    count = recall_best (all, count, want);
    /* rerank: the exact cosine of each candidate */
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        uint8_t vk[13], be[8];
        recall_be64 (be, all[i].msg);
        MDB_val kk = { recall_key (vk, RTAG_VEC, u->uid, be, 8), vk }, vv;
        if (mdb_get (txn, dbi, &kk, &vv) || vv.mv_size != 8 + dims * sizeof (float))
            continue;
        all[kept++] = (recall_cand_t) { all[i].msg, dot_stored (&vv, q, dims, tmp) };
    }
    found = keep_best (all, kept, n, out);
done:
    if (cur)
        mdb_cursor_close (cur);
    free (all);
    free (tmp);
    return found;
}

long
recall_vec_rank (MDB_txn *txn, MDB_dbi dbi, const recall_user_t *u, const float *q,
                 bool xh_set, uint32_t xh, bool exact, recall_cand_t *out, size_t n,
                 bool *approx)
{
    *approx = !exact && u->vecs > RECALL_EXACT_MAX;
    return *approx ? rank_signatures (txn, dbi, u, q, xh_set, xh, out, n)
                   : rank_exact (txn, dbi, u, q, xh_set, xh, out, n);
}
