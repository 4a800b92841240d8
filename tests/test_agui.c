/* test_agui: the Caisson-to-AG-UI translation on its own: a run with
 * streamed text, a tool call and its result, a plan, steps, and each way a
 * run ends (completed, approval interrupt, failure, cancel); every message
 * and step opened is closed before the terminal event, nothing follows
 * it, no field is null, and frames are `data: ...\n\n` with LF only. The
 * events fed are built by proto/events.def's constructors (evkind.h), so
 * they are the shapes the orchestrator emits. */
#include "support.h"
#include "agui.h"
#include "evkind.h"

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

/* Feeds data (owned; built by an evkind constructor, so shaped as the
 * orchestrator emits kind) to t. Returns what agui_feed returned. */
static bool
feed_ev (agui_t *t, evk_kind_t kind, json_t *data, uint64_t seq, json_t *out)
{
    assert_non_null (data);
    bool done = agui_feed (t, evk_name (kind), data, seq, out);
    json_decref (data);
    return done;
}

/* FEED (t, plan, 3, out, .text = "...") feeds a `plan` event at run_seq 3. */
#define FEED(t, kind, seq, out, ...) feed_ev (t, EVK_##kind, EVK (kind, __VA_ARGS__), seq, out)

/* What the orchestrator emits at a step's start, step n. */
#define STEP_STARTED(t, n, seq, out) FEED (t, step_started, seq, out, .step = n, .overheadUs = 150)

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
    json_t *budgets = ev ("{\"steps\":10,\"toolCalls\":20,\"wallSeconds\":60,\"tokens\":1000}");
    json_t *policy = ev ("{\"approval\":\"auto\"}");
    FEED (t, run_started, 1, out, .task = "say hello", .user = "ann", .threadId = "01JTHR",
          .model = "replay/demo", .orchestrator = "o1", .promptVersion = "v1",
          .budgets = budgets, .policy = policy);
    STEP_STARTED (t, 1, 2, out);
    FEED (t, text_delta, 0, out, .text = "Hel");
    FEED (t, text_delta, 0, out, .text = "");
    FEED (t, text_delta, 0, out, .text = "lo");
    FEED (t, usage, 3, out, .inputTokens = 10, .outputTokens = 2);
    FEED (t, plan, 4, out, .text = "Hello");
    FEED (t, text, 5, out, .text = "Hello");
    FEED (t, step_finished, 6, out, .step = 1);
    json_t *args = ev ("{\"a\":1}"), *result = ev ("{\"ok\":1}");
    FEED (t, tool_call, 7, out, .toolCallId = "c1", .name = "writeFiles", .args = args);
    FEED (t, tool_result, 8, out, .toolCallId = "c1", .name = "writeFiles", .ok = true,
          .result = result, .durationMs = 3, .toolRunner = "tr1");
    STEP_STARTED (t, 2, 9, out);
    FEED (t, text, 10, out, .text = "Done.");    /* replayed: no deltas */
    FEED (t, step_finished, 11, out, .step = 2);
    assert_true (FEED (t, complete, 12, out, .status = "completed", .answer = "Done."));
    FEED (t, text, 13, out, .text = "late");
    assert_string_equal (types (out),
        "RUN_STARTED STATE_SNAPSHOT STEP_STARTED TEXT_MESSAGE_START TEXT_MESSAGE_CONTENT "
        "TEXT_MESSAGE_CONTENT STATE_DELTA TEXT_MESSAGE_END STEP_FINISHED TOOL_CALL_START "
        "TOOL_CALL_ARGS TOOL_CALL_END TOOL_CALL_RESULT STEP_STARTED TEXT_MESSAGE_START "
        "TEXT_MESSAGE_CONTENT TEXT_MESSAGE_END STEP_FINISHED STATE_DELTA RUN_FINISHED ");
    /* the plan's state is the plan event's data */
    json_t *plan = json_array_get (out, 6);
    assert_string_equal (json_string_value (json_object_get (json_object_get (json_array_get (
        json_object_get (plan, "delta"), 0), "value"), "text")), "Hello");
    json_t *last = json_array_get (out, json_array_size (out) - 1);
    assert_string_equal (json_string_value (json_object_get (last, "result")), "Done.");
    assert_null (json_object_get (last, "outcome"));
    json_decref (budgets);
    json_decref (policy);
    json_decref (args);
    json_decref (result);
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
    STEP_STARTED (t, 1, 2, out);
    FEED (t, text_delta, 0, out, .text = "May I?");
    json_t *args = ev ("{\"title\":\"x\"}");
    assert_true (FEED (t, ask_approval, 7, out, .toolCallId = "c9", .name = "git.openPR",
                       .args = args));
    json_decref (args);
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

