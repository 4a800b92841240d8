/* recall: records, words, indexing and BM25. See recall.h for the
 * layout; recall_vec.c keeps the vectors, recall_search.c answers. */
#include "recall_int.h"
#include "evkind.h"
#include "mpjson.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TERM_MAX 48                 /* bytes of a word kept (cut on a UTF-8 boundary) */
#define TOKENS_MAX 4096             /* words of a message indexed */
#define POST_BLOCK 96               /* postings per 'P' value: stays in a leaf page */
#define BM25_K1 1.2
#define BM25_B 0.75

typedef struct {
    uint64_t msg;
    uint32_t thash;
    uint16_t tf, len;
} post_t;

static const char *const stop_words[] = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from",
    "has", "have", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of",
    "on", "or", "our", "so", "that", "the", "their", "then", "there", "these", "this", "to",
    "was", "we", "were", "what", "will", "with", "you", "your"
};

/* ---- keys and records ------------------------------------------------------ */

void
recall_be32 (uint8_t out[4], uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t) v;
}

void
recall_be64 (uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t) v;
}

uint64_t
recall_get64 (const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

size_t
recall_key (uint8_t *key, char tag, uint32_t uid, const void *more, size_t len)
{
    key[0] = (uint8_t) tag;
    recall_be32 (key + 1, uid);
    if (more && len)
        memcpy (key + 5, more, len);
    return 5 + len;
}

uint64_t
recall_thash (const char *thread)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *) thread; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

