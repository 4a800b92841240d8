/* caisson-gateway with the real caisson-gateway-keys (gkeys_util's stack)
 * and llm-replay: a key made with gkey.create calls through the gateway,
 * its spend is what the stream's usage says at the deployment's prices,
 * and once its budget is spent the next call is refused 402 with the
 * budget and its reset named. The contract of gkey.reserve and
 * gkey.settle, from both ends. */
#include "gkeys_util.h"
#include "http_body.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pid_t s_replay, s_gw;
static char s_url[64];

/* POST body to the gateway's path with key (NULL: GET); the status, and
 * the answer's head and body in *head and *body (new). */
static long
call (const char *path, const char *key, const char *body, char **head, char **out)
{
    char url[128], auth[200];
    snprintf (url, sizeof url, "%s%s", s_url, path);
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    http_body_t h = { 0 }, b = { 0 };
    CURL *e = curl_easy_init ();
    struct curl_slist *hl = curl_slist_append (NULL, "Content-Type: application/json");
    hl = curl_slist_append (hl, auth);
    curl_easy_setopt (e, CURLOPT_URL, url);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, hl);
    if (body)
        curl_easy_setopt (e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, http_body_collect);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, http_body_collect);
    curl_easy_setopt (e, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt (e, CURLOPT_TIMEOUT, 30L);
    curl_easy_perform (e);
    long status = 0;
    curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup (e);
    curl_slist_free_all (hl);
    *head = http_body_take (&h);
    *out = http_body_take (&b);
    return status;
}

/* Whether GET s_url/health answers 200 within 5 s. */
static bool
healthy (void)
{
    for (int i = 0; i < 250; i++) {
        char *h, *b;
        long st = call ("/health", NULL, NULL, &h, &b);
        free (h);
        free (b);
        if (st == 200)
            return true;
        usleep (20000);
    }
    return false;
}

static int
setup (void **state)
{
    gku_setup (state);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    char cassettes[512];
    int rport = support_replay_env (cassettes, sizeof cassettes), gport = support_free_port ();
    s_replay = support_spawn_llm_replay (rport, cassettes, NULL);
    static char e_http[64];
    snprintf (e_http, sizeof e_http, "CAISSON_GATEWAY_HTTP=127.0.0.1:%d", gport);
    snprintf (s_url, sizeof s_url, "http://127.0.0.1:%d", gport);
    s_gw = support_spawn ("caisson-gateway", (const char *[]) {
        e_http, "CAISSON_GATEWAY_PRICES=replay/*=0,1,0,4096", NULL });
    /* llm-replay too: a call before it listens is the gateway's 502 */
    snprintf (s_url, sizeof s_url, "http://127.0.0.1:%d", rport);
    if (!healthy ())
        fail_msg ("caisson-llm-replay did not come up");
    snprintf (s_url, sizeof s_url, "http://127.0.0.1:%d", gport);
    if (!healthy ())
        fail_msg ("caisson-gateway did not come up");
    return 0;
}

static int
teardown (void **state)
{
    if (s_gw)
        support_stop (s_gw, SIGTERM, 5000);
    support_stop (s_replay, SIGTERM, 5000);
    return gku_teardown (state);
}

/* completion_tokens of the usage chunk in an OpenAI stream. */
static uint64_t
stream_output (const char *text)
{
    const char *u = strstr (text, "\"completion_tokens\":");
    assert_non_null (u);
    return strtoull (u + 20, NULL, 10);
}

static void
test_spend_and_refusal (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    /* room for one call's reservation (64 tokens), and not for two calls'
     * output: llm-replay's demo answer is longer than any max it is given */
    kopt_t o = { .bnusd = 100 * NUSD_PER_TOKEN, .window = "day" };
    const char *key = mk_key ("alice", true, &o, id);
    const char *body = "{\"model\":\"replay/demo\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"hello gateway\"}],\"max_tokens\":64,\"stream\":true,"
                       "\"stream_options\":{\"include_usage\":true}}";
    char *head, *out;
    assert_int_equal (call ("/v1/chat/completions", key, body, &head, &out), 200);
    uint64_t spent = stream_output (out) * NUSD_PER_TOKEN;
    assert_non_null (strstr (head, "x-caisson-call: "));
    free (head);
    free (out);
    uint64_t got = 0;
    for (int i = 0; i < 250 && got != spent; i++) {
        got = count_of ("alice", label_of ("key", id), "spentNusd");
        if (got != spent)
            usleep (20000);
    }
    assert_int_equal (got, spent);
    assert_int_equal (count_of ("alice", label_of ("key", id), "reservedNusd"), 0);
    assert_int_equal (call ("/v1/chat/completions", key, body, &head, &out), 402);
    assert_non_null (strstr (head, "x-caisson-budget: key.cost.day"));
    assert_non_null (strstr (head, "x-caisson-budget-reset: "));
    assert_non_null (strstr (out, "\"code\":\"budget_exceeded\""));
    free (head);
    free (out);
    /* a key gateway-keys never made */
    char fake[VKEY_SIZE];
    assert_int_equal (vkey_make ("alice", fake, sizeof fake), 0);
    assert_int_equal (call ("/v1/chat/completions", fake, body, &head, &out), 401);
    assert_non_null (strstr (out, "\"code\":\"invalid_api_key\""));
    free (head);
    free (out);
}

static void
test_clean_exit (void **state)
{
    (void) state;
    pid_t gw = s_gw;
    s_gw = 0;
    support_expect_clean_exit (gw);
}

int
main (int argc, char **argv)
{
    s_name = "gwlive";
    int rc = gku_child (argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_spend_and_refusal),
        cmocka_unit_test (test_clean_exit),
    };
    return support_run_group_tests (tests, setup, teardown);
}