static void write_sse (const char *path, json_t *out);

/* The text of every TEXT_MESSAGE_CONTENT in out, concatenated. */
static const char *
all_text (json_t *out)
{
    static char text[1024];
    text[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach (out, i, e)
        if (!strcmp (json_string_value (json_object_get (e, "type")), "TEXT_MESSAGE_CONTENT"))
            strncat (text, json_string_value (json_object_get (e, "delta")),
                     sizeof text - strlen (text) - 1);
    return text;
}

/* Deltas are published at once, stored events after their commit: a
 * step's deltas may come before its step_started, and the next step's
 * before this step's text. The model's text still reaches the client
 * once, in order. */
static void
test_deltas_before_stored (void **state)
{
    (void) state;
    agui_t *t = agui_new ("th", "r6", "X");
    json_t *out = json_array ();
    agui_start (t, out);
    FEED (t, text_delta, 0, out, .text = "Plan: ");
    STEP_STARTED (t, 1, 2, out);           /* closes what the deltas opened */
    FEED (t, text_delta, 0, out, .text = "look.");
    FEED (t, usage, 3, out, .inputTokens = 10, .outputTokens = 2);
    FEED (t, plan, 4, out, .text = "Plan: look.");
    FEED (t, text, 5, out, .text = "Plan: look.");
    FEED (t, step_finished, 6, out, .step = 1);
    json_t *args = json_object ();
    FEED (t, tool_call, 7, out, .toolCallId = "c1", .name = "listFiles", .args = args);
    FEED (t, text_delta, 0, out, .text = "Done");     /* step 2's, before step 1's result */
    FEED (t, tool_result, 8, out, .toolCallId = "c1", .name = "listFiles", .ok = true,
          .result = args, .durationMs = 1);
    FEED (t, text_delta, 0, out, .text = ".");
    STEP_STARTED (t, 2, 9, out);           /* after all of its deltas */
    FEED (t, text, 10, out, .text = "Done.");
    FEED (t, step_finished, 11, out, .step = 2);
    FEED (t, complete, 12, out, .status = "completed", .answer = "Done.");
    json_decref (args);
    assert_string_equal (all_text (out), "Plan: look.Done.");
    json_decref (out);
    agui_destroy (&t);

    /* replayed from history: no deltas, each text is its message */
    t = agui_new ("th", "r7", "X");
    out = json_array ();
    STEP_STARTED (t, 1, 2, out);
    FEED (t, text, 3, out, .text = "Hello.");
    FEED (t, step_finished, 4, out, .step = 1);
    STEP_STARTED (t, 2, 5, out);
    FEED (t, text, 6, out, .text = "Bye.");
    assert_string_equal (all_text (out), "Hello.Bye.");
    json_decref (out);
    agui_destroy (&t);
}

/* Checks out's text messages are well formed (content only between its
 * START and END, every one closed, no id reused) and returns their texts
 * in order of opening, joined by '|'. */
static const char *
messages_of (json_t *out)
{
    static char joined[1024];
    char ids[8][192], texts[8][256];
    bool open[8] = { false };
    size_t n = 0, i;
    json_t *e;
    json_array_foreach (out, i, e) {
        const char *type = json_string_value (json_object_get (e, "type"));
        const char *id = json_string_value (json_object_get (e, "messageId"));
        if (strncmp (type, "TEXT_MESSAGE_", 13))
            continue;
        size_t k = 0;
        while (k < n && strcmp (ids[k], id))
            k++;
        if (!strcmp (type, "TEXT_MESSAGE_START")) {
            assert_true (k == n && n < 8);      /* a fresh id */
            snprintf (ids[n], sizeof ids[n], "%s", id);
            texts[n][0] = '\0';
            open[n++] = true;
            continue;
        }
        assert_true (k < n && open[k]);
        if (!strcmp (type, "TEXT_MESSAGE_END"))
            open[k] = false;
        else
            strncat (texts[k], json_string_value (json_object_get (e, "delta")),
                     sizeof texts[k] - strlen (texts[k]) - 1);
    }
    joined[0] = '\0';
    size_t used = 0;
    for (size_t k = 0; k < n; k++) {
        assert_false (open[k]);
        int w = snprintf (joined + used, sizeof joined - used, "%s%s", k ? "|" : "", texts[k]);
        assert_true (w >= 0 && (size_t) w < sizeof joined - used);
        used += (size_t) w;
    }
    return joined;
}

/* Each model turn is a text message of its own, with a fresh id, even
 * when the next turn's deltas (tagged with their step) come before this
 * turn's stored text: they used to land in this turn's open message. */
static void
test_turns_own_messages (void **state)
{
    (void) state;
    agui_t *t = agui_new ("th", "r8", "X");
    json_t *out = json_array ();
    agui_start (t, out);
    STEP_STARTED (t, 1, 2, out);
    FEED (t, text_delta, 0, out, .text = "First ", .step = 1);
    FEED (t, text_delta, 0, out, .text = "turn.", .step = 1);
    FEED (t, text_delta, 0, out, .text = "Second turn.", .step = 2);
    FEED (t, usage, 3, out, .inputTokens = 10, .outputTokens = 2);
    FEED (t, text, 4, out, .text = "First turn.");
    FEED (t, step_finished, 5, out, .step = 1);
    FEED (t, text_delta, 0, out, .text = " More.", .step = 2);
    STEP_STARTED (t, 2, 6, out);
    FEED (t, text, 7, out, .text = "Second turn. More.");
    FEED (t, step_finished, 8, out, .step = 2);
    FEED (t, text_delta, 0, out, .text = "Third", .step = 3);   /* before step 3 starts */
    STEP_STARTED (t, 3, 9, out);
    FEED (t, text_delta, 0, out, .text = ".", .step = 3);
    FEED (t, text, 10, out, .text = "Third.");
    FEED (t, complete, 11, out, .status = "completed", .answer = "Third.");
    types (out);
    assert_string_equal (messages_of (out), "First turn.|Second turn. More.|Third.");
    json_decref (out);
    agui_destroy (&t);

    /* a turn whose deltas were all missed still gets its own message,
     * beside the next turn's already open one */
    t = agui_new ("th", "r9", "X");
    out = json_array ();
    STEP_STARTED (t, 1, 2, out);
    FEED (t, text_delta, 0, out, .text = "Two", .step = 2);
    FEED (t, text, 3, out, .text = "One.");
    FEED (t, step_finished, 4, out, .step = 1);
    STEP_STARTED (t, 2, 5, out);
    FEED (t, text, 6, out, .text = "Two.");
    FEED (t, complete, 7, out, .status = "completed", .answer = "Two.");
    assert_string_equal (messages_of (out), "Two.|One.");
    json_decref (out);
    agui_destroy (&t);
}

/* The answered run of a front-end tool: a fresh stream from after the
 * client call (api_agui subscribes before it hands the answer over, so
 * no delta of the next turn goes by unseen), the client's result, the
 * answer turn streamed in the cassette's 24-byte chunks, some before its
 * stored step_started: one message, exactly the answer. (The e2e failure
 * was a stream that missed the first chunk: its message was the rest.) */
static void
test_answered_run (void **state)
{
    (void) state;
    const char *answer = "You chose blue. The CSS: `.new-button { background-color: blue; "
                         "color: white; }`";
    const char *chunks[] = { "You chose blue. The CSS:", " `.new-button { backgrou",
                             "nd-color: blue; color: w", "hite; }`" };
    for (int early = 0; early <= 4; early += 2) {
        agui_t *t = agui_new ("th", "r10", "X");
        json_t *out = json_array ();
        agui_start (t, out);
        json_t *result = json_pack ("{s:s}", "choice", "blue");
        FEED (t, tool_result, 6, out, .toolCallId = "c1", .name = "confirmChoice", .ok = true,
              .result = result, .durationMs = 9, .client = true);
        json_decref (result);
        for (int i = 0; i < early; i++)
            FEED (t, text_delta, 0, out, .text = chunks[i], .step = 2);
        STEP_STARTED (t, 2, 7, out);
        for (int i = early; i < 4; i++)
            FEED (t, text_delta, 0, out, .text = chunks[i], .step = 2);
        FEED (t, text, 8, out, .text = answer);
        FEED (t, step_finished, 9, out, .step = 2);
        assert_true (FEED (t, complete, 10, out, .status = "completed", .answer = answer));
        assert_string_equal (messages_of (out), answer);
        json_decref (out);
        agui_destroy (&t);
    }
}

/* The field key of out's event of type, as a string; NULL when none. */
static const char *
field_of (json_t *out, const char *type, const char *key)
{
    size_t i;
    json_t *e;
    json_array_foreach (out, i, e)
        if (!strcmp (json_string_value (json_object_get (e, "type")), type))
            return json_string_value (json_object_get (e, key));
    return NULL;
}

/* Every ending keeps its name: a failure is a RUN_ERROR whose code is the
 * run's status; a cancelled run is a RUN_FINISHED with the AG-UI 1.0
 * `cancelled` outcome (docs.ag-ui.com/spec/1.0/events/lifecycle), not a
 * failure; the state's status says which in both cases. */
static void
test_failed_and_cancelled (void **state)
{
    (void) state;
    agui_t *t = agui_new ("th", "r3", "X");
    json_t *out = json_array ();
    agui_start (t, out);
    FEED (t, text_delta, 0, out, .text = "x");
    FEED (t, failed, 3, out, .status = "budget_exhausted",
          .reason = "budget exhausted: steps (limit 3)");
    assert_string_equal (types (out), "RUN_STARTED STATE_SNAPSHOT TEXT_MESSAGE_START "
                         "TEXT_MESSAGE_CONTENT TEXT_MESSAGE_END STATE_DELTA RUN_ERROR ");
    assert_string_equal (field_of (out, "RUN_ERROR", "code"), "budget_exhausted");
    assert_string_equal (field_of (out, "RUN_ERROR", "message"),
                         "budget exhausted: steps (limit 3)");
    json_t *delta = json_array_get (json_object_get (json_array_get (out, 5), "delta"), 0);
    assert_string_equal (json_string_value (json_object_get (delta, "value")), "budget_exhausted");
    json_decref (out);
    agui_destroy (&t);

    static const char *const ends[] = { "failed", "truncated", "refused", "checks_failed" };
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        t = agui_new ("th", "r5", "X");
        out = json_array ();
        FEED (t, failed, 3, out, .status = ends[i], .reason = "why");
        assert_string_equal (types (out), "STATE_DELTA RUN_ERROR ");
        assert_string_equal (field_of (out, "RUN_ERROR", "code"), ends[i]);
        json_decref (out);
        agui_destroy (&t);
    }

    t = agui_new ("th", "r4", "X");
    out = json_array ();
    agui_start (t, out);
    /* a cancelled run ends with `failed` (run.c's run_end) whose status says so */
    FEED (t, failed, 3, out, .status = "cancelled", .reason = "cancelled on request");
    agui_fail (t, "bus", "late failure", out);
    assert_string_equal (types (out), "RUN_STARTED STATE_SNAPSHOT STATE_DELTA RUN_FINISHED ");
    json_t *fin = json_array_get (out, 3);
    assert_string_equal (json_string_value (json_object_get (json_object_get (fin, "outcome"),
                                                             "type")), "cancelled");
    delta = json_array_get (json_object_get (json_array_get (out, 2), "delta"), 0);
    assert_string_equal (json_string_value (json_object_get (delta, "value")), "cancelled");
    write_sse (CAISSON_BIN_DIR "/../agui/cancelled.sse", out);
    json_decref (out);
    agui_destroy (&t);
}

