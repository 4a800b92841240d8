/* gateway-keys with a full store (issue 16): CAISSON_GATEWAY_KEYS_MAP_MB=1
 * and keys made until the map is full. Then key creates and reserves are
 * refused with `store_full` naming the store and its size (the gateway
 * answers 503 in each provider's error shape), everything stored before is
 * read back unchanged, and a gateway-keys restarted with a larger map takes
 * creates and reserves again with nothing lost. */
#include "gkeys_util.h"
#include "mpjson.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KEYS 20000

static size_t
on_body (char *d, size_t size, size_t n, void *arg)
{
    char *out = arg;
    size_t have = strlen (out), add = size * n;
    if (have + add < 4096) {
        memcpy (out + have, d, add);
        out[have + add] = '\0';
    }
    return size * n;
}

/* POSTs body to the gateway at port's path with key; the status, the
 * answer's body in out (4096 bytes). */
static long
post (int port, const char *path, const char *key, const char *body, char *out)
{
    char url[128], auth[200];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    snprintf (auth, sizeof auth, "x-api-key: %s", key);
    struct curl_slist *h = curl_slist_append (NULL, "Content-Type: application/json");
    h = curl_slist_append (h, auth);
    h = curl_slist_append (h, "anthropic-version: 2023-06-01");
    CURL *e = curl_easy_init ();
    out[0] = '\0';
    curl_easy_setopt (e, CURLOPT_URL, url);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt (e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt (e, CURLOPT_TIMEOUT, 20L);
    long st = 0;
    if (curl_easy_perform (e) == CURLE_OK)
        curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup (e);
    curl_slist_free_all (h);
    return st;
}

/* The gateway in front of the full store: 503 in OpenAI's and Anthropic's
 * error shapes, never forwarded (its providers are at a closed port). */
static void
expect_gateway_503 (const char *key)
{
    int port = support_free_port ();
    char e_http[64], out[4096];
    snprintf (e_http, sizeof e_http, "CAISSON_GATEWAY_HTTP=127.0.0.1:%d", port);
    pid_t gw = support_spawn ("caisson-gateway", (const char *[]) {
        e_http, "OPENAI_BASE_URL=http://127.0.0.1:1/v1", "OPENAI_API_KEY=sk-full-test",
        "ANTHROPIC_BASE_URL=http://127.0.0.1:1/v1", "ANTHROPIC_API_KEY=sk-full-test", NULL });
    long st = 0;
    for (int i = 0; i < 250 && st != 503; i++) {
        st = post (port, "/v1/chat/completions", key, "{\"model\":\"openai/x\",\"messages\":"
                   "[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}", out);
        if (st != 503)
            usleep (20000);
    }
    assert_int_equal (st, 503);
    assert_non_null (strstr (out, "{\"error\":{"));
    /* it says what is wrong and what an operator must do */
    assert_non_null (strstr (out, "keys_store_full"));
    assert_non_null (strstr (out, "CAISSON_GATEWAY_KEYS_MAP_MB"));
    st = post (port, "/v1/messages", key, "{\"model\":\"anthropic/x\",\"max_tokens\":5,"
               "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", out);
    assert_int_equal (st, 503);
    assert_non_null (strstr (out, "\"type\":\"error\""));
    assert_non_null (strstr (out, "key store is full"));
    support_stop (gw, SIGTERM, 5000);
}

static void
expect_full (proto_msg_t *rep)
{
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "store_full");
    assert_non_null (strstr (rep->body.error.message, "gateway-keys' store is full (1 MiB"));
    proto_msg_destroy (&rep);
}

/* How many keys user has (gkey.list as an operator). */
static size_t
keys_of (const char *user)
{
    proto_msg_t *m = msg_as (PROTO_gkey_list, "root", true);
    proto_set_str (&m->body.gkey_list.user, user);
    proto_msg_t *rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_page);
    json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 4);
    size_t n = json_array_size (keys);
    json_decref (keys);
    proto_msg_destroy (&rep);
    return n;
}

