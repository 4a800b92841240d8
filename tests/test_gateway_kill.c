/* kill -9 in the model gateway's stack, end to end (issue 16): the real
 * caisson-gateway (instance gw-k) and caisson-gateway-keys between a client
 * and a provider whose stream stalls (gw_fakes.c, model `openai/slow`).
 * - The gateway killed mid-stream: its reservation stays reserved while the
 *   broker may still list gw-k, then is charged in full within
 *   CAISSON_GATEWAY_ORPHAN_S (1 s here) and shows in the key's usage.
 * - The gateway killed mid-stream and restarted under the same instance
 *   (gateway-keys now with a 600 s orphan delay): the reservation is charged
 *   in full by the restarted gateway's gkey.release_instance, at once; the
 *   restarted gateway then serves and settles calls at their usage.
 * - gateway-keys killed in the middle of a flood of reserves: restarted, it
 *   keeps every key, budget and acknowledged spend. */
#include "gkeys_util.h"
#include "gw_fakes.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOW_BODY "{\"model\":\"openai/slow\",\"stream\":true,\"max_tokens\":50," \
                  "\"messages\":[{\"role\":\"user\",\"content\":\"wait for it\"}]}"

static pid_t s_gw;
static int s_gport, s_up;
static char s_url[64];

static size_t
count_bytes (char *d, size_t size, size_t n, void *arg)
{
    (void) d;
    *(size_t *) arg += size * n;
    return size * n;
}

static pid_t
start_gateway (void)
{
    static char e_http[64], e_oai[80];
    snprintf (e_http, sizeof e_http, "CAISSON_GATEWAY_HTTP=127.0.0.1:%d", s_gport);
    snprintf (e_oai, sizeof e_oai, "OPENAI_BASE_URL=http://127.0.0.1:%d/v1", s_up);
    pid_t pid = support_spawn ("caisson-gateway", (const char *[]) {
        e_http, e_oai, "OPENAI_API_KEY=sk-real-kill-test", "CAISSON_INSTANCE=gw-k", NULL });
    for (int i = 0; i < 250; i++) {
        CURL *e = curl_easy_init ();
        size_t n = 0;
        char url[96];
        snprintf (url, sizeof url, "%s/health", s_url);
        curl_easy_setopt (e, CURLOPT_URL, url);
        curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, count_bytes);
        curl_easy_setopt (e, CURLOPT_WRITEDATA, &n);
        long st = 0;
        if (curl_easy_perform (e) == CURLE_OK)
            curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &st);
        curl_easy_cleanup (e);
        if (st == 200)
            return pid;
        usleep (20000);
    }
    fail_msg ("caisson-gateway did not come up");
    return -1;
}

static int
setup (void **state)
{
    gku_setup (state);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    assert_true ((s_up = gw_fake_upstream_start ()) > 0);
    s_gport = support_free_port ();
    snprintf (s_url, sizeof s_url, "http://127.0.0.1:%d", s_gport);
    s_gw = start_gateway ();
    return 0;
}

static int
teardown (void **state)
{
    if (s_gw)
        support_stop (s_gw, SIGTERM, 5000);
    gw_fake_upstream_stop ();
    return gku_teardown (state);
}

/* A streamed call with key, left open once its first bytes came: the
 * handle to clean up (with *m) after the gateway is gone. */
static CURL *
open_stream (const char *key, CURLM **m, struct curl_slist **h, size_t *got)
{
    char auth[200];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", key);
    *h = curl_slist_append (curl_slist_append (NULL, "Content-Type: application/json"), auth);
    char url[96];
    snprintf (url, sizeof url, "%s/v1/chat/completions", s_url);
    CURL *e = curl_easy_init ();
    curl_easy_setopt (e, CURLOPT_URL, url);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, *h);
    curl_easy_setopt (e, CURLOPT_POSTFIELDS, SLOW_BODY);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, count_bytes);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, got);
    *m = curl_multi_init ();
    curl_multi_add_handle (*m, e);
    int running = 1;
    for (int i = 0; i < 500 && !*got && running; i++) {
        curl_multi_perform (*m, &running);
        curl_multi_poll (*m, NULL, 0, 10, NULL);
    }
    assert_true (*got > 0);
    return e;
}

static void
close_stream (CURLM *m, CURL *e, struct curl_slist *h)
{
    curl_multi_remove_handle (m, e);
    curl_easy_cleanup (e);
    curl_multi_cleanup (m);
    curl_slist_free_all (h);
}

