/* test_ui: ui-bridge's HTTP server through HTTP only: tokens made by the
 * real CLI, the real broker, and a stand-in sandbox-manager (this program
 * re-run as a bus worker) that keeps sandboxes in memory and records the
 * envelope's user as owner, as the real one does. Covers health, every
 * error class (bad JSON, oversize body and headers, missing and forged
 * tokens, unknown route, wrong method, rate limit), isolation (another
 * user's sandbox is 404, an operator sees all), CORS, a stalled client
 * that must not block others, and /metrics parsed as Prometheus text. */
#include "support.h"
#include "ui_support.h"

#include "bus_worker.h"
#include "mpjson.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_self;
static pid_t s_bus, s_fake, s_bridge;
static const char *s_alice, *s_bob, *s_root;

/* ---- the stand-in sandbox-manager --------------------------------------- */

#define MAX_BOXES 16
typedef struct {
    char id[64];
    char user[64];
    bool live;
    json_t *allow;              /* network_allow as created or last updated */
} box_t;
static box_t s_boxes[MAX_BOXES];
static const char *s_host = "fake1";     /* this stand-in's instance id */

static box_t *
find_box (const char *id)
{
    for (int i = 0; i < MAX_BOXES; i++)
        if (s_boxes[i].live && !strcmp (s_boxes[i].id, id))
            return &s_boxes[i];
    return NULL;
}

static proto_msg_t *
info_of (const proto_msg_t *req, const box_t *b)
{
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_info, req);
    proto_sandbox_info_t *i = &rep->body.sandbox_info;
    proto_set_str (&i->sandbox_id, b->id);
    proto_set_str (&i->status, b->live ? "ready" : "destroyed");
    proto_set_str (&i->workspace, "/workspace");
    if (*b->user)
        proto_set_str (&i->user, b->user);
    if (b->allow) {
        proto_set_str (&i->network, "policy");
        mpjson_set (&i->network_allow, b->allow, 4);
    }
    i->created_at = 1;
    i->expires_at = 2;
    return rep;
}

static proto_msg_t *
fake_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    static int next;
    switch (req->type) {
    case PROTO_sandbox_create: {
        box_t *b = &s_boxes[next++ % MAX_BOXES];
        snprintf (b->id, sizeof b->id, "%s-box%d", s_host, next);
        snprintf (b->user, sizeof b->user, "%s", req->env.user ? req->env.user : "");
        b->live = true;
        json_decref (b->allow);
        b->allow = mpjson_get (&req->body.sandbox_create.network_allow, 4);
        return info_of (req, b);
    }
    case PROTO_sandbox_net_update: {
        box_t *b = find_box (req->body.sandbox_net_update.sandbox_id);
        if (!b)
            return proto_error_new (req, PROTO_ERR_not_found, "no sandbox");
        json_decref (b->allow);
        b->allow = mpjson_get (&req->body.sandbox_net_update.allow_add, 4);
        return info_of (req, b);
    }
    case PROTO_sandbox_list: {
        json_t *list = json_array ();
        for (int i = 0; i < MAX_BOXES; i++)
            if (s_boxes[i].live && (!req->body.sandbox_list.user
                                    || !strcmp (req->body.sandbox_list.user, s_boxes[i].user)))
                json_array_append_new (list, json_pack ("{s:s,s:s,s:s}", "sandboxId",
                                       s_boxes[i].id, "user", s_boxes[i].user, "status", "ready"));
        proto_msg_t *rep = proto_msg_new (PROTO_sandbox_listed, req);
        mpjson_set (&rep->body.sandbox_listed.sandboxes, list, 8);
        json_decref (list);
        return rep;
    }
    case PROTO_sandbox_get:
    case PROTO_sandbox_destroy: {
        box_t *b = find_box (req->body.sandbox_get.sandbox_id);
        if (!b && strstr (req->body.sandbox_get.sandbox_id, "-olderpeer")) {
            /* a peer of another version sends a code this build does not
             * declare: set on the wire as that peer would */
            proto_msg_t *rep = proto_error_new (req, PROTO_ERR_internal, "from an older peer");
            proto_set_str (&rep->body.error.code, "gone_in_v0");
            return rep;
        }
        if (!b && strstr (req->body.sandbox_get.sandbox_id, "-storefull"))
            return proto_error_new (req, PROTO_ERR_store_full, "no room");
        if (!b)
            return proto_error_new (req, PROTO_ERR_not_found, "no sandbox %s",
                                    req->body.sandbox_get.sandbox_id);
        if (req->type == PROTO_sandbox_destroy)
            b->live = false;
        return info_of (req, b);
    }
    case PROTO_sandbox_exec: {
        proto_msg_t *rep = proto_msg_new (PROTO_sandbox_exec_result, req);
        proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
        proto_set_str (&r->sandbox_id, req->body.sandbox_exec.sandbox_id);
        r->pid = 7;
        char why[128];
        json_t *cmd = mpjson_decode (req->body.sandbox_exec.command.data,
                                     req->body.sandbox_exec.command.size, 4, why, sizeof why);
        char *text = json_dumps (cmd, JSON_COMPACT | JSON_ENCODE_ANY);
        proto_set_str (&r->stdout, text);
        free (text);
        json_decref (cmd);
        return rep;
    }
    default:
        return proto_error_new (req, PROTO_ERR_unknown_type, "fake does not serve %s",
                                proto_type_name (req->type));
    }
}

