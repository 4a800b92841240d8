/* gw_sse (services/gateway): the gateway forwards a provider's stream
 * unchanged, one whole event at a time, reads its usage, and withholds
 * only the usage chunk it asked for itself. Streams of OpenAI, Anthropic
 * and Groq shapes, fed split at every byte and in seeded random pieces,
 * with LF, CRLF and CR line ends, oversized events and random events. */
#include "support.h"
#include "gw_sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OAI_HEAD \
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n" \
    ": keep-alive comment\n\n" \
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n" \
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo, usage\"}," \
    "\"finish_reason\":\"stop\"}]}\n\n"
#define OAI_USAGE \
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":120," \
    "\"completion_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":64}}}\n\n"
#define OAI_TAIL "data: [DONE]\n\n"

static const char s_anthropic[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"usage\":{\"input_tokens\":"
    "30,\"cache_read_input_tokens\":50,\"cache_creation_input_tokens\":20,"
    "\"output_tokens\":1}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"hi\"}}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
    "\"usage\":{\"output_tokens\":5}}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":9}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static const char s_groq[] =
    "data: {\"id\":\"g\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n"
    "data: {\"id\":\"g\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
    "\"x_groq\":{\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3}}}\n\n"
    "data: [DONE]\n\n";

static bool s_aligned = true;   /* check event alignment of what is ready */

typedef struct {
    char *out;
    size_t len;
} sink_t;

/* Takes what is ready, checking it always ends on an event boundary
 * while the stream runs (at_end: anything may follow). */
static void
drain (gw_sse_t *s, sink_t *k, bool at_end)
{
    size_t n;
    const char *p = gw_sse_ready (s, &n);
    if (!n)
        return;
    if (!at_end && s_aligned)
        assert_true (p[n - 1] == '\n' || p[n - 1] == '\r');
    k->out = realloc (k->out, k->len + n + 1);
    memcpy (k->out + k->len, p, n);
    k->len += n;
    k->out[k->len] = '\0';
    gw_sse_consume (s, n);
}

/* Runs text through a gw_sse in the pieces cuts[] (ascending, ended by
 * len); returns what came out (new) and the usage in *u. */
static char *
run (llm_proto_t proto, bool withhold, const char *text, size_t len, const size_t *cuts,
     size_t ncuts, gw_usage_t *u, bool *withheld)
{
    gw_sse_t *s = gw_sse_new (proto, withhold);
    assert_non_null (s);
    sink_t k = { calloc (1, 1), 0 };
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        assert_int_equal (gw_sse_feed (s, text + at, to - at), 0);
        drain (s, &k, false);
        at = to;
    }
    gw_sse_finish (s);
    drain (s, &k, true);
    assert_int_equal (gw_sse_held (s), 0);
    *u = *gw_sse_usage (s);
    if (withheld)
        *withheld = gw_sse_withheld (s);
    gw_sse_destroy (&s);
    return k.out;
}

static void
test_openai_every_split (void **state)
{
    (void) state;
    const char *full = OAI_HEAD OAI_USAGE OAI_TAIL, *clientview = OAI_HEAD OAI_TAIL;
    size_t len = strlen (full);
    for (size_t cut = 0; cut <= len; cut++) {
        gw_usage_t u;
        bool w;
        char *out = run (LLM_OPENAI, true, full, len, &cut, 1, &u, &w);
        assert_string_equal (out, clientview);
        assert_true (w && u.seen);
        assert_int_equal (u.in, 120);
        assert_int_equal (u.out, 7);
        assert_int_equal (u.cached, 64);
        free (out);
        /* the client asked for usage itself: every byte goes through */
        out = run (LLM_OPENAI, false, full, len, &cut, 1, &u, &w);
        assert_string_equal (out, full);
        assert_false (w);
        assert_int_equal (u.out, 7);
        free (out);
    }
}

