/* The model gateway's HTTP front (caisson-gateway) over real HTTP, with a
 * stand-in gateway-keys on the bus (gw_fakes.c: the real gkey.grant
 * shape, every refusal, settles recorded), the real llm-replay as the
 * `replay/` and `replay-anthropic/` providers, and a fake provider as
 * `openai/` and `anthropic/` (whole answers, odd stream pieces, error
 * bodies quoting the key, stalls). Bytes through the gateway equal the
 * provider's, but for the usage chunk the gateway asked for itself. */
#define _GNU_SOURCE /* strndup */
#include "support.h"
#include "gw_fakes.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REAL_KEY "sk-caisson-REAL-0123456789abcdef0123456789abcdef"

static const char *s_self, *s_dir;
static char s_log[600], s_gw_url[64], s_replay_url[64];
static pid_t s_bus, s_keys, s_replay, s_gw;

typedef struct {
    long status;
    char *head, *body;
    size_t hlen, blen;
    size_t abort_after;         /* >0: hang up once this many body bytes came */
} rsp_t;

static size_t
on_data (char *d, size_t size, size_t n, void *arg)
{
    rsp_t *r = arg;
    size_t len = size * n;
    r->body = realloc (r->body, r->blen + len + 1);
    memcpy (r->body + r->blen, d, len);
    r->blen += len;
    r->body[r->blen] = '\0';
    return r->abort_after && r->blen >= r->abort_after ? 0 : len;
}

static size_t
on_head (char *d, size_t size, size_t n, void *arg)
{
    rsp_t *r = arg;
    size_t len = size * n;
    r->head = realloc (r->head, r->hlen + len + 1);
    memcpy (r->head + r->hlen, d, len);
    r->hlen += len;
    r->head[r->hlen] = '\0';
    return len;
}

/* POSTs body (NULL: a GET) to base+path with the header lines (NULL-ended). */
static rsp_t
http (const char *base, const char *path, const char *body, const char *const hdrs[],
      size_t abort_after)
{
    rsp_t r = { 0, calloc (1, 1), calloc (1, 1), 0, 0, abort_after };
    char url[256];
    snprintf (url, sizeof url, "%s%s", base, path);
    CURL *e = curl_easy_init ();
    struct curl_slist *h = curl_slist_append (NULL, "Content-Type: application/json");
    for (size_t i = 0; hdrs && hdrs[i]; i++)
        h = curl_slist_append (h, hdrs[i]);
    curl_easy_setopt (e, CURLOPT_URL, url);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, h);
    if (body) {
        curl_easy_setopt (e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen (body));
    }
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt (e, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt (e, CURLOPT_TIMEOUT, 30L);
    curl_easy_perform (e);
    curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup (e);
    curl_slist_free_all (h);
    return r;
}

static void
rsp_free (rsp_t *r)
{
    free (r->head);
    free (r->body);
}

/* The value of header name in r (static storage), "" when absent. */
static const char *
hval (const rsp_t *r, const char *name)
{
    static char v[512];
    v[0] = '\0';
    size_t nl = strlen (name);
    for (const char *p = r->head; p && *p; p = strchr (p, '\n') ? strchr (p, '\n') + 1 : NULL)
        if (!strncasecmp (p, name, nl) && p[nl] == ':') {
            const char *s = p + nl + 1 + strspn (p + nl + 1, " ");
            snprintf (v, sizeof v, "%.*s", (int) strcspn (s, "\r\n"), s);
            break;
        }
    return v;
}

static const char *const k_ok[] = { "Authorization: Bearer " GW_KEY_OK, NULL };

static bool
gw_ready (void)
{
    rsp_t r = http (s_gw_url, "/health", NULL, NULL, 0);
    bool ok = r.status == 200;
    rsp_free (&r);
    return ok;
}

