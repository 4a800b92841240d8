/* test_redteam_mcpc_defects: the attacks on tool-runner's MCP client
 * (issue 17) that land, each a test that starts with skip () and says
 * DEFECT (severity): what happens, what should. Remove the skip to see it
 * red. Same fixture as test_redteam_mcpc (tests/rtmcpc.c); the attacks
 * that hold are there. */
#include "support.h"
#include "bus_client.h"
#include "mpjson.h"
#include "rtmcpc.h"
#include "mcpc_support.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Fixed (was DEFECT, critical): tool-runner answered a server's request
 * (mcpc_post.c answer_server) with a POST whose own SSE answer was read by
 * on_event, which answered the requests in it again, recursively, each
 * level a nested curl_easy_perform on the call thread's stack: a server
 * answering each answer with a new request drove the recursion as deep as
 * it liked (depth 100 000: SIGSEGV for every user). Now the requests in
 * the reply to an answer are not answered: the chain stops at its first
 * link. The hostile chain then never answers the call (it waits for all
 * 64 links), so hq (1.5 s) times it out; the server's count says how deep
 * tool-runner went. */
static void
test_answer_chain (void **state)
{
    (void) state;
    json_t *r;
    mcpc_support_tool_call ("hq.chain", "{\"depth\":64}", &r);
    json_decref (r);
    json_t *stats = mcpc_support_ask (rtmcpc_port (), "/stats", false);
    assert_non_null (stats);
    json_int_t depth = json_integer_value (json_object_get (stats, "chainDepth"));
    json_decref (stats);
    print_message ("requests answered in a chain: %lld\n", (long long) depth);
    assert_true (depth >= 1);
    assert_true (depth <= 16);
}

/* Fixed (was DEFECT, medium): every Caisson user's calls of a remote
 * server shared one MCP session (mcpc_http.c kept one Mcp-Session-Id per
 * server), so a stateful server handed bob what alice left in it (a
 * login, a browser page, a scratch value). Now each user has a session of
 * their own: bob recalls nothing, alice what she left. */
static void
test_session_per_user (void **state)
{
    (void) state;
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
    req = support_tools_call_new ("h.recall", NULL, false, "{}", NULL);
    proto_set_str (&req->env.user, "alice");
    support_send (c, "tool-runner", req);
    r = support_tools_result (bus_client_recv (c, 30000, NULL), "h.recall", &ok);
    assert_string_equal (support_json_str (r, "text"), "recalled:alice-secret");
    json_decref (r);
    bus_client_destroy (&c);
}

/* Fixed (was DEFECT, high): a server's inputSchema `pattern` was compiled
 * and run by schema.c on tool-runner's main thread (handler.c call ()),
 * before any job thread: a backtracking pattern from a hostile server
 * (with arguments its description asks the model for) stopped tool-runner
 * for every user, for hours. Now an MCP tool whose pattern has a
 * backreference, nested repetition or more than 256 bytes is left out at
 * tools/list, named with why in `caisson mcp list`. */
static void
test_pattern_backtracking (void **state)
{
    (void) state;
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_send (c, "tool-runner", support_tools_call_new (
                      "h.pattern", NULL, false,
                      "{\"q\":\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz!\"}", NULL));
    /* Another user's call meanwhile is answered. */
    assert_string_equal (rtmcpc_call_text ("h.recall", "{}"), "recalled:");
    proto_msg_t *late = bus_client_recv (c, 30000, NULL);
    proto_msg_destroy (&late);
    bus_client_destroy (&c);
    assert_int_equal (mcpc_support_tools_named ("h.pattern", false), 0);
    json_t *h = mcpc_support_listed ("h");
    print_message ("h: %s\n", support_json_str (h, "reason"));
    assert_non_null (strstr (support_json_str (h, "reason"),
                             "pattern (its inputSchema has a pattern with a backreference)"));
    json_decref (h);
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
    json_decref (mcpc_support_settled ("git"));
    json_decref (mcpc_support_settled ("repo"));
    assert_int_equal (mcpc_support_tools_named ("git.openPR", false), 1);
    assert_int_equal (mcpc_support_tools_named ("repo.readFiles", false), 1);
}

/* Fixed (was DEFECT, low): a tool whose inputSchema nests deeper than the
 * 64 levels of a whole message (mcpc_frame.c mcpc_msg_classify, before
 * mcpc_tools.c's per-tool 32) failed its server's tools/list as a whole:
 * every other tool of the server was lost, where docs/mcp.md says a tool
 * whose schema cannot be used is left out. Now the tools of a tools/list
 * result are not counted in the message's cap but checked one by one. */