/* Writes the frames of out to path. */
static void
write_sse (const char *path, json_t *out)
{
    mkdir (CAISSON_BIN_DIR "/../agui", 0755);
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
    json_t *budgets = ev ("{\"steps\":10,\"toolCalls\":20,\"wallSeconds\":60,\"tokens\":1000}");
    json_t *policy = ev ("{\"approval\":\"ask\"}");
    json_t *files = ev ("{\"files\":[]}"), *title = ev ("{\"title\":\"t\"}");
    json_t *empty = ev ("{}"), *url = ev ("{\"url\":\"pr/1\"}");
    FEED (t, run_started, 1, out, .task = "seed", .threadId = "01JTHR", .model = "replay/demo",
          .orchestrator = "o1", .promptVersion = "v1", .budgets = budgets, .policy = policy);
    STEP_STARTED (t, 1, 2, out);
    FEED (t, text_delta, 0, out, .text = "Writing ");
    FEED (t, text_delta, 0, out, .text = "the code.");
    FEED (t, usage, 3, out, .inputTokens = 100, .outputTokens = 20);
    FEED (t, plan, 4, out, .text = "Writing the code.");
    FEED (t, text, 5, out, .text = "Writing the code.");
    FEED (t, step_finished, 6, out, .step = 1);
    FEED (t, tool_call, 7, out, .toolCallId = "c1", .name = "writeFiles", .args = files);
    FEED (t, tool_result, 8, out, .toolCallId = "c1", .name = "writeFiles", .ok = true,
          .result = empty, .durationMs = 4, .toolRunner = "tr1");
    STEP_STARTED (t, 2, 9, out);
    FEED (t, usage, 10, out, .inputTokens = 130, .outputTokens = 10);
    FEED (t, step_finished, 11, out, .step = 2);
    FEED (t, ask_approval, 12, out, .toolCallId = "c2", .name = "git.openPR", .args = title);
    write_sse (CAISSON_BIN_DIR "/../agui/first.sse", out);
    json_decref (out);
    agui_destroy (&t);

    t = agui_new ("__THREAD__", "__RUN__", "01JRUN");
    out = json_array ();
    agui_start (t, out);
    FEED (t, approval_decision, 13, out, .toolCallId = "c2", .approved = true);
    FEED (t, tool_call, 14, out, .toolCallId = "c2", .name = "git.openPR", .args = title);
    FEED (t, tool_result, 15, out, .toolCallId = "c2", .name = "git.openPR", .ok = true,
          .result = url, .durationMs = 40, .toolRunner = "tr1");
    STEP_STARTED (t, 3, 16, out);
    FEED (t, text_delta, 0, out, .text = "Opened the PR.");
    FEED (t, text, 17, out, .text = "Opened the PR.");
    FEED (t, step_finished, 18, out, .step = 3);
    FEED (t, complete, 19, out, .status = "completed", .answer = "Opened the PR.");
    write_sse (CAISSON_BIN_DIR "/../agui/resumed.sse", out);
    json_decref (out);
    agui_destroy (&t);
    json_decref (budgets);
    json_decref (policy);
    json_decref (files);
    json_decref (title);
    json_decref (empty);
    json_decref (url);

    const char *args[] = { "node", "agui_replay.mjs", CAISSON_BIN_DIR "/../agui/first.sse",
                           CAISSON_BIN_DIR "/../agui/resumed.sse",
                           CAISSON_BIN_DIR "/../agui/cancelled.sse", NULL };
    assert_int_equal (support_run_node (args), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_completed_run),
        cmocka_unit_test (test_interrupt),
        cmocka_unit_test (test_failed_and_cancelled),
        cmocka_unit_test (test_deltas_before_stored),
        cmocka_unit_test (test_turns_own_messages),
        cmocka_unit_test (test_answered_run),
        cmocka_unit_test (test_client_conformance),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
