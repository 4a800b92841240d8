/* ui_support: HTTP helpers for the ui-bridge tests. See ui_support.h. */
#include "ui_support.h"
#include "support.h"
#include "http_body.h"
#include "mpjson.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

char ui_base[96];
static char s_tokens[4][256];

void
ui_pick_port (void)
{
    char addr[64];
    snprintf (addr, sizeof addr, "127.0.0.1:%d", support_free_port ());
    setenv ("CAISSON_HTTP", addr, 1);
    snprintf (ui_base, sizeof ui_base, "http://%s", addr);
}

int
ui_connect_from (const char *from)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true (fd >= 0);
    struct timeval tv = { 3, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in src = { .sin_family = AF_INET };
    inet_pton (AF_INET, from, &src.sin_addr);
    assert_int_equal (bind (fd, (struct sockaddr *) &src, sizeof src), 0);
    struct sockaddr_in dst = { .sin_family = AF_INET,
                               .sin_port = htons ((uint16_t) atoi (strrchr (ui_base, ':') + 1)) };
    inet_pton (AF_INET, "127.0.0.1", &dst.sin_addr);
    if (connect (fd, (struct sockaddr *) &dst, sizeof dst)) {
        close (fd);
        return -1;
    }
    return fd;
}

int
ui_wait_ready (void)
{
    for (int i = 0; i < 300; i++) {
        ui_res_t r = ui_request ("GET", "/api/nope", NULL, NULL, NULL);
        long status = r.status;
        ui_res_free (&r);
        if (status == 404)
            return 0;
        usleep (20000);
    }
    return -1;
}

const char *
ui_token (int slot, const char *user, int operator_)
{
    const char *argv[] = { "caisson", "token", "create", "--user", user,
                           operator_ ? "--operator" : NULL, NULL };
    char out[256];
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    out[strcspn (out, "\n")] = '\0';
    snprintf (s_tokens[slot], sizeof s_tokens[slot], "%s", out);
    return s_tokens[slot];
}

void
ui_elog_stack_up (ui_elog_stack_t *s, const char *name)
{
    assert_non_null (support_sandbox_env (name));
    ui_pick_port ();
    s->bus = support_spawn ("caisson-bus", NULL);
    s->elog = support_spawn ("caisson-event-log", NULL);
    s->bridge = support_spawn ("caisson-ui-bridge", NULL);
    assert_int_equal (ui_wait_ready (), 0);
    s->alice = ui_token (0, "alice", 0);
    s->bob = ui_token (1, "bob", 0);
    s->root = ui_token (2, "root", 1);
}

static size_t
s_header (char *data, size_t size, size_t n, void *arg)
{
    ui_res_t *res = arg;
    size_t used = strlen (res->headers), take = size * n;
    if (used + take < sizeof res->headers) {
        memcpy (res->headers + used, data, take);
        res->headers[used + take] = '\0';
    }
    return size * n;
}

ui_res_t
ui_request (const char *method, const char *path, const char *token, const char *body,
            const char *const extra[])
{
    ui_res_t res = { 0 };
    http_body_t b = { 0 };
    CURL *c = curl_easy_init ();
    char url[1024], auth[256];
    snprintf (url, sizeof url, "%s%s", ui_base, path);
    struct curl_slist *h = NULL;
    if (token) {
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append (h, auth);
    }
    for (int i = 0; extra && extra[i]; i++)
        h = curl_slist_append (h, extra[i]);
    if (body)
        h = curl_slist_append (h, "Content-Type: application/json");
    h = curl_slist_append (h, "Expect:");
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, http_body_collect);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, s_header);
    curl_easy_setopt (c, CURLOPT_HEADERDATA, &res);
    curl_easy_setopt (c, CURLOPT_TIMEOUT, 60L);
    if (body) {
        curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE, (long) strlen (body));
    }
    if (curl_easy_perform (c) == CURLE_OK)
        curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &res.status);
    curl_slist_free_all (h);
    curl_easy_cleanup (c);
    res.len = b.len;
    res.body = http_body_take (&b);
    return res;
}

json_t *
ui_json (const char *method, const char *path, const char *token, const char *body,
         long *status)
{
    ui_res_t r = ui_request (method, path, token, body, NULL);
    *status = r.status;
    json_error_t err;
    json_t *doc = json_loads (r.body, 0, &err);
    if (!doc)
        fail_msg ("%s %s answered %ld with no JSON: %s", method, path, r.status, r.body);
    ui_res_free (&r);
    return doc;
}

void
ui_res_free (ui_res_t *res)
{
    free (res->body);
    res->body = NULL;
}

void
ui_header (const ui_res_t *res, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    size_t n = strlen (name);
    for (const char *line = res->headers; line && *line;) {
        if (!strncasecmp (line, name, n) && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn (v, "\r\n");
            snprintf (out, outlen, "%.*s", (int) len, v);
        }
        line = strchr (line, '\n');
        if (line)
            line++;
    }
}

void
ui_await_healthy (void)
{
    for (int i = 0; i < 150; i++) {
        long st;
        json_t *doc = ui_json ("GET", "/healthz", NULL, NULL, &st);
        json_t *svcs = json_object_get (doc, "services");
        bool up = json_is_true (json_object_get (json_object_get (svcs, "orchestrator"), "ok"))
               && json_is_true (json_object_get (json_object_get (svcs, "event-log"), "ok"))
               && json_is_true (json_object_get (json_object_get (svcs, "tool-runner"), "ok"));
        json_decref (doc);
        if (up)
            return;
        usleep (100000);
    }
    fail_msg ("the stack never became healthy");
}

proto_msg_t *
ui_standin_tools (const proto_msg_t *req, void *arg)
{
    const ui_standin_t *st = arg;
    if (req->type == PROTO_tools_list) {
        json_t *tools = json_loads (st->catalogue, 0, NULL);
        proto_msg_t *rep = proto_msg_new (PROTO_tools_catalogue, req);
        mpjson_set (&rep->body.tools_catalogue.tools, tools, 16);
        json_decref (tools);
        return rep;
    }
    if (req->type != PROTO_tools_call || !st->sandbox_id)
        return proto_error_new (req, PROTO_ERR_unknown_type, "the stand-in serves %s only",
                                st->sandbox_id ? "tools" : "tools.list");
    json_t *result = json_pack ("{s:b,s:s}", "success", 1, "sandboxId", st->sandbox_id);
    proto_msg_t *rep = proto_msg_new (PROTO_tools_result, req);
    proto_tools_result_t *r = &rep->body.tools_result;
    proto_set_str (&r->call_id, req->body.tools_call.call_id);
    proto_set_str (&r->name, req->body.tools_call.name);
    r->ok = true;
    mpjson_set (&r->result, result, 16);
    json_decref (result);
    return rep;
}
