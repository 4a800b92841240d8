/* gateway_fixture: the model gateway's stack for its tests (see
 * gateway_fixture.h). Everything runs the real binaries over the real bus
 * (CURVE) and real HTTP; the only stand-in is the model, the scripted one
 * the orchestrator's tests use too. */
#include "gateway_fixture.h"
#include "mpjson.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEYS "gateway-keys"

static struct {
    pid_t bus, keys, gateway, replay, eventlog;
    char base[64], replay_base[64], real_key[64];
    bus_client_t *client;
} s_gw;

/* GET url: the body (the caller's, "" on failure) and *status (0 when no
 * answer). */
static char *
get (const char *url, long *status)
{
    CURL *e = curl_easy_init ();
    http_body_t b = { 0 };
    curl_easy_setopt (e, CURLOPT_URL, url);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, http_body_collect);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, 3000L);
    *status = 0;
    if (curl_easy_perform (e) == CURLE_OK)
        curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup (e);
    return http_body_take (&b);
}

/* Waits up to 10 s for url to answer 200 while pid lives; fails naming
 * what otherwise. */
static void
await_http (const char *what, const char *url, pid_t pid)
{
    for (int i = 0; i < 200; i++) {
        long status;
        free (get (url, &status));
        if (status == 200)
            return;
        if (!support_alive (pid))
            fail_msg ("%s exited before answering %s (see its log in %s)", what, url,
                      getenv ("CAISSON_DATA"));
        usleep (50000);
    }
    fail_msg ("%s never answered %s", what, url);
}

static void
need_binary (const char *program, const char *slice)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/%s", CAISSON_BIN_DIR, program);
    if (access (path, X_OK))
        fail_msg ("%s is missing (%s): the gateway tests need it", path, slice);
}

void
gwf_up (const char *name, const char *const extra_env[], bool eventlog)
{
    need_binary ("caisson-gateway-keys", "issue 16 slice B");
    need_binary ("caisson-gateway", "issue 16 slice C");
    curl_global_init (CURL_GLOBAL_DEFAULT);
    memset (&s_gw, 0, sizeof s_gw);
    assert_non_null (support_sandbox_env (name));
    setenv ("CAISSON_HEARTBEAT_MS", "100", 1);
    setenv ("CAISSON_GATEWAY_PRICES", GWF_PRICES, 1);
    /* every openai and anthropic model may be allowed; the two the tests
     * call are listed by name, so GET /v1/models names them */
    setenv ("CAISSON_GATEWAY_MODELS", GWF_MODELS, 1);
    char dir[700], http_env[96];
    int rport = support_replay_env (dir, sizeof dir);
    const char *data = getenv ("CAISSON_DATA");
    int gport = support_free_port ();
    snprintf (s_gw.replay_base, sizeof s_gw.replay_base, "http://127.0.0.1:%d", rport);
    snprintf (s_gw.base, sizeof s_gw.base, "http://127.0.0.1:%d", gport);
    snprintf (http_env, sizeof http_env, "CAISSON_GATEWAY_HTTP=127.0.0.1:%d", gport);
    setenv ("CAISSON_GATEWAY_URL", s_gw.base, 1);
    s_gw.bus = support_spawn ("caisson-bus", NULL);
    char pbase[96];
    snprintf (pbase, sizeof pbase, "%s/v1", s_gw.replay_base);
    setenv ("OPENAI_BASE_URL", pbase, 1);
    setenv ("ANTHROPIC_BASE_URL", pbase, 1);
    snprintf (s_gw.real_key, sizeof s_gw.real_key, "sk-caisson-REAL-%08x%08x",
              (unsigned) random (), (unsigned) getpid ());
    setenv ("OPENAI_API_KEY", s_gw.real_key, 1);
    setenv ("ANTHROPIC_API_KEY", s_gw.real_key, 1);
    /* the gateway cassettes, and one whose error quotes the real key back */
    support_sh ("mkdir -p %s/cassettes && cp %s/gateway_*.json %s/cassettes/", data, dir, data);
    json_t *echo = json_pack ("{s:s, s:[{s:s, s:{s:s, s:i, s:s+}}]}", "task", GWF_ECHO_TASK,
                              "turns", "text", "never sent", "fault", "kind", "400", "times",
                              1000000000, "message", "Incorrect API key provided: ",
                              s_gw.real_key);
    snprintf (dir, sizeof dir, "%s/cassettes", data);
    char path[800];
    snprintf (path, sizeof path, "%s/gateway_echo.json", dir);
    assert_int_equal (json_dump_file (echo, path, 0), 0);
    json_decref (echo);
    s_gw.replay = support_spawn_llm_replay (rport, dir, s_gw.real_key);
    char url[128];
    snprintf (url, sizeof url, "%s/health", s_gw.replay_base);
    await_http ("caisson-llm-replay", url, s_gw.replay);
    if (eventlog)
        s_gw.eventlog = support_spawn ("caisson-event-log", NULL);
    const char *env[16];
    size_t n = 0;
    for (size_t i = 0; extra_env && extra_env[i] && n < 14; i++)
        env[n++] = extra_env[i];
    env[n] = NULL;
    s_gw.keys = support_spawn ("caisson-gateway-keys", env);
    env[n++] = http_env;
    env[n] = NULL;
    s_gw.gateway = support_spawn ("caisson-gateway", env);
    const char *services[] = { KEYS, "gateway", eventlog ? "event-log" : NULL, NULL };
    s_gw.client = support_client_when_up (services);
    snprintf (url, sizeof url, "%s/health", s_gw.base);
    await_http ("caisson-gateway", url, s_gw.gateway);
}

