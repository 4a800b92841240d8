/* test_recall: recall as the orchestrator will use it, through the real
 * broker, event-log and scripted model binaries: messages indexed as runs
 * store their events, found by a rare word (BM25), by a paraphrase (the
 * scripted model's embeddings, fetched over HTTP by the orchestrator's
 * llm_embed and given to event-log with recall.vectors) and by both
 * fused; a hit's window of neighbours; one user never finding another's;
 * hostile requests answered with named errors; the index surviving a
 * restart. */
#include "eventlog_util.h"
#include "llm_embed.h"
#include "mpjson.h"
#include "recall_client.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_port;

/* ---- helpers ----------------------------------------------------------------- */

/* Appends as user (the envelope's, as the orchestrator sends for the run's
 * owner) and returns the event's run_seq. */
static uint64_t
append_as (bus_client_t *c, const char *user, proto_msg_t *m)
{
    proto_set_str (&m->env.user, user);
    proto_msg_t *rep = request (c, m);
    assert_non_null (rep);
    if (rep->type != PROTO_event_ack)
        fail_msg ("append: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    uint64_t seq = rep->body.event_ack.run_seq;
    proto_msg_destroy (&rep);
    return seq;
}

static uint64_t
start_run (bus_client_t *c, const char *user, const char *run, const char *thread,
           const char *task)
{
    json_t *budgets = json_pack ("{s:i}", "steps", 20), *policy = json_object ();
    proto_msg_t *m = APPEND_MSG (run, run_started, .task = task, .user = user,
                                 .threadId = thread, .model = "replay/demo",
                                 .orchestrator = "o1", .promptVersion = "v1",
                                 .budgets = budgets, .policy = policy);
    json_decref (budgets);
    json_decref (policy);
    return append_as (c, user, m);
}

static uint64_t
say (bus_client_t *c, const char *user, const char *run, const char *text)
{
    return append_as (c, user, APPEND_MSG (run, text, .text = text));
}

/* The scripted model's embedding of text, through llm_embed over HTTP. */
static void
embed (const char *text, llm_embeddings_t *e)
{
    char why[512];
    const char *texts[] = { text };
    if (llm_embed_fetch ("replay/embed", texts, 1, 5000, e, why, sizeof why))
        fail_msg ("embedding: %s", why);
    assert_int_equal (e->count, 1);
}

/* Gives event-log the vector of the message of run at seq. */
static void
give_vector (bus_client_t *c, const char *user, const char *run, uint64_t seq, const char *text)
{
    llm_embeddings_t e;
    embed (text, &e);
    proto_msg_t *m = recall_vectors_new (NULL, run, "replay/embed", &seq, &e);
    proto_set_str (&m->env.user, user);
    llm_embeddings_clear (&e);
    proto_msg_t *rep = request (c, m);
    assert_non_null (rep);
    if (rep->type != PROTO_recall_indexed)
        fail_msg ("recall.vectors: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    assert_int_equal (rep->body.recall_indexed.stored, 1);
    proto_msg_destroy (&rep);
}

/* Searches as user; the results' hits (new), or NULL with *err the error
 * reply's code. */
static json_t *
search (bus_client_t *c, const char *user, bool op, const char *query, bool semantic,
        const char *mode, size_t k, size_t window, char *mode_used)
{
    llm_embeddings_t e = { 0 };
    if (semantic)
        embed (query, &e);
    proto_msg_t *m = recall_search_new (NULL, query, e.data, e.dims, "replay/embed", k, window,
                                        NULL);
    llm_embeddings_clear (&e);
    proto_set_str (&m->env.user, user);
    m->env.op = op;
    proto_set_str (&m->body.recall_search.mode, mode);
    proto_msg_t *rep = request (c, m);
    assert_non_null (rep);
    if (rep->type != PROTO_recall_results)
        fail_msg ("recall.search: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    if (mode_used)
        strcpy (mode_used, rep->body.recall_results.mode);
    json_t *hits = any_json (&rep->body.recall_results.hits);
    proto_msg_destroy (&rep);
    return hits;
}

/* Sends m (consumed) and expects an error whose code is code and whose
 * message names what (when not NULL). */
static void
expect_error (bus_client_t *c, proto_msg_t *m, const char *code, const char *what)
{
    proto_msg_t *rep = request (c, m);
    if (!rep)
        fail_msg ("no answer where %s naming %s was due", code, what ? what : "-");
    if (rep->type != PROTO_error)
        fail_msg ("expected error %s, got %s", code, proto_type_name (rep->type));
    if (strcmp (rep->body.error.code, code) || (what && !strstr (rep->body.error.message, what)))
        fail_msg ("expected %s naming %s, got %s: %s", code, what ? what : "-",
                  rep->body.error.code, rep->body.error.message);
    proto_msg_destroy (&rep);
}

static const char *
hit_text (json_t *hits, size_t i)
{
    return support_json_str (json_array_get (hits, i), "text");
}

static bool
replay_ready (void)
{
    llm_embeddings_t e;
    char why[256];
    const char *t[] = { "ping" };
    if (llm_embed_fetch ("replay/embed", t, 1, 500, &e, why, sizeof why))
        return false;
    llm_embeddings_clear (&e);
    return true;
}

/* A stack (broker, event-log, scripted model) and alice's and bob's
 * conversations; returns event-log's pid. */
#define PARSER_BUG "The parser crashes on empty strings"
#define RARE "Please rename the xylophone module to marimba"
static pid_t
fixture (const char *name, bus_client_t **c, pid_t *replay)
{
    setup_stack (name);
    s_port = support_free_port ();
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1", s_port);
    setenv ("CAISSON_LLM_REPLAY_URL", url, 1);
    *replay = support_spawn_llm_replay (s_port, "", NULL);
    for (int i = 0; i < 100 && !replay_ready (); i++)
        usleep (50000);
    pid_t el = start_eventlog (NULL);
    *c = client_new (3000, 1);
    const char *a = rid ("A1"), *b = rid ("A2"), *d = rid ("A3"), *x = rid ("B1");
    start_run (*c, "alice", a, "th-parser", PARSER_BUG);
    give_vector (*c, "alice", a, 1, PARSER_BUG);
    say (*c, "alice", a, "I looked at parse.c: an empty input reaches strlen on NULL.");
    say (*c, "alice", a, "Fixed it by returning early; tests pass.");
    start_run (*c, "alice", b, "th-deploy", "Deploy the weather service to staging");
    give_vector (*c, "alice", b, 1, "Deploy the weather service to staging");
    uint64_t s = say (*c, "alice", b, RARE);
    give_vector (*c, "alice", b, s, RARE);
    start_run (*c, "alice", d, "th-parser", "Now add a test for the blank line case");
    start_run (*c, "bob", x, "th-bob", "bob's secret xylophone plans");
    return el;
}

static void
teardown_fixture (bus_client_t **c, pid_t el, pid_t replay)
{
    bus_client_destroy (c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (replay);
}

/* ---- tests ------------------------------------------------------------------- */

static void
test_lexical_window_and_isolation (void **state)
{
    (void) state;
    bus_client_t *c;
    pid_t replay, el = fixture ("recall-lex", &c, &replay);
    char mode[32];
    json_t *hits = search (c, "alice", false, "xylophone", false, NULL, 5, 1, mode);
    assert_string_equal (mode, "lexical");
    assert_int_equal (json_array_size (hits), 1);
    json_t *h = json_array_get (hits, 0);
    assert_string_equal (hit_text (hits, 0), RARE);
    assert_string_equal (support_json_str (h, "role"), "assistant");
    assert_string_equal (support_json_str (h, "thread"), "th-deploy");
    assert_string_equal (support_json_str (h, "run"), rid ("A2"));
    assert_true (json_integer_value (json_object_get (h, "ts")) > 0);
    /* its window: the task before it, itself marked */
    json_t *w = json_object_get (h, "window");
    assert_int_equal (json_array_size (w), 2);
    assert_string_equal (support_json_str (json_array_get (w, 0), "role"), "user");
    assert_true (json_is_true (json_object_get (json_array_get (w, 1), "hit")));
    json_decref (hits);

    /* a window spans the thread's runs, in order */
    hits = search (c, "alice", false, "blank line case", false, "lexical", 1, 3, NULL);
    assert_int_equal (json_array_size (hits), 1);
    w = json_object_get (json_array_get (hits, 0), "window");
    assert_int_equal (json_array_size (w), 4);
    assert_string_equal (support_json_str (json_array_get (w, 0), "text"), PARSER_BUG);
    assert_true (json_is_true (json_object_get (json_array_get (w, 3), "hit")));
    json_decref (hits);

    /* bob never finds alice's, an operator's flag changes nothing */
    hits = search (c, "bob", false, "xylophone marimba parser", false, NULL, 10, 0, NULL);
    assert_int_equal (json_array_size (hits), 1);
    assert_string_equal (hit_text (hits, 0), "bob's secret xylophone plans");
    json_decref (hits);
    hits = search (c, "bob", true, "marimba parser weather", false, NULL, 10, 0, NULL);
    assert_int_equal (json_array_size (hits), 0);
    json_decref (hits);
    hits = search (c, "mallory", false, "xylophone", false, NULL, 10, 0, NULL);
    assert_int_equal (json_array_size (hits), 0);
    json_decref (hits);
    /* nor gives vectors to alice's messages */
    llm_embeddings_t e;
    embed ("anything", &e);
    uint64_t seq = 2;
    proto_msg_t *m = recall_vectors_new (NULL, rid ("A1"), "replay/embed", &seq, &e);
    proto_set_str (&m->env.user, "bob");
    llm_embeddings_clear (&e);
    expect_error (c, m, "not_found", "no message");

    /* the conversation in context is left out */
    m = recall_search_new (NULL, "xylophone", NULL, 0, NULL, 5, 0, "th-deploy");
    proto_set_str (&m->env.user, "alice");
    proto_msg_t *rep = request (c, m);
    assert_int_equal (rep->type, PROTO_recall_results);
    hits = any_json (&rep->body.recall_results.hits);
    assert_int_equal (json_array_size (hits), 0);
    json_decref (hits);
    proto_msg_destroy (&rep);
    teardown_fixture (&c, el, replay);
}

static void
test_semantic_hybrid_and_restart (void **state)
{
    (void) state;
    bus_client_t *c;
    pid_t replay, el = fixture ("recall-sem", &c, &replay);
    const char *para = "the parsing code fails when given a blank string";
    char mode[32];
    /* no word in common: lexical cannot find it */
    json_t *hits = search (c, "alice", false, para, false, "lexical", 5, 0, mode);
    for (size_t i = 0; i < json_array_size (hits); i++)
        assert_string_not_equal (hit_text (hits, i), PARSER_BUG);
    json_decref (hits);
    hits = search (c, "alice", false, para, true, "semantic", 5, 0, mode);
    assert_string_equal (mode, "semantic");
    assert_true (json_array_size (hits) >= 1);
    assert_string_equal (hit_text (hits, 0), PARSER_BUG);
    double top = json_real_value (json_object_get (json_array_get (hits, 0), "score"));
    assert_true (top > 0.5);
    json_decref (hits);
    /* hybrid: the word finds one, the meaning the other; both come */
    hits = search (c, "alice", false, "marimba; crashing parsers and blank strings", true, NULL,
                   2, 0, mode);
    assert_string_equal (mode, "hybrid");
    assert_int_equal (json_array_size (hits), 2);
    bool rare = false, bug = false;
    for (size_t i = 0; i < 2; i++) {
        rare |= !strcmp (hit_text (hits, i), RARE);
        bug |= !strcmp (hit_text (hits, i), PARSER_BUG);
    }
    assert_true (rare && bug);
    json_decref (hits);

    /* the index is in the store: a restarted event-log answers the same */
    support_expect_clean_exit (el);
    el = start_eventlog (NULL);
    hits = search (c, "alice", false, para, true, "semantic", 1, 0, mode);
    assert_int_equal (json_array_size (hits), 1);
    assert_string_equal (hit_text (hits, 0), PARSER_BUG);
    json_decref (hits);
    hits = search (c, "alice", false, "XYLOPHONE", false, NULL, 5, 0, NULL);
    assert_int_equal (json_array_size (hits), 1);
    json_decref (hits);
    /* and indexes what comes after */
    say (c, "alice", rid ("A3"), "Added test_blank_line with a zebra fixture.");
    hits = search (c, "alice", false, "zebra", false, NULL, 5, 0, NULL);
    assert_int_equal (json_array_size (hits), 1);
    json_decref (hits);
    teardown_fixture (&c, el, replay);
}

/* Retention deletes old runs, and recall forgets their messages. */
static void
test_retention_forgets (void **state)
{
    (void) state;
    bus_client_t *c;
    pid_t replay, el = fixture ("recall-retain", &c, &replay);
    uint64_t old = (uint64_t) zclock_time () * 1000 - 3 * 86400000000ull;
    proto_msg_t *m = started_msg (rid ("OLD"), "the quokka migration plan", "alice");
    m->env.ts = old;
    append_as (c, "alice", m);
    json_t *hits = search (c, "alice", false, "quokka", false, NULL, 5, 0, NULL);
    assert_int_equal (json_array_size (hits), 1);
    json_decref (hits);
    support_expect_clean_exit (el);
    const char *env[] = { "CAISSON_EVENTLOG_RETENTION_DAYS=1", NULL };
    el = start_eventlog (env);
    hits = search (c, "alice", false, "quokka", false, NULL, 5, 0, NULL);
    assert_int_equal (json_array_size (hits), 0);
    json_decref (hits);
    hits = search (c, "alice", false, "xylophone", false, NULL, 5, 0, NULL);
    assert_int_equal (json_array_size (hits), 1);
    json_decref (hits);
    teardown_fixture (&c, el, replay);
}

/* Vectors that fill the map: it grows, as for appends, and none is lost
 * (an LMDB MDB_MAP_FULL taken for a refusal once answered bad_value). */
static void
test_vectors_grow_the_map (void **state)
{
    (void) state;
    setup_stack ("recall-grow");
    const char *env[] = { "CAISSON_LMDB_MAP_MB=1", "CAISSON_LMDB_MAX_MB=64", NULL };
    pid_t el = start_eventlog (env);
    bus_client_t *c = client_new (5000, 1);
    const char *run = rid ("G1");
    start_run (c, "carol", run, "th-grow", "fill the map");
    enum { N = 640, DIMS = 1024 };
    for (int i = 0; i < N - 1; i++)
        say (c, "carol", run, "another message");
    llm_embeddings_t e = { malloc (64 * DIMS * sizeof (float)), 64, DIMS };
    uint64_t seqs[64];
    size_t stored = 0;
    for (int b = 0; b < N / 64; b++) {
        for (int i = 0; i < 64; i++) {
            seqs[i] = (uint64_t) (b * 64 + i + 1);
            for (int d = 0; d < DIMS; d++)
                e.data[i * DIMS + d] = (float) ((seqs[i] * 31 + (uint64_t) d * 17) % 101) - 50;
        }
        proto_msg_t *m = recall_vectors_new (NULL, run, "test/grow", seqs, &e);
        proto_set_str (&m->env.user, "carol");
        proto_msg_t *rep = request (c, m);
        assert_non_null (rep);
        if (rep->type != PROTO_recall_indexed)
            fail_msg ("batch %d: %s", b, rep->body.error.message);
        stored += rep->body.recall_indexed.stored;
        proto_msg_destroy (&rep);
    }
    assert_int_equal (stored, N);
    proto_msg_t *m = recall_search_new (NULL, "another", e.data, DIMS, "test/grow", 3, 0, NULL);
    proto_set_str (&m->env.user, "carol");
    proto_msg_t *rep = request (c, m);
    assert_int_equal (rep->type, PROTO_recall_results);
    assert_string_equal (rep->body.recall_results.mode, "hybrid");
    proto_msg_destroy (&rep);
    llm_embeddings_clear (&e);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
}

/* A recall.search as alice whose vector field holds the packed bytes. */
static proto_msg_t *
with_vector (const msgpack_sbuffer *sb)
{
    proto_msg_t *m = recall_search_new (NULL, "parser", NULL, 0, NULL, 5, 0, NULL);
    proto_set_str (&m->env.user, "alice");
    proto_set_bytes (&m->body.recall_search.vector, sb->data, sb->size);
    return m;
}

/* Nesting past the bus's depth limit: our own encoder refuses to make
 * it, so the frame is spliced by hand (a one-number vector's bytes
 * replaced by 40 nested arrays) and sent raw. */
static void
expect_too_deep (bus_client_t *c)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init (&sb);
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 1);
    msgpack_pack_double (&pk, 1234.5);
    proto_msg_t *m = with_vector (&sb);
    uint8_t *data, *frame = malloc (sb.size + 1024);
    size_t size, at = 0;
    assert_int_equal (proto_encode (m, &data, &size), 0);
    while (at + sb.size <= size && memcmp (data + at, sb.data, sb.size))
        at++;
    assert_true (at + sb.size <= size);
    memcpy (frame, data, at);
    size_t n = at;
    for (int d = 0; d < 40; d++)
        frame[n++] = 0x91;      /* fixarray of 1 */
    memcpy (frame + n, sb.data + 1, sb.size - 1);
    n += sb.size - 1;
    memcpy (frame + n, data + at + sb.size, size - at - sb.size);
    n += size - at - sb.size;
    assert_int_equal (bus_client_send (c, "event-log", frame, n), 0);
    proto_msg_t *rep = bus_client_recv (c, 3000, NULL);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "too_deep");
    proto_msg_destroy (&rep);
    proto_msg_destroy (&m);
    msgpack_sbuffer_destroy (&sb);
    free (data);
    free (frame);
}

static void
test_hostile_requests (void **state)
{
    (void) state;
    bus_client_t *c;
    pid_t replay, el = fixture ("recall-hostile", &c, &replay);
    char *huge = malloc (1 << 20);
    memset (huge, 'x', (1 << 20) - 1);
    huge[(1 << 20) - 1] = '\0';
    proto_msg_t *m = recall_search_new (NULL, huge, NULL, 0, NULL, 5, 0, NULL);
    free (huge);
    expect_error (c, m, "too_long", "query");
    m = recall_search_new (NULL, "x", NULL, 0, NULL, 1000000000, 0, NULL);
    expect_error (c, m, "range", "k");
    m = recall_search_new (NULL, "x", NULL, 0, NULL, 5, 1000, NULL);
    expect_error (c, m, "range", "window");
    m = recall_search_new (NULL, "x", NULL, 0, NULL, 5, 0, NULL);
    proto_set_str (&m->body.recall_search.mode, "telepathic");
    expect_error (c, m, "bad_value", "mode");
    m = recall_search_new (NULL, "x", NULL, 0, NULL, 5, 0, NULL);
    proto_set_str (&m->body.recall_search.mode, "semantic");
    expect_error (c, m, "bad_value", "vector");

    msgpack_sbuffer sb;
    msgpack_packer pk;
    /* NaN, infinity, a string, nesting, wrong dims, too many dims */
    const double bad[] = { NAN, INFINITY, -INFINITY };
    for (size_t i = 0; i < 3; i++) {
        msgpack_sbuffer_init (&sb);
        msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array (&pk, 256);
        for (int d = 0; d < 256; d++)
            msgpack_pack_double (&pk, d == 7 ? bad[i] : 0.1);
        expect_error (c, with_vector (&sb), "bad_value", "vector[7] is not a finite number");
        msgpack_sbuffer_destroy (&sb);
    }
    msgpack_sbuffer_init (&sb);
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_str_with_body (&pk, "0.1 0.2", 7);
    expect_error (c, with_vector (&sb), "bad_value", "array of numbers");
    msgpack_sbuffer_destroy (&sb);
    msgpack_sbuffer_init (&sb);
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    for (int d = 0; d < 20; d++)
        msgpack_pack_array (&pk, 1);
    msgpack_pack_double (&pk, 1);
    expect_error (c, with_vector (&sb), "bad_value", "vector[0] is an array");
    msgpack_sbuffer_destroy (&sb);
    expect_too_deep (c);
    msgpack_sbuffer_init (&sb);
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 3);
    for (int d = 0; d < 3; d++)
        msgpack_pack_double (&pk, 0.5);
    expect_error (c, with_vector (&sb), "bad_value", "256-dimension");
    msgpack_sbuffer_destroy (&sb);
    msgpack_sbuffer_init (&sb);
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 5000);
    for (int d = 0; d < 5000; d++)
        msgpack_pack_float (&pk, 0.5f);
    expect_error (c, with_vector (&sb), "bad_value", "5000 dimensions");
    msgpack_sbuffer_destroy (&sb);

    /* recall.vectors: wrong dims for the index, zero, too many items, a
     * model other than the index's, a bad run */
    llm_embeddings_t e = { calloc (3, sizeof (float)), 1, 3 };
    uint64_t seq = 2;
    e.data[0] = 1;
    m = recall_vectors_new (NULL, rid ("A1"), "replay/embed", &seq, &e);
    proto_set_str (&m->env.user, "alice");
    expect_error (c, m, "bad_value", "256-dimension");
    llm_embeddings_clear (&e);
    embed ("something", &e);
    m = recall_vectors_new (NULL, rid ("A1"), "openai/other", &seq, &e);
    proto_set_str (&m->env.user, "alice");
    expect_error (c, m, "bad_value", "replay/embed");
    memset (e.data, 0, e.dims * sizeof (float));
    m = recall_vectors_new (NULL, rid ("A1"), "replay/embed", &seq, &e);
    proto_set_str (&m->env.user, "alice");
    expect_error (c, m, "bad_value", "zeros");
    llm_embeddings_clear (&e);
    e = (llm_embeddings_t) { calloc (65 * 4, sizeof (float)), 65, 4 };
    uint64_t seqs[65] = { 0 };
    m = recall_vectors_new (NULL, rid ("A1"), "replay/embed", seqs, &e);
    proto_set_str (&m->env.user, "alice");
    expect_error (c, m, "bad_value", "at most 64");
    e.count = 1;
    m = recall_vectors_new (NULL, "../../etc", "replay/embed", seqs, &e);
    expect_error (c, m, "bad_run", "run");
    llm_embeddings_clear (&e);
    /* still serving */
    json_t *hits = search (c, "alice", false, "xylophone", false, NULL, 5, 0, NULL);
    assert_int_equal (json_array_size (hits), 1);
    json_decref (hits);
    teardown_fixture (&c, el, replay);
}

