/* mcp_gate_stack: see mcp_gate_stack.h. */
#include "mcp_gate_stack.h"

#include "support.h"
#include "ui_support.h"
#include "run_stack.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pid_t s_short_pid;       /* the short-timeout bridge */

bool
mcp_gate_stack_up (const char *name, char *main_base, char *short_base)
{
    if (!run_stack_up (name))
        return false;
    snprintf (main_base, 96, "%s", ui_base);
    ui_pick_port ();
    s_short_pid = support_spawn ("caisson-ui-bridge",
                                 (const char *[]) { "CAISSON_MCP_APPROVAL_TIMEOUT_S=2", NULL });
    assert_int_equal (ui_wait_ready (), 0);
    snprintf (short_base, 96, "%s", ui_base);
    snprintf (ui_base, sizeof ui_base, "%s", main_base);
    return true;
}

void
mcp_gate_stack_down (void)
{
    if (s_short_pid)
        support_expect_clean_exit (s_short_pid);
    s_short_pid = 0;
    run_stack_down ();
}

void
mcp_gate_initialize (const char *token, const char *body, char *sid)
{
    ui_res_t res = ui_request ("POST", "/mcp", token, body, NULL);
    assert_int_equal (res.status, 200);
    ui_header (&res, "Mcp-Session-Id", sid, 64);
    assert_int_equal (strlen (sid), 32);
    ui_res_free (&res);
}

void
mcp_gate_read_until (int fd, char *buf, size_t cap, size_t *len, const char *want)
{
    for (int quiet = 0; !strstr (buf, want); ) {
        ssize_t n = read (fd, buf + *len, cap - 1 - *len);
        if (n < 0 && quiet++ < 20)
            continue;           /* 3 s receive timeouts: the run is slow */
        if (n <= 0)
            fail_msg ("the stream ended without %s: %s", want, buf);
        *len += (size_t) n;
        buf[*len] = '\0';
    }
}

void
mcp_gate_after (const char *text, const char *prefix, const char *stop, char *out, size_t outlen)
{
    const char *p = strstr (text, prefix);
    assert_non_null (p);
    p += strlen (prefix);
    snprintf (out, outlen, "%.*s", (int) strcspn (p, stop), p);
}

void
mcp_gate_run_status (const char *token, const char *run, char *status, size_t len)
{
    char path[256];
    snprintf (path, sizeof path, "/api/runs/%s", run);
    long st;
    json_t *doc = ui_json ("GET", path, token, NULL, &st);
    snprintf (status, len, "%s", json_string_value (json_object_get (doc, "status")) ?: "");
    json_decref (doc);
}

void
mcp_gate_await_status (const char *token, const char *run, const char *want)
{
    char status[64] = "";
    for (int i = 0; i < 300 && strcmp (status, want); i++) {
        mcp_gate_run_status (token, run, status, sizeof status);
        if (strcmp (status, want))
            usleep (100000);
    }
    assert_string_equal (status, want);
}
