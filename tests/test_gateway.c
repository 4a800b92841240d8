/* test_gateway: the model gateway (issue 16) end to end, from the host,
 * with the official `openai` and `@anthropic-ai/sdk` clients, unmodified
 * (tests/gateway/sdk.cjs), in front of the scripted model
 * (gateway_fixture.h: real broker, gateway-keys, gateway, llm-replay):
 * - S1 both SDKs, streamed and whole, embeddings and models; each call's
 *   usage charged to the key at the configured price; the answers' bytes
 *   through the gateway are the scripted model's own; and every answer
 *   proves the real key was forwarded (the scripted model, standing in for
 *   OpenAI and Anthropic, refuses any other);
 * - S3 a revoked key (401 key_revoked), an expired one (401 key_expired),
 *   a model off the allow-list (403 model_not_allowed);
 * - S4 a rate limit: 429 rate_limit_requests with Retry-After, which the
 *   SDK's own retries honour and then get in;
 * - S5 100 concurrent calls against a budget that allows 10: exactly 10
 *   succeed (each reserves what it costs), the others are refused 402
 *   naming the budget, the model sees 10 requests, and the stored spend is
 *   the sum of the successful calls' usage at the price;
 * - S7 a provider's 400 and 529 reach the client with status and message,
 *   and release their reservations; a provider error quoting the real key
 *   reaches the client with the key masked. */
#include "gateway_fixture.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define USER "alice"
#define ALL_MODELS "[\"openai/*\", \"anthropic/*\"]"

static uint64_t
now_ms (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000 + (uint64_t) tv.tv_usec / 1000;
}

static json_int_t
num (const json_t *o, const char *name)
{
    return json_integer_value (json_object_get (o, name));
}

/* Starts sdk.cjs mode with the gateway and key, then the NULL-ended
 * extra args; its stdout in *out. */