/* ---- the orchestrator's embedder, off its loop ----------------------------- */

typedef struct {
    int calls;
    size_t count, dims;
    float first;
    char error[256];
} got_t;

static void
on_embedded (const llm_embeddings_t *e, const char *error, void *arg)
{
    got_t *g = arg;
    g->calls++;
    if (e) {
        g->count = e->count;
        g->dims = e->dims;
        g->first = e->data[0];
    }
    else
        snprintf (g->error, sizeof g->error, "%s", error);
}

static int
until_called (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    return ((got_t *) arg)->calls ? -1 : 0;
}

/* Runs loop until g's callback ran, at most 5 s. */
static void
spin (zloop_t *loop, got_t *g)
{
    int t = zloop_timer (loop, 10, 500, until_called, g);
    zloop_start (loop);
    zloop_timer_end (loop, t);
    assert_int_equal (g->calls, 1);
}

static void
test_embedder_async (void **state)
{
    (void) state;
    bus_client_t *c;
    pid_t replay, el = fixture ("recall-embedder", &c, &replay);
    zloop_t *loop = zloop_new ();
    assert_null (recall_embedder_new (loop, ""));       /* semantic recall off */
    recall_embedder_t *em = recall_embedder_new (loop, "replay/embed");
    assert_non_null (em);
    const char *texts[] = { PARSER_BUG, "something else entirely" };
    got_t g = { 0 };
    assert_int_equal (recall_embedder_embed (em, texts, 2, 5000, on_embedded, &g), 0);
    spin (loop, &g);
    assert_int_equal (g.count, 2);
    assert_int_equal (g.dims, 256);
    /* the same vector as a blocking fetch gives */
    llm_embeddings_t e;
    embed (PARSER_BUG, &e);
    assert_true (fabsf (e.data[0] - g.first) < 1e-6f);
    llm_embeddings_clear (&e);
    /* a failure comes back as words, on the loop too */
    recall_embedder_destroy (&em);
    em = recall_embedder_new (loop, "nosuch/model");
    got_t bad = { 0 };
    assert_int_equal (recall_embedder_embed (em, texts, 1, 1000, on_embedded, &bad), 0);
    spin (loop, &bad);
    assert_non_null (strstr (bad.error, "no known provider"));
    /* a queued job dropped with its embedder never calls back */
    got_t never = { 0 };
    assert_int_equal (recall_embedder_embed (em, texts, 1, 1000, on_embedded, &never), 0);
    recall_embedder_destroy (&em);
    assert_int_equal (never.calls, 0);
    zloop_destroy (&loop);
    teardown_fixture (&c, el, replay);
}

