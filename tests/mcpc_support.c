/* mcpc_support: see mcpc_support.h. */
#include "mcpc_support.h"

#include "support.h"
#include "mpjson.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static size_t
on_body (char *data, size_t size, size_t n, void *arg)
{
    size_t len = size * n;
    char **buf = arg;
    size_t have = *buf ? strlen (*buf) : 0;
    *buf = realloc (*buf, have + len + 1);
    memcpy (*buf + have, data, len);
    (*buf)[have + len] = '\0';
    return len;
}

json_t *
mcpc_support_ask (int port, const char *path, bool post)
{
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *curl = curl_easy_init ();
    char *body = NULL;
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt (curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 10L);
    if (post)
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, "{}");
    CURLcode rc = curl_easy_perform (curl);
    curl_easy_cleanup (curl);
    json_t *v = rc == CURLE_OK && body ? json_loads (body, 0, NULL) : NULL;
    free (body);
    return v;
}

pid_t
mcpc_support_node_up (const char *script, int port, const char *arg)
{
    char path[512], portarg[16];
    snprintf (path, sizeof path, "%s/tests/mcp/%s", CAISSON_SOURCE_DIR, script);
    snprintf (portarg, sizeof portarg, "%d", port);
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        execlp ("node", "node", path, portarg, arg, (char *) NULL);
        _exit (127);
    }
    json_t *up = NULL;
    for (int i = 0; i < 200 && !up; i++) {
        up = mcpc_support_ask (port, "/stats", false);
        if (!up)
            usleep (50000);
    }
    if (!up)
        fail_msg ("the test MCP server %s did not come up on port %d", script, port);
    json_decref (up);
    return pid;
}

json_t *
mcpc_support_named (json_t *entries, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach (entries, i, e)
        if (!strcmp (support_json_str (e, "name"), name))
            return e;
    return NULL;
}

json_t *
mcpc_support_listed (const char *name)
{
    static char out[1 << 20];
    const char *argv[] = { "caisson", "mcp", "list", "--json", NULL };
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    json_t *list = json_loads (out, 0, NULL);
    assert_non_null (list);
    size_t i;
    json_t *s, *found = NULL;
    json_array_foreach (list, i, s)
        if (!strcmp (support_json_str (s, "name"), name))
            found = json_incref (s);
    json_decref (list);
    if (!found)
        fail_msg ("%s is not in caisson mcp list", name);
    return found;
}

json_t *
mcpc_support_settled (const char *name)
{
    for (int i = 0; i < 900; i++) {
        json_t *s = mcpc_support_listed (name);
        const char *state = support_json_str (s, "state");
        if (strcmp (state, "starting") && strcmp (state, "configured"))
            return s;
        json_decref (s);
        usleep (100000);
    }
    fail_msg ("%s never left starting", name);
    return NULL;
}

json_t *
mcpc_support_await_state (const char *name, const char *want)
{
    json_t *s = NULL;
    for (int i = 0; i < 600; i++) {
        json_decref (s);
        s = mcpc_support_listed (name);
        if (!strcmp (support_json_str (s, "state"), want))
            return s;
        usleep (100000);
    }
    fail_msg ("%s is still %s, not %s: %s", name, support_json_str (s, "state"), want,
              support_json_str (s, "reason"));
    return NULL;
}

int
mcpc_support_tool_call (const char *name, const char *args, json_t **result)
{
    static char out[2 << 20];
    const char *argv[] = { "caisson", "tool", "call", name, args, "--json", NULL };
    int rc = support_run (argv, out, sizeof out);
    *result = json_loads (out, 0, NULL);
    if (!*result)
        fail_msg ("%s: not JSON: %.300s", name, out);
    return rc;
}

size_t
mcpc_support_tools_named (const char *name, bool prefix)
{
    static char out[16 << 20];
    const char *argv[] = { "caisson", "tool", "list", "--json", NULL };
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    json_t *list = json_loads (out, 0, NULL);
    assert_non_null (list);
    size_t i, n = 0;
    json_t *t;
    json_array_foreach (list, i, t)
        n += prefix ? !strncmp (support_json_str (t, "name"), name, strlen (name))
                    : !strcmp (support_json_str (t, "name"), name);
    json_decref (list);
    return n;
}

char *
mcpc_support_sandbox_of (const char *name)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_list, NULL);
    json_t *labels = json_pack ("{s:s}", "mcp", name);
    mpjson_set (&req->body.sandbox_list.labels, labels, 4);
    json_decref (labels);
    bus_client_t *op = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (op, 20000, 0);
    proto_set_str (&req->env.user, "mcp");
    proto_msg_t *rep = bus_client_request (op, "sandbox-manager", req);
    proto_msg_destroy (&req);
    bus_client_destroy (&op);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_sandbox_listed);
    json_t *boxes = mpjson_get (&rep->body.sandbox_listed.sandboxes, 8);
    proto_msg_destroy (&rep);
    assert_int_equal (json_array_size (boxes), 1);
    char *id = strdup (support_json_str (json_array_get (boxes, 0), "sandbox_id"));
    json_decref (boxes);
    return id;
}

void
mcpc_support_sandbox_ask (proto_msg_t **req)
{
    bus_client_t *op = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (op, 20000, 0);
    proto_set_str (&(*req)->env.user, "mcp");
    proto_msg_t *rep = bus_client_request (op, "sandbox-manager", *req);
    proto_msg_destroy (req);
    bus_client_destroy (&op);
    assert_non_null (rep);
    assert_int_not_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
}