static pid_t
restart_keys (const char *map_mb)
{
    static const char *env[32];
    size_t n = 0;
    for (; n < 27 && s_env[n]; n++)
        env[n] = s_env[n];
    env[n++] = map_mb;
    env[n++] = "CAISSON_LMDB_MAP_MB=1";
    env[n++] = "CAISSON_GATEWAY_MODELS=replay/*,openai/*,anthropic/*";
    /* The reserves the test leaves open are not orphans to charge while
     * it checks that nothing stored changed (gkeys_util's 1 s made that a
     * race with a loaded machine's clock). */
    env[n++] = "CAISSON_GATEWAY_ORPHAN_S=3600";
    env[n] = NULL;
    kill (s_keys, SIGKILL);
    waitpid (s_keys, NULL, 0);
    pid_t pid = support_spawn ("caisson-gateway-keys", env);
    for (int i = 0; i < 100; i++) {
        proto_msg_t *req = msg_as (PROTO_health_req, NULL, false);
        proto_msg_t *rep = bus_client_request (s_c, "gateway-keys", req);
        proto_msg_destroy (&req);
        bool up = rep && rep->type == PROTO_health_rep
                  && rep->body.health_rep.pid == (uint64_t) pid;
        proto_msg_destroy (&rep);
        if (up)
            return pid;
        usleep (50000);
    }
    fail_msg ("gateway-keys did not come back");
    return -1;
}

static void
test_full_store (void **state)
{
    (void) state;
    s_keys = restart_keys ("CAISSON_GATEWAY_KEYS_MAP_MB=1");
    char first_id[VKEY_ID_SIZE], call[CID_SIZE];
    kopt_t o = { .rpm = 100000, .btok = 123456, .window = "week" };
    const char *first = mk_key ("fay", true, &o, first_id);
    proto_msg_t *rep = reserve (first, call, 0, 10, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    assert_int_equal (settle (call, 0, 7), 7 * NUSD_PER_TOKEN);
    /* Fill: long model lists make each key large. */
    char models[2048] = "[";
    for (int i = 0; i < 40; i++)
        snprintf (models + strlen (models), sizeof models - strlen (models), "%s\"openai/m%02d-"
                  "a-rather-long-model-name\"", i ? "," : "", i);
    strcat (models, "]");
    kopt_t big = { .models = models };
    size_t made = 1;
    for (; made < MAX_KEYS; made++) {
        rep = create ("root", true, "fay", &big);
        if (rep->type != PROTO_gkey_made)
            break;
        proto_msg_destroy (&rep);
    }
    assert_true (made < MAX_KEYS);
    expect_full (rep);
    /* Stored before: every key and the first key's usage, unchanged. */
    assert_int_equal (keys_of ("fay"), made);
    const char *l = label_of ("key", first_id);
    assert_int_equal (count_of ("fay", l, "spentTokens"), 7);
    assert_int_equal (count_of ("fay", l, "limitTokens"), 123456);
    /* Reserves are refused the same way once a batch cannot be stored
     * (the first may still fit in pages the map has free). */
    proto_msg_t *last = NULL;
    for (int i = 0; i < 2000; i++) {
        char c[CID_SIZE];
        cid_new (c);
        proto_msg_destroy (&last);
        last = ask (reserve_msg (first, c, 0, 1, false, NULL));
        if (last->type == PROTO_error)
            break;
    }
    expect_full (last);
    assert_int_equal (count_of ("fay", l, "spentTokens"), 7);
    expect_gateway_503 (first);
    /* A larger map: creates and reserves again, nothing lost. */
    s_keys = restart_keys ("CAISSON_GATEWAY_KEYS_MAP_MB=8");
    assert_int_equal (keys_of ("fay"), made);
    assert_int_equal (count_of ("fay", l, "spentTokens"), 7);
    char id[VKEY_ID_SIZE];
    const char *again = mk_key ("fay", true, NULL, id);
    rep = reserve (again, NULL, 0, 1, false, NULL);
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
}

int
main (int argc, char **argv)
{
    s_name = "gkfull";
    int rc = gku_child (argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_full_store),
    };
    return support_run_group_tests (tests, gku_setup, gku_teardown);
}
