/* test_ui_e2e: ui-bridge in front of the real orchestrator, driven by the
 * scripted model (caisson-llm-replay) with the real event-log, and a
 * stand-in tool-runner (this program re-run as a bus worker) answering
 * tools with canned results, so no sandbox is needed. Through HTTP only:
 * - the AG-UI conformance script (tests/agui/agui.mjs) with the real
 *   @ag-ui/client: a run that ends in an approval interrupt, its resume,
 *   a front-end tool's call and the client's answer to it,
 *   every event checked against the @ag-ui/core schemas, raw framing;
 * - the browser test (tests/agui/browser.mjs, headless Chromium): send the
 *   task, see streamed text and tool cards, approve the gated call, open
 *   the run from the dashboard; screenshots in build/ui-screenshots/run;
 *   the page must show the stored transcript: each event once, in order;
 * - `caisson run` (no --json): its output is the stored transcript, each
 *   model text once, tool calls and results in stored order.
 * event-log commits in batches 150 ms apart, so stored events lag the
 * model's streamed text as they do under load: what front ends show must
 * not depend on which arrives first.
 * Skipped when this build's catalogue has no `run.start` (the orchestrator's
 * contract not merged yet). */
#include "support.h"
#include "ui_support.h"
#include "run_stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK "add a CONTRIBUTING.md to the demo repository and open a pull request"
#define FRONTEND_TASK "ask me which colour the new button should be, then tell me the CSS for it"
#define CLI_TASK "write a python reverse_string function with unit tests and run them"

static const char *s_alice;

static int
setup (void **state)
{
    (void) state;
    if (run_stack_up ("uie2e")) {
        s_alice = ui_token (0, "alice", 0);
    }
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    run_stack_down ();
    return 0;
}

static void
test_agui_conformance (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    const char *args[] = { "node", "agui.mjs", ui_base, s_alice, TASK, FRONTEND_TASK, NULL };
    assert_int_equal (support_run_node (args), 0);
}

static void
test_browser_run (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    const char *args[] = { "node", "browser.mjs", ui_base, s_alice,
                           CAISSON_BIN_DIR "/../ui-screenshots/run", "run", TASK, NULL };
    assert_int_equal (support_run_node (args), 0);
}

/* The stored events of the newest run of task, from the CLI (jsonl). */
static json_t *
stored_events (const char *task)
{
    static char out[1 << 18];
    const char *runs[] = { "caisson", "runs", "--json", NULL };
    assert_int_equal (support_run (runs, out, sizeof out), 0);
    json_t *list = json_loads (out, 0, NULL), *r;
    size_t i;
    const char *id = NULL;
    json_array_foreach (list, i, r)
        if (!id && !strcmp (json_string_value (json_object_get (r, "task")) ?: "", task))
            id = json_string_value (json_object_get (r, "run"));
    assert_non_null (id);
    const char *show[] = { "caisson", "show", id, "--json", NULL };
    assert_int_equal (support_run (show, out, sizeof out), 0);
    json_decref (list);
    json_t *events = json_array ();
    for (char *line = strtok (out, "\n"); line; line = strtok (NULL, "\n"))
        json_array_append_new (events, json_loads (line, 0, NULL));
    return events;
}

/* Where needle starts a line of out at or after from; fails otherwise. */
static const char *
line_at (const char *out, const char *from, const char *needle, const char *what)
{
    for (const char *p = from; (p = strstr (p, needle)); p++)
        if (p == out || p[-1] == '\n')
            return p;
    fail_msg ("%s not on a line of its own after offset %d:\n%s", what, (int) (from - out), out);
    return NULL;
}

static void
test_cli_run_matches_transcript (void **state)
{
    (void) state;
    if (!run_stack_is_up ())
        skip ();
    static char out[1 << 16];
    const char *run[] = { "caisson", "run", CLI_TASK, NULL };
    int rc = support_run (run, out, sizeof out);
    if (rc)
        fail_msg ("caisson run exited %d:\n%s", rc, out);
    json_t *events = stored_events (CLI_TASK), *e;
    size_t i;
    const char *at = out;
    char plan[512] = "";        /* the step's plan: its text is not shown again */
    int texts = 0;
    json_array_foreach (events, i, e) {
        const char *kind = json_string_value (json_object_get (e, "kind"));
        json_t *d = json_object_get (e, "data");
        char needle[512];
        if (!strcmp (kind, "plan") || !strcmp (kind, "text")) {
            const char *t = json_string_value (json_object_get (d, "text"));
            size_t n = strlen (t);
            while (n && t[n - 1] == '\n')
                n--;
            snprintf (needle, sizeof needle, "%.*s", (int) n, t);
            bool shown_as_plan = !strcmp (kind, "text") && !strcmp (plan, needle);
            snprintf (plan, sizeof plan, "%s", !strcmp (kind, "plan") ? needle : "");
            if (shown_as_plan)
                continue;
            int seen = 0;
            for (const char *p = out; (p = strstr (p, needle)); p++)
                seen++;
            if (seen != 1)
                fail_msg ("model text shown %d times: %s\n%s", seen, needle, out);
            at = line_at (out, at, needle, needle) + strlen (needle);
            texts++;
        }
        else if (!strcmp (kind, "tool_call")) {
            snprintf (needle, sizeof needle, "-> %s ",
                      json_string_value (json_object_get (d, "name")));
            at = line_at (out, at, needle, needle) + strlen (needle);
        }
        else if (!strcmp (kind, "tool_result")) {
            snprintf (needle, sizeof needle, "   ok %s (",
                      json_string_value (json_object_get (d, "name")));
            at = line_at (out, at, needle, needle);
            at = strchr (at, '\n');      /* the result is the rest of its line */
            assert_non_null (at);
        }
    }
    assert_int_equal (texts, 4);
    json_decref (events);
}

int
main (int argc, char **argv)
{
    int rc = run_stack_child (argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_agui_conformance),
        cmocka_unit_test (test_browser_run),
        cmocka_unit_test (test_cli_run_matches_transcript),
    };
    return support_run_group_tests (tests, setup, teardown);
}
