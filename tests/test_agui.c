/* test_agui: the Caisson-to-AG-UI translation on its own: a run with
 * streamed text, a tool call and its result, a plan, steps, and each way a
 * run ends (completed, approval interrupt, failure, cancel); every message
 * and step opened is closed before the terminal event, nothing follows
 * it, no field is null, and frames are `data: ...\n\n` with LF only. */
#include "support.h"
#include "agui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static json_t *
ev (const char *json)
{
    json_t *v = json_loads (json, 0, NULL);
    assert_non_null (v);
    return v;
}

static void
feed (agui_t *t, const char *kind, const char *data, uint64_t seq, json_t *out)
{
    json_t *d = data ? ev (data) : NULL;
    agui_feed (t, kind, d, seq, out);
    json_decref (d);
}

static char s_types[2048];

/* The event types of out, space-separated, and no null anywhere. */
static const char *
types (json_t *out)
{
    s_types[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach (out, i, e) {
        strcat (s_types, json_string_value (json_object_get (e, "type")));
        strcat (s_types, " ");
        char *text = json_dumps (e, JSON_COMPACT);
        assert_null (strstr (text, "null"));
        char *frame = agui_frame (e);
        assert_int_equal (strncmp (frame, "data: {", 7), 0);
        assert_null (strchr (frame, '\r'));
        assert_string_equal (frame + strlen (frame) - 2, "\n\n");
        assert_true (strchr (frame, '\n') == frame + strlen (frame) - 2);
        free (frame);
        free (text);
    }
    return s_types;
}

static void
test_completed_run (void **state)
{
    (void) state;
    agui_t *t = agui_new ("th1", "r1", "01JRUN");
    json_t *out = json_array ();
    agui_start (t, out);
    feed (t, "run_started", "{\"sandboxId\":\"h1-abc\"}", 1, out);
    feed (t, "step_started", "{}", 2, out);
    feed (t, "plan", "{\"plan\":[\"write\",\"test\"]}", 3, out);
    feed (t, "text_delta", "{\"delta\":\"Hel\"}", 0, out);
    feed (t, "text_delta", "{\"delta\":\"\"}", 0, out);
    feed (t, "text_delta", "{\"delta\":\"lo\"}", 0, out);
    feed (t, "text", "{\"text\":\"Hello\"}", 4, out);
    feed (t, "tool_call", "{\"toolCallId\":\"c1\",\"name\":\"writeFiles\",\"args\":{\"a\":1}}", 5, out);
    feed (t, "tool_result", "{\"toolCallId\":\"c1\",\"name\":\"writeFiles\",\"ok\":true,"
                            "\"result\":{\"ok\":1},\"durationMs\":3}", 6, out);
    feed (t, "step_finished", "{}", 7, out);
    feed (t, "step_started", "{}", 8, out);
    feed (t, "text", "{\"text\":\"Done.\"}", 9, out);    /* replayed: no deltas */
    json_t *done = ev ("{\"answer\":\"Done.\"}");
    assert_true (agui_feed (t, "complete", done, 10, out));
    json_decref (done);
    feed (t, "text", "{\"text\":\"late\"}", 11, out);
    assert_string_equal (types (out),
        "RUN_STARTED STATE_SNAPSHOT STATE_DELTA STEP_STARTED STATE_DELTA TEXT_MESSAGE_START "
        "TEXT_MESSAGE_CONTENT TEXT_MESSAGE_CONTENT TEXT_MESSAGE_END TOOL_CALL_START "
        "TOOL_CALL_ARGS TOOL_CALL_END TOOL_CALL_RESULT STEP_FINISHED STEP_STARTED "
        "TEXT_MESSAGE_START TEXT_MESSAGE_CONTENT TEXT_MESSAGE_END STEP_FINISHED STATE_DELTA "
        "RUN_FINISHED ");
    json_t *last = json_array_get (out, json_array_size (out) - 1);
    assert_string_equal (json_string_value (json_object_get (last, "result")), "Done.");
    assert_null (json_object_get (last, "outcome"));
    json_decref (out);
    agui_destroy (&t);
}

static void
test_interrupt (void **state)
{
    (void) state;
    agui_t *t = agui_new ("th1", "r2", "01JRUN");
    json_t *out = json_array ();
    agui_start (t, out);
    feed (t, "step_started", "{}", 2, out);
    feed (t, "text_delta", "{\"delta\":\"May I?\"}", 0, out);
    json_t *d = ev ("{\"toolCallId\":\"c9\",\"name\":\"git.openPR\",\"args\":{\"title\":\"x\"}}");
    assert_true (agui_feed (t, "ask_approval", d, 7, out));
    json_decref (d);
    assert_string_equal (types (out),
        "RUN_STARTED STATE_SNAPSHOT STEP_STARTED TEXT_MESSAGE_START TEXT_MESSAGE_CONTENT "
        "STATE_DELTA TEXT_MESSAGE_END STEP_FINISHED RUN_FINISHED ");
    json_t *outcome = json_object_get (json_array_get (out, json_array_size (out) - 1), "outcome");
    assert_string_equal (json_string_value (json_object_get (outcome, "type")), "interrupt");
    json_t *i = json_array_get (json_object_get (outcome, "interrupts"), 0);
    assert_string_equal (json_string_value (json_object_get (i, "reason")), "confirmation");
    assert_string_equal (json_string_value (json_object_get (i, "toolCallId")), "c9");
    char crun[129], call[129];
    uint64_t seq;
    assert_int_equal (agui_interrupt_parse (json_string_value (json_object_get (i, "id")), crun,
                                            call, &seq), 0);
    assert_string_equal (crun, "01JRUN");
    assert_string_equal (call, "c9");
    assert_int_equal (seq, 7);
    assert_int_equal (agui_interrupt_parse ("nonsense", crun, call, &seq), -1);
    assert_int_equal (agui_interrupt_parse ("a:b:", crun, call, &seq), -1);
    json_decref (out);
    agui_destroy (&t);
}

static void
test_failed_and_cancelled (void **state)
{
    (void) state;
    agui_t *t = agui_new ("th", "r3", "X");
    json_t *out = json_array ();
    agui_start (t, out);
    feed (t, "text_delta", "{\"delta\":\"x\"}", 0, out);
    feed (t, "failed", "{\"reason\":\"budget exhausted\",\"code\":\"budget\"}", 3, out);
    assert_string_equal (types (out), "RUN_STARTED STATE_SNAPSHOT TEXT_MESSAGE_START "
                         "TEXT_MESSAGE_CONTENT TEXT_MESSAGE_END STATE_DELTA RUN_ERROR ");
    json_decref (out);
    agui_destroy (&t);

    t = agui_new ("th", "r4", "X");
    out = json_array ();
    /* a cancelled run ends with `failed` (run.c's run_end), as any other */
    feed (t, "failed", "{\"status\":\"cancelled\",\"reason\":\"cancelled on request\"}", 3,
          out);
    agui_fail (t, "bus", "late failure", out);
    assert_string_equal (types (out), "STATE_DELTA RUN_ERROR ");
    assert_string_equal (json_string_value (json_object_get (json_array_get (out, 1),
                                                             "message")),
                         "cancelled on request");
    json_decref (out);
    agui_destroy (&t);
}

/* Writes the frames of out to path. */
static void
write_sse (const char *path, json_t *out)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    size_t i;
    json_t *e;
    json_array_foreach (out, i, e) {
        char *frame = agui_frame (e);
        fputs (frame, f);
        free (frame);
    }
    fclose (f);
}

