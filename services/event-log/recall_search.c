/* recall_search: a search from its query to its hits: the rankings
 * (recall.c's BM25, recall_vec.c's cosine), the choice of their best
 * (recall_best), their fusion, and each hit's window of neighbours; and
 * forgetting a run's messages.
 *
 * Hybrid is reciprocal rank fusion (Cormack et al., 2009): each message
 * scores the sum over the rankings of 1 / (60 + its rank). BM25 scores
 * are unbounded and depend on the query's words, cosines sit in a narrow
 * band that depends on the embedding model, so a weighted sum of the two
 * would need weights tuned per model and per corpus; ranks need none, and
 * a message both rankings place well comes first. */
#include "recall_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIT_TEXT 4096
#define NEIGHBOUR_TEXT 1024
#define RRF_K 60.0

static const char *const mode_names[] = { "lexical", "semantic", "hybrid" };

const char *
recall_mode_name (recall_mode_t mode)
{
    return mode <= RECALL_HYBRID ? mode_names[mode] : NULL;
}

int
recall_mode_lookup (const char *name)
{
    for (int i = 0; name && i <= RECALL_HYBRID; i++)
        if (!strcmp (name, mode_names[i]))
            return i;
    return -1;
}

/* Restores the min-heap (by score) of c[0..n) below j. */
static void
sift_down (recall_cand_t *c, size_t n, size_t j)
{
    for (;;) {
        size_t l = 2 * j + 1, s = j;
        if (l < n && c[l].score < c[s].score)
            s = l;
        if (l + 1 < n && c[l + 1].score < c[s].score)
            s = l + 1;
        if (s == j)
            return;
        recall_cand_t t = c[j];
        c[j] = c[s];
        c[s] = t;
        j = s;
    }
}

size_t
recall_best (recall_cand_t *c, size_t count, size_t n)
{
    if (count > n && n) {
        /* a min-heap of the best n in c[0..n): each other one that beats
         * its root replaces it */
        for (size_t i = n / 2; i-- > 0;)
            sift_down (c, n, i);
        for (size_t i = n; i < count; i++)
            if (c[i].score > c[0].score) {
                c[0] = c[i];
                sift_down (c, n, 0);
            }
    }
    if (count > n)
        count = n;
    /* then best first (insertion sort: n is small); ties by the newer message */
    for (size_t i = 1; i < count; i++) {
        recall_cand_t x = c[i];
        size_t j = i;
        for (; j && (c[j - 1].score < x.score
                     || (c[j - 1].score == x.score && c[j - 1].msg < x.msg)); j--)
            c[j] = c[j - 1];
        c[j] = x;
    }
    return count;
}

/* text cut to at most max bytes on a UTF-8 boundary, as a JSON string. */
static json_t *
text_json (const char *text, size_t len, size_t max)
{
    if (len > max) {
        len = max;
        while (len && ((unsigned char) text[len] & 0xC0) == 0x80)
            len--;
    }
    json_t *s = json_stringn (text, len);
    return s ? s : json_string ("");
}

static json_t *
msg_json (const recall_view_t *v, size_t max)
{
    char run[RECALL_RUN_KEY + 1];
    memcpy (run, v->head.run, RECALL_RUN_KEY);
    run[RECALL_RUN_KEY] = '\0';
    json_t *thread = json_stringn (v->thread, v->head.thread_len);
    return json_pack ("{s:o, s:s, s:I, s:I, s:s, s:o}", "thread", thread ? thread : json_null (),
                      "run", run, "seq", (json_int_t) v->head.seq, "ts", (json_int_t) v->head.ts,
                      "role", v->head.assistant ? "assistant" : "user", "text",
                      text_json (v->text, v->text_len, max));
}

