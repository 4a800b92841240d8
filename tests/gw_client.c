/* gw_client: see gw_client.h. */
#define _GNU_SOURCE /* strncasecmp */
#include "gw_client.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *gwc_self, *gwc_dir;
char gwc_log[600], gwc_url[64], gwc_replay_url[64];
pid_t gwc_bus, gwc_keys, gwc_replay, gwc_gw;
const char *const gwc_ok[] = { "Authorization: Bearer " GW_KEY_OK, NULL };

static size_t
gwc_on_data (char *d, size_t size, size_t n, void *arg)
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
gwc_on_head (char *d, size_t size, size_t n, void *arg)
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
rsp_t
gwc_http (const char *base, const char *path, const char *body, const char *const hdrs[],
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
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, gwc_on_data);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, gwc_on_head);
    curl_easy_setopt (e, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt (e, CURLOPT_TIMEOUT, 30L);
    curl_easy_perform (e);
    curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup (e);
    curl_slist_free_all (h);
    return r;
}

void
gwc_free (rsp_t *r)
{
    free (r->head);
    free (r->body);
}

/* The value of header name in r (static storage), "" when absent. */
const char *
gwc_hval (const rsp_t *r, const char *name)
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

static bool
gwc_ready (void)
{
    rsp_t r = gwc_http (gwc_url, "/health", NULL, NULL, 0);
    bool ok = r.status == 200;
    gwc_free (&r);
    return ok;
}

int
gwc_setup (void **state)
{
    (void) state;
    gwc_dir = support_sandbox_env ("gwhttp");
    assert_non_null (gwc_dir);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    snprintf (gwc_log, sizeof gwc_log, "%s/keys.log", gwc_dir);
    setenv ("GW_FAKE_LOG", gwc_log, 1);
    char cassettes[512];
    int rport = support_replay_env (cassettes, sizeof cassettes);
    snprintf (gwc_replay_url, sizeof gwc_replay_url, "http://127.0.0.1:%d/v1", rport);
    int up = gw_fake_upstream_start (), gport = support_free_port ();
    assert_true (up > 0);
    snprintf (gwc_url, sizeof gwc_url, "http://127.0.0.1:%d", gport);
    static char e_http[64], e_oai[96], e_ant[96];
    snprintf (e_http, sizeof e_http, "CAISSON_GATEWAY_HTTP=127.0.0.1:%d", gport);
    snprintf (e_oai, sizeof e_oai, "OPENAI_BASE_URL=http://127.0.0.1:%d/v1", up);
    snprintf (e_ant, sizeof e_ant, "ANTHROPIC_BASE_URL=http://127.0.0.1:%d/v1", up);
    gwc_bus = support_spawn ("caisson-bus", NULL);
    gwc_keys = support_spawn_self ((const char *[]) { gwc_self, "keys", NULL });
    gwc_replay = support_spawn_llm_replay (rport, cassettes, NULL);
    gwc_gw = support_spawn ("caisson-gateway", (const char *[]) {
        e_http, e_oai, e_ant, "OPENAI_API_KEY=" GWC_REAL_KEY, "ANTHROPIC_API_KEY=" GWC_REAL_KEY,
        "CAISSON_GATEWAY_MAX_BODY=1048576", "CAISSON_GATEWAY_UPSTREAM_TIMEOUT_S=2",
        "GROQ_BASE_URL=http://127.0.0.1:1/v1", "CAISSON_REQUEST_TIMEOUT_MS=1000",
        "CAISSON_REQUEST_RETRIES=1", NULL });
    for (int i = 0; i < 250 && !gwc_ready (); i++)
        usleep (20000);
    assert_true (gwc_ready ());
    return 0;
}

int
gwc_teardown (void **state)
{
    (void) state;
    pid_t *pids[] = { &gwc_gw, &gwc_replay, &gwc_keys, &gwc_bus };
    for (size_t i = 0; i < 4; i++)
        if (*pids[i])
            support_stop (*pids[i], SIGTERM, 5000);
    gw_fake_upstream_stop ();
    return 0;
}

/* The settle of the call r answered (x-caisson-call), waited for. */
json_t *
gwc_settle_of (const rsp_t *r)
{
    char call[64];
    snprintf (call, sizeof call, "%s", gwc_hval (r, "x-caisson-call"));
    assert_true (strlen (call) > 0);
    json_t *s = gw_fake_log_find (gwc_log, "settle", call, 5000);
    if (!s)
        fail_msg ("no gkey.settle for call %s", call);
    return s;
}

void
gwc_expect_settle (json_t *s, const char *outcome, json_int_t in, json_int_t out, bool estimated)
{
    assert_string_equal (support_json_str (s, "outcome"), outcome);
    if (in >= 0)
        assert_int_equal (json_integer_value (json_object_get (s, "input")), in);
    if (out >= 0)
        assert_int_equal (json_integer_value (json_object_get (s, "output")), out);
    assert_int_equal (json_is_true (json_object_get (s, "estimated")), estimated);
}

json_t *
gwc_error_of (const rsp_t *r, bool anthropic)
{
    json_t *doc = json_loads (r->body, 0, NULL);
    if (anthropic)
        assert_string_equal (support_json_str (doc, "type"), "error");
    json_t *e = json_incref (json_object_get (doc, "error"));
    json_decref (doc);
    assert_non_null (e);
    return e;
}

void
gwc_clean_exit (void)
{
    pid_t gw = gwc_gw;
    gwc_gw = 0;
    support_expect_clean_exit (gw);
}

int
gwc_child (int argc, char **argv)
{
    gwc_self = argv[0];
    if (argc > 1 && !strcmp (argv[1], "keys"))
        return support_serve ("gateway-keys", "fake", gw_fake_keys, NULL);
    return -1;
}
