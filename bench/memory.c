/* bench-memory: recall's latency and size (services/event-log/recall.h)
 * at 1k, 10k and 100k stored messages of one user, beside a plain scan of
 * the same data in the same run.
 *
 * The index is event-log's own code (the recallidx library) over a fresh
 * LMDB environment, filled as the journal fills it: messages in batches
 * of 1000 per write transaction, then their vectors. Messages are
 * synthetic: 8 to 60 words drawn from a Zipf distribution over a 30k-word
 * vocabulary (a few very common words, a long tail of rare ones), ten to
 * a run and thread. Vectors (--dims, default 384 as small embedding models
 * give) are clustered as real embeddings are: each message is a mix of two
 * of 200 random topic directions plus noise; a semantic query is a stored
 * message's vector perturbed (a paraphrase), a lexical query three words
 * of a stored message.
 *
 * For each size, with k = 10 and a window of 1 (what a hit returns):
 *   lexical   recall_search, BM25 over the postings;
 *   lex-scan  the baseline: every message read and its words matched;
 *   semantic  recall_search as served: exact up to RECALL_EXACT_MAX
 *             vectors, above that the signature index then exact rerank;
 *   sem-scan  the baseline: recall_search with exact set, every vector
 *             read and compared;
 * as p50 / p99 over --queries queries, the index's size in the store, and
 * recall@10 of the served semantic ranking against the exact one. At the
 * largest size the same store is then served by real caisson-bus and
 * caisson-event-log processes and searched through the bus, as the
 * orchestrator will. It is a benchmark: a missed target (p50 < 10 ms at
 * 100k) still exits 0. */
#define _GNU_SOURCE
#include "bench_util.h"
#include "bus_client.h"
#include "proto.h"
#include "recall.h"
#include "store.h"

#include <limits.h>
#include <msgpack.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VOCAB 30000
#define TOPICS 200
#define BATCH 1000
#define K 10
#define TARGET_MS 10.0

static size_t s_dims = 384;
static int s_queries = 200;
static uint64_t s_rng = 0x2545F4914F6CDD1Dull;
static char s_words[VOCAB][12];
static float *s_topics;

static uint64_t
rnd (void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static double
unif (void)
{
    return (double) (rnd () >> 11) / 9007199254740992.0;
}

static double
gauss (void)
{
    double u = unif () + 1e-12, v = unif ();
    return sqrt (-2 * log (u)) * cos (2 * M_PI * v);
}

/* A Zipf(1) rank in [0, VOCAB): inverse of the harmonic CDF, roughly. */
static size_t
zipf (void)
{
    double r = exp (unif () * log ((double) VOCAB));
    size_t i = (size_t) r - 1;
    return i < VOCAB ? i : VOCAB - 1;
}

static void
make_text (char *out, size_t cap)
{
    size_t n = 8 + rnd () % 53, len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len + 14 < cap; i++)
        len += (size_t) snprintf (out + len, cap - len, "%s%s", i ? " " : "", s_words[zipf ()]);
}

static void
make_vec (float *v, const float *near, double noise)
{
    if (near)
        for (size_t d = 0; d < s_dims; d++)
            v[d] = near[d] + (float) (noise * gauss ());
    else {
        const float *a = s_topics + (rnd () % TOPICS) * s_dims;
        const float *b = s_topics + (rnd () % TOPICS) * s_dims;
        double w = unif ();
        for (size_t d = 0; d < s_dims; d++)
            v[d] = (float) (w * a[d] + (1 - w) * b[d] + noise * gauss ());
    }
}

typedef struct {
    MDB_dbi dbi;
    size_t from, to;            /* messages [from, to) */
    char (*runs)[27];
    float *vecs;
    char **texts;
} fill_t;

static int
fill (MDB_txn *txn, void *arg)
{
    fill_t *f = arg;
    for (size_t i = f->from; i < f->to; i++) {
        const char *run = f->runs[i / 10];
        recall_msg_t m = { .user = "bench", .thread = run, .run = run, .seq = i % 10 + 1,
                           .ts = 1700000000000000ull + i, .assistant = i % 2,
                           .text = f->texts[i], .len = strlen (f->texts[i]) };
        int rc = recall_add (txn, f->dbi, &m);
        if (rc)
            return rc;
    }
    for (size_t i = f->from; i < f->to; i++) {
        bool stored;
        char why[256];
        int rc = recall_put_vector (txn, f->dbi, "bench", f->runs[i / 10], i % 10 + 1,
                                    "bench/synthetic", f->vecs + i * s_dims, s_dims, &stored,
                                    why, sizeof why);
        if (rc) {
            if (!RECALL_REFUSED (rc))
                return rc;      /* MDB_MAP_FULL: store_write grows the map */
            fprintf (stderr, "vector %zu: %s\n", i, why);
            return MDB_INCOMPATIBLE;
        }
    }
    return 0;
}