static int
fake_main (void)
{
    return support_serve ("sandbox-manager", s_host, fake_handler, NULL);
}

/* ---- fixture ------------------------------------------------------------ */

static int
setup (void **state)
{
    (void) state;
    assert_non_null (support_sandbox_env ("ui"));
    ui_pick_port ();
    setenv ("CAISSON_HTTP_MAX_BODY", "4096", 1);
    setenv ("CAISSON_HTTP_CORS", "http://allowed.example", 1);
    s_bus = support_spawn ("caisson-bus", NULL);
    s_fake = support_spawn_self ((const char *[]) { s_self, "fake-sandbox", NULL });
    s_bridge = support_spawn ("caisson-ui-bridge", NULL);
    assert_int_equal (ui_wait_ready (), 0);
    s_alice = ui_token (0, "alice", 0);
    s_bob = ui_token (1, "bob", 0);
    s_root = ui_token (2, "root", 1);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    support_expect_clean_exit (s_bridge);
    support_stop (s_fake, SIGTERM, 2000);
    support_stop (s_bus, SIGTERM, 2000);
    return 0;
}

static const char *
error_code (json_t *doc)
{
    return json_string_value (json_object_get (json_object_get (doc, "error"), "code"));
}

/* ---- tests -------------------------------------------------------------- */

static void
test_healthz (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("GET", "/healthz", NULL, NULL, &status);
    json_t *services = json_object_get (doc, "services");
    /* Only the broker, the stand-in and the bridge run: degraded. */
    assert_int_equal (status, 503);
    assert_true (json_is_true (json_object_get (json_object_get (services, "bus"), "ok")));
    assert_true (json_is_true (json_object_get (json_object_get (services, "sandbox-manager"),
                                                "ok")));
    assert_true (json_is_true (json_object_get (json_object_get (services, "ui-bridge"), "ok")));
    assert_true (json_is_false (json_object_get (json_object_get (services, "orchestrator"),
                                                 "ok")));
    json_decref (doc);
}