/* A run that asks for approval, and its resumption, through the real
 * @ag-ui/client pipeline and @ag-ui/core schemas (tests/agui). */
static void
test_client_conformance (void **state)
{
    (void) state;
    const char *dir = CAISSON_BIN_DIR "/../agui";
    mkdir (dir, 0755);
    agui_t *t = agui_new ("__THREAD__", "__RUN__", "01JRUN");
    json_t *out = json_array ();
    agui_start (t, out);
    feed (t, "run_started", "{\"sandboxId\":\"h1-abc\",\"task\":\"seed\"}", 1, out);
    feed (t, "step_started", "{}", 2, out);
    feed (t, "plan", "{\"plan\":[\"write\",\"test\",\"open PR\"]}", 3, out);
    feed (t, "text_delta", "{\"delta\":\"Writing \"}", 0, out);
    feed (t, "text_delta", "{\"delta\":\"the code.\"}", 0, out);
    feed (t, "text", "{\"text\":\"Writing the code.\"}", 4, out);
    feed (t, "tool_call", "{\"toolCallId\":\"c1\",\"name\":\"writeFiles\",\"args\":{\"files\":[]}}", 5, out);
    feed (t, "tool_result", "{\"toolCallId\":\"c1\",\"name\":\"writeFiles\",\"ok\":true,\"result\":{}}", 6, out);
    feed (t, "step_finished", "{}", 7, out);
    feed (t, "step_started", "{}", 8, out);
    feed (t, "tool_call", "{\"toolCallId\":\"c2\",\"name\":\"git.openPR\",\"args\":{\"title\":\"t\"}}", 9, out);
    feed (t, "ask_approval", "{\"toolCallId\":\"c2\",\"name\":\"git.openPR\",\"args\":{\"title\":\"t\"}}", 10, out);
    write_sse (CAISSON_BIN_DIR "/../agui/first.sse", out);
    json_decref (out);
    agui_destroy (&t);

    t = agui_new ("__THREAD__", "__RUN__", "01JRUN");
    out = json_array ();
    agui_start (t, out);
    feed (t, "approval_decision", "{\"toolCallId\":\"c2\",\"approved\":true}", 11, out);
    feed (t, "tool_result", "{\"toolCallId\":\"c2\",\"name\":\"git.openPR\",\"ok\":true,\"result\":{\"url\":\"pr/1\"}}", 12, out);
    feed (t, "step_finished", "{}", 13, out);
    feed (t, "step_started", "{}", 14, out);
    feed (t, "text_delta", "{\"delta\":\"Opened the PR.\"}", 0, out);
    feed (t, "text", "{\"text\":\"Opened the PR.\"}", 15, out);
    feed (t, "step_finished", "{}", 16, out);
    feed (t, "complete", "{\"answer\":\"Opened the PR.\"}", 17, out);
    write_sse (CAISSON_BIN_DIR "/../agui/resumed.sse", out);
    json_decref (out);
    agui_destroy (&t);

    const char *args[] = { "node", "agui_replay.mjs", CAISSON_BIN_DIR "/../agui/first.sse",
                           CAISSON_BIN_DIR "/../agui/resumed.sse", NULL };
    assert_int_equal (support_run_node (args), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_completed_run),
        cmocka_unit_test (test_interrupt),
        cmocka_unit_test (test_failed_and_cancelled),
        cmocka_unit_test (test_client_conformance),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
