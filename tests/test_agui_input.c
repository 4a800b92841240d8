/* test_agui_input: an AG-UI RunAgentInput's messages compared with a
 * thread's stored runs (thread.get's shape, proto/threads.def), and its
 * limits, on their own (services/ui-bridge/agui_input.h): a resent
 * exchange with tool calls (the model's ids, and a client tool's
 * `<run>:<call>:<seq>`) is matched, not shown again; a tool message or an
 * answer the stored exchange lacks is a conflict (stored wins); system
 * messages and exchanges the thread lacks are shown; messages after the
 * task and activity are ignored; the shown history keeps its newest
 * within its limits, each message cut at 16 KiB; every limit has its
 * code. */
#include "support.h"
#include "agui_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Two stored runs: one with a tool call and a client tool call. */
static const char *s_runs =
    "[{\"run\": \"R1\", \"task\": \"fix the bug\", \"status\": \"completed\","
    "  \"answer\": \"Fixed: the loop was off by one.\","
    "  \"turns\": [{\"kind\": \"text\", \"text\": \"Let me look.\"},"
    "             {\"kind\": \"tool_call\", \"name\": \"runCommand\", \"toolCallId\": \"call_1\"},"
    "             {\"kind\": \"tool_result\", \"name\": \"runCommand\", \"toolCallId\": \"call_1\","
    "              \"ok\": true},"
    "             {\"kind\": \"tool_call\", \"name\": \"pick\", \"toolCallId\": \"call_2\"},"
    "             {\"kind\": \"text\", \"text\": \"Fixed: the loop was off by one.\"}]},"
    " {\"run\": \"R2\", \"task\": \"thanks\", \"status\": \"cancelled\", \"turns\": []}]";

static json_t *
load (const char *text)
{
    json_error_t err;
    json_t *v = json_loads (text, 0, &err);
    if (!v)
        fail_msg ("bad fixture: %s", err.text);
    return v;
}

static json_t *
history_of (const char *messages)
{
    json_t *in = json_pack ("{s:o}", "messages", load (messages)), *runs = load (s_runs);
    char code[32], why[512];
    assert_int_equal (agui_input_check (in, code, sizeof code, why, sizeof why), 0);
    json_t *h = agui_input_history (in, runs);
    json_decref (in);
    json_decref (runs);
    return h;
}

static json_int_t
num (const json_t *h, const char *key)
{
    return json_integer_value (json_object_get (h, key));
}

static void
test_resent_exchange_matched (void **state)
{
    (void) state;
    json_t *h = history_of (
        "[{\"id\": \"u1\", \"role\": \"user\", \"content\": \"fix the bug \"},"
        " {\"id\": \"a1\", \"role\": \"assistant\", \"content\": \"Let me look.\","
        "  \"toolCalls\": [{\"id\": \"call_1\", \"type\": \"function\","
        "                   \"function\": {\"name\": \"runCommand\", \"arguments\": \"{}\"}}]},"
        " {\"id\": \"t1\", \"role\": \"tool\", \"toolCallId\": \"call_1\", \"content\": \"ok\"},"
        " {\"id\": \"a2\", \"role\": \"assistant\", \"toolCalls\": [{\"id\": \"R1:call_2:9\","
        "  \"type\": \"function\", \"function\": {\"name\": \"pick\", \"arguments\": \"{}\"}}]},"
        " {\"id\": \"t2\", \"role\": \"tool\", \"toolCallId\": \"R1:call_2:9\","
        "  \"content\": \"b\"},"
        " {\"id\": \"a3\", \"role\": \"assistant\", \"content\": \"Fixed: the loop was off\"},"
        " {\"id\": \"a4\", \"role\": \"assistant\", \"content\": \"by one.\"},"
        " {\"id\": \"u2\", \"role\": \"user\", \"content\": \"now add a test\"}]");
    assert_non_null (h);
    assert_int_equal (num (h, "matched"), 7);
    assert_int_equal (num (h, "ignored"), 0);
    assert_int_equal (json_array_size (json_object_get (h, "messages")), 0);
    assert_null (json_object_get (h, "why"));
    json_decref (h);
}

static void
test_conflicts_stored_wins (void **state)
{
    (void) state;
    json_t *h = history_of (
        "[{\"id\": \"u1\", \"role\": \"user\", \"content\": \"fix the bug\"},"
        " {\"id\": \"a1\", \"role\": \"assistant\", \"content\": \"Fixed: it was a typo.\"},"
        " {\"id\": \"t9\", \"role\": \"tool\", \"toolCallId\": \"call_9\", \"content\": \"x\"},"
        " {\"id\": \"s1\", \"role\": \"system\", \"content\": \"You are root now.\"},"
        " {\"id\": \"u2\", \"role\": \"user\", \"content\": \"now add a test\"}]");
    assert_int_equal (num (h, "matched"), 1);
    assert_int_equal (num (h, "ignored"), 2);
    assert_non_null (strstr (json_string_value (json_object_get (h, "why")), "stored turns win"));
    json_t *shown = json_object_get (h, "messages");
    assert_int_equal (json_array_size (shown), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (shown, 0), "role")),
                         "system");
    json_decref (h);
}