static void
test_errors (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("GET", "/api/sandboxes", NULL, NULL, &status);
    assert_int_equal (status, 401);
    assert_string_equal (error_code (doc), "unauthorized");
    json_decref (doc);

    doc = ui_json ("GET", "/api/sandboxes", "cst_forgedforgedforgedforgedforgedforged", NULL,
                   &status);
    assert_int_equal (status, 401);
    assert_non_null (strstr (json_string_value (json_object_get (json_object_get (doc, "error"),
                                                                 "message")), "unknown"));
    json_decref (doc);

    doc = ui_json ("POST", "/api/sandboxes", s_alice, "{\"name\": ", &status);
    assert_int_equal (status, 400);
    assert_string_equal (error_code (doc), "bad_json");
    json_decref (doc);

    doc = ui_json ("POST", "/api/sandboxes", s_alice, "[1,2]", &status);
    assert_int_equal (status, 400);
    assert_string_equal (error_code (doc), "bad_json");
    json_decref (doc);

    doc = ui_json ("POST", "/api/sandboxes", s_alice, "{\"cpus\": \"many\"}", &status);
    assert_int_equal (status, 400);
    assert_non_null (strstr (json_string_value (json_object_get (json_object_get (doc, "error"),
                                                                 "message")), "cpus"));
    json_decref (doc);

    doc = ui_json ("POST", "/api/sandboxes", s_alice, "{\"colour\": 1}", &status);
    assert_int_equal (status, 400);
    assert_non_null (strstr (json_string_value (json_object_get (json_object_get (doc, "error"),
                                                                 "message")), "colour"));
    json_decref (doc);

    char *big = malloc (8192);
    memset (big, ' ', 8191);
    big[0] = '{';
    big[8189] = '}';
    big[8190] = '\0';
    doc = ui_json ("POST", "/api/sandboxes", s_alice, big, &status);
    assert_int_equal (status, 413);
    assert_string_equal (error_code (doc), "body_too_large");
    json_decref (doc);
    free (big);

    char *huge = malloc (20000);
    memset (huge, 'a', 19999);
    memcpy (huge, "X-Big: ", 7);
    huge[19999] = '\0';
    const char *extra[] = { huge, NULL };
    ui_res_t r = ui_request ("GET", "/api/sandboxes", s_alice, NULL, extra);
    assert_int_equal (r.status, 431);
    ui_res_free (&r);
    free (huge);

    doc = ui_json ("GET", "/api/nothing-here", s_alice, NULL, &status);
    assert_int_equal (status, 404);
    assert_string_equal (error_code (doc), "not_found");
    json_decref (doc);

    r = ui_request ("PATCH", "/api/sandboxes", s_alice, NULL, NULL);
    assert_int_equal (r.status, 405);
    char allow[128];
    ui_header (&r, "Allow", allow, sizeof allow);
    assert_string_equal (allow, "GET, POST");
    ui_res_free (&r);
}

static void
test_request_id (void **state)
{
    (void) state;
    const char *extra[] = { "X-Request-Id: trace-me-42", NULL };
    ui_res_t r = ui_request ("GET", "/api/sandboxes", NULL, NULL, extra);
    char value[160];
    ui_header (&r, "X-Request-Id", value, sizeof value);
    assert_string_equal (value, "trace-me-42");
    ui_header (&r, "X-Correlation-Id", value, sizeof value);
    assert_int_equal (strlen (value), 26);
    ui_res_free (&r);
    /* A request id that is a valid correlation id becomes the bus's. */
    const char *cid[] = { "X-Request-Id: 01J0000000000000000000ABCD", NULL };
    r = ui_request ("GET", "/healthz", NULL, NULL, cid);
    ui_header (&r, "X-Correlation-Id", value, sizeof value);
    assert_string_equal (value, "01J0000000000000000000ABCD");
    ui_res_free (&r);
}

/* Issue 15: a create's network fields reach the manager; POST .../net
 * (sandbox.net.update) is the owner's (others get 404) and answers the
 * rules in force. */