/* The messages of hit's thread around it, in order, the hit marked. */
static json_t *
window_json (MDB_txn *txn, MDB_dbi dbi, uint32_t uid, uint64_t msg, const recall_view_t *hit,
             size_t w)
{
    json_t *out = json_array ();
    MDB_cursor *cur;
    if (mdb_cursor_open (txn, dbi, &cur))
        return out;
    uint8_t key[21], be[16];
    recall_be64 (be, hit->head.thash);
    recall_be64 (be + 8, msg);
    size_t kl = recall_key (key, RTAG_CONV, uid, be, 16);
    MDB_val k = { kl, key }, v;
    uint64_t msgs[2 * RECALL_WINDOW_MAX + 1];
    size_t n = 0;
    int rc = mdb_cursor_get (cur, &k, &v, MDB_SET_KEY);
    for (size_t i = 0; !rc && i < w; i++) {
        rc = mdb_cursor_get (cur, &k, &v, MDB_PREV);
        if (rc || k.mv_size != kl || memcmp (k.mv_data, key, kl - 8))
            break;
        n++;
    }
    /* now at the earliest neighbour (or one before it): walk forward */
    k = (MDB_val) { kl, key };
    rc = mdb_cursor_get (cur, &k, &v, MDB_SET_KEY);
    for (size_t i = 0; !rc && i < n; i++)
        rc = mdb_cursor_get (cur, &k, &v, MDB_PREV);
    size_t total = 0;
    for (; !rc && total < n + 1 + w; rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != kl || memcmp (k.mv_data, key, kl - 8))
            break;
        msgs[total++] = recall_get64 ((const uint8_t *) k.mv_data + kl - 8);
    }
    mdb_cursor_close (cur);
    for (size_t i = 0; i < total; i++) {
        recall_view_t nv;
        if (recall_msg_get (txn, dbi, uid, msgs[i], &nv) || nv.head.thread_len
            != hit->head.thread_len || memcmp (nv.thread, hit->thread, nv.head.thread_len))
            continue;
        json_t *m = msg_json (&nv, NEIGHBOUR_TEXT);
        json_object_del (m, "thread");
        if (msgs[i] == msg)
            json_object_set_new (m, "hit", json_true ());
        json_array_append_new (out, m);
    }
    return out;
}

/* Reciprocal rank fusion of a and b into out (na + nb slots). */
static size_t
fuse (const recall_cand_t *a, size_t na, const recall_cand_t *b, size_t nb,
      recall_cand_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < na; i++)
        out[n++] = (recall_cand_t) { a[i].msg, 1 / (RRF_K + (double) i + 1) };
    for (size_t i = 0; i < nb; i++) {
        double s = 1 / (RRF_K + (double) i + 1);
        size_t j = 0;
        while (j < na && out[j].msg != b[i].msg)
            j++;
        if (j < na)
            out[j].score += s;
        else
            out[n++] = (recall_cand_t) { b[i].msg, s };
    }
    return recall_best (out, n, n);
}

int
recall_search (MDB_txn *txn, MDB_dbi dbi, const char *user, const recall_query_t *q,
               recall_found_t *out, char *why, size_t whylen)
{
    memset (out, 0, sizeof *out);
    out->hits = json_array ();
    out->mode = q->mode;
    if (q->mode == RECALL_SEMANTIC && !q->vec) {
        snprintf (why, whylen, "mode semantic needs a vector");
        return RECALL_E_VALUE;
    }
    recall_user_t u;
    int rc = recall_user_get (txn, dbi, user, false, &u);
    if (rc == MDB_NOTFOUND)
        return 0;                       /* nothing indexed for this user yet */
    if (rc)
        return rc;
    if (q->vec && u.dims && (q->dims != u.dims || (q->model && strcmp (q->model, u.model)))) {
        snprintf (why, whylen, "the index holds %u-dimension vectors of %s, not %zu of %s",
                  u.dims, u.model, q->dims, q->model ? q->model : "an unnamed model");
        return RECALL_E_VALUE;
    }
    if (!q->vec || !u.vecs)
        out->mode = RECALL_LEXICAL;
    /* the bus's codec bounds both; an in-process caller is held to the same */
    size_t k = q->k < 1 ? 1 : q->k > RECALL_K_MAX ? RECALL_K_MAX : q->k;
    size_t window = q->window > RECALL_WINDOW_MAX ? RECALL_WINDOW_MAX : q->window;
    size_t pool = out->mode == RECALL_HYBRID ? k * 4 + 16 : k * 2 + 8;
    bool xh_set = q->exclude_thread != NULL;
    uint32_t xh = xh_set ? (uint32_t) recall_thash (q->exclude_thread) : 0;
    recall_cand_t *lex = calloc (pool, sizeof *lex), *sem = calloc (pool, sizeof *sem);
    recall_cand_t *all = calloc (2 * pool, sizeof *all);
    float *unit = q->vec ? malloc (q->dims * sizeof *unit) : NULL;
    long nl = 0, ns = 0;
    rc = ENOMEM;
    if (!lex || !sem || !all || (q->vec && !unit))
        goto done;
    if (out->mode != RECALL_SEMANTIC
        && (nl = recall_lex_rank (txn, dbi, &u, q->text ? q->text : "", xh_set, xh, lex,
                                    pool)) < 0)
        goto done;
    if (out->mode != RECALL_LEXICAL) {
        double norm = 0;
        for (size_t i = 0; i < q->dims; i++)
            norm += (double) q->vec[i] * q->vec[i];
        norm = sqrt (norm);
        for (size_t i = 0; i < q->dims; i++)
            unit[i] = norm > 0 ? (float) (q->vec[i] / norm) : 0;
        if ((ns = recall_vec_rank (txn, dbi, &u, unit, xh_set, xh, q->exact, sem, pool,
                                   &out->approximate)) < 0)
            goto done;
    }
    size_t n = out->mode == RECALL_HYBRID ? fuse (lex, (size_t) nl, sem, (size_t) ns, all)
             : out->mode == RECALL_SEMANTIC ? (memcpy (all, sem, (size_t) ns * sizeof *sem),
                                               (size_t) ns)
             : (memcpy (all, lex, (size_t) nl * sizeof *lex), (size_t) nl);
    for (size_t i = 0; i < n && json_array_size (out->hits) < k; i++) {
        recall_view_t v;
        if (recall_msg_get (txn, dbi, u.uid, all[i].msg, &v))
            continue;                   /* forgotten */
        if (xh_set && v.head.thread_len == strlen (q->exclude_thread)
            && !memcmp (v.thread, q->exclude_thread, v.head.thread_len))
            continue;
        json_t *hit = msg_json (&v, HIT_TEXT);
        json_object_set_new (hit, "score", json_real (all[i].score));
        json_object_set_new (hit, "window",
                             window_json (txn, dbi, u.uid, all[i].msg, &v, window));
        json_array_append_new (out->hits, hit);
    }
    rc = 0;
done:
    free (lex);
    free (sem);
    free (all);
    free (unit);
    return rc;
}

