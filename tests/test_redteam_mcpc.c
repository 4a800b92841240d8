/* test_redteam_mcpc: tool-runner's MCP client (issue 17) attacked by a
 * hostile remote server's operator and by a careless deployer.
 * tests/mcp/mcpc_hostile_server.mjs breaks the Streamable HTTP rules on
 * purpose (endless streams, lying lengths, a gzip bomb, odd ids and
 * results, requests to the client, hostile tool names and schemas); the
 * mcp.json adds ${VAR} tricks and 64 servers, most of them hanging.
 * tool-runner is driven through the bus as a run would (`caisson tool
 * call`, `caisson mcp list`, tools.call as two users at once). An attack
 * that holds is a passing test; one that lands is a test that starts with
 * skip () and says DEFECT: remove the skip to see it red. No sandboxes:
 * runs as any user, except for the stdio servers (sandboxes: root). */
#include "support.h"
#include "bus_client.h"
#include "mpjson.h"

#include <curl/curl.h>
#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
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
static json_t *
server_stats (void)
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
static json_t *
listed (const char *name)
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
static json_t *
settled (const char *name)
{
    for (int i = 0; i < 600; i++) {
        json_t *s = listed (name);
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
static int
tool_call (const char *name, const char *args, json_t **result)
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
static void
expect_error (const char *name, const char *code, const char *want)
{
    json_t *r;
    assert_int_equal (tool_call (name, "{}", &r), 1);
    const char *message = support_json_str (json_object_get (r, "error"), "message");
    print_message ("%s: %s: %s\n", name, support_json_error_code (r), message);
    if (strcmp (support_json_error_code (r), code) || !strstr (message, want))
        fail_msg ("%s: %s \"%s\", not %s \"%s\"", name, support_json_error_code (r), message,
                  code, want);
    json_decref (r);
}

/* The text of a successful call of name with args (static storage). */
static const char *
call_text (const char *name, const char *args)
{
    static char text[4096];
    json_t *r;
    if (tool_call (name, args, &r))
        fail_msg ("%s failed: %s", name, support_json_str (json_object_get (r, "error"),
                                                           "message"));
    snprintf (text, sizeof text, "%s", support_json_str (r, "text"));
    json_decref (r);
    return text;
}

/* How many entries of `caisson tool list --json` are named name, or
 * (prefix) start with it. */
static size_t
tools_named (const char *name, bool prefix)
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

static int
setup (void **state)
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
        if (!(up = server_stats ()))
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
    json_decref (settled ("h"));
    return 0;
}

/* tool-runner stops cleanly though 47 servers still hang at initialize. */
static int
teardown (void **state)
{
    (void) state;
    support_expect_clean_exit (s_tr);
    support_stop (s_node, SIGTERM, 5000);
    return 0;
}

/* Each server that breaks the handshake is failed with a sentence; bad
 * entries are invalid, naming why; 47 hanging servers hold up neither the
 * others nor the catalogue, and a 65th is refused. */
static void
test_handshakes (void **state)
{
    (void) state;
    static const struct { const char *name, *state, *want; } cases[] = {
        { "badversion", "failed", "protocol version 1999-01-01, which Caisson does not speak" },
        { "longsid", "failed", "unusable Mcp-Session-Id" },
        { "spacesid", "failed", "unusable Mcp-Session-Id" },
        { "redirfile", "failed", "a redirect to file:///etc/passwd (not followed" },
        { "redirmeta", "failed", "http://169.254.169.254/latest/meta-data/ (not followed" },
        { "bighdr0", "failed", "MCP server bighdr0 broke off its answer to initialize" },
        { "initreq", "ready", "" },
        { "vlong", "invalid", "header `X-L` is longer than 4096 bytes once expanded" },
        { "vnest", "invalid", "`url` has a malformed ${...}" },
        { "${RT_PORT}", "invalid", "a server name is 1-48 letters" },
        { "vcrlf", "invalid", "`headers` must map header names to single-line strings" },
        { "hangextra", "invalid", "more than 64 servers" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *s = settled (cases[i].name);
        const char *reason = support_json_str (s, "reason");
        print_message ("%s: %s: %s\n", cases[i].name, support_json_str (s, "state"), reason);
        assert_string_equal (support_json_str (s, "state"), cases[i].state);
        if (!strstr (reason, cases[i].want))
            fail_msg ("%s: \"%s\" lacks \"%s\"", cases[i].name, reason, cases[i].want);
        json_decref (s);
    }
    json_t *s = listed ("hang46");
    assert_string_equal (support_json_str (s, "state"), "starting");
    json_decref (s);
    assert_int_equal (tools_named ("writeFile", false), 1);
}

/* stdio servers in sandboxes (root only): one that floods stderr, one
 * that writes blank lines without end, one that forks children: each is
 * failed at its timeout with a sentence of bounded length, and the
 * children end with its sandbox. */
static void
test_stdio_hostile (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    static const char *const names[] = { "stderrflood", "blanks", "forker" };
    for (size_t i = 0; i < 3; i++) {
        json_t *s = settled (names[i]);
        const char *reason = support_json_str (s, "reason");
        print_message ("%s: %s: %s\n", names[i], support_json_str (s, "state"), reason);
        assert_string_equal (support_json_str (s, "state"), "failed");
        assert_non_null (strstr (reason, names[i]));
        assert_true (strlen (reason) < 1024);
        json_decref (s);
    }
    int left = 1;
    for (int i = 0; i < 300 && left; i++) {
        left = system ("pgrep -x -f 'sleep 7777' >/dev/null") == 0;
        if (left)
            usleep (100000);
    }
    assert_false (left);
}

/* A header naming another variable is sent as written (no second pass). */
static void
test_expansion_once (void **state)
{
    (void) state;
    assert_non_null (strstr (call_text ("vrec.headers", "{}"), "\"x-a\":\"${RT_B}\""));
}

/* Hostile tool names and schemas are left out one by one; a duplicate
 * across pages is kept once; 10 000 tools and an endless nextCursor end
 * at the caps with the server ready; a recursive $ref is not followed. */
static void
test_tool_names (void **state)
{
    (void) state;
    json_t *s = settled ("names");
    print_message ("names: %s\n", support_json_str (s, "reason"));
    assert_string_equal (support_json_str (s, "state"), "ready");
    json_decref (s);
    assert_int_equal (tools_named ("names.ok", false), 1);
    assert_int_equal (tools_named ("names.dup", false), 1);
    assert_int_equal (tools_named ("names.dotted.name", false), 1);
    assert_int_equal (tools_named ("names.t0", false), 1);
    static const char *const out[] = { "names.a__b", "names.sp ace", "names.", "names.huge",
                                       "names.deepschema", "names.notobj", "names.noschema" };
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        assert_int_equal (tools_named (out[i], false), 0);
    assert_int_equal (tools_named ("names.\xc3\xbc", true), 0);
    assert_int_equal (tools_named ("names.xxxxxxxx", true), 0);
    assert_true (tools_named ("names.", true) <= 256);
    /* schema.c does not follow $ref: the call reaches the server. */
    json_t *r;
    assert_int_equal (tool_call ("names.recursive", "{\"a\":{\"a\":{}}}", &r), 1);
    assert_string_equal (support_json_error_code (r), "mcp_error");
    json_decref (r);
}

/* Answers that are not the answer: another id, a string id, nesting past
 * any limit, bytes that are not UTF-8, a structuredContent that is not an
 * object, lying lengths, a 1 MiB header, a gzip bomb (curl does not
 * inflate it): each a clear error, and the server still usable. */
static void
test_odd_answers (void **state)
{
    (void) state;
    expect_error ("h.wrongid", "mcp_error", "it is not the response to the request");
    expect_error ("h.strid", "mcp_error", "it is not the response to the request");
    expect_error ("h.deep", "mcp_error", "sent an invalid JSON-RPC frame: not JSON");
    expect_error ("h.nonutf8", "mcp_error", "sent an invalid JSON-RPC frame: not JSON");
    expect_error ("h.structarr", "mcp_bad_result", "not a tool result");
    expect_error ("h.gzip", "mcp_error", "sent an invalid JSON-RPC frame: not JSON");
    expect_error ("h.clshort", "mcp_error", "MCP server h broke off its answer to tools/call");
    expect_error ("h.cllong", "mcp_error", "sent an invalid JSON-RPC frame: not JSON");
    expect_error ("h.bighdr", "mcp_error", "MCP server h broke off its answer to tools/call");
    /* 2 MiB of image and a resource link: capped, and never fetched. */
    json_t *r;
    assert_int_equal (tool_call ("h.image", "{}", &r), 0);
    char *text = json_dumps (r, JSON_COMPACT);
    assert_true (strlen (text) < 128 * 1024);
    free (text);
    json_decref (r);
    assert_int_equal (tool_call ("h.link", "{}", &r), 0);
    text = json_dumps (r, JSON_COMPACT);
    assert_null (strstr (text, "root:"));
    free (text);
    json_decref (r);
    assert_string_equal (call_text ("h.recall", "{}"), "recalled:");
}

/* Streams that never answer (comments, a line without end, notifications,
 * the answer as an event of another type) end at the timeout. */
static void
test_endless_streams (void **state)
{
    (void) state;
    expect_error ("hq.comments", "mcp_error", "MCP server hq did not answer tools/call within 2 s");
    expect_error ("hq.nonl", "mcp_error", "MCP server hq sent an answer larger than 8 MiB");
    expect_error ("hq.notify", "mcp_error", "MCP server hq did not answer tools/call within 2 s");
    expect_error ("hq.events", "mcp_error", "MCP server hq did not answer tools/call within 2 s");
    assert_string_equal (call_text ("h.recall", "{}"), "recalled:");
}

/* The server asks the client for sampling, elicitation and roots: each is
 * refused with -32601 (Caisson offers none) and the call goes on. */
static void
test_server_requests (void **state)
{
    (void) state;
    assert_string_equal (call_text ("h.asks", "{}"), "sampling/createMessage:-32601 "
                         "elicitation/create:-32601 roots/list:-32601");
}

/* DEFECT (critical): tool-runner answers a server's request (mcpc_post.c
 * answer_server) with a POST through mcpc_post, whose own SSE answer is
 * read by on_event, which answers the requests in it again, recursively,
 * each level a nested curl_easy_perform on the call thread's stack:
 * ANSWERS_MAX bounds one exchange, not the depth. A server that answers
 * each answer with a new request drives the recursion as deep as it likes
 * (a stack overflow kills tool-runner for every user). What should: the
 * answer to a server's request reads no requests from its own answer. */
static void
test_answer_chain (void **state)
{
    (void) state;
    skip ();
    const char *depth = call_text ("h.chain", "{\"depth\":64}");
    print_message ("requests answered in a chain: %s\n", depth);
    assert_true (atoi (depth) <= 16);
}

/* Eight calls at once, four as alice and four as bob, answered in the
 * reverse order: each gets its own answer (ids are never confused). */
static void
test_concurrent_calls (void **state)
{
    (void) state;
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    char ids[8][64];
    for (int i = 0; i < 8; i++) {
        char args[64];
        snprintf (ids[i], sizeof ids[i], "rt-mcpc-echo-%d", i);
        snprintf (args, sizeof args, "{\"x\":\"%s-%d\"}", i % 2 ? "bob" : "alice", i);
        proto_msg_t *req = support_tools_call_new ("h.echo", ids[i], false, args, NULL);
        proto_set_str (&req->env.user, i % 2 ? "bob" : "alice");
        support_send (c, "tool-runner", req);
    }
    for (int n = 0; n < 8; n++) {
        proto_msg_t *rep = bus_client_recv (c, 60000, NULL);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_tools_result);
        int i = atoi (strrchr (rep->body.tools_result.call_id, '-') + 1);
        bool ok;
        json_t *r = support_tools_result (rep, "h.echo", &ok);
        assert_true (ok);
        char want[64];
        snprintf (want, sizeof want, "echo:%s-%d", i % 2 ? "bob" : "alice", i);
        assert_string_equal (support_json_str (r, "text"), want);
        json_decref (r);
    }
    bus_client_destroy (&c);
}

/* DEFECT (medium): every Caisson user's calls of a remote server share one
 * MCP session (mcpc_http.c keeps one Mcp-Session-Id per server), so a
 * stateful server hands bob what alice left in it (a login, a browser
 * page, a scratch value). What should: a session per user (or the docs
 * saying remote servers must be stateless, with `caisson mcp list`
 * warning). */
static void
test_session_per_user (void **state)
{
    (void) state;
    skip ();
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    proto_msg_t *req = support_tools_call_new ("h.remember", NULL, false,
                                               "{\"x\":\"alice-secret\"}", NULL);
    proto_set_str (&req->env.user, "alice");
    support_send (c, "tool-runner", req);
    bool ok;
    json_decref (support_tools_result (bus_client_recv (c, 30000, NULL), "h.remember", &ok));
    assert_true (ok);
    req = support_tools_call_new ("h.recall", NULL, false, "{}", NULL);
    proto_set_str (&req->env.user, "bob");
    support_send (c, "tool-runner", req);
    json_t *r = support_tools_result (bus_client_recv (c, 30000, NULL), "h.recall", &ok);
    assert_null (strstr (support_json_str (r, "text"), "alice-secret"));
    json_decref (r);
    bus_client_destroy (&c);
}

/* DEFECT (high): a server's inputSchema `pattern` is compiled and run by
 * schema.c on tool-runner's main thread (handler.c call ()), before any
 * job thread: a backtracking pattern from a hostile server (with
 * arguments its description asks the model for) stops tool-runner for
 * every user, for hours. What should: an MCP tool's pattern is refused at
 * tools/list (backreferences, nested repetition, over N bytes) or checked
 * on the call's thread under its timeout. */
static void
test_pattern_backtracking (void **state)
{
    (void) state;
    skip ();
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_send (c, "tool-runner", support_tools_call_new (
                      "h.pattern", NULL, false,
                      "{\"q\":\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz!\"}", NULL));
    /* Another user's call meanwhile is answered. */
    assert_string_equal (call_text ("h.recall", "{}"), "recalled:");
    proto_msg_t *late = bus_client_recv (c, 30000, NULL);
    proto_msg_destroy (&late);
    bus_client_destroy (&c);
}

/* DEFECT (low): a careless deployer names a server after one of Caisson's
 * own prefixes (git, repo): its read-only `openPR` and `readFiles` enter
 * the catalogue as git.openPR and repo.readFiles beside Caisson's own
 * (mcpc_tools.c/mcpc.c add them; handler.c runs Caisson's), so the model
 * sees two tools of one name with different descriptions and effects.
 * What should: an MCP tool named as one of Caisson's is left out. */
static void
test_builtin_shadowed (void **state)
{
    (void) state;
    skip ();
    json_decref (settled ("git"));
    json_decref (settled ("repo"));
    assert_int_equal (tools_named ("git.openPR", false), 1);
    assert_int_equal (tools_named ("repo.readFiles", false), 1);
}

/* DEFECT (low): a tool whose inputSchema nests deeper than the 64 levels
 * of a whole message (mcpc_frame.c mcpc_msg_classify, before
 * mcpc_tools.c's per-tool 32) fails its server's tools/list as a whole:
 * every other tool of the server is lost, where docs/mcp.md says a tool
 * whose schema cannot be used is left out. What should: the depth cap of
 * a response's result leaves room for schemas (or tools/list is checked
 * per tool). */
static void
test_one_deep_tool (void **state)
{
    (void) state;
    skip ();
    json_t *s = settled ("deeptool");
    print_message ("deeptool: %s\n", support_json_str (s, "reason"));
    assert_string_equal (support_json_str (s, "state"), "ready");
    json_decref (s);
    assert_int_equal (tools_named ("deeptool.ok", false), 1);
}

/* CPU seconds pid has used (user and system), from /proc. */
static double
cpu_seconds (pid_t pid)
{
    char path[64], buf[1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = '\0';
    const char *p = strrchr (buf, ')');         /* after the command's name */
    assert_non_null (p);
    unsigned long utime = 0, stime = 0;
    assert_int_equal (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                              &utime, &stime), 2);
    return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

/* DEFECT (low): mcpc_tools.c mcpc_call_result joins a result's text blocks
 * with strcat/strncat, each scanning the text so far: 640 000 one-letter
 * blocks (an 8 MiB answer) cost tool-runner ~14 s of a core (natively;
 * far more under ASan) per call, and the call, whose server's timeout is
 * 1.5 s, is answered after them. What should: append at a running offset
 * (linear; then the whole call costs well under a second of CPU). */
static void
test_many_blocks (void **state)
{
    (void) state;
    skip ();
    double before = cpu_seconds (s_tr);
    json_t *r;
    int rc = tool_call ("hq.many", "{}", &r);
    json_decref (r);
    double used = cpu_seconds (s_tr) - before;
    print_message ("hq.many: %.1f s of tool-runner's CPU\n", used);
    assert_int_equal (rc, 0);
    assert_true (used < 5.0);
}

/* DEFECT (high): one server's tools are capped one by one (256 tools,
 * 64 KiB per schema: mcpc_tools.h) but not as a whole: 256 tools with
 * 120 KB of schemas make tool-runner's catalogue ~30 MiB, past the bus's
 * 16 MiB frame (proto.c s_max_frame), so tools.list fails for everyone,
 * Caisson's own tools too, and no run can get its tools. What should: a
 * byte budget per server's tools (tools past it left out, named in
 * `caisson mcp list`) and for the whole catalogue. A tool-runner of its
 * own on a second bus, since this one's catalogue would be broken. */
static void
test_fat_catalogue (void **state)
{
    (void) state;
    skip ();
    char path[600], data[600], keys[600], bus[700], pub[700], sub[700], servers[700],
         data_env[700];
    snprintf (data, sizeof data, "%s/fat", s_dir);
    assert_int_equal (mkdir (data, 0700), 0);
    snprintf (path, sizeof path, "%s/fat/mcp.json", s_dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fprintf (f, "{\"mcpServers\": {\"fat\": {\"url\": \"http://127.0.0.1:%d/fat/mcp\"}}}",
             s_port);
    fclose (f);
    char *old_bus = strdup (getenv ("CAISSON_BUS"));
    snprintf (keys, sizeof keys, "CAISSON_BUS_KEYS=%s/keys", s_dir);
    snprintf (bus, sizeof bus, "CAISSON_BUS=ipc://%s/fat/bus", s_dir);
    snprintf (pub, sizeof pub, "CAISSON_BUS_PUB=ipc://%s/fat/in", s_dir);
    snprintf (sub, sizeof sub, "CAISSON_BUS_SUB=ipc://%s/fat/out", s_dir);
    snprintf (servers, sizeof servers, "CAISSON_MCP_SERVERS=%s", path);
    snprintf (data_env, sizeof data_env, "CAISSON_DATA=%s", data);
    const char *const env[] = { keys, bus, pub, sub, servers, data_env, NULL };
    pid_t bus_pid = support_spawn ("caisson-bus", env);
    pid_t tr = support_spawn ("caisson-tool-runner", env);
    setenv ("CAISSON_BUS", bus + strlen ("CAISSON_BUS="), 1);
    setenv ("CAISSON_BUS_KEYS", keys + strlen ("CAISSON_BUS_KEYS="), 1);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (c, "tool-runner");
    bus_client_destroy (&c);
    json_t *s = settled ("fat");
    print_message ("fat: %s %s\n", support_json_str (s, "state"), support_json_str (s, "reason"));
    json_decref (s);
    static char out[64 << 20];
    const char *argv[] = { "caisson", "tool", "list", "--json", NULL };
    int rc = support_run (argv, out, sizeof out);
    setenv ("CAISSON_BUS", old_bus, 1);
    unsetenv ("CAISSON_BUS_KEYS");
    free (old_bus);
    support_expect_clean_exit (tr);
    support_stop (bus_pid, SIGTERM, 5000);
    print_message ("caisson tool list: %d, %zu bytes\n", rc, strlen (out));
    assert_int_equal (rc, 0);
    assert_non_null (strstr (out, "\"writeFile\""));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_handshakes),
        cmocka_unit_test (test_expansion_once),
        cmocka_unit_test (test_stdio_hostile),
        cmocka_unit_test (test_tool_names),
        cmocka_unit_test (test_odd_answers),
        cmocka_unit_test (test_endless_streams),
        cmocka_unit_test (test_server_requests),
        cmocka_unit_test (test_answer_chain),
        cmocka_unit_test (test_concurrent_calls),
        cmocka_unit_test (test_session_per_user),
        cmocka_unit_test (test_pattern_backtracking),
        cmocka_unit_test (test_builtin_shadowed),
        cmocka_unit_test (test_one_deep_tool),
        cmocka_unit_test (test_many_blocks),
        cmocka_unit_test (test_fat_catalogue),
    };
    return support_run_group_tests (tests, setup, teardown);
}