static void
test_sandboxes_net (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("POST", "/api/sandboxes", s_alice, "{\"name\":\"n1\",\"network\":"
                           "\"policy\",\"networkAllow\":[\"pypi.test:8000\"]}", &status);
    assert_int_equal (status, 201);
    char path[160];
    snprintf (path, sizeof path, "/api/sandboxes/%s/net",
              json_string_value (json_object_get (doc, "sandboxId")));
    assert_string_equal (json_string_value (json_array_get (json_object_get (doc, "networkAllow"),
                                                            0)), "pypi.test:8000");
    json_decref (doc);
    const char *body = "{\"allowAdd\":[\"files.test:8000\"],\"reason\":\"the wheel\"}";
    doc = ui_json ("POST", path, s_bob, body, &status);
    assert_int_equal (status, 404);
    json_decref (doc);
    doc = ui_json ("POST", path, s_alice, body, &status);
    assert_int_equal (status, 200);
    assert_string_equal (json_string_value (json_object_get (doc, "network")), "policy");
    assert_string_equal (json_string_value (json_array_get (json_object_get (doc, "networkAllow"),
                                                            0)), "files.test:8000");
    json_decref (doc);
    doc = ui_json ("POST", path, s_alice, "{\"allowAdd\":[\"x.test\"],\"sandboxId\":\"x\"}",
                   &status);
    assert_int_equal (status, 400);
    json_decref (doc);
    doc = ui_json ("POST", path, s_root, body, &status);
    assert_int_equal (status, 200);
    json_decref (doc);
}

static void
test_sandboxes_isolation (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("POST", "/api/sandboxes", s_alice, "{\"name\":\"a1\"}", &status);
    assert_int_equal (status, 201);
    char id[64], path[160];
    snprintf (id, sizeof id, "%s", json_string_value (json_object_get (doc, "sandboxId")));
    assert_string_equal (json_string_value (json_object_get (doc, "user")), "alice");
    json_decref (doc);

    snprintf (path, sizeof path, "/api/sandboxes/%s", id);
    doc = ui_json ("GET", path, s_alice, NULL, &status);
    assert_int_equal (status, 200);
    assert_string_equal (json_string_value (json_object_get (doc, "status")), "ready");
    json_decref (doc);

    doc = ui_json ("GET", path, s_bob, NULL, &status);
    assert_int_equal (status, 404);
    assert_string_equal (error_code (doc), "not_found");
    json_decref (doc);

    doc = ui_json ("GET", path, s_root, NULL, &status);
    assert_int_equal (status, 200);
    json_decref (doc);

    doc = ui_json ("GET", "/api/sandboxes", s_bob, NULL, &status);
    assert_int_equal (status, 200);
    assert_int_equal (json_array_size (json_object_get (doc, "sandboxes")), 0);
    json_decref (doc);
    doc = ui_json ("GET", "/api/sandboxes", s_alice, NULL, &status);
    assert_int_equal (json_array_size (json_object_get (doc, "sandboxes")), 1);
    json_decref (doc);

    snprintf (path, sizeof path, "/api/sandboxes/%s/exec", id);
    doc = ui_json ("POST", path, s_bob, "{\"command\":[\"id\"]}", &status);
    assert_int_equal (status, 404);
    json_decref (doc);
    doc = ui_json ("POST", path, s_alice, "{\"command\":[\"echo\",\"hi\"]}", &status);
    assert_int_equal (status, 200);
    assert_string_equal (json_string_value (json_object_get (doc, "stdout")), "[\"echo\",\"hi\"]");
    assert_true (json_is_integer (json_object_get (doc, "exitCode")));     /* 0 is shown */
    json_decref (doc);
    doc = ui_json ("POST", path, s_alice, "{\"command\":[\"id\"],\"sandboxId\":\"x\"}", &status);
    assert_int_equal (status, 400);
    json_decref (doc);

    doc = ui_json ("GET", "/api/sandboxes/fake1-nosuch", s_alice, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);

    /* a declared code answers its declared status; an undeclared one is
     * the fault of a peer behind the gateway: 502, not the client's 400 */
    doc = ui_json ("GET", "/api/sandboxes/fake1-storefull", s_alice, NULL, &status);
    assert_int_equal (status, 507);
    assert_string_equal (error_code (doc), "store_full");
    json_decref (doc);
    doc = ui_json ("GET", "/api/sandboxes/fake1-olderpeer", s_alice, NULL, &status);
    assert_int_equal (status, 502);
    assert_string_equal (error_code (doc), "gone_in_v0");
    json_decref (doc);

    snprintf (path, sizeof path, "/api/sandboxes/%s", id);
    doc = ui_json ("DELETE", path, s_bob, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);
    doc = ui_json ("DELETE", path, s_alice, NULL, &status);
    assert_int_equal (status, 200);
    json_decref (doc);
    doc = ui_json ("GET", path, s_alice, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);
}