static void
test_one_byte_at_a_time (void **state)
{
    (void) state;
    size_t len = strlen (s_anthropic);
    size_t *cuts = malloc (len * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    gw_usage_t u;
    char *out = run (LLM_ANTHROPIC, true, s_anthropic, len, cuts, len, &u, NULL);
    assert_string_equal (out, s_anthropic);
    assert_int_equal (u.in, 100);
    assert_int_equal (u.cached, 50);
    assert_int_equal (u.cache_write, 20);
    assert_int_equal (u.out, 9);
    free (out);
    free (cuts);
}

static void
test_anthropic_and_groq_splits (void **state)
{
    (void) state;
    size_t alen = strlen (s_anthropic), glen = strlen (s_groq);
    for (size_t cut = 0; cut <= alen; cut++) {
        gw_usage_t u;
        char *out = run (LLM_ANTHROPIC, true, s_anthropic, alen, &cut, 1, &u, NULL);
        assert_string_equal (out, s_anthropic);
        assert_int_equal (u.out, 9);
        assert_int_equal (u.in, 100);
        free (out);
    }
    for (size_t cut = 0; cut <= glen; cut++) {
        gw_usage_t u;
        bool w;
        char *out = run (LLM_OPENAI, true, s_groq, glen, &cut, 1, &u, &w);
        assert_string_equal (out, s_groq);   /* Groq's usage rides a choice: kept */
        assert_false (w);
        assert_int_equal (u.in, 11);
        assert_int_equal (u.out, 3);
        free (out);
    }
}

/* text with every "\n" written as eol (new). */
static char *
with_eol (const char *text, const char *eol)
{
    size_t n = 0, el = strlen (eol);
    char *out = malloc (strlen (text) * el + 1);
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            memcpy (out + n, eol, el);
            n += el;
        }
        else
            out[n++] = *p;
    }
    out[n] = '\0';
    return out;
}

static void
test_crlf_and_cr (void **state)
{
    (void) state;
    const char *eols[] = { "\r\n", "\r" };
    for (size_t e = 0; e < 2; e++) {
        char *full = with_eol (OAI_HEAD OAI_USAGE OAI_TAIL, eols[e]);
        char *client = with_eol (OAI_HEAD OAI_TAIL, eols[e]);
        size_t len = strlen (full);
        for (size_t cut = 0; cut <= len; cut++) {
            gw_usage_t u;
            bool w;
            char *out = run (LLM_OPENAI, true, full, len, &cut, 1, &u, &w);
            assert_string_equal (out, client);
            assert_true (w);
            assert_int_equal (u.cached, 64);
            free (out);
        }
        free (full);
        free (client);
    }
}

/* An event past GW_SSE_EVENT_MAX goes through unparsed, as it comes, and
 * the events after it are read again. */
static void
test_oversized_event (void **state)
{
    (void) state;
    size_t big = GW_SSE_EVENT_MAX + 4096;
    const char *pre = "data: {\"usage\":\"", *post = "\"}\n\n";
    size_t len = strlen (pre) + big + strlen (post) + strlen (OAI_USAGE OAI_TAIL);
    char *text = malloc (len + 1);
    size_t n = 0;
    memcpy (text, pre, strlen (pre));
    n += strlen (pre);
    memset (text + n, 'a', big);
    n += big;
    strcpy (text + n, post);
    strcat (text, OAI_USAGE OAI_TAIL);
    size_t cuts[] = { 10, 70000, GW_SSE_EVENT_MAX + 10, GW_SSE_EVENT_MAX + 4100 };
    gw_usage_t u;
    bool w;
    s_aligned = false;
    char *out = run (LLM_OPENAI, true, text, len, cuts, 4, &u, &w);
    s_aligned = true;
    text[len - strlen (OAI_USAGE OAI_TAIL)] = '\0';
    strcat (text, OAI_TAIL);
    assert_string_equal (out, text);
    assert_true (w);
    assert_int_equal (u.out, 7);
    free (out);
    free (text);
}

/* Events held back are never forwarded before they end: TTFB is an
 * event's, and the client never sees half an event. */
static void
test_event_aligned (void **state)
{
    (void) state;
    gw_sse_t *s = gw_sse_new (LLM_OPENAI, true);
    const char *e1 = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n";
    assert_int_equal (gw_sse_feed (s, e1, strlen (e1) - 1), 0);
    size_t n;
    gw_sse_ready (s, &n);
    assert_int_equal (n, 0);
    assert_int_equal (gw_sse_held (s), strlen (e1) - 1);
    assert_int_equal (gw_sse_feed (s, "\n", 1), 0);
    const char *p = gw_sse_ready (s, &n);
    assert_int_equal (n, strlen (e1));
    assert_memory_equal (p, e1, n);
    gw_sse_destroy (&s);
}

