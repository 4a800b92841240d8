/* test_redteam_mcp_hangup: /mcp's 2026-era cancellation by hang-up
 * attacked by one user's two clients, through the real broker,
 * sandbox-manager (root; skipped otherwise), tool-runner and ui-bridge.
 * An attack that holds is a passing test; one that lands is a skip()
 * naming the defect until it is fixed (none left: the one below was red
 * before its fix). */
#include "sbx_client.h"
#include "ui_support.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pid_t s_bridge, s_tools;
static const char *s_alice;

#define INIT "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":" \
    "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\"," \
    "\"version\":\"1\"}}}"
#define META "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
    "\"io.modelcontextprotocol/clientCapabilities\":{}}"

static int
setup (void **state)
{
    if (geteuid () != 0)
        skip ();
    int rc = sbx_setup (state);
    s_tools = support_spawn ("caisson-tool-runner", NULL);
    support_await_service (s_c, "tool-runner");
    ui_pick_port ();
    s_bridge = support_spawn ("caisson-ui-bridge", NULL);
    assert_int_equal (ui_wait_ready (), 0);
    s_alice = ui_token (0, "alice", 0);
    return rc;
}

static int
teardown (void **state)
{
    support_expect_clean_exit (s_bridge);
    support_expect_clean_exit (s_tools);
    return sbx_teardown (state);
}

/* A sandbox of alice's, made over a 2025 session: its id into out. */
static void
make_sandbox (char *out, size_t outlen)
{
    ui_res_t res = ui_request ("POST", "/mcp", s_alice, INIT, NULL);
    char sid[64], hdr[128];
    ui_header (&res, "Mcp-Session-Id", sid, sizeof sid);
    ui_res_free (&res);
    snprintf (hdr, sizeof hdr, "Mcp-Session-Id: %s", sid);
    res = ui_request ("POST", "/mcp", s_alice, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
                      "\"tools/call\",\"params\":{\"name\":\"createSandbox\","
                      "\"arguments\":{\"language\":\"python\"}}}", (const char *[]) { hdr,
                                                                                      NULL });
    json_t *doc = json_loads (res.body ? res.body : "", 0, NULL);
    ui_res_free (&res);
    const char *id = json_string_value (json_object_get (json_object_get (json_object_get (
        doc, "result"), "structuredContent"), "sandboxId"));
    assert_non_null (id);
    snprintf (out, outlen, "%s", id);
    json_decref (doc);
}

/* Sends alice's 2026 runCommand of command in sandbox sbx, JSON-RPC id 1
 * (what every fresh SDK client's first request is), on a connection of
 * its own: the connection. */
static int
send_run (const char *sbx, const char *command)
{
    char body[1024], head[2048];
    snprintf (body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
              "\"params\":{\"name\":\"runCommand\",\"arguments\":{\"sandboxId\":\"%s\","
              "\"command\":\"%s\"}," META "}}", sbx, command);
    int fd = ui_connect_from ("127.0.0.1");
    assert_true (fd >= 0);
    int n = snprintf (head, sizeof head, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                      "Accept: application/json, text/event-stream\r\n"
                      "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\n"
                      "Mcp-Name: runCommand\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n%s", s_alice, strlen (body), body);
    assert_int_equal (write (fd, head, (size_t) n), n);
    return fd;
}

/* Two clients of alice's send calls with the same id 1 (no session in
 * the 2026 era); the second hangs up: that cancels its own call, not the
 * first's. It landed (medium): both calls had the key "alice, no
 * session, 1", and the hang-up cancelled the first call under way with
 * that key, the other client's. */
static void
test_same_id_clients (void **state)
{
    (void) state;
    char sbx[128];
    make_sandbox (sbx, sizeof sbx);
    int first = send_run (sbx, "sleep 4; echo first-done");
    sleep (1);                  /* so the first is under way before the second */
    int second = send_run (sbx, "sleep 60");
    sleep (1);
    close (second);
    static char buf[65536];
    size_t len = 0;
    for (int quiet = 0; !strstr (buf, "\r\n\r\n{") || !strstr (buf, "}}");) {
        ssize_t n = read (first, buf + len, sizeof buf - 1 - len);
        if (n < 0 && quiet++ < 20)
            continue;           /* 3 s receive timeouts */
        if (n <= 0)
            break;
        len += (size_t) n;
        buf[len] = '\0';
    }
    close (first);
    if (!strstr (buf, "first-done") || strstr (buf, "\"isError\":true"))
        fail_msg ("the first client's call, after the second hung up: %s", buf);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_same_id_clients),
    };
    return support_run_group_tests (tests, setup, teardown);
}