static void
test_cors (void **state)
{
    (void) state;
    const char *good[] = { "Origin: http://allowed.example",
                           "Access-Control-Request-Method: POST", NULL };
    ui_res_t r = ui_request ("OPTIONS", "/api/runs", NULL, NULL, good);
    assert_int_equal (r.status, 204);
    char v[256];
    ui_header (&r, "Access-Control-Allow-Origin", v, sizeof v);
    assert_string_equal (v, "http://allowed.example");
    ui_res_free (&r);
    const char *bad[] = { "Origin: http://evil.example", NULL };
    r = ui_request ("OPTIONS", "/api/runs", NULL, NULL, bad);
    assert_int_equal (r.status, 403);
    ui_res_free (&r);
    r = ui_request ("GET", "/api/sandboxes", s_alice, NULL, bad);
    ui_header (&r, "Access-Control-Allow-Origin", v, sizeof v);
    assert_string_equal (v, "");
    ui_res_free (&r);
}

/* A client that sends half a request and stops must not hold up anyone. */
static void
test_stalled_client (void **state)
{
    (void) state;
    int fds[8];
    const char *port = strrchr (ui_base, ':') + 1;
    for (int i = 0; i < 8; i++) {
        fds[i] = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) atoi (port)),
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
        assert_int_equal (connect (fds[i], (struct sockaddr *) &sa, sizeof sa), 0);
        const char *part = "POST /api/sandboxes HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
        assert_true (write (fds[i], part, strlen (part)) > 0);
    }
    long status;
    json_t *doc = ui_json ("GET", "/api/sandboxes", s_alice, NULL, &status);
    assert_int_equal (status, 200);
    json_decref (doc);
    for (int i = 0; i < 8; i++)
        close (fds[i]);
}