static int
setup (void **state)
{
    (void) state;
    s_dir = support_sandbox_env ("gwhttp");
    assert_non_null (s_dir);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    snprintf (s_log, sizeof s_log, "%s/keys.log", s_dir);
    setenv ("GW_FAKE_LOG", s_log, 1);
    char cassettes[512];
    int rport = support_replay_env (cassettes, sizeof cassettes);
    snprintf (s_replay_url, sizeof s_replay_url, "http://127.0.0.1:%d/v1", rport);
    int up = gw_fake_upstream_start (), gport = support_free_port ();
    assert_true (up > 0);
    snprintf (s_gw_url, sizeof s_gw_url, "http://127.0.0.1:%d", gport);
    static char e_http[64], e_oai[96], e_ant[96];
    snprintf (e_http, sizeof e_http, "CAISSON_GATEWAY_HTTP=127.0.0.1:%d", gport);
    snprintf (e_oai, sizeof e_oai, "OPENAI_BASE_URL=http://127.0.0.1:%d/v1", up);
    snprintf (e_ant, sizeof e_ant, "ANTHROPIC_BASE_URL=http://127.0.0.1:%d/v1", up);
    s_bus = support_spawn ("caisson-bus", NULL);
    s_keys = support_spawn_self ((const char *[]) { s_self, "keys", NULL });
    s_replay = support_spawn_llm_replay (rport, cassettes, NULL);
    s_gw = support_spawn ("caisson-gateway", (const char *[]) {
        e_http, e_oai, e_ant, "OPENAI_API_KEY=" REAL_KEY, "ANTHROPIC_API_KEY=" REAL_KEY,
        "CAISSON_GATEWAY_MAX_BODY=1048576", "CAISSON_GATEWAY_UPSTREAM_TIMEOUT_S=2",
        "GROQ_BASE_URL=http://127.0.0.1:1/v1", "CAISSON_REQUEST_TIMEOUT_MS=1000",
        "CAISSON_REQUEST_RETRIES=1", NULL });
    for (int i = 0; i < 250 && !gw_ready (); i++)
        usleep (20000);
    assert_true (gw_ready ());
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    pid_t *pids[] = { &s_gw, &s_replay, &s_keys, &s_bus };
    for (size_t i = 0; i < 4; i++)
        if (*pids[i])
            support_stop (*pids[i], SIGTERM, 5000);
    gw_fake_upstream_stop ();
    return 0;
}

/* The settle of the call r answered (x-caisson-call), waited for. */
static json_t *
settle_of (const rsp_t *r)
{
    char call[64];
    snprintf (call, sizeof call, "%s", hval (r, "x-caisson-call"));
    assert_true (strlen (call) > 0);
    json_t *s = gw_fake_log_find (s_log, "settle", call, 5000);
    if (!s)
        fail_msg ("no gkey.settle for call %s", call);
    return s;
}

static void
expect_settle (json_t *s, const char *outcome, json_int_t in, json_int_t out, bool estimated)
{
    assert_string_equal (support_json_str (s, "outcome"), outcome);
    if (in >= 0)
        assert_int_equal (json_integer_value (json_object_get (s, "input")), in);
    if (out >= 0)
        assert_int_equal (json_integer_value (json_object_get (s, "output")), out);
    assert_int_equal (json_is_true (json_object_get (s, "estimated")), estimated);
}

static void
test_release_at_start (void **state)
{
    (void) state;
    json_t *r = gw_fake_log_find (s_log, "release", NULL, 5000);
    assert_non_null (r);
    assert_true (strlen (support_json_str (r, "gateway")) > 0);
    json_decref (r);
}

/* No key, or no virtual key's shape: 401 in each protocol's shape, and
 * gateway-keys never asked. */
static void
test_no_key (void **state)
{
    (void) state;
    int before = gw_fake_log_count (s_log, "reserve");
    const char *body = "{\"model\":\"replay/demo\",\"messages\":[]}";
    rsp_t r = http (s_gw_url, "/v1/chat/completions", body, NULL, 0);
    assert_int_equal (r.status, 401);
    json_t *doc = json_loads (r.body, 0, NULL);
    assert_string_equal (support_json_str (json_object_get (doc, "error"), "code"),
                         "invalid_api_key");
    json_decref (doc);
    rsp_free (&r);
    const char *const sk[] = { "x-api-key: " REAL_KEY, NULL };
    r = http (s_gw_url, "/v1/messages", body, sk, 0);
    assert_int_equal (r.status, 401);
    doc = json_loads (r.body, 0, NULL);
    assert_string_equal (support_json_str (doc, "type"), "error");
    assert_string_equal (support_json_str (json_object_get (doc, "error"), "type"),
                         "authentication_error");
    json_decref (doc);
    rsp_free (&r);
    assert_int_equal (gw_fake_log_count (s_log, "reserve"), before);
}