typedef struct {
    MDB_dbi dbi;
    recall_query_t q;
    recall_found_t found;
    uint64_t bytes;
    /* the plain lexical scan */
    const char *words[3];
    size_t best;
} ask_t;

static int
ask_index (MDB_txn *txn, void *arg)
{
    ask_t *a = arg;
    char why[256];
    int rc = recall_search (txn, a->dbi, "bench", &a->q, &a->found, why, sizeof why);
    if (RECALL_REFUSED (rc))
        fprintf (stderr, "search: %s\n", why);
    return RECALL_REFUSED (rc) ? MDB_INCOMPATIBLE : rc;
}

/* The baseline: every message of the user read, its words compared with
 * the query's, the k best kept (by matches). Reads the same records the
 * index returns, from the same store, in key order. */
static int
ask_scan (MDB_txn *txn, void *arg)
{
    ask_t *a = arg;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, a->dbi, &cur);
    if (rc)
        return rc;
    uint8_t pre[5] = { 'M', 0, 0, 0, 1 };
    MDB_val k = { 5, pre }, v;
    size_t top[K] = { 0 }, found = 0;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
         !rc && k.mv_size == 13 && !memcmp (k.mv_data, pre, 5);
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        const char *p = v.mv_data, *end = p + v.mv_size;
        size_t score = 0;
        for (int w = 0; w < 3; w++) {
            size_t n = strlen (a->words[w]);
            for (const char *s = p; s + n <= end; s++) {
                s = memchr (s, a->words[w][0], (size_t) (end - s));
                if (!s || s + n > end)
                    break;
                if (!memcmp (s, a->words[w], n) && (s == p || s[-1] == ' ')
                    && (s + n == end || s[n] == ' '))
                    score++;
            }
        }
        if (score > top[K - 1]) {
            size_t j = K - 1;
            for (; j && top[j - 1] < score; j--)
                top[j] = top[j - 1];
            top[j] = score;
            found++;
        }
    }
    mdb_cursor_close (cur);
    a->best = found;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
ask_bytes (MDB_txn *txn, void *arg)
{
    ask_t *a = arg;
    a->bytes = recall_bytes (txn, a->dbi);
    return 0;
}

