/* rtmcpc: the red-team fixture of tool-runner's MCP client. See rtmcpc.h. */
#include "rtmcpc.h"

#include "support.h"
#include "bus_client.h"

#include <curl/curl.h>
#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define HANGING 47              /* with the 17 others: MCPC_SERVERS_MAX */

static int s_port;
static char s_dir[512];
static pid_t s_node;
static pid_t s_tr;

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

/* The hostile server's GET /stats, decoded (NULL while it is not up). */
json_t *
rtmcpc_stats (void)
{
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/stats", s_port);
    CURL *curl = curl_easy_init ();
    char *body = NULL;
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt (curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform (curl);
    curl_easy_cleanup (curl);
    json_t *v = rc == CURLE_OK && body ? json_loads (body, 0, NULL) : NULL;
    free (body);
    return v;
}

/* `caisson mcp list --json`'s entry for name (a new reference). */
json_t *
rtmcpc_listed (const char *name)
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

/* The entry of name once it is no longer starting (waits up to 60 s). */
json_t *
rtmcpc_settled (const char *name)
{
    for (int i = 0; i < 600; i++) {
        json_t *s = rtmcpc_listed (name);
        const char *state = support_json_str (s, "state");
        if (strcmp (state, "starting") && strcmp (state, "configured"))
            return s;
        json_decref (s);
        usleep (100000);
    }
    fail_msg ("%s never left starting", name);
    return NULL;
}

/* `caisson tool call name args --json`: its exit status, *result decoded. */
int
rtmcpc_tool_call (const char *name, const char *args, json_t **result)
{
    static char out[1 << 21];
    const char *argv[] = { "caisson", "tool", "call", name, args, "--json", NULL };
    int rc = support_run (argv, out, sizeof out);
    *result = json_loads (out, 0, NULL);
    if (!*result)
        fail_msg ("%s: not JSON: %.300s", name, out);
    return rc;
}

/* Asserts the call of name fails with code and a message holding want. */
void
rtmcpc_expect_error (const char *name, const char *code, const char *want)
{
    json_t *r;
    assert_int_equal (rtmcpc_tool_call (name, "{}", &r), 1);
    const char *message = support_json_str (json_object_get (r, "error"), "message");
    print_message ("%s: %s: %s\n", name, support_json_error_code (r), message);
    if (strcmp (support_json_error_code (r), code) || !strstr (message, want))
        fail_msg ("%s: %s \"%s\", not %s \"%s\"", name, support_json_error_code (r), message,
                  code, want);
    json_decref (r);
}

/* The text of a successful call of name with args (static storage). */
const char *
rtmcpc_call_text (const char *name, const char *args)
{
    static char text[4096];
    json_t *r;
    if (rtmcpc_tool_call (name, args, &r))
        fail_msg ("%s failed: %s", name, support_json_str (json_object_get (r, "error"),
                                                           "message"));
    snprintf (text, sizeof text, "%s", support_json_str (r, "text"));
    json_decref (r);
    return text;
}

/* How many entries of `caisson tool list --json` are named name, or
 * (prefix) start with it. */
size_t
rtmcpc_tools_named (const char *name, bool prefix)
{
    static char out[16 << 20];
    const char *argv[] = { "caisson", "tool", "list", "--json", NULL };
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    json_t *tools = json_loads (out, 0, NULL);
    assert_non_null (tools);
    size_t i, n = 0;
    json_t *e;
    json_array_foreach (tools, i, e) {
        const char *have = support_json_str (e, "name");
        n += prefix ? !strncmp (have, name, strlen (name)) : !strcmp (have, name);
    }
    json_decref (tools);
    return n;
}

static void
write_config (const char *path)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs ("{\"mcpServers\": {\n"
           " \"h\": {\"url\": \"http://127.0.0.1:${RT_PORT}/basic/mcp\", \"timeoutMs\": 20000},\n"
           " \"hq\": {\"url\": \"http://127.0.0.1:${RT_PORT}/basic/mcp\", \"timeoutMs\": 1500},\n"
           " \"names\": {\"url\": \"http://127.0.0.1:${RT_PORT}/names/mcp\"},\n"
           " \"git\": {\"url\": \"http://127.0.0.1:${RT_PORT}/shadow/mcp\"},\n"
           " \"repo\": {\"url\": \"http://127.0.0.1:${RT_PORT}/shadow/mcp\"},\n"
           " \"deeptool\": {\"url\": \"http://127.0.0.1:${RT_PORT}/deeptool/mcp\"},\n"
           " \"initreq\": {\"url\": \"http://127.0.0.1:${RT_PORT}/initreq/mcp\"},\n", f);
    static const char *const failing[] = { "badversion", "longsid", "spacesid", "redirfile",
                                           "redirmeta", "bighdr0" };
    for (size_t i = 0; i < sizeof failing / sizeof failing[0]; i++)
        fprintf (f, " \"%s\": {\"url\": \"http://127.0.0.1:${RT_PORT}/%s/mcp\"},\n", failing[i],
                 failing[i]);
    /* ${VAR} tricks: a value naming another variable is not expanded
     * again; too long, nested, in a name, a CR/LF through a variable. */
    fputs (" \"vrec\": {\"url\": \"http://127.0.0.1:${RT_PORT}/basic/mcp\","
           "   \"headers\": {\"X-A\": \"${RT_A}\"}},\n"
           " \"vlong\": {\"url\": \"http://127.0.0.1:${RT_PORT}/basic/mcp\","
           "   \"headers\": {\"X-L\": \"${RT_LONG}\"}},\n"
           " \"vnest\": {\"url\": \"http://127.0.0.1:${RT_${RT_X}}/basic/mcp\"},\n"
           " \"${RT_PORT}\": {\"url\": \"http://127.0.0.1:1/mcp\"},\n"
           " \"vcrlf\": {\"url\": \"http://127.0.0.1:${RT_PORT}/basic/mcp\","
           "   \"headers\": {\"X-C\": \"${RT_CRLF}\"}},\n", f);
    /* stdio servers (sandboxes: root only): endless stderr, endless blank
     * lines on stdout, children forked and left behind. */
    fputs (" \"stderrflood\": {\"command\": \"sh\", \"args\": [\"-c\","
           "   \"yes stderr-flood >&2\"], \"timeoutMs\": 3000},\n"
           " \"blanks\": {\"command\": \"sh\", \"args\": [\"-c\", \"yes ' '\"],"
           "   \"timeoutMs\": 3000},\n"
           " \"forker\": {\"command\": \"sh\", \"args\": [\"-c\","
           "   \"for i in 1 2 3 4 5 6 7 8; do sleep 7777 & done; exec sleep 7777\"],"
           "   \"timeoutMs\": 3000},\n", f);
    for (int i = 0; i < HANGING; i++)
        fprintf (f, " \"hang%d\": {\"url\": \"http://127.0.0.1:${RT_PORT}/hang/mcp\","
                 " \"timeoutMs\": 600000},\n", i);
    fputs (" \"hangextra\": {\"url\": \"http://127.0.0.1:${RT_PORT}/hang/mcp\"}}}\n", f);
    fclose (f);
}