/* fmt with its one "%s" replaced by model (new). */
static char *
body_for (const char *fmt, const char *model)
{
    const char *at = strstr (fmt, "%s");
    assert_non_null (at);
    char *b = malloc (strlen (fmt) + strlen (model) + 1);
    sprintf (b, "%.*s%s%s", (int) (at - fmt), fmt, model, at + 2);
    return b;
}

/* text without its first copy of event (new). */
static char *
without (const char *text, const char *event)
{
    const char *at = strstr (text, event);
    assert_non_null (at);
    char *out = strdup (text);
    memmove (out + (at - text), at + strlen (event), strlen (at + strlen (event)) + 1);
    return out;
}

/* The event of text holding "\"choices\":[]," (the usage chunk), new. */
static char *
usage_event (const char *text)
{
    const char *at = strstr (text, "\"choices\":[],");
    assert_non_null (at);
    while (at > text && !(at[-1] == '\n' && at[-2] == '\n'))
        at--;
    const char *end = strstr (at, "\n\n");
    return strndup (at, (size_t) (end + 2 - at));
}

static void
test_stream_bytes_openai (void **state)
{
    (void) state;
    const char *fmt = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hello "
                      "gateway\"}],\"max_tokens\":64,\"stream\":true,"
                      "\"stream_options\":{\"include_usage\":true}}";
    char *direct_b = body_for (fmt, "demo"), *gw_b = body_for (fmt, "replay/demo");
    rsp_t d = http (s_replay_url, "/chat/completions", direct_b, NULL, 0);
    rsp_t g = http (s_gw_url, "/v1/chat/completions", gw_b, k_ok, 0);
    assert_int_equal (g.status, 200);
    assert_string_equal (g.body, d.body);   /* asked for usage: every byte */
    json_t *s = settle_of (&g);
    char *ue = usage_event (d.body);
    json_t *ud = json_loads (ue + 6, 0, NULL), *u = json_object_get (ud, "usage");
    expect_settle (s, "ok", json_integer_value (json_object_get (u, "prompt_tokens")),
                   json_integer_value (json_object_get (u, "completion_tokens")), false);
    json_decref (s);
    rsp_free (&g);
    /* not asked: the gateway asks upstream and withholds just that chunk */
    const char *fmt2 = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hello "
                       "gateway\"}],\"max_tokens\":64,\"stream\":true}";
    free (gw_b);
    gw_b = body_for (fmt2, "replay/demo");
    g = http (s_gw_url, "/v1/chat/completions", gw_b, k_ok, 0);
    char *want = without (d.body, ue);
    assert_string_equal (g.body, want);
    assert_null (strstr (g.body, "\"usage\""));
    assert_string_equal (hval (&g, "Content-Type"), "text/event-stream");
    s = settle_of (&g);
    expect_settle (s, "ok", -1, json_integer_value (json_object_get (u, "completion_tokens")),
                   false);
    json_decref (s);
    json_decref (ud);
    free (want);
    free (ue);
    free (direct_b);
    free (gw_b);
    rsp_free (&d);
    rsp_free (&g);
}

static void
test_stream_bytes_anthropic (void **state)
{
    (void) state;
    const char *fmt = "{\"model\":\"%s\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\","
                      "\"content\":\"hello gateway\"}],\"stream\":true}";
    char *direct_b = body_for (fmt, "demo"), *gw_b = body_for (fmt, "replay-anthropic/demo");
    rsp_t d = http (s_replay_url, "/messages", direct_b, NULL, 0);
    const char *const hk[] = { "x-api-key: " GW_KEY_OK, "anthropic-version: 2023-06-01", NULL };
    rsp_t g = http (s_gw_url, "/v1/messages", gw_b, hk, 0);
    assert_int_equal (g.status, 200);
    assert_string_equal (g.body, d.body);
    /* usage: message_start's input, the last message_delta's output */
    const char *ms = strstr (d.body, "\"input_tokens\":");
    assert_non_null (ms);
    json_int_t in = strtoll (ms + 15, NULL, 10), out = 0;
    for (const char *p = d.body; (p = strstr (p, "\"type\":\"message_delta\"")); p++) {
        const char *o = strstr (p, "\"output_tokens\":");
        out = strtoll (o + 16, NULL, 10);
    }
    assert_true (out > 1);
    json_t *s = settle_of (&g);
    expect_settle (s, "ok", in, out, false);
    json_decref (s);
    free (direct_b);
    free (gw_b);
    rsp_free (&d);
    rsp_free (&g);
}

