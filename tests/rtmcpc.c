/* rtmcpc: the red-team fixture of tool-runner's MCP client. See rtmcpc.h. */
#include "rtmcpc.h"
#include "mcpc_support.h"

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

/* Asserts the call of name fails with code and a message holding want. */
void
rtmcpc_expect_error (const char *name, const char *code, const char *want)
{
    json_t *r;
    assert_int_equal (mcpc_support_tool_call (name, "{}", &r), 1);
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
    if (mcpc_support_tool_call (name, args, &r))
        fail_msg ("%s failed: %s", name, support_json_str (json_object_get (r, "error"),
                                                           "message"));
    snprintf (text, sizeof text, "%s", support_json_str (r, "text"));
    json_decref (r);
    return text;
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
        if (!(up = mcpc_support_ask (s_port, "/stats", false)))
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
    json_decref (mcpc_support_settled ("h"));
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
