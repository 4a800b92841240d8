/* mcp_gate_stack: see mcp_gate_stack.h. */
#include "mcp_gate_stack.h"

#include "support.h"
#include "ui_support.h"
#include "run_stack.h"

#include <stdio.h>
#include <string.h>

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