static pid_t
sdk_start (const char *mode, const gwf_key_t *k, const char *const extra[], int *out)
{
    const char *args[40] = { mode, "--base", gwf_base (), "--key", k->secret, "--model",
                             GWF_MODEL, "--amodel", GWF_AMODEL };
    size_t n = 9;
    for (size_t i = 0; extra && extra[i] && n < 39; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return gwf_sdk_start (args, out);
}

/* The same, waited for: its result (new). */
static json_t *
sdk (const char *mode, const gwf_key_t *k, const char *const extra[], int *rc)
{
    int out;
    pid_t pid = sdk_start (mode, k, extra, &out);
    return gwf_sdk_wait (pid, out, rc);
}

/* An expected refusal: status and (OpenAI) code; the result (new). */
static json_t *
refused (const gwf_key_t *k, const char *api, const char *model, long status,
         const char *code)
{
    char st[16];
    snprintf (st, sizeof st, "%ld", status);
    const char *extra[] = { "--api", api, "--retries", "0", "--status", st, "--code", code,
                            !strcmp (api, "openai") ? "--model" : "--amodel", model, NULL };
    int rc;
    json_t *r = sdk ("error", k, extra, &rc);
    char *text = json_dumps (r, JSON_COMPACT);
    if (rc)
        fail_msg ("wanted %ld %s from %s: %s", status, code, api, text);
    free (text);
    return r;
}

/* ---- S1 ------------------------------------------------------------------- */

static void
test_sdk_host (void **state)
{
    (void) state;
    gwf_key_opts_t o = { .models = ALL_MODELS, .budget_nusd = 10000000 };
    gwf_key_t k = gwf_key (USER, &o);
    long before = gwf_replay_requests ();
    const char *extra[] = { "--text", gwf_fixed_text (), "--out", "50", NULL };
    int rc;
    json_t *r = sdk ("all", &k, extra, &rc);
    char *text = json_dumps (r, JSON_COMPACT);
    if (rc || !json_is_true (json_object_get (r, "ok")))
        fail_msg ("sdk.cjs all: %s", text);
    free (text);
    json_decref (r);
    /* 3 chat calls, 1 embeddings, 2 messages reached the model (models
     * is the gateway's own list) */
    assert_int_equal (gwf_replay_requests () - before, 6);
    /* five answers of 50 output tokens, input free: 5 x 50 x 1000 nUSD */
    json_t *u = gwf_key_settled (USER, k.id);
    assert_int_equal (num (u, "spentNusd"), 5 * GWF_FIXED_OUT * GWF_NUSD_PER_TOKEN);
    assert_int_equal (num (u, "calls"), 6);
    json_decref (u);
}

/* s without its SSE events (blank-line ended) that contain mark, in place. */
static char *
drop_events (char *s, const char *mark)
{
    char *out = s, *p = s;
    while (*p) {
        char *end = strstr (p, "\n\n");
        size_t n = end ? (size_t) (end - p) + 2 : strlen (p);
        char saved = p[n];
        p[n] = '\0';
        bool drop = strstr (p, mark) != NULL;
        p[n] = saved;
        if (!drop) {
            memmove (out, p, n);
            out += n;
        }
        p += n;
    }
    *out = '\0';
    return s;
}

/* A whole answer's JSON text without the input count (which follows the
 * request body's length, and the gateway sends its own body upstream). */
static char *
without_input (char *text)
{
    json_t *j = json_loads (text, 0, NULL);
    assert_non_null (j);
    free (text);
    json_t *u = json_object_get (j, "usage");
    json_object_del (u, "prompt_tokens");
    json_object_del (u, "total_tokens");
    json_object_del (u, "input_tokens");
    char *out = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (j);
    return out;
}

/* Through the gateway the client gets the scripted model's bytes: an
 * OpenAI stream that asked for no usage identical (the gateway asks for
 * usage upstream and withholds exactly that chunk), one that asked for it
 * identical but for the usage chunk's input count, an Anthropic stream
 * identical after message_start (its input count), whole answers equal
 * but for the input count. */
static void
test_bytes (void **state)
{
    (void) state;
    gwf_key_opts_t o = { .models = ALL_MODELS };
    gwf_key_t k = gwf_key (USER, &o);
    const char *gw = gwf_base (), *rp = gwf_replay_base ();
    const char *route[] = { "/v1/chat/completions", "/v1/messages" };
    const char *model[] = { GWF_MODEL, GWF_AMODEL };
    for (int a = 0; a < 2; a++) {
        char *via_b = gwf_fixed_body (model[a], true, false);
        char *direct_b = gwf_fixed_body ("t", true, false);
        char *via = gwf_post (gw, route[a], k.secret, a, via_b);
        char *direct = gwf_post (rp, route[a], gwf_real_key (), a, direct_b);
        if (a) {
            drop_events (via, "message_start");
            drop_events (direct, "message_start");
        }
        else if (strstr (via, "\"usage\""))
            fail_msg ("a usage chunk nobody asked for: %s", via);
        assert_string_equal (via, direct);
        free (via);
        free (direct);
        free (via_b);
        free (direct_b);
        via_b = gwf_fixed_body (model[a], false, false);
        direct_b = gwf_fixed_body ("t", false, false);
        via = without_input (gwf_post (gw, route[a], k.secret, a, via_b));
        direct = without_input (gwf_post (rp, route[a], gwf_real_key (), a, direct_b));
        assert_string_equal (via, direct);
        free (via);
        free (direct);
        free (via_b);
        free (direct_b);
    }
    char *via_b = gwf_fixed_body (GWF_MODEL, true, true);
    char *direct_b = gwf_fixed_body ("t", true, true);
    char *via = gwf_post (gw, route[0], k.secret, false, via_b);
    char *direct = gwf_post (rp, route[0], gwf_real_key (), false, direct_b);
    assert_non_null (strstr (via, "\"completion_tokens\":50"));
    assert_string_equal (drop_events (via, "\"usage\""), drop_events (direct, "\"usage\""));
    free (via);
    free (direct);
    free (via_b);
    free (direct_b);
}

/* ---- S3 ------------------------------------------------------------------- */

static void
test_refusals (void **state)
{
    (void) state;
    gwf_key_opts_t o = { .models = ALL_MODELS };
    gwf_key_t revoked = gwf_key (USER, &o);
    gwf_revoke (revoked.id);
    json_decref (refused (&revoked, "openai", GWF_MODEL, 401, "key_revoked"));
    json_t *r = refused (&revoked, "anthropic", GWF_AMODEL, 401, "");
    assert_string_equal (support_json_str (r, "name"), "AuthenticationError");
    json_decref (r);
    o.expires_at = now_ms () + 1500;
    gwf_key_t expiring = gwf_key (USER, &o);
    r = sdk ("call", &expiring, (const char *[]) { "--retries", "0", NULL }, NULL);
    assert_true (json_is_true (json_object_get (r, "ok")));
    json_decref (r);
    zclock_sleep (1700);
    json_decref (refused (&expiring, "openai", GWF_MODEL, 401, "key_expired"));
    gwf_key_opts_t narrow = { .models = "[\"openai/allowed\"]" };
    gwf_key_t k = gwf_key (USER, &narrow);
    r = refused (&k, "openai", GWF_MODEL, 403, "model_not_allowed");
    assert_string_equal (support_json_str (r, "name"), "PermissionDeniedError");
    json_decref (r);
    json_decref (refused (&k, "anthropic", GWF_AMODEL, 403, ""));
    /* an unknown secret of the right shape */
    gwf_key_t forged = k;
    forged.secret[strlen (forged.secret) - 1] ^= 1;
    json_decref (refused (&forged, "openai", "openai/allowed", 401, "invalid_api_key"));
}

/* The call test_rate_limit leaves retrying with the SDK's own retries, and
 * when it started; test_rate_limit_retried waits for it. */
static pid_t s_retrying = -1;
static int s_retrying_out = -1;
static uint64_t s_retrying_at;
static gwf_key_t s_limited;

/* ---- S4 ------------------------------------------------------------------- */

static void
test_rate_limit (void **state)
{
    (void) state;
    gwf_key_opts_t o = { .models = ALL_MODELS, .rpm = 2 };
    gwf_key_t k = gwf_key (USER, &o);
    for (int i = 0; i < 2; i++) {
        json_t *r = sdk ("call", &k, (const char *[]) { "--retries", "0", NULL }, NULL);
        assert_true (json_is_true (json_object_get (r, "ok")));
        json_decref (r);
    }
    long before = gwf_replay_requests ();
    json_t *r = refused (&k, "openai", GWF_MODEL, 429, "rate_limit_requests");
    assert_string_equal (support_json_str (r, "name"), "RateLimitError");
    long after = atol (support_json_str (r, "retryAfter"));
    assert_true (after >= 1 && after <= 60);
    json_decref (r);
    assert_int_equal (gwf_replay_requests (), before);
    /* with its default retries the SDK waits as told and then gets in: it
     * runs meanwhile, test_rate_limit_retried (last) collects it */
    s_limited = k;
    s_retrying_at = now_ms ();
    s_retrying = sdk_start ("call", &k, (const char *[]) { "--retries", "2", NULL },
                            &s_retrying_out);
}

static void
test_rate_limit_retried (void **state)
{
    (void) state;
    assert_true (s_retrying > 0);
    int rc;
    json_t *r = gwf_sdk_wait (s_retrying, s_retrying_out, &rc);
    s_retrying = -1;
    char *text = json_dumps (r, JSON_COMPACT);
    if (rc || !json_is_true (json_object_get (r, "ok")))
        fail_msg ("the retried call: %s", text);
    free (text);
    json_decref (r);
    /* it waited for the minute to let it in, not a blind back-off */
    assert_true (now_ms () - s_retrying_at >= 1000);
    json_t *u = gwf_key_settled (USER, s_limited.id);
    assert_int_equal (num (u, "calls"), 3);
    json_decref (u);
}

/* ---- S5 ------------------------------------------------------------------- */

static void
test_budget_race (void **state)
{
    (void) state;
    enum { CALLS = 100, AFFORD = 10 };
    gwf_key_opts_t o = { .models = ALL_MODELS, .window = "day",
                         .budget_nusd = AFFORD * GWF_FIXED_OUT * GWF_NUSD_PER_TOKEN };
    gwf_key_t k = gwf_key (USER, &o);
    long before = gwf_replay_requests ();
    const char *extra[] = { "--n", "100", "--max-tokens", "50", "--retries", "0", NULL };
    json_t *r = sdk ("concurrent", &k, extra, NULL);
    char *text = json_dumps (r, JSON_COMPACT);
    /* each call reserves exactly what it costs (50 tokens out, input free):
     * ten fit, never more */
    if (num (r, "succeeded") != AFFORD)
        fail_msg ("wanted %d successes of %d: %s", AFFORD, CALLS, text);
    assert_int_equal (num (r, "outTokens"), AFFORD * GWF_FIXED_OUT);
    json_t *refusals = json_object_get (r, "refused");
    if (json_object_size (refusals) != 1
        || num (refusals, "402 budget_exceeded") != CALLS - AFFORD)
        fail_msg ("wanted %d refusals 402 budget_exceeded: %s", CALLS - AFFORD, text);
    json_t *why = json_object_get (json_object_get (r, "messages"), "402 budget_exceeded");
    assert_true (strncmp (support_json_str (why, "budget"), "key.cost.", 9) == 0);
    assert_true (*support_json_str (why, "reset"));
    assert_non_null (strstr (support_json_str (why, "message"), k.id));
    assert_non_null (strstr (support_json_str (why, "message"), "reset"));
    free (text);
    /* only the granted calls reached the model */
    assert_int_equal (gwf_replay_requests () - before, AFFORD);
    /* the stored spend is the sum of the successful calls' usage x price */
    json_t *u = gwf_key_settled (USER, k.id);
    assert_int_equal (num (u, "spentNusd"), num (r, "outTokens") * GWF_NUSD_PER_TOKEN);
    assert_int_equal (num (u, "calls"), AFFORD);
    assert_int_equal (num (u, "refused"), CALLS - AFFORD);
    json_decref (u);
    json_decref (r);
}

/* The same race from C: 100 streamed calls at once on curl multi, each
 * on its own connection, against a key that affords 10. */
static void
test_budget_race_curl (void **state)
{
    (void) state;
    enum { CALLS = 100, AFFORD = 10 };
    gwf_key_opts_t o = { .models = ALL_MODELS, .window = "week",
                         .budget_nusd = AFFORD * GWF_FIXED_OUT * GWF_NUSD_PER_TOKEN };
    gwf_key_t k = gwf_key (USER, &o);
    long before = gwf_replay_requests ();
    char url[128], auth[320];
    snprintf (url, sizeof url, "%s/v1/chat/completions", gwf_base ());
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", k.secret);
    struct curl_slist *h = curl_slist_append (NULL, "Content-Type: application/json");
    h = curl_slist_append (h, auth);
    char *body = gwf_fixed_body (GWF_MODEL, true, true);
    CURLM *m = curl_multi_init ();
    CURL *e[CALLS];
    http_body_t out[CALLS];
    memset (out, 0, sizeof out);
    for (int i = 0; i < CALLS; i++) {
        e[i] = curl_easy_init ();
        curl_easy_setopt (e[i], CURLOPT_URL, url);
        curl_easy_setopt (e[i], CURLOPT_HTTPHEADER, h);
        curl_easy_setopt (e[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (e[i], CURLOPT_WRITEFUNCTION, http_body_collect);
        curl_easy_setopt (e[i], CURLOPT_WRITEDATA, &out[i]);
        curl_easy_setopt (e[i], CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt (e[i], CURLOPT_TIMEOUT_MS, 30000L);
        curl_multi_add_handle (m, e[i]);
    }
    int running = CALLS;
    while (running) {
        curl_multi_perform (m, &running);
        if (running)
            curl_multi_poll (m, NULL, 0, 100, NULL);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < CALLS; i++) {
        long status = 0;
        curl_easy_getinfo (e[i], CURLINFO_RESPONSE_CODE, &status);
        if (status == 200) {
            ok++;
            assert_non_null (strstr (out[i].buf, "\"completion_tokens\":50"));
        }
        else if (status == 402 && strstr (out[i].buf, "budget_exceeded"))
            refused++;
        else
            fail_msg ("call %d: %ld %s", i, status, out[i].buf ? out[i].buf : "");
        curl_multi_remove_handle (m, e[i]);
        curl_easy_cleanup (e[i]);
        free (out[i].buf);
    }
    curl_multi_cleanup (m);
    curl_slist_free_all (h);
    free (body);
    assert_int_equal (ok, AFFORD);
    assert_int_equal (refused, CALLS - AFFORD);
    assert_int_equal (gwf_replay_requests () - before, AFFORD);
    json_t *u = gwf_key_settled (USER, k.id);
    assert_int_equal (num (u, "spentNusd"), AFFORD * GWF_FIXED_OUT * GWF_NUSD_PER_TOKEN);
    json_decref (u);
}

/* ---- S7 ------------------------------------------------------------------- */

static void
test_provider_error (void **state)
{
    (void) state;
    gwf_key_opts_t o = { .models = ALL_MODELS, .budget_nusd = 10000000 };
    gwf_key_t k = gwf_key (USER, &o);
    static const char *const apis[] = { "openai", "anthropic" };
    for (int i = 0; i < 2; i++) {
        const char *e400[] = { "--api", apis[i], "--retries", "0", "--status", "400",
                               "--task", "gateway: fail with 400", NULL };
        json_t *r = sdk ("error", &k, e400, NULL);
        assert_true (json_is_true (json_object_get (r, "ok")));
        assert_string_equal (support_json_str (r, "message"), "scripted: context too long");
        assert_string_equal (support_json_str (r, "name"), "BadRequestError");
        json_decref (r);
        const char *e529[] = { "--api", apis[i], "--retries", "0", "--status", "529",
                               "--task", "gateway: fail with 529", "--stream", NULL };
        r = sdk ("error", &k, e529, NULL);
        assert_true (json_is_true (json_object_get (r, "ok")));
        assert_string_equal (support_json_str (r, "message"), "Overloaded");
        assert_string_equal (support_json_str (r, "type"), "overloaded_error");
        json_decref (r);
    }
    /* an error body that quotes the real key back: masked */
    for (int i = 0; i < 2; i++) {
        const char *echo[] = { "--api", apis[i], "--retries", "0", "--status", "400",
                               "--task", GWF_ECHO_TASK, NULL };
        json_t *r = sdk ("error", &k, echo, NULL);
        char *text = json_dumps (r, JSON_COMPACT);
        if (!json_is_true (json_object_get (r, "ok")) || strstr (text, gwf_real_key ())
            || !strstr (text, "Incorrect API key provided: ***"))
            fail_msg ("the real key, unmasked or not as expected: %s", text);
        free (text);
        json_decref (r);
    }
    /* provider errors report no usage: nothing spent, nothing held */
    json_t *u = gwf_key_settled (USER, k.id);
    assert_int_equal (num (u, "spentNusd"), 0);
    json_decref (u);
}

static int
setup (void **state)
{
    (void) state;
    gwf_up ("gateway", NULL, false);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    gwf_down ();
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sdk_host),
        cmocka_unit_test (test_bytes),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_rate_limit),
        cmocka_unit_test (test_budget_race),
        cmocka_unit_test (test_budget_race_curl),
        cmocka_unit_test (test_provider_error),
        cmocka_unit_test (test_rate_limit_retried),
    };
    return support_run_group_tests (tests, setup, teardown);
}