/* Embeddings: llm-replay's answer unchanged, its usage settled. */
static void
test_embeddings (void **state)
{
    (void) state;
    const char *fmt = "{\"model\":\"%s\",\"input\":[\"one text\",\"another one\"]}";
    char *direct_b = body_for (fmt, "embed"), *gw_b = body_for (fmt, "replay/embed");
    rsp_t d = http (s_replay_url, "/embeddings", direct_b, NULL, 0);
    rsp_t g = http (s_gw_url, "/v1/embeddings", gw_b, k_ok, 0);
    assert_int_equal (g.status, 200);
    assert_int_equal (d.status, 200);
    assert_string_equal (g.body, d.body);
    json_t *doc = json_loads (d.body, 0, NULL);
    json_int_t in = json_integer_value (json_object_get (json_object_get (doc, "usage"),
                                                         "prompt_tokens"));
    assert_true (in > 0);
    json_t *s = settle_of (&g);
    expect_settle (s, "ok", in, 0, false);
    json_t *res = gw_fake_log_find (s_log, "reserve", hval (&g, "x-caisson-call"), 0);
    assert_string_equal (support_json_str (res, "route"), "embeddings");
    assert_int_equal (json_integer_value (json_object_get (res, "output_max")), 0);
    json_decref (res);
    json_decref (s);
    json_decref (doc);
    free (direct_b);
    free (gw_b);
    rsp_free (&d);
    rsp_free (&g);
}

/* Whole answers (the fake provider's: llm-replay streams every answer
 * today) come through unchanged, with their usage settled, the provider's
 * request id kept and its x-ratelimit-* replaced by the key's. */
static void
test_whole_answers (void **state)
{
    (void) state;
    rsp_t g = http (s_gw_url, "/v1/chat/completions",
                    "{\"model\":\"openai/plain\",\"messages\":[{\"role\":\"user\",\"content\":"
                    "\"hi\"}],\"max_tokens\":20}", k_ok, 0);
    assert_int_equal (g.status, 200);
    assert_non_null (strstr (g.body, "\"content\":\"plain answer\""));
    assert_string_equal (hval (&g, "x-request-id"), "req-fake-1");
    assert_string_equal (hval (&g, "x-ratelimit-limit-requests"), "60");
    assert_string_equal (hval (&g, "x-ratelimit-remaining-requests"), "59");
    json_t *s = settle_of (&g);
    expect_settle (s, "ok", 12, 3, false);
    json_decref (s);
    rsp_free (&g);
    const char *const hk[] = { "x-api-key: " GW_KEY_OK, NULL };
    g = http (s_gw_url, "/v1/messages", "{\"model\":\"anthropic/plain\",\"max_tokens\":20,"
              "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", hk, 0);
    assert_int_equal (g.status, 200);
    assert_non_null (strstr (g.body, "\"msg_fake\""));
    s = settle_of (&g);
    expect_settle (s, "ok", 7, 4, false);
    json_decref (s);
    rsp_free (&g);
}

/* A stream in 7-byte pieces with CRLF, `event:`/`id:` and comment lines:
 * the same bytes but the usage chunk the gateway added. */
static void
test_odd_stream (void **state)
{
    (void) state;
    rsp_t g = http (s_gw_url, "/v1/chat/completions", "{\"model\":\"openai/odd\",\"messages\":"
                    "[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,\"max_tokens\":9}",
                    k_ok, 0);
    assert_int_equal (g.status, 200);
    char *want = without (gw_fake_odd_stream, gw_fake_odd_usage);
    assert_string_equal (g.body, want);
    free (want);
    json_t *s = settle_of (&g);
    expect_settle (s, "ok", 21, 5, false);
    assert_int_equal (json_integer_value (json_object_get (s, "cached")), 8);
    json_decref (s);
    rsp_free (&g);
}