void
gwf_down (void)
{
    bus_client_destroy (&s_gw.client);
    pid_t order[] = { s_gw.gateway, s_gw.keys, s_gw.eventlog, s_gw.replay, s_gw.bus };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (order[i] > 0)
            support_expect_clean_exit (order[i]);
    memset (&s_gw, 0, sizeof s_gw);
    curl_global_cleanup ();
}

const char *
gwf_base (void)
{
    return s_gw.base;
}

const char *
gwf_replay_base (void)
{
    return s_gw.replay_base;
}

const char *
gwf_real_key (void)
{
    return s_gw.real_key;
}

proto_msg_t *
gwf_request (const char *user, bool op, const char *service, proto_msg_t *req)
{
    proto_set_str (&req->env.user, user);
    req->env.op = op;
    proto_msg_t *rep = bus_client_request (s_gw.client, service, req);
    proto_msg_destroy (&req);
    if (!rep)
        fail_msg ("%s did not answer", service);
    return rep;
}

/* Fails the test with an error reply's code and message. */
static void
expect_type (const proto_msg_t *rep, proto_type_t type, const char *what)
{
    if (rep->type == PROTO_error)
        fail_msg ("%s: error %s: %s", what, rep->body.error.code, rep->body.error.message);
    assert_int_equal (rep->type, type);
}

gwf_key_t
gwf_key (const char *user, const gwf_key_opts_t *o)
{
    proto_msg_t *m = proto_msg_new (PROTO_gkey_create, NULL);
    proto_gkey_create_t *c = &m->body.gkey_create;
    proto_set_str (&c->user, user);
    proto_set_str (&c->name, "test");
    if (o && o->models) {
        json_t *models = json_loads (o->models, 0, NULL);
        assert_non_null (models);
        mpjson_set (&c->models, models, 4);
        json_decref (models);
    }
    if (o) {
        c->rpm = o->rpm;
        c->tpm = o->tpm;
        c->budget_tokens = o->budget_tokens;
        c->budget_nusd = o->budget_nusd;
        c->expires_at = o->expires_at;
        proto_set_str (&c->window, o->window);
    }
    proto_msg_t *rep = gwf_request ("operator", true, KEYS, m);
    expect_type (rep, PROTO_gkey_made, "gkey.create");
    char why[128];
    json_t *info = mpjson_decode (rep->body.gkey_made.info.data, rep->body.gkey_made.info.size,
                                  8, why, sizeof why);
    gwf_key_t k = { 0 };
    snprintf (k.secret, sizeof k.secret, "%s", rep->body.gkey_made.key);
    snprintf (k.id, sizeof k.id, "%s", support_json_str (info, "id"));
    assert_true (strncmp (k.secret, "vk_", 3) == 0);
    assert_int_equal (strlen (k.id), 12);
    json_decref (info);
    proto_msg_destroy (&rep);
    return k;
}

void
gwf_revoke (const char *id)
{
    proto_msg_t *m = proto_msg_new (PROTO_gkey_revoke, NULL);
    proto_set_str (&m->body.gkey_revoke.key_id, id);
    proto_msg_t *rep = gwf_request ("operator", true, KEYS, m);
    expect_type (rep, PROTO_gkey_ack, "gkey.revoke");
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
}

json_t *
gwf_key_usage (const char *user, const char *id)
{
    proto_msg_t *m = proto_msg_new (PROTO_gkey_usage_get, NULL);
    proto_set_str (&m->body.gkey_usage_get.key_id, id);
    proto_set_str (&m->body.gkey_usage_get.user, user);
    proto_msg_t *rep = gwf_request ("operator", true, KEYS, m);
    expect_type (rep, PROTO_gkey_usage, "gkey.usage.get");
    char why[128], want[32];
    json_t *u = mpjson_decode (rep->body.gkey_usage.usage.data, rep->body.gkey_usage.usage.size,
                               8, why, sizeof why);
    proto_msg_destroy (&rep);
    snprintf (want, sizeof want, "key.%s", id);
    size_t i;
    json_t *s, *found = NULL;
    json_array_foreach (json_object_get (u, "scopes"), i, s)
        if (!strcmp (support_json_str (s, "scope"), want))
            found = json_incref (s);
    if (!found)
        fail_msg ("gkey.usage.get of %s has no scope %s", id, want);
    json_decref (u);
    return found;
}