/* Waits up to ms for label's field to become want; its last value. */
static uint64_t
await_count (const char *user, const char *label, const char *field, uint64_t want, int ms)
{
    uint64_t v = count_of (user, label, field);
    for (int i = 0; i < ms / 50 && v != want; i++) {
        usleep (50000);
        v = count_of (user, label, field);
    }
    return v;
}

static void
kill9 (pid_t *pid)
{
    kill (*pid, SIGKILL);
    waitpid (*pid, NULL, 0);
    *pid = 0;
}

static void
test_gateway_killed_orphan (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *key = mk_key ("kora", true, NULL, id);
    const char *l = label_of ("key", id);
    CURLM *m;
    struct curl_slist *h;
    size_t got = 0;
    CURL *e = open_stream (key, &m, &h, &got);
    uint64_t held = count_of ("kora", l, "reservedTokens");
    assert_true (held >= 50);
    assert_int_equal (count_of ("kora", l, "spentTokens"), 0);
    kill9 (&s_gw);
    close_stream (m, e, h);
    /* Not at once: the broker may list gw-k for a moment, then ORPHAN_S. */
    assert_int_equal (count_of ("kora", l, "reservedTokens"), held);
    assert_int_equal (await_count ("kora", l, "spentTokens", held, 10000), held);
    assert_int_equal (count_of ("kora", l, "reservedTokens"), 0);
    assert_int_equal (count_of ("kora", l, "calls"), 1);
    /* and in the owner's scope as well */
    assert_int_equal (count_of ("kora", label_of ("user", "kora"), "spentTokens"), held);
}

/* gateway-keys again with a long orphan delay: only a release charges. */
static void
restart_keys_slow_orphans (void)
{
    kill9 (&s_keys);
    static const char *env[32];
    size_t n = 0;
    for (; n < 30 && s_env[n]; n++)
        env[n] = strncmp (s_env[n], "CAISSON_GATEWAY_ORPHAN_S=", 25) ? s_env[n]
                                                                   : "CAISSON_GATEWAY_ORPHAN_S=600";
    env[n] = NULL;
    s_keys = support_spawn ("caisson-gateway-keys", env);
    for (int i = 0; i < 100; i++) {
        proto_msg_t *req = msg_as (PROTO_health_req, NULL, false);
        proto_msg_t *rep = bus_client_request (s_c, "gateway-keys", req);
        proto_msg_destroy (&req);
        bool up = rep && rep->type == PROTO_health_rep
                  && rep->body.health_rep.pid == (uint64_t) s_keys;
        proto_msg_destroy (&rep);
        if (up)
            return;
        usleep (50000);
    }
    fail_msg ("gateway-keys did not come back");
}