int
recall_user_get (MDB_txn *txn, MDB_dbi dbi, const char *user, bool create, recall_user_t *u)
{
    size_t n = strlen (user);
    uint8_t key[1 + 256];
    if (n > 255)
        n = 255;                /* envelope users are at most 128 bytes */
    key[0] = RTAG_USER;
    memcpy (key + 1, user, n);
    MDB_val k = { n + 1, key }, v;
    int rc = mdb_get (txn, dbi, &k, &v);
    if (!rc && v.mv_size == sizeof *u) {
        memcpy (u, v.mv_data, sizeof *u);
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc ? rc : MDB_CORRUPTED;
    if (!create)
        return MDB_NOTFOUND;
    uint8_t nk = RTAG_NEXT, be[4];
    MDB_val k2 = { 1, &nk }, v2;
    uint32_t next = 1;
    rc = mdb_get (txn, dbi, &k2, &v2);
    if (!rc && v2.mv_size == 4) {
        const uint8_t *b = v2.mv_data;
        next = (uint32_t) b[0] << 24 | (uint32_t) b[1] << 16 | (uint32_t) b[2] << 8 | b[3];
    }
    else if (rc != MDB_NOTFOUND)
        return rc ? rc : MDB_CORRUPTED;
    memset (u, 0, sizeof *u);
    u->uid = next;
    u->next_msg = 1;
    recall_be32 (be, next + 1);
    v2 = (MDB_val) { 4, be };
    if ((rc = mdb_put (txn, dbi, &k2, &v2, 0)))
        return rc;
    return recall_user_put (txn, dbi, user, u);
}

int
recall_user_put (MDB_txn *txn, MDB_dbi dbi, const char *user, const recall_user_t *u)
{
    size_t n = strlen (user);
    uint8_t key[1 + 256];
    if (n > 255)
        n = 255;
    key[0] = RTAG_USER;
    memcpy (key + 1, user, n);
    MDB_val k = { n + 1, key }, v = { sizeof *u, (void *) u };
    return mdb_put (txn, dbi, &k, &v, 0);
}

int
recall_msg_get (MDB_txn *txn, MDB_dbi dbi, uint32_t uid, uint64_t msg, recall_view_t *out)
{
    uint8_t key[13], be[8];
    recall_be64 (be, msg);
    MDB_val k = { recall_key (key, RTAG_MSG, uid, be, 8), key }, v;
    int rc = mdb_get (txn, dbi, &k, &v);
    if (rc)
        return rc;
    if (v.mv_size < sizeof out->head)
        return MDB_CORRUPTED;
    memcpy (&out->head, v.mv_data, sizeof out->head);
    size_t rest = v.mv_size - sizeof out->head;
    if (out->head.thread_len > rest)
        return MDB_CORRUPTED;
    out->thread = (const char *) v.mv_data + sizeof out->head;
    out->text = out->thread + out->head.thread_len;
    out->text_len = rest - out->head.thread_len;
    return 0;
}

/* ---- words ------------------------------------------------------------------ */

typedef struct {
    char (*terms)[TERM_MAX + 1];
    size_t count, max;
} words_t;

static bool
word_byte (unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || c == '_' || c >= 0x80;
}

static bool
stop_word (const char *w)
{
    for (size_t i = 0; i < sizeof stop_words / sizeof *stop_words; i++)
        if (!strcmp (w, stop_words[i]))
            return true;
    return false;
}

/* Splits text into words: runs of ASCII letters, digits and `_`, and of
 * bytes >= 0x80 (so a UTF-8 sequence is never split; only ASCII is
 * lower-cased), cut at TERM_MAX bytes on a UTF-8 boundary. Stop words and
 * one-letter ASCII words are dropped. */
static void
words_split (const char *text, size_t len, words_t *w)
{
    const unsigned char *p = (const unsigned char *) text, *end = p + len;
    while (p < end && w->count < w->max) {
        while (p < end && !word_byte (*p))
            p++;
        const unsigned char *start = p;
        while (p < end && word_byte (*p))
            p++;
        size_t n = (size_t) (p - start);
        if (!n)
            break;
        if (n > TERM_MAX) {
            n = TERM_MAX;
            while (n && (start[n] & 0xC0) == 0x80)
                n--;
        }
        char *t = w->terms[w->count];
        for (size_t i = 0; i < n; i++)
            t[i] = (char) (start[i] >= 'A' && start[i] <= 'Z' ? start[i] + 32 : start[i]);
        t[n] = '\0';
        if ((n == 1 && start[0] < 0x80) || stop_word (t))
            continue;
        w->count++;
    }
}

static int
term_cmp (const void *a, const void *b)
{
    return strcmp (a, b);
}

/* Sorts the words and folds repeats: counts[i] says how often terms[i]
 * came. Returns the number of distinct words. */
static size_t
words_fold (words_t *w, uint16_t *counts)
{
    qsort (w->terms, w->count, sizeof *w->terms, term_cmp);
    size_t out = 0;
    for (size_t i = 0; i < w->count; i++) {
        if (out && !strcmp (w->terms[out - 1], w->terms[i])) {
            if (counts && counts[out - 1] < UINT16_MAX)
                counts[out - 1]++;
            continue;
        }
        if (out != i)
            memcpy (w->terms[out], w->terms[i], sizeof *w->terms);
        if (counts)
            counts[out] = 1;
        out++;
    }
    return w->count = out;
}

/* The key prefix of term's postings: 'P' uid term 0. */
static size_t
post_prefix (uint8_t *key, uint32_t uid, const char *term)
{
    size_t n = recall_key (key, RTAG_POST, uid, term, strlen (term));
    key[n] = 0;
    return n + 1;
}

static int
post_append (MDB_txn *txn, MDB_dbi dbi, uint32_t uid, const char *term, const post_t *p)
{
    uint8_t key[5 + TERM_MAX + 1 + 4];
    size_t pre = post_prefix (key, uid, term);
    recall_be32 (key + pre, UINT32_MAX);
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, dbi, &cur);
    if (rc)
        return rc;
    MDB_val k = { pre + 4, key }, v;
    rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
    rc = rc == MDB_NOTFOUND ? mdb_cursor_get (cur, &k, &v, MDB_LAST)
       : rc ? rc : mdb_cursor_get (cur, &k, &v, MDB_PREV);
    post_t block[POST_BLOCK];
    size_t have = 0;
    uint32_t blk = 0;
    if (!rc && k.mv_size == pre + 4 && !memcmp (k.mv_data, key, pre)) {
        const uint8_t *kb = k.mv_data;
        blk = (uint32_t) (kb[pre] << 24 | kb[pre + 1] << 16 | kb[pre + 2] << 8 | kb[pre + 3]);
        have = v.mv_size / sizeof (post_t);
        if (have < POST_BLOCK)
            memcpy (block, v.mv_data, have * sizeof (post_t));
        else
            blk++, have = 0;
    }
    else if (rc && rc != MDB_NOTFOUND) {
        mdb_cursor_close (cur);
        return rc;
    }
    mdb_cursor_close (cur);
    block[have++] = *p;
    recall_be32 (key + pre, blk);
    k = (MDB_val) { pre + 4, key };
    v = (MDB_val) { have * sizeof (post_t), block };
    return mdb_put (txn, dbi, &k, &v, 0);
}