static void
pcts (double *ms, int n, double *p50, double *p99)
{
    qsort (ms, (size_t) n, sizeof *ms, bench_cmp_double);
    *p50 = ms[n / 2];
    *p99 = ms[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    return remove (path);
}

/* Through the bus: the same store served by a real caisson-event-log
 * (behind caisson-bus, CURVE, as in a stack), recall.search as the
 * user, lexical then semantic, p50 / p99 of the whole round trip. */
static void
bus_phase (const char *bindir, const char *dir, const fill_t *f, size_t n)
{
    setenv ("CAISSON_DATA", dir, 1);
    setenv ("CAISSON_LOG_LEVEL", "warn", 1);
    pid_t bus = bench_start (bindir, dir, "caisson-bus");
    pid_t el = bench_start (bindir, dir, "caisson-event-log");
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    double *ms = malloc (sizeof (double) * (size_t) s_queries * 2);
    float *qv = malloc (s_dims * sizeof *qv);
    bool up = false;
    bus_client_set_timeout (c, 200, 0);
    for (int i = 0; i < 100 && !up; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        proto_msg_t *rep = bus_client_request (c, "event-log", req);
        up = rep && rep->type == PROTO_health_rep;
        proto_msg_destroy (&rep);
        proto_msg_destroy (&req);
    }
    bus_client_set_timeout (c, 30000, 0);
    for (int i = 0; up && i < 2 * s_queries; i++) {
        size_t src = rnd () % n;
        char query[128], *sp;
        snprintf (query, sizeof query, "%.100s", f->texts[src]);
        if ((sp = strchr (query, ' ')) && (sp = strchr (sp + 1, ' ')))
            *sp = '\0';                        /* two words of a stored message */
        proto_msg_t *m = proto_msg_new (PROTO_recall_search, NULL);
        proto_set_str (&m->env.user, "bench");
        proto_set_str (&m->body.recall_search.query, query);
        m->body.recall_search.k = K;
        if (i >= s_queries) {
            make_vec (qv, f->vecs + src * s_dims, 0.02);
            msgpack_sbuffer sb;
            msgpack_sbuffer_init (&sb);
            msgpack_packer pk;
            msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
            msgpack_pack_array (&pk, s_dims);
            for (size_t d = 0; d < s_dims; d++)
                msgpack_pack_float (&pk, qv[d]);
            proto_set_bytes (&m->body.recall_search.vector, sb.data, sb.size);
            proto_set_str (&m->body.recall_search.mode, "semantic");
            msgpack_sbuffer_destroy (&sb);
        }
        double t = bench_now_ms ();
        proto_msg_t *rep = bus_client_request (c, "event-log", m);
        ms[i] = bench_now_ms () - t;
        up = rep && rep->type == PROTO_recall_results;
        proto_msg_destroy (&rep);
        proto_msg_destroy (&m);
    }
    if (up) {
        double l50, l99, s50, s99;
        pcts (ms, s_queries, &l50, &l99);
        pcts (ms + s_queries, s_queries, &s50, &s99);
        printf ("\nthrough the bus at %zu messages (caisson-bus with CURVE, caisson-event-log), "
                "ms p50 / p99: lexical %.3f / %.3f, semantic %.3f / %.3f\n", n, l50, l99, s50,
                s99);
    }
    else
        printf ("\nthrough the bus: event-log did not answer (see %s)\n", dir);
    free (ms);
    free (qv);
    bus_client_destroy (&c);
    bench_stop (el);
    bench_stop (bus);
}

/* One size: fills a fresh store with n messages and measures it; through
 * the bus too when bus is set. */
static int
run_size (size_t n, bool bus)
{
    char dir[PATH_MAX], bindir[PATH_MAX], storedir[PATH_MAX + 16];
    if (bench_stack_env ("memory", bindir, sizeof bindir, dir, sizeof dir))
        return -1;
    /* where event-log keeps its store under CAISSON_DATA, for the bus phase */
    snprintf (storedir, sizeof storedir, "%s/event-log", dir);
    static const char *const names[] = { "recall" };
    store_t *st = store_new (storedir, names, 1, 256ull << 20, 16ull << 30, MDB_NOSYNC);
    if (!st)
        return -1;
    fill_t f = { .dbi = store_dbi (st, 0) };
    f.runs = calloc (n / 10 + 1, sizeof *f.runs);
    f.vecs = malloc (n * s_dims * sizeof *f.vecs);
    f.texts = calloc (n, sizeof *f.texts);
    size_t text_bytes = 0;
    for (size_t i = 0; i < n / 10 + 1; i++)
        snprintf (f.runs[i], sizeof f.runs[i], "%026zu", i);
    for (size_t i = 0; i < n; i++) {
        char t[1024];
        make_text (t, sizeof t);
        f.texts[i] = strdup (t);
        text_bytes += strlen (t);
        make_vec (f.vecs + i * s_dims, NULL, 0.15);
    }
    double t0 = bench_now_ms ();
    for (f.from = 0; f.from < n; f.from += BATCH) {
        f.to = f.from + BATCH < n ? f.from + BATCH : n;
        if (store_write (st, fill, &f)) {
            fprintf (stderr, "fill: %s\n", mdb_strerror (store_error (st)));
            return -1;
        }
    }
    double fill_ms = bench_now_ms () - t0;
    ask_t a = { .dbi = f.dbi };
    store_read (st, ask_bytes, &a);
    double *lex = malloc (sizeof (double) * (size_t) s_queries * 4), *scan = lex + s_queries;
    double *sem = scan + s_queries, *exact = sem + s_queries;
    double overlap = 0;
    float *qv = malloc (s_dims * sizeof *qv);
    for (int i = 0; i < s_queries; i++) {
        size_t src = rnd () % n;
        char copy[1024], *save, *w[64];
        int nw = 0;
        snprintf (copy, sizeof copy, "%s", f.texts[src]);
        for (char *t = strtok_r (copy, " ", &save); t && nw < 64; t = strtok_r (NULL, " ", &save))
            w[nw++] = t;
        if (!nw)
            continue;           /* a text of no words makes no query */
        char query[128];
        a.words[0] = w[rnd () % (size_t) nw];
        a.words[1] = w[rnd () % (size_t) nw];
        a.words[2] = w[rnd () % (size_t) nw];
        snprintf (query, sizeof query, "%s %s %s", a.words[0], a.words[1], a.words[2]);
        a.q = (recall_query_t) { .text = query, .mode = RECALL_LEXICAL, .k = K, .window = 1 };
        double s = bench_now_ms ();
        store_read (st, ask_index, &a);
        lex[i] = bench_now_ms () - s;
        json_decref (a.found.hits);
        s = bench_now_ms ();
        store_read (st, ask_scan, &a);
        scan[i] = bench_now_ms () - s;

        make_vec (qv, f.vecs + src * s_dims, 0.02);
        a.q = (recall_query_t) { .text = "", .vec = qv, .dims = s_dims, .mode = RECALL_SEMANTIC,
                                 .k = K, .window = 1 };
        s = bench_now_ms ();
        store_read (st, ask_index, &a);
        sem[i] = bench_now_ms () - s;
        json_t *served = a.found.hits;
        a.q.exact = true;
        s = bench_now_ms ();
        store_read (st, ask_index, &a);
        exact[i] = bench_now_ms () - s;
        size_t same = 0, i1, i2;
        json_t *h1, *h2;
        json_array_foreach (a.found.hits, i1, h1)
            json_array_foreach (served, i2, h2)
                same += json_equal (json_object_get (h1, "run"), json_object_get (h2, "run"))
                     && json_equal (json_object_get (h1, "seq"), json_object_get (h2, "seq"));
        overlap += json_array_size (a.found.hits) ? (double) same
                   / (double) json_array_size (a.found.hits) : 1;
        json_decref (served);
        json_decref (a.found.hits);
    }
    double l50, l99, c50, c99, s50, s99, e50, e99;
    pcts (lex, s_queries, &l50, &l99);
    pcts (scan, s_queries, &c50, &c99);
    pcts (sem, s_queries, &s50, &s99);
    pcts (exact, s_queries, &e50, &e99);
    printf ("| %6zu | %7.3f / %7.3f | %7.3f / %7.3f | %7.3f / %7.3f | %7.3f / %7.3f | %5.3f "
            "| %7.1f | %6.1f | %5.1f |%s\n", n, l50, l99, c50, c99, s50, s99, e50, e99,
            overlap / s_queries, (double) a.bytes / 1048576,
            (double) (text_bytes + n * s_dims * 4) / 1048576, fill_ms / 1000,
            l50 < TARGET_MS && s50 < TARGET_MS ? "" : " (p50 target missed)");
    fflush (stdout);
    store_destroy (&st);
    if (bus)
        bus_phase (bindir, dir, &f, n);
    free (lex);
    free (qv);
    for (size_t i = 0; i < n; i++)
        free (f.texts[i]);
    free (f.texts);
    free (f.vecs);
    free (f.runs);
    nftw (dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int
main (int argc, char **argv)
{
    size_t sizes[8] = { 1000, 10000, 100000 }, nsizes = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--queries") && i + 1 < argc)
            s_queries = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--dims") && i + 1 < argc)
            s_dims = (size_t) atoi (argv[++i]);
        else if (!strcmp (argv[i], "--sizes") && i + 1 < argc) {
            nsizes = 0;
            for (char *s = strtok (argv[++i], ","); s && nsizes < 8; s = strtok (NULL, ","))
                sizes[nsizes++] = (size_t) atol (s);
        }
        else {
            printf ("bench-memory [--sizes 1000,10000,100000] [--queries 200] [--dims 384]\n");
            return strcmp (argv[i], "--help") ? 1 : 0;
        }
    }
    if (s_queries < 1 || s_dims < 8 || s_dims > RECALL_DIMS_MAX)
        return 1;
    for (size_t i = 0; i < VOCAB; i++)
        snprintf (s_words[i], sizeof s_words[i], "w%zx%c", i * 7919 % 1000003,
                  'a' + (int) (i % 26));
    s_topics = malloc (TOPICS * s_dims * sizeof *s_topics);
    for (size_t i = 0; i < TOPICS * s_dims; i++)
        s_topics[i] = (float) gauss ();
    printf ("recall, one user, k=%d, window 1, %d queries, %zu-dim vectors; ms p50 / p99\n\n",
            K, s_queries, s_dims);
    printf ("| messages | lexical (BM25) | lexical scan | semantic | semantic exact scan "
            "| recall@10 | index MiB | raw MiB | fill s |\n");
    printf ("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < nsizes; i++)
        if (run_size (sizes[i], i + 1 == nsizes))
            return 1;
    free (s_topics);
    return 0;
}