/* The embeddings client against answers no provider should send. */
static void
test_embed_parse (void **state)
{
    (void) state;
    llm_embeddings_t e;
    char why[256];
    const char *ok = "{\"data\":[{\"index\":1,\"embedding\":[0,1]},"
                     "{\"index\":0,\"embedding\":[1,0]}]}";
    assert_int_equal (llm_embed_parse (ok, strlen (ok), 2, &e, why, sizeof why), 0);
    assert_true (e.data[0] == 1 && e.data[3] == 1);
    llm_embeddings_clear (&e);
    const char *bad[] = {
        "{\"data\":[{\"embedding\":[0,1]}]}",
        "{\"data\":[{\"embedding\":[0,1]},{\"embedding\":[0,1,2]}]}",
        "{\"data\":[{\"embedding\":[0,\"1\"]},{\"embedding\":[0,1]}]}",
        "{\"data\":[{\"embedding\":[0,1e300]},{\"embedding\":[0,1]}]}",
        "{\"data\":[{\"index\":7,\"embedding\":[0,1]},{\"embedding\":[0,1]}]}",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal (llm_embed_parse (bad[i], strlen (bad[i]), 2, &e, why, sizeof why), -1);
        assert_null (e.data);
    }
    assert_int_equal (llm_embed_fetch ("anthropic/claude", (const char *[]) { "x" }, 1, 100, &e,
                                       why, sizeof why), -1);
    assert_non_null (strstr (why, "no OpenAI-compatible embeddings"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_embed_parse),
        cmocka_unit_test (test_lexical_window_and_isolation),
        cmocka_unit_test (test_semantic_hybrid_and_restart),
        cmocka_unit_test (test_hostile_requests),
        cmocka_unit_test (test_retention_forgets),
        cmocka_unit_test (test_vectors_grow_the_map),
        cmocka_unit_test (test_embedder_async),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