static void
test_one_deep_tool (void **state)
{
    (void) state;
    json_t *s = mcpc_support_settled ("deeptool");
    print_message ("deeptool: %s\n", support_json_str (s, "reason"));
    assert_string_equal (support_json_str (s, "state"), "ready");
    json_decref (s);
    assert_int_equal (mcpc_support_tools_named ("deeptool.ok", false), 1);
    assert_int_equal (mcpc_support_tools_named ("deeptool.deepschema", false), 0);
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

/* Fixed (was DEFECT, low): mcpc_tools.c mcpc_call_result joined a result's
 * text blocks with strcat/strncat, each scanning the text so far: 640 000
 * one-letter blocks (an 8 MiB answer) cost tool-runner ~14 s of a core
 * (natively; far more under ASan) per call. Now they are appended at a
 * running offset (linear: the whole call costs well under a second). */
/* The CPU the call may cost: the sanitizers' allocators make parsing
 * 640 000 objects cost ~7 s (ASan) and ~10 s (TSan); with strcat it was
 * ~160 s under ASan, 10-14 s natively. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MANY_CPU_MAX 40.0
#else
#define MANY_CPU_MAX 5.0
#endif

static void
test_many_blocks (void **state)
{
    (void) state;
    double before = cpu_seconds (rtmcpc_tool_runner ());
    json_t *r;
    int rc = mcpc_support_tool_call ("hq.many", "{}", &r);
    double used = cpu_seconds (rtmcpc_tool_runner ()) - before;
    print_message ("hq.many: %.1f s of tool-runner's CPU%s%s\n", used, rc ? ": " : "",
                   rc ? support_json_str (json_object_get (r, "error"), "message") : "");
    json_decref (r);
    assert_int_equal (rc, 0);
    assert_true (used < MANY_CPU_MAX);
}

/* Fixed (was DEFECT, high): one server's tools were capped one by one (256
 * tools, 64 KiB per schema: mcpc_tools.h) but not as a whole: 256 tools
 * with 120 KB of schemas made tool-runner's catalogue ~30 MiB, past the
 * bus's 16 MiB frame (proto.c s_max_frame), so tools.list failed for
 * everyone, Caisson's own tools too. Now a server's rows get 1 MiB and a
 * set's 8 MiB (mcpc_tools.h); tools past them are left out, named in
 * `caisson mcp list`. A tool-runner of its own on a second bus, since
 * this one's catalogue would be broken. */
static void
test_fat_catalogue (void **state)
{
    (void) state;
    char path[600], data[600], keys[600], bus[700], pub[700], sub[700], servers[700],
         data_env[700];
    snprintf (data, sizeof data, "%s/fat", rtmcpc_dir ());
    assert_int_equal (mkdir (data, 0700), 0);
    snprintf (path, sizeof path, "%s/fat/mcp.json", rtmcpc_dir ());
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fprintf (f, "{\"mcpServers\": {\"fat\": {\"url\": \"http://127.0.0.1:%d/fat/mcp\"}}}",
             rtmcpc_port ());
    fclose (f);
    char *old_bus = strdup (getenv ("CAISSON_BUS"));
    snprintf (keys, sizeof keys, "CAISSON_BUS_KEYS=%s/keys", rtmcpc_dir ());
    snprintf (bus, sizeof bus, "CAISSON_BUS=ipc://%s/fat/bus", rtmcpc_dir ());
    snprintf (pub, sizeof pub, "CAISSON_BUS_PUB=ipc://%s/fat/in", rtmcpc_dir ());
    snprintf (sub, sizeof sub, "CAISSON_BUS_SUB=ipc://%s/fat/out", rtmcpc_dir ());
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
    json_t *s = mcpc_support_settled ("fat");
    print_message ("fat: %s %.200s\n", support_json_str (s, "state"),
                   support_json_str (s, "reason"));
    bool named = strstr (support_json_str (s, "reason"),
                         "(past the server's 1 MiB of catalogue)");
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
    assert_non_null (strstr (out, "\"fat.f0\""));
    assert_true (named);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_answer_chain),
        cmocka_unit_test (test_session_per_user),
        cmocka_unit_test (test_pattern_backtracking),
        cmocka_unit_test (test_builtin_shadowed),
        cmocka_unit_test (test_one_deep_tool),
        cmocka_unit_test (test_many_blocks),
        cmocka_unit_test (test_fat_catalogue),
    };
    return support_run_group_tests (tests, rtmcpc_setup, rtmcpc_teardown);
}