/* ---- indexing ---------------------------------------------------------------- */

int
recall_add (MDB_txn *txn, MDB_dbi dbi, const recall_msg_t *m)
{
    recall_user_t u;
    int rc = recall_user_get (txn, dbi, m->user, true, &u);
    if (rc)
        return rc;
    uint64_t msg = u.next_msg++;
    size_t len = m->len < RECALL_TEXT_MAX ? m->len : RECALL_TEXT_MAX;
    while (len && len < m->len && ((unsigned char) m->text[len] & 0xC0) == 0x80)
        len--;
    size_t tlen = strlen (m->thread);
    recall_head_t h = { .ts = m->ts, .seq = m->seq, .thash = recall_thash (m->thread),
                        .thread_len = (uint32_t) tlen, .assistant = m->assistant };
    memcpy (h.run, m->run, strnlen (m->run, RECALL_RUN_KEY));
    size_t size = sizeof h + tlen + len;
    uint8_t key[5 + 8 + 8], be[16];
    recall_be64 (be, msg);
    MDB_val k = { recall_key (key, RTAG_MSG, u.uid, be, 8), key }, v = { size, NULL };
    if ((rc = mdb_put (txn, dbi, &k, &v, MDB_RESERVE)))
        return rc;
    memcpy (v.mv_data, &h, sizeof h);
    memcpy ((uint8_t *) v.mv_data + sizeof h, m->thread, tlen);
    memcpy ((uint8_t *) v.mv_data + sizeof h + tlen, m->text, len);

    uint8_t ekey[1 + RECALL_RUN_KEY + 8], eval[12];
    ekey[0] = RTAG_EVENT;
    memcpy (ekey + 1, h.run, RECALL_RUN_KEY);
    recall_be64 (ekey + 1 + RECALL_RUN_KEY, m->seq);
    recall_be32 (eval, u.uid);
    recall_be64 (eval + 4, msg);
    k = (MDB_val) { sizeof ekey, ekey }, v = (MDB_val) { sizeof eval, eval };
    if ((rc = mdb_put (txn, dbi, &k, &v, 0)))
        return rc;
    recall_be64 (be, h.thash);
    recall_be64 (be + 8, msg);
    k = (MDB_val) { recall_key (key, RTAG_CONV, u.uid, be, 16), key };
    v = (MDB_val) { 0, "" };
    if ((rc = mdb_put (txn, dbi, &k, &v, 0)))
        return rc;

    words_t w = { malloc (TOKENS_MAX * sizeof *w.terms), 0, TOKENS_MAX };
    uint16_t *tf = malloc (TOKENS_MAX * sizeof *tf);
    if (!w.terms || !tf) {
        free (w.terms), free (tf);
        return ENOMEM;
    }
    words_split (m->text, len, &w);
    size_t dl = w.count, distinct = words_fold (&w, tf);
    for (size_t i = 0; !rc && i < distinct; i++) {
        post_t p = { .msg = msg, .thash = (uint32_t) h.thash, .tf = tf[i],
                     .len = (uint16_t) (dl < UINT16_MAX ? dl : UINT16_MAX) };
        rc = post_append (txn, dbi, u.uid, w.terms[i], &p);
    }
    free (w.terms);
    free (tf);
    if (rc)
        return rc;
    u.docs++;
    u.tokens += dl;
    return recall_user_put (txn, dbi, m->user, &u);
}

int
recall_add_event (MDB_txn *txn, MDB_dbi dbi, const json_t *rec, const char *run, uint64_t seq,
                  uint64_t ts, const char *kind, const uint8_t *data, size_t size)
{
    evk_kind_t k = evk_lookup (kind);
    if ((k != EVK_run_started && k != EVK_text) || !data)
        return 0;
    char why[160];
    json_t *d = mpjson_decode (data, size, 32, why, sizeof why);
    json_t *text = json_object_get (d, k == EVK_text ? "text" : "task");
    const char *user = json_string_value (json_object_get (rec, "user"));
    const char *thread = json_string_value (json_object_get (rec, "thread"));
    int rc = 0;
    if (json_is_string (text) && json_string_length (text)) {
        recall_msg_t m = { .user = user ? user : "", .thread = thread ? thread : run,
                           .run = run, .seq = seq, .ts = ts, .assistant = k == EVK_text,
                           .text = json_string_value (text), .len = json_string_length (text) };
        rc = recall_add (txn, dbi, &m);
    }
    json_decref (d);
    return rc;
}