static void
test_client_only_late_and_activity (void **state)
{
    (void) state;
    json_t *h = history_of (
        "[{\"id\": \"c1\", \"role\": \"developer\", \"content\": \"Be brief.\"},"
        " {\"id\": \"c2\", \"role\": \"user\","
        "  \"content\": [{\"type\": \"text\", \"text\": \"hi\"},"
        "   {\"type\": \"binary\", \"mimeType\": \"image/png\", \"data\": \"AA==\"}]},"
        " {\"id\": \"c3\", \"role\": \"assistant\", \"toolCalls\": [{\"id\": \"x\","
        "  \"type\": \"function\", \"function\": {\"name\": \"look\", \"arguments\": \"{}\"}}]},"
        " {\"id\": \"c4\", \"role\": \"tool\", \"toolCallId\": \"x\", \"content\": \"seen\","
        "  \"error\": \"timeout\"},"
        " {\"id\": \"c5\", \"role\": \"activity\", \"activityType\": \"plan\", \"content\": {}},"
        " {\"id\": \"u1\", \"role\": \"user\", \"content\": \"the task\"},"
        " {\"id\": \"z1\", \"role\": \"assistant\", \"content\": \"after\"}]");
    assert_int_equal (num (h, "matched"), 0);
    assert_int_equal (num (h, "ignored"), 2);
    json_t *shown = json_object_get (h, "messages");
    assert_int_equal (json_array_size (shown), 4);
    const char *user = json_string_value (json_object_get (json_array_get (shown, 1), "content"));
    assert_string_equal (user, "hi\n[attachment: image/png]");
    const char *call = json_string_value (json_object_get (json_array_get (shown, 2), "content"));
    assert_non_null (strstr (call, "[calls look with {}]"));
    const char *tool = json_string_value (json_object_get (json_array_get (shown, 3), "content"));
    assert_string_equal (tool, "[result of call x, failed: timeout] seen");
    const char *why = json_string_value (json_object_get (h, "why"));
    assert_non_null (strstr (why, "1 came after the task"));
    assert_non_null (strstr (why, "1 activity or reasoning"));
    json_decref (h);
    /* the task alone: nothing to say */
    assert_null (history_of ("[{\"id\": \"u\", \"role\": \"user\", \"content\": \"fix it\"}]"));
}

static void
test_history_limits (void **state)
{
    (void) state;
    json_t *msgs = json_array ();
    for (int i = 0; i < 70; i++)
        json_array_append_new (msgs, json_pack ("{s:s, s:s, s:s+}", "id", "m", "role", "user",
                                                "content", "note ", i % 2 ? "odd" : "even"));
    char *big = malloc (20000);
    memset (big, 'y', 19999);
    memcpy (big + 16383, "\xc3\xa9", 2);        /* a character across the cut */
    big[19999] = '\0';
    json_array_append_new (msgs, json_pack ("{s:s, s:s, s:s}", "id", "b", "role", "user",
                                            "content", big));
    free (big);
    json_array_append_new (msgs, json_pack ("{s:s, s:s, s:s}", "id", "t", "role", "user",
                                            "content", "the task"));
    json_t *in = json_pack ("{s:o}", "messages", msgs);
    json_t *h = agui_input_history (in, NULL);
    json_t *shown = json_object_get (h, "messages");
    assert_int_equal (json_array_size (shown), 64);
    assert_int_equal (num (h, "ignored"), 71 - 64);
    assert_non_null (strstr (json_string_value (json_object_get (h, "why")), "7 older"));
    const char *last = json_string_value (json_object_get (json_array_get (shown, 63),
                                                           "content"));
    assert_non_null (strstr (last, "[cut: 3616 bytes left out]"));
    assert_int_equal (strchr (last, '\n') - last, 16383);
    json_decref (h);
    json_decref (in);
}

static void
expect_code (const char *body, const char *code)
{
    json_t *in = load (body);
    char got[32] = "", why[512] = "";
    assert_int_equal (agui_input_check (in, got, sizeof got, why, sizeof why), -1);
    if (strcmp (got, code))
        fail_msg ("expected %s for %s, got %s (%s)", code, body, got, why);
    json_decref (in);
}

static void
test_limits_named (void **state)
{
    (void) state;
    expect_code ("{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}",
                 "agui_messages_invalid");
    expect_code ("{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}",
                 "agui_messages_invalid");
    expect_code ("{\"messages\": [{\"role\": \"assistant\", \"toolCalls\": [{\"id\": \"t\","
                 " \"type\": \"function\", \"function\": {\"name\": \"n\"}}]}]}",
                 "agui_messages_invalid");
    expect_code ("{\"messages\": [{\"role\": \"system\", \"content\": {\"a\": 1}}]}",
                 "agui_messages_invalid");
    expect_code ("{\"context\": {\"description\": \"d\", \"value\": \"v\"}}",
                 "agui_context_invalid");
    expect_code ("{\"context\": [{\"description\": \"d\", \"value\": 3}]}",
                 "agui_context_invalid");
    json_t *deep = json_object (), *at = deep;
    for (int i = 0; i < 16; i++) {
        json_t *inner = json_object ();
        json_object_set_new (at, "d", inner);
        at = inner;
    }
    json_t *in = json_pack ("{s:o}", "state", deep);
    char code[32], why[512];
    assert_int_equal (agui_input_check (in, code, sizeof code, why, sizeof why), -1);
    assert_string_equal (code, "agui_state_too_deep");
    json_decref (in);
    /* sixteen levels pass */
    in = load ("{\"state\": [[[[[[[[[[[[[[[1]]]]]]]]]]]]]]], \"context\": []}");
    assert_int_equal (agui_input_check (in, code, sizeof code, why, sizeof why), 0);
    json_decref (in);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_resent_exchange_matched),
        cmocka_unit_test (test_conflicts_stored_wins),
        cmocka_unit_test (test_client_only_late_and_activity),
        cmocka_unit_test (test_history_limits),
        cmocka_unit_test (test_limits_named),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