int
rtmcpc_setup (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("redteam-mcpc");
    snprintf (s_dir, sizeof s_dir, "%s", dir);
    s_port = support_free_port ();
    char arg[16];
    snprintf (arg, sizeof arg, "%d", s_port);
    s_node = fork ();
    if (s_node == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        execlp ("node", "node", CAISSON_SOURCE_DIR "/tests/mcp/mcpc_hostile_server.mjs", arg,
                (char *) NULL);
        _exit (127);
    }
    json_t *up = NULL;
    for (int i = 0; i < 200 && !up; i++)
        if (!(up = rtmcpc_stats ()))
            usleep (50000);
    if (!up)
        fail_msg ("the hostile MCP server did not come up on port %d", s_port);
    json_decref (up);

    char path[600];
    snprintf (path, sizeof path, "%s/mcp.json", dir);
    write_config (path);
    static char env_path[700], env_port[64], env_long[5000 + 16];
    snprintf (env_path, sizeof env_path, "CAISSON_MCP_SERVERS=%s", path);
    snprintf (env_port, sizeof env_port, "RT_PORT=%d", s_port);
    snprintf (env_long, sizeof env_long, "RT_LONG=%05000d", 0);
    const char *const env[] = { env_path, env_port, env_long, "RT_A=${RT_B}", "RT_B=${RT_A}",
                                "RT_X=PORT", "RT_CRLF=x\r\nX-Injected: 1", NULL };
    support_spawn ("caisson-bus", NULL);
    if (geteuid () == 0) {
        setenv ("CAISSON_SANDBOX_POOL", "0", 1);
        support_spawn ("caisson-sandbox-manager", NULL);
        bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
        support_await_service (c, "sandbox-manager");
        bus_client_destroy (&c);
    }
    s_tr = support_spawn ("caisson-tool-runner", env);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (c, "tool-runner");
    bus_client_destroy (&c);
    json_decref (rtmcpc_settled ("h"));
    return 0;
}

/* tool-runner stops cleanly though 47 servers still hang at initialize. */
int
rtmcpc_teardown (void **state)
{
    (void) state;
    support_expect_clean_exit (s_tr);
    support_stop (s_node, SIGTERM, 5000);
    return 0;
}

int
rtmcpc_port (void)
{
    return s_port;
}

const char *
rtmcpc_dir (void)
{
    return s_dir;
}

pid_t
rtmcpc_tool_runner (void)
{
    return s_tr;
}