/* ---- BM25 ------------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;        /* postings in the transaction's pages (maybe unaligned) */
    size_t count;
} run_t;

long
recall_lex_rank (MDB_txn *txn, MDB_dbi dbi, const recall_user_t *u, const char *query,
                 bool xh_set, uint32_t xh, recall_cand_t *out, size_t n)
{
    words_t w = { malloc (RECALL_TERMS_MAX * 4 * sizeof *w.terms), 0, RECALL_TERMS_MAX * 4 };
    run_t *runs = NULL;
    size_t nruns = 0, cap = 0, total = 0;
    long found = -1;
    if (!w.terms)
        return -1;
    words_split (query, strnlen (query, RECALL_QUERY_MAX), &w);
    size_t terms = words_fold (&w, NULL);
    if (terms > RECALL_TERMS_MAX)
        terms = RECALL_TERMS_MAX;
    double *idf = calloc (terms + 1, sizeof *idf);
    size_t *first = calloc (terms + 1, sizeof *first);
    MDB_cursor *cur = NULL;
    if (!idf || !first || mdb_cursor_open (txn, dbi, &cur))
        goto done;
    double N = (double) u->docs, avgdl = u->docs ? (double) u->tokens / (double) u->docs : 1;
    for (size_t t = 0; t < terms; t++) {
        uint8_t key[5 + TERM_MAX + 1 + 4];
        size_t pre = post_prefix (key, u->uid, w.terms[t]);
        recall_be32 (key + pre, 0);
        MDB_val k = { pre + 4, key }, v;
        size_t df = 0;
        first[t] = nruns;
        int rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
        for (; !rc && k.mv_size == pre + 4 && !memcmp (k.mv_data, key, pre);
             rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
            if (nruns == cap) {
                run_t *g = realloc (runs, (cap = cap ? cap * 2 : 64) * sizeof *g);
                if (!g)
                    goto done;
                runs = g;
            }
            runs[nruns++] = (run_t) { v.mv_data, v.mv_size / sizeof (post_t) };
            df += v.mv_size / sizeof (post_t);
        }
        total += df;
        idf[t] = log1p ((N - (double) df + 0.5) / ((double) df + 0.5));
    }
    first[terms] = nruns;
    size_t size = 16;
    while (size < total * 2)
        size *= 2;
    /* open addressing on the message number; msg 0 marks a free slot
     * (messages count from 1) */
    recall_cand_t *table = calloc (size, sizeof *table);
    if (!table)
        goto done;
    for (size_t t = 0; t < terms; t++)
        for (size_t r = first[t]; r < first[t + 1]; r++)
            for (size_t i = 0; i < runs[r].count; i++) {
                post_t p;
                memcpy (&p, runs[r].data + i * sizeof p, sizeof p);
                if (xh_set && p.thash == xh)
                    continue;
                double tf = p.tf, s = idf[t] * tf * (BM25_K1 + 1)
                    / (tf + BM25_K1 * (1 - BM25_B + BM25_B * p.len / avgdl));
                size_t h = (size_t) (p.msg * 0x9E3779B97F4A7C15ull) & (size - 1);
                while (table[h].msg && table[h].msg != p.msg)
                    h = (h + 1) & (size - 1);
                table[h].msg = p.msg;
                table[h].score += s;
            }
    /* the used slots, compacted in place into candidates */
    size_t count = 0;
    for (size_t i = 0; i < size; i++)
        if (table[i].msg)
            table[count++] = table[i];
    count = recall_best (table, count, n);
    memcpy (out, table, count * sizeof *table);
    free (table);
    found = (long) count;
done:
    if (cur)
        mdb_cursor_close (cur);
    free (runs);
    free (idf);
    free (first);
    free (w.terms);
    return found;
}
