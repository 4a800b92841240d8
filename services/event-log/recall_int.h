/* recall_int: what the recall modules share (recall.c: records, words
 * and BM25; recall_vec.c: vectors and signatures; recall_search.c: the
 * search, results and forgetting). Not for other modules: recall.h is
 * the interface. */
#ifndef CAISSON_RECALL_INT_H
#define CAISSON_RECALL_INT_H

#include "recall.h"

#define RTAG_NEXT 'N'
#define RTAG_USER 'U'
#define RTAG_MSG 'M'
#define RTAG_EVENT 'E'
#define RTAG_CONV 'C'
#define RTAG_POST 'P'
#define RTAG_VEC 'V'
#define RTAG_SIG 'S'

#define RECALL_RUN_KEY 26
#define RECALL_MODEL_MAX 256

/* A user's record ('U'), stored as is (this host's byte order). */
typedef struct {
    uint32_t uid;
    uint32_t dims;              /* of every vector; 0 until the first */
    uint64_t next_msg;          /* the next message's number, from 1 */
    uint64_t docs, tokens;      /* live messages and their indexed words (BM25) */
    uint64_t vecs;              /* vectors stored */
    uint32_t sig_blocks;        /* 'S' blocks written; the last may have room */
    uint32_t pad;
    char model[RECALL_MODEL_MAX]; /* of every vector; "" until the first */
} recall_user_t;

/* A message record's fixed head ('M'); the thread's bytes then the text
 * follow it. */
typedef struct {
    uint64_t ts, seq;
    uint64_t thash;
    uint32_t thread_len;
    uint8_t assistant;
    char run[RECALL_RUN_KEY];
} recall_head_t;

/* A message read back: pointers into the transaction's pages. */
typedef struct {
    recall_head_t head;
    const char *thread, *text;
    size_t text_len;
} recall_view_t;

/* A ranked message. */
typedef struct {
    uint64_t msg;
    double score;
} recall_cand_t;

/* Writes a key of tag, the uid and (when not NULL) more bytes: its length. */
size_t recall_key (uint8_t *key, char tag, uint32_t uid, const void *more, size_t len);
void recall_be32 (uint8_t out[4], uint32_t v);
void recall_be64 (uint8_t out[8], uint64_t v);
uint64_t recall_get64 (const uint8_t in[8]);
/* 64-bit FNV-1a of a thread id: its messages' key prefix for windows. */
uint64_t recall_thash (const char *thread);

/* user's record: 0, MDB_NOTFOUND, or an LMDB code. With create, a user
 * with none gets a new number (and the record is written). */
int recall_user_get (MDB_txn *txn, MDB_dbi dbi, const char *user, bool create,
                     recall_user_t *u);
int recall_user_put (MDB_txn *txn, MDB_dbi dbi, const char *user, const recall_user_t *u);

/* Message msg of uid: 0 with *v filled, or MDB_NOTFOUND (forgotten). */
int recall_msg_get (MDB_txn *txn, MDB_dbi dbi, uint32_t uid, uint64_t msg, recall_view_t *v);

/* Keeps the best n of cands (by score, descending) in cands[0..n), sorted;
 * returns how many there are (min(count, n)). */
size_t recall_best (recall_cand_t *cands, size_t count, size_t n);

/* Lexical ranking: the best n of uid's messages for query's words by
 * BM25 into out (n slots), excluding thread hash xh when xh_set. Returns
 * how many, or -1 for want of memory. */
long recall_lex_rank (MDB_txn *txn, MDB_dbi dbi, const recall_user_t *u, const char *query,
                      bool xh_set, uint32_t xh, recall_cand_t *out, size_t n);

/* Semantic ranking (recall_vec.c): the best n of uid's vectors against q
 * (unit length, u->dims) into out (n slots), excluding thread hash xh when
 * xh_set. Returns how many, or -1 for want of memory. *approx tells
 * whether the signatures chose the candidates. */
long recall_vec_rank (MDB_txn *txn, MDB_dbi dbi, const recall_user_t *u, const float *q,
                      bool xh_set, uint32_t xh, bool exact, recall_cand_t *out, size_t n,
                      bool *approx);

#endif