static void
test_gateway_restarted_releases (void **state)
{
    (void) state;
    restart_keys_slow_orphans ();
    s_gw = start_gateway ();
    char id[VKEY_ID_SIZE];
    const char *key = mk_key ("kurt", true, NULL, id);
    const char *l = label_of ("key", id);
    CURLM *m;
    struct curl_slist *h;
    size_t got = 0;
    CURL *e = open_stream (key, &m, &h, &got);
    uint64_t held = count_of ("kurt", l, "reservedTokens");
    assert_true (held >= 50);
    kill9 (&s_gw);
    close_stream (m, e, h);
    sleep (2);                  /* gone from the broker, but 600 s is far */
    assert_int_equal (count_of ("kurt", l, "reservedTokens"), held);
    assert_int_equal (count_of ("kurt", l, "spentTokens"), 0);
    s_gw = start_gateway ();
    assert_int_equal (await_count ("kurt", l, "spentTokens", held, 5000), held);
    assert_int_equal (count_of ("kurt", l, "reservedTokens"), 0);
    /* The restarted gateway serves: a whole answer settles at its usage
     * (12 in, 3 out), the orphan's charge untouched. */
    char auth[200], url[96];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", key);
    snprintf (url, sizeof url, "%s/v1/chat/completions", s_url);
    struct curl_slist *hl = curl_slist_append (NULL, "Content-Type: application/json");
    hl = curl_slist_append (hl, auth);
    CURL *p = curl_easy_init ();
    size_t n = 0;
    curl_easy_setopt (p, CURLOPT_URL, url);
    curl_easy_setopt (p, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt (p, CURLOPT_POSTFIELDS, "{\"model\":\"openai/plain\",\"messages\":"
                      "[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":20}");
    curl_easy_setopt (p, CURLOPT_WRITEFUNCTION, count_bytes);
    curl_easy_setopt (p, CURLOPT_WRITEDATA, &n);
    long st = 0;
    assert_int_equal (curl_easy_perform (p), CURLE_OK);
    curl_easy_getinfo (p, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup (p);
    curl_slist_free_all (hl);
    assert_int_equal (st, 200);
    assert_int_equal (await_count ("kurt", l, "spentTokens", held + 15, 5000), held + 15);
    assert_int_equal (await_count ("kurt", l, "reservedTokens", 0, 5000), 0);
    assert_int_equal (count_of ("kurt", l, "calls"), 2);
}

static void
test_keys_killed_mid_reserve (void **state)
{
    (void) state;
    enum { KEYS = 3, SETTLED = 4, FLOOD = 400 };
    char ids[KEYS][VKEY_ID_SIZE];
    const char *keys[KEYS];
    const char *windows[KEYS] = { "day", "week", "total" };
    for (int i = 0; i < KEYS; i++)
        keys[i] = mk_key ("kim", true, &(kopt_t) { .window = windows[i], .rpm = 100000,
                                                   .btok = 1000000 + (uint64_t) i,
                                                   .bnusd = 900000000 + (uint64_t) i }, ids[i]);
    proto_msg_t *u = msg_as (PROTO_gkey_user_set, "root", true);
    proto_set_str (&u->body.gkey_user_set.user, "kim");
    u->body.gkey_user_set.budget_tokens = 7777777;
    proto_set_str (&u->body.gkey_user_set.window, "week");
    proto_msg_t *rep = ask (u);
    assert_int_equal (rep->type, PROTO_gkey_ack);
    proto_msg_destroy (&rep);
    for (int i = 0; i < KEYS; i++)
        for (int s = 0; s < SETTLED; s++) {
            char call[CID_SIZE];
            rep = reserve (keys[i], call, 0, 10, false, NULL);
            assert_true (rep->body.gkey_grant.ok);
            proto_msg_destroy (&rep);
            assert_int_equal (settle (call, 0, 3 + (uint64_t) i), (3 + (uint64_t) i)
                              * NUSD_PER_TOKEN);
        }
    json_t *before[KEYS];
    for (int i = 0; i < KEYS; i++)
        before[i] = scope ("kim", label_of ("key", ids[i]));
    json_t *user_before = scope ("kim", label_of ("user", "kim"));
    /* a flood of reserves, gateway-keys killed while it answers them */
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (c, 5000, 0);
    for (int n = 0; n < FLOOD; n++) {
        char call[CID_SIZE];
        cid_new (call);
        support_send (c, "gateway-keys", reserve_msg (keys[n % KEYS], call, 0, 2, false, NULL));
    }
    proto_msg_t *first = bus_client_recv (c, 10000, NULL);
    assert_non_null (first);
    proto_msg_destroy (&first);
    kill9 (&s_keys);
    bus_client_destroy (&c);
    s_keys = start_keys ();
    /* Every stored budget and settled spend is there; the reservations
     * granted before the kill may be (they name gw-test, which lives). */
    const char *fields[] = { "limitTokens", "limitNusd", "spentTokens", "spentNusd", "start" };
    for (int i = 0; i < KEYS; i++) {
        json_t *after = scope ("kim", label_of ("key", ids[i]));
        for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
            assert_int_equal (json_integer_value (json_object_get (after, fields[f])),
                              json_integer_value (json_object_get (before[i], fields[f])));
        assert_string_equal (support_json_str (after, "window"), windows[i]);
        json_decref (after);
        json_decref (before[i]);
    }
    json_t *user_after = scope ("kim", label_of ("user", "kim"));
    for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
        assert_int_equal (json_integer_value (json_object_get (user_after, fields[f])),
                          json_integer_value (json_object_get (user_before, fields[f])));
    assert_int_equal (json_integer_value (json_object_get (user_after, "limitTokens")), 7777777);
    json_decref (user_after);
    json_decref (user_before);
    /* and the keys still work */
    for (int i = 0; i < KEYS; i++) {
        rep = reserve (keys[i], NULL, 0, 1, false, NULL);
        assert_true (rep->body.gkey_grant.ok);
        proto_msg_destroy (&rep);
    }
}

int
main (int argc, char **argv)
{
    s_name = "gwkill";
    int rc = gku_child (argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_gateway_killed_orphan),
        cmocka_unit_test (test_gateway_restarted_releases),
        cmocka_unit_test (test_keys_killed_mid_reserve),
    };
    return support_run_group_tests (tests, setup, teardown);
}