json_t *
gwf_key_settled (const char *user, const char *id)
{
    for (int i = 0; i < 100; i++) {
        json_t *s = gwf_key_usage (user, id);
        if (json_integer_value (json_object_get (s, "reservedNusd")) == 0
            && json_integer_value (json_object_get (s, "reservedTokens")) == 0)
            return s;
        json_decref (s);
        usleep (50000);
    }
    fail_msg ("key %s still holds reservations after 5 s", id);
    return NULL;
}

long
gwf_replay_requests (void)
{
    char url[128];
    long status;
    snprintf (url, sizeof url, "%s/stats", s_gw.replay_base);
    char *body = get (url, &status);
    assert_int_equal (status, 200);
    json_t *j = json_loads (body, 0, NULL);
    free (body);
    long n = (long) json_integer_value (json_object_get (j, "requests"));
    json_decref (j);
    return n;
}

char *
gwf_post (const char *base, const char *path, const char *key, bool anthropic, const char *body)
{
    char url[256], auth[320];
    snprintf (url, sizeof url, "%s%s", base, path);
    snprintf (auth, sizeof auth, anthropic ? "x-api-key: %s" : "Authorization: Bearer %s", key);
    struct curl_slist *h = curl_slist_append (NULL, "Content-Type: application/json");
    h = curl_slist_append (h, auth);
    CURL *e = curl_easy_init ();
    http_body_t b = { 0 };
    curl_easy_setopt (e, CURLOPT_URL, url);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt (e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, http_body_collect);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, 10000L);
    long status = 0;
    if (curl_easy_perform (e) == CURLE_OK)
        curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup (e);
    curl_slist_free_all (h);
    if (status != 200)
        fail_msg ("POST %s: %ld %s", url, status, b.buf ? b.buf : "");
    return b.buf;
}

char *
gwf_fixed_body (const char *model, bool stream, bool usage)
{
    json_t *r = json_pack ("{s:s, s:i, s:b, s:[{s:s, s:s}]}", "model", model, "max_tokens",
                           GWF_FIXED_OUT, "stream", stream, "messages", "role", "user",
                           "content", GWF_FIXED_TASK);
    if (usage)
        json_object_set_new (r, "stream_options", json_pack ("{s:b}", "include_usage", 1));
    char *out = json_dumps (r, JSON_COMPACT);
    json_decref (r);
    return out;
}

const char *
gwf_fixed_text (void)
{
    static char text[512];
    if (!*text) {
        char path[600];
        snprintf (path, sizeof path, "%s/tests/cassettes/gateway_fixed.json",
                  CAISSON_SOURCE_DIR);
        json_t *c = json_load_file (path, 0, NULL);
        const char *t = json_string_value (json_object_get (json_array_get (
            json_object_get (c, "turns"), 0), "text"));
        assert_non_null (t);
        snprintf (text, sizeof text, "%s", t);
        json_decref (c);
    }
    return text;
}

pid_t
gwf_sdk_start (const char *const args[], int *out)
{
    const char *argv[48] = { "node", CAISSON_SOURCE_DIR "/tests/gateway/sdk.cjs" };
    size_t n = 2;
    for (size_t i = 0; args[i] && n < 47; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int fd[2];
    assert_int_equal (pipe (fd), 0);
    pid_t pid = fork ();
    if (pid == 0) {
        /* a client holds only what it is given: never the real key */
        static const char *const real[] = { "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                                            "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL" };
        for (size_t i = 0; i < sizeof real / sizeof real[0]; i++)
            unsetenv (real[i]);
        dup2 (fd[1], STDOUT_FILENO);
        close (fd[0]);
        close (fd[1]);
        execvp ("node", (char *const *) argv);
        _exit (127);
    }
    close (fd[1]);
    *out = fd[0];
    return pid;
}

json_t *
gwf_sdk_wait (pid_t pid, int out, int *rc)
{
    http_body_t b = { 0 };
    char buf[4096];
    ssize_t got;
    while ((got = read (out, buf, sizeof buf)) > 0)
        http_body_collect (buf, 1, (size_t) got, &b);
    close (out);
    int status;
    waitpid (pid, &status, 0);
    if (rc)
        *rc = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
    /* the last line is the result */
    char *line = http_body_take (&b);
    size_t len = strlen (line);
    while (len && line[len - 1] == '\n')
        line[--len] = '\0';
    char *last = strrchr (line, '\n');
    json_t *j = json_loads (last ? last + 1 : line, 0, NULL);
    if (!j)
        fail_msg ("sdk.cjs printed no result (exit status 0x%x): '%s'", status, line);
    free (line);
    return j;
}

json_t *
gwf_sdk (const char *const args[], int *rc)
{
    int out;
    pid_t pid = gwf_sdk_start (args, &out);
    return gwf_sdk_wait (pid, out, rc);
}