/* Deletes message msg of uid: its record, its place in its thread and its
 * vector. */
static int
forget_msg (MDB_txn *txn, MDB_dbi dbi, uint32_t uid, uint64_t msg)
{
    recall_view_t mv;
    int rc = recall_msg_get (txn, dbi, uid, msg, &mv);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    uint8_t key[21], be[16];
    recall_be64 (be, mv.head.thash);
    recall_be64 (be + 8, msg);
    MDB_val k = { recall_key (key, RTAG_CONV, uid, be, 16), key };
    if ((rc = mdb_del (txn, dbi, &k, NULL)) && rc != MDB_NOTFOUND)
        return rc;
    k = (MDB_val) { recall_key (key, RTAG_VEC, uid, be + 8, 8), key };
    if ((rc = mdb_del (txn, dbi, &k, NULL)) && rc != MDB_NOTFOUND)
        return rc;
    k = (MDB_val) { recall_key (key, RTAG_MSG, uid, be + 8, 8), key };
    return mdb_del (txn, dbi, &k, NULL);
}

int
recall_forget_run (MDB_txn *txn, MDB_dbi dbi, const char *run)
{
    uint8_t pre[1 + RECALL_RUN_KEY];
    pre[0] = RTAG_EVENT;
    memset (pre + 1, 0, RECALL_RUN_KEY);
    memcpy (pre + 1, run, strnlen (run, RECALL_RUN_KEY));
    for (;;) {
        /* the run's first remaining message, each time: deleting under an
         * open cursor is avoided */
        MDB_cursor *cur;
        int rc = mdb_cursor_open (txn, dbi, &cur);
        if (rc)
            return rc;
        MDB_val k = { sizeof pre, pre }, v;
        rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
        bool mine = !rc && k.mv_size == sizeof pre + 8 && !memcmp (k.mv_data, pre, sizeof pre)
                 && v.mv_size == 12;
        uint8_t ekey[sizeof pre + 8], e[12];
        if (mine) {
            memcpy (ekey, k.mv_data, sizeof ekey);
            memcpy (e, v.mv_data, sizeof e);
        }
        mdb_cursor_close (cur);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
        if (!mine)
            return 0;
        uint32_t uid = (uint32_t) e[0] << 24 | (uint32_t) e[1] << 16 | (uint32_t) e[2] << 8 | e[3];
        if ((rc = forget_msg (txn, dbi, uid, recall_get64 (e + 4))))
            return rc;
        k = (MDB_val) { sizeof ekey, ekey };
        if ((rc = mdb_del (txn, dbi, &k, NULL)))
            return rc;
    }
}

uint64_t
recall_bytes (MDB_txn *txn, MDB_dbi dbi)
{
    MDB_stat st;
    if (mdb_stat (txn, dbi, &st))
        return 0;
    return (uint64_t) st.ms_psize
         * (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages);
}