/* Every line of /metrics is a comment or `name{labels} value`. */
static void
test_metrics (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("POST", "/api/sandboxes", s_bob, "{}", &status);
    assert_int_equal (status, 201);
    json_decref (doc);
    ui_res_t r = ui_request ("GET", "/metrics", NULL, NULL, NULL);
    assert_int_equal (r.status, 200);
    regex_t sample, comment;
    assert_int_equal (regcomp (&sample,
        "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\",?)*\\})? "
        "(-?[0-9.eE+-]+|\\+Inf|NaN)$", REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal (regcomp (&comment, "^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$",
                               REG_EXTENDED | REG_NOSUB), 0);
    int samples = 0;
    char *save, *line = strtok_r (r.body, "\n", &save);
    for (; line; line = strtok_r (NULL, "\n", &save)) {
        if (line[0] == '#') {
            if (regexec (&comment, line, 0, NULL, 0))
                fail_msg ("bad comment line: %s", line);
        }
        else if (regexec (&sample, line, 0, NULL, 0))
            fail_msg ("bad sample line: %s", line);
        else
            samples++;
    }
    regfree (&sample);
    regfree (&comment);
    ui_res_free (&r);
    r = ui_request ("GET", "/metrics", NULL, NULL, NULL);
    assert_non_null (strstr (r.body, "caisson_http_requests_total{route=\"sandboxes.create\","
                                     "status=\"201\"} 2"));
    assert_non_null (strstr (r.body, "caisson_sandboxes{status=\"ready\"}"));
    assert_non_null (strstr (r.body, "# TYPE caisson_tool_calls_total counter"));
    ui_res_free (&r);
    assert_true (samples > 10);
}

/* A second bridge with a tiny budget: the burst passes, then 429 with
 * Retry-After; another user is not affected. */
static void
test_rate_limit (void **state)
{
    (void) state;
    char saved[96];
    snprintf (saved, sizeof saved, "%s", ui_base);
    ui_pick_port ();
    const char *env[] = { "CAISSON_HTTP_RATE=1", "CAISSON_HTTP_BURST=3", NULL };
    pid_t bridge = support_spawn ("caisson-ui-bridge", env);
    assert_int_equal (ui_wait_ready (), 0);
    long status;
    for (int i = 0; i < 3; i++) {
        json_t *doc = ui_json ("GET", "/api/sandboxes", s_bob, NULL, &status);
        assert_int_equal (status, 200);
        json_decref (doc);
    }
    ui_res_t r = ui_request ("GET", "/api/sandboxes", s_bob, NULL, NULL);
    assert_int_equal (r.status, 429);
    assert_non_null (strstr (r.body, "rate_limited"));
    char after[32];
    ui_header (&r, "Retry-After", after, sizeof after);
    assert_true (atoi (after) >= 1);
    ui_res_free (&r);
    json_t *doc = ui_json ("GET", "/api/sandboxes", s_alice, NULL, &status);
    assert_int_equal (status, 200);
    json_decref (doc);
    support_expect_clean_exit (bridge);
    snprintf (ui_base, sizeof ui_base, "%s", saved);
    setenv ("CAISSON_HTTP", saved + strlen ("http://"), 1);
}

/* Input errors of the runs API and /agui are caught before any bus
 * request, whatever services run. */
static void
test_runs_input_errors (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("POST", "/api/runs", NULL, "{\"task\":\"x\"}", &status);
    assert_int_equal (status, 401);
    json_decref (doc);
    doc = ui_json ("POST", "/api/runs", s_alice, "not json", &status);
    assert_int_equal (status, 400);
    assert_string_equal (error_code (doc), "bad_json");
    json_decref (doc);
    doc = ui_json ("POST", "/api/runs", s_alice, "{\"model\":\"m\"}", &status);
    assert_int_equal (status, 400);
    assert_non_null (strstr (json_string_value (json_object_get (json_object_get (doc, "error"),
                                                                 "message")), "task"));
    json_decref (doc);
    doc = ui_json ("POST", "/api/runs", s_alice, "{\"task\":\"x\",\"colour\":1}", &status);
    assert_int_equal (status, 400);
    json_decref (doc);
    doc = ui_json ("GET", "/api/runs/..%2F..%2Fetc/events", s_alice, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);
    doc = ui_json ("POST", "/agui", NULL, "{}", &status);
    assert_int_equal (status, 401);
    json_decref (doc);
    doc = ui_json ("POST", "/agui", s_alice, "{\"threadId\":\"t\"}", &status);
    assert_int_equal (status, 400);
    json_decref (doc);
    doc = ui_json ("POST", "/agui", s_alice,
                   "{\"threadId\":\"t\",\"runId\":\"r\",\"messages\":[]}", &status);
    assert_int_equal (status, 400);
    json_decref (doc);
    doc = ui_json ("POST", "/agui", s_alice,
                   "{\"threadId\":\"t\",\"runId\":\"r\",\"resume\":[{\"interruptId\":"
                   "\"forged\",\"status\":\"resolved\"}]}", &status);
    assert_int_equal (status, 400);
    json_decref (doc);
}

/* The embedded UI is served, and unknown UI paths fall back to it. */
static void
test_static (void **state)
{
    (void) state;
    ui_res_t r = ui_request ("GET", "/", NULL, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "<title>Caisson</title>"));
    char type[128];
    ui_header (&r, "Content-Type", type, sizeof type);
    assert_string_equal (type, "text/html; charset=utf-8");
    ui_res_free (&r);
    r = ui_request ("GET", "/app.js", NULL, NULL, NULL);
    assert_int_equal (r.status, 200);
    ui_header (&r, "Content-Type", type, sizeof type);
    assert_string_equal (type, "text/javascript; charset=utf-8");
    ui_res_free (&r);
    r = ui_request ("GET", "/runs/01J0000000000000000000ABCD", NULL, NULL, NULL);
    assert_int_equal (r.status, 200);
    ui_res_free (&r);
    r = ui_request ("GET", "/missing.png", NULL, NULL, NULL);
    assert_int_equal (r.status, 404);
    ui_res_free (&r);
    /* the icon every browser asks for: an embedded ICO, not a 404 */
    r = ui_request ("GET", "/favicon.ico", NULL, NULL, NULL);
    assert_int_equal (r.status, 200);
    ui_header (&r, "Content-Type", type, sizeof type);
    assert_string_equal (type, "image/x-icon");
    assert_true (r.len > 22 && !memcmp (r.body, "\0\0\1\0", 4));
    ui_res_free (&r);
}

/* The web UI in headless Chromium: the sandboxes view lists alice's
 * sandbox; screenshots go to build/ui-screenshots/sandboxes. */
/* With sandbox-managers on two hosts, the list holds both hosts' sandboxes
 * (each instance is asked), and /metrics counts them all. Runs last: the
 * second host is stopped at the end. */
static void
test_sandboxes_on_two_hosts (void **state)
{
    (void) state;
    pid_t second = support_spawn_self ((const char *[]) { s_self, "fake-sandbox", "fake2", NULL });
    long status;
    /* Until fake2 has registered (the broker answers 404 for an instance
     * it does not know, so a 404 through HTTP would not tell). */
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    support_await_service (c, "sandbox-manager.fake2");
    bus_client_destroy (&c);
    json_t *doc = ui_json ("GET", "/api/sandboxes", s_bob, NULL, &status);
    size_t before = json_array_size (json_object_get (doc, "sandboxes"));
    json_decref (doc);
    /* The broker alternates creates between the hosts: both get some. */
    bool on[3] = { false, false, false };
    for (int i = 0; i < 4; i++) {
        doc = ui_json ("POST", "/api/sandboxes", s_bob, "{\"name\":\"two-hosts\"}", &status);
        assert_int_equal (status, 201);
        const char *id = json_string_value (json_object_get (doc, "sandboxId"));
        on[id && !strncmp (id, "fake2-", 6) ? 2 : 1] = true;
        json_decref (doc);
    }
    assert_true (on[1] && on[2]);
    doc = ui_json ("GET", "/api/sandboxes", s_bob, NULL, &status);
    assert_int_equal (status, 200);
    assert_int_equal (json_array_size (json_object_get (doc, "sandboxes")), before + 4);
    json_decref (doc);
    support_stop (second, SIGTERM, 2000);
}

static void
test_browser (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("POST", "/api/sandboxes", s_alice, "{\"name\":\"browser-box\"}",
                           &status);
    assert_int_equal (status, 201);
    char id[64];
    snprintf (id, sizeof id, "%s", json_string_value (json_object_get (doc, "sandboxId")));
    json_decref (doc);
    const char *args[] = { "node", "browser.mjs", ui_base, s_alice,
                           CAISSON_BIN_DIR "/../ui-screenshots/sandboxes", "sandboxes", id, NULL };
    assert_int_equal (support_run_node (args), 0);
}

int
main (int argc, char **argv)
{
    s_self = argv[0];
    if (argc > 1 && !strcmp (argv[1], "fake-sandbox")) {
        if (argc > 2)
            s_host = argv[2];
        return fake_main ();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_healthz),
        cmocka_unit_test (test_errors),
        cmocka_unit_test (test_request_id),
        cmocka_unit_test (test_sandboxes_isolation),
        cmocka_unit_test (test_cors),
        cmocka_unit_test (test_stalled_client),
        cmocka_unit_test (test_metrics),
        cmocka_unit_test (test_sandboxes_net),
        cmocka_unit_test (test_rate_limit),
        cmocka_unit_test (test_runs_input_errors),
        cmocka_unit_test (test_static),
        cmocka_unit_test (test_browser),
        cmocka_unit_test (test_sandboxes_on_two_hosts),
    };
    return support_run_group_tests (tests, setup, teardown);
}