/* What the provider got: its own model name, the real key and not the
 * virtual one, no client account header, anthropic-beta kept, usage
 * asked for, and the granted max for a call that named none. */
static void
test_upstream_request (void **state)
{
    (void) state;
    const char *const h[] = { "Authorization: Bearer " GW_KEY_OK, "OpenAI-Organization: org-x",
                              NULL };
    rsp_t g = http (s_gw_url, "/v1/chat/completions", "{\"model\":\"openai/echo-body\","
                    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", h, 0);
    assert_int_equal (g.status, 200);
    json_t *doc = json_loads (g.body, 0, NULL), *rcv = json_object_get (doc, "received");
    assert_string_equal (support_json_str (rcv, "model"), "echo-body");
    assert_int_equal (json_integer_value (json_object_get (rcv, "max_completion_tokens")),
                      GW_CAPPED_MAX);
    assert_string_equal (support_json_str (doc, "auth"), "Bearer " REAL_KEY);
    assert_string_equal (support_json_str (doc, "org"), "");
    assert_string_equal (hval (&g, "x-caisson-max-tokens"), "300");
    json_t *res = gw_fake_log_find (s_log, "reserve", hval (&g, "x-caisson-call"), 0);
    assert_non_null (res);
    assert_true (json_is_true (json_object_get (res, "capped")));
    assert_int_equal (json_integer_value (json_object_get (res, "output_max")), 8192);
    assert_true (json_integer_value (json_object_get (res, "input_bound")) >= 2 + 8);
    json_decref (res);
    json_decref (doc);
    rsp_free (&g);
    const char *const ha[] = { "x-api-key: " GW_KEY_OK, "anthropic-beta: tools-1", NULL };
    g = http (s_gw_url, "/v1/messages", "{\"model\":\"claude-x\",\"max_tokens\":5,\"messages\":"
              "[{\"role\":\"user\",\"content\":\"hi\"}]}", ha, 0);
    assert_int_equal (g.status, 200);
    doc = json_loads (g.body, 0, NULL);
    assert_string_equal (support_json_str (doc, "xapikey"), REAL_KEY);
    assert_string_equal (support_json_str (doc, "beta"), "tools-1");
    assert_string_equal (support_json_str (json_object_get (doc, "received"), "model"),
                         "claude-x");
    assert_string_equal (hval (&g, "x-caisson-max-tokens"), "");
    json_decref (doc);
    rsp_free (&g);
    /* n choices may each use the max: reserved n times */
    g = http (s_gw_url, "/v1/chat/completions", "{\"model\":\"openai/echo-body\",\"n\":3,"
              "\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
              k_ok, 0);
    assert_int_equal (g.status, 200);
    res = gw_fake_log_find (s_log, "reserve", hval (&g, "x-caisson-call"), 0);
    assert_int_equal (json_integer_value (json_object_get (res, "output_max")), 300);
    json_decref (res);
    rsp_free (&g);
}

static json_t *
error_of (const rsp_t *r, bool anthropic)
{
    json_t *doc = json_loads (r->body, 0, NULL);
    if (anthropic)
        assert_string_equal (support_json_str (doc, "type"), "error");
    json_t *e = json_incref (json_object_get (doc, "error"));
    json_decref (doc);
    assert_non_null (e);
    return e;
}

/* Every refusal of gateway-keys: its status, code and reason in the
 * protocol's shape, with the headers the status calls for. */
static void
test_refusals (void **state)
{
    (void) state;
    const char *body = "{\"model\":\"openai/plain\",\"max_tokens\":5,\"messages\":[]}";
    const char *const hb[] = { "Authorization: Bearer " GW_KEY_BUDGET, NULL };
    rsp_t r = http (s_gw_url, "/v1/chat/completions", body, hb, 0);
    assert_int_equal (r.status, 402);
    assert_string_equal (hval (&r, "x-caisson-budget"), "key.cost.day");
    assert_string_equal (hval (&r, "x-caisson-budget-reset"), "2025-12-08T00:00:00Z");
    json_t *e = error_of (&r, false);
    assert_string_equal (support_json_str (e, "code"), "budget_exceeded");
    assert_non_null (strstr (support_json_str (e, "message"), "resets 2025-12-08"));
    json_decref (e);
    rsp_free (&r);
    const char *const hr[] = { "x-api-key: " GW_KEY_RATE, NULL };
    r = http (s_gw_url, "/v1/messages", "{\"model\":\"anthropic/plain\",\"max_tokens\":5,"
              "\"messages\":[]}", hr, 0);
    assert_int_equal (r.status, 429);
    assert_string_equal (hval (&r, "Retry-After"), "7");
    assert_string_equal (hval (&r, "retry-after-ms"), "7000");
    e = error_of (&r, true);
    assert_string_equal (support_json_str (e, "type"), "rate_limit_error");
    json_decref (e);
    rsp_free (&r);
    struct { const char *key; long status; const char *code; } rest[] = {
        { GW_KEY_REVOKED, 401, "key_revoked" }, { GW_KEY_MODEL, 403, "model_not_allowed" },
        { GW_KEY_UNKNOWN, 401, "invalid_api_key" },
    };
    for (size_t i = 0; i < 3; i++) {
        char h[200];
        snprintf (h, sizeof h, "Authorization: Bearer %s", rest[i].key);
        const char *const hh[] = { h, NULL };
        r = http (s_gw_url, "/v1/chat/completions", body, hh, 0);
        assert_int_equal (r.status, rest[i].status);
        e = error_of (&r, false);
        assert_string_equal (support_json_str (e, "code"), rest[i].code);
        json_decref (e);
        rsp_free (&r);
    }
}

/* A provider's error passes with its status and body, the real key in it
 * masked; the call settles as provider_error. */
static void
test_provider_error_masked (void **state)
{
    (void) state;
    rsp_t r = http (s_gw_url, "/v1/chat/completions", "{\"model\":\"openai/echo-key\","
                    "\"max_tokens\":5,\"messages\":[]}", k_ok, 0);
    assert_int_equal (r.status, 400);
    assert_null (strstr (r.body, REAL_KEY));
    assert_non_null (strstr (r.body, "Bearer ***"));
    json_t *s = settle_of (&r);
    expect_settle (s, "provider_error", 0, 0, false);
    assert_int_equal (json_integer_value (json_object_get (s, "status")), 400);
    json_decref (s);
    rsp_free (&r);
}

/* A client gone mid-stream: the provider's call is cut, the call settles
 * client_gone with estimated usage. */
static void
test_client_gone (void **state)
{
    (void) state;
    rsp_t r = http (s_gw_url, "/v1/chat/completions", "{\"model\":\"openai/slow\","
                    "\"max_tokens\":50,\"messages\":[],\"stream\":true}", k_ok, 10);
    assert_int_equal (r.status, 200);
    json_t *s = settle_of (&r);
    expect_settle (s, "client_gone", -1, -1, true);
    assert_true (json_integer_value (json_object_get (s, "output")) <= 50);
    json_decref (s);
    for (int i = 0; i < 300 && !gw_fake_upstream_cancelled (); i++)
        usleep (20000);
    assert_true (gw_fake_upstream_cancelled ());
    rsp_free (&r);
}

/* A provider that cannot be reached: 502; one that does not answer in
 * CAISSON_GATEWAY_UPSTREAM_TIMEOUT_S: 504; both settle upstream_failed
 * at no usage. */
static void
test_upstream_failures (void **state)
{
    (void) state;
    rsp_t r = http (s_gw_url, "/v1/chat/completions", "{\"model\":\"groq/any\","
                    "\"max_tokens\":5,\"messages\":[]}", k_ok, 0);
    assert_int_equal (r.status, 502);
    json_t *e = error_of (&r, false);
    assert_string_equal (support_json_str (e, "code"), "upstream_unreachable");
    json_decref (e);
    json_t *s = settle_of (&r);
    expect_settle (s, "upstream_failed", 0, 0, false);
    json_decref (s);
    rsp_free (&r);
    r = http (s_gw_url, "/v1/chat/completions", "{\"model\":\"openai/stall\","
              "\"max_tokens\":5,\"messages\":[]}", k_ok, 0);
    assert_int_equal (r.status, 504);
    s = settle_of (&r);
    expect_settle (s, "upstream_failed", 0, 0, false);
    assert_int_equal (json_integer_value (json_object_get (s, "status")), 504);
    json_decref (s);
    rsp_free (&r);
}

/* Refused before any bus call: too big (413), too deep (400), malformed,
 * the model of the other protocol (400 naming the route to use). */
static void
test_bad_requests (void **state)
{
    (void) state;
    int before = gw_fake_log_count (s_log, "reserve");
    size_t n = 1100000;
    char *big = malloc (n + 64);
    snprintf (big, 64, "{\"model\":\"openai/plain\",\"messages\":[],\"x\":\"");
    size_t at = strlen (big);
    memset (big + at, 'a', n);
    strcpy (big + at + n, "\"}");
    rsp_t r = http (s_gw_url, "/v1/chat/completions", big, k_ok, 0);
    assert_int_equal (r.status, 413);
    rsp_free (&r);
    free (big);
    char deep[400] = "{\"model\":\"openai/plain\",\"messages\":";
    for (int i = 0; i < 100; i++)
        strcat (deep, "[");
    for (int i = 0; i < 100; i++)
        strcat (deep, "]");
    strcat (deep, "}");
    r = http (s_gw_url, "/v1/chat/completions", deep, k_ok, 0);
    assert_int_equal (r.status, 400);
    json_t *e = error_of (&r, false);
    assert_string_equal (support_json_str (e, "code"), "too_deep");
    json_decref (e);
    rsp_free (&r);
    r = http (s_gw_url, "/v1/chat/completions", "{\"model\":", k_ok, 0);
    assert_int_equal (r.status, 400);
    rsp_free (&r);
    r = http (s_gw_url, "/v1/chat/completions", "{\"model\":\"anthropic/claude-x\","
              "\"messages\":[]}", k_ok, 0);
    assert_int_equal (r.status, 400);
    assert_non_null (strstr (r.body, "POST /v1/messages"));
    rsp_free (&r);
    assert_int_equal (gw_fake_log_count (s_log, "reserve"), before);
}

static void
test_models (void **state)
{
    (void) state;
    rsp_t r = http (s_gw_url, "/v1/models", NULL, k_ok, 0);
    assert_int_equal (r.status, 200);
    json_t *doc = json_loads (r.body, 0, NULL);
    assert_string_equal (support_json_str (doc, "object"), "list");
    assert_true (json_array_size (json_object_get (doc, "data")) >= 2);  /* openai, anthropic */
    json_decref (doc);
    rsp_free (&r);
    r = http (s_gw_url, "/v1/models", NULL, NULL, 0);
    assert_int_equal (r.status, 401);
    rsp_free (&r);
}

/* gateway-keys gone: the gateway fails closed, 503, never forwarding. */
static void
test_keys_down (void **state)
{
    (void) state;
    support_stop (s_keys, SIGTERM, 5000);
    s_keys = 0;
    rsp_t r = http (s_gw_url, "/v1/chat/completions", "{\"model\":\"openai/echo-body\","
                    "\"max_tokens\":5,\"messages\":[]}", k_ok, 0);
    assert_int_equal (r.status, 503);
    json_t *e = error_of (&r, false);
    assert_string_equal (support_json_str (e, "code"), "keys_unavailable");
    json_decref (e);
    rsp_free (&r);
}

/* The gateway exits cleanly: in the sanitizer build, no leak report. */
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
    s_self = argv[0];
    if (argc > 1 && !strcmp (argv[1], "keys"))
        return support_serve ("gateway-keys", "fake", gw_fake_keys, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_release_at_start),
        cmocka_unit_test (test_no_key),
        cmocka_unit_test (test_stream_bytes_openai),
        cmocka_unit_test (test_stream_bytes_anthropic),
        cmocka_unit_test (test_embeddings),
        cmocka_unit_test (test_whole_answers),
        cmocka_unit_test (test_odd_stream),
        cmocka_unit_test (test_upstream_request),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_provider_error_masked),
        cmocka_unit_test (test_client_gone),
        cmocka_unit_test (test_upstream_failures),
        cmocka_unit_test (test_bad_requests),
        cmocka_unit_test (test_models),
        cmocka_unit_test (test_keys_down),
        cmocka_unit_test (test_clean_exit),
    };
    return support_run_group_tests (tests, setup, teardown);
}