static uint64_t s_seed;

static uint32_t
rnd (void)
{
    s_seed = s_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (s_seed >> 33);
}

/* Random streams (data, event:, id:, comments, junk JSON, random line
 * ends, one usage chunk somewhere) in random pieces: everything but the
 * usage chunk comes out, byte for byte. */
static void
test_fuzz (void **state)
{
    (void) state;
    const char *seed_env = getenv ("GW_SSE_SEED");
    uint64_t seed = seed_env ? strtoull (seed_env, NULL, 10) : 20261207;
    for (int round = 0; round < 400; round++) {
        s_seed = seed + (uint64_t) round;
        char *full = calloc (1, 1 << 16), *client = calloc (1, 1 << 16);
        const char *eols[] = { "\n", "\r\n", "\r" };
        int nev = 1 + (int) (rnd () % 12), usage_at = (int) (rnd () % (unsigned) nev);
        for (int i = 0; i < nev; i++) {
            const char *eol = eols[rnd () % 3];
            char ev[2048];
            int kind = (int) (rnd () % 5);
            if (i == usage_at)
                snprintf (ev, sizeof ev, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":%u,"
                          "\"completion_tokens\":%d}}%s%s", rnd () % 1000, round, eol, eol);
            else if (kind == 0)
                snprintf (ev, sizeof ev, ": ping %u%s%s", rnd (), eol, eol);
            else if (kind == 1)
                snprintf (ev, sizeof ev, "event: x%sid: %u%sdata: {\"usage\": [%s%s", eol,
                          rnd (), eol, eol, eol);
            else if (kind == 2)
                snprintf (ev, sizeof ev, "data: {\"choices\":[{\"delta\":{\"content\":\"%u "
                          "usage\"}}]}%sdata: more%s%s", rnd (), eol, eol, eol);
            else
                snprintf (ev, sizeof ev, "data:%u%s%s", rnd (), eol, eol);
            strcat (full, ev);
            if (i != usage_at)
                strcat (client, ev);
        }
        size_t len = strlen (full), cuts[16], ncuts = rnd () % 16;
        for (size_t i = 0; i < ncuts; i++)
            cuts[i] = rnd () % (len + 1);
        for (size_t i = 1; i < ncuts; i++)     /* sort: insertion */
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        gw_usage_t u;
        bool w;
        char *out = run (LLM_OPENAI, true, full, len, cuts, ncuts, &u, &w);
        if (strcmp (out, client))
            fail_msg ("seed %llu: out differs", (unsigned long long) s_seed);
        assert_true (w);
        assert_int_equal (u.out, round);
        free (out);
        free (full);
        free (client);
    }
}

static void
test_whole_bodies (void **state)
{
    (void) state;
    gw_usage_t u;
    const char *chat = "{\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
                       "\"completion_tokens\":2,\"total_tokens\":7}}";
    assert_true (gw_usage_of_body (LLM_OPENAI, chat, strlen (chat), &u));
    assert_int_equal (u.in, 5);
    assert_int_equal (u.out, 2);
    const char *emb = "{\"data\":[],\"usage\":{\"prompt_tokens\":9,\"total_tokens\":9}}";
    assert_true (gw_usage_of_body (LLM_OPENAI, emb, strlen (emb), &u));
    assert_int_equal (u.in, 9);
    const char *msg = "{\"type\":\"message\",\"usage\":{\"input_tokens\":4,\"output_tokens\":6,"
                      "\"cache_read_input_tokens\":2}}";
    assert_true (gw_usage_of_body (LLM_ANTHROPIC, msg, strlen (msg), &u));
    assert_int_equal (u.in, 6);
    assert_int_equal (u.out, 6);
    assert_int_equal (u.cached, 2);
    assert_false (gw_usage_of_body (LLM_OPENAI, "nope", 4, &u));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_openai_every_split),
        cmocka_unit_test (test_one_byte_at_a_time),
        cmocka_unit_test (test_anthropic_and_groq_splits),
        cmocka_unit_test (test_crlf_and_cr),
        cmocka_unit_test (test_oversized_event),
        cmocka_unit_test (test_event_aligned),
        cmocka_unit_test (test_fuzz),
        cmocka_unit_test (test_whole_bodies),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
