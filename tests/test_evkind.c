/* test_evkind: the event kinds of proto/events.def through evkind's API:
 * names and lookup agree, a constructor builds exactly the declared keys
 * and types (optional ones left out when unset) and refuses a missing
 * required field, and evk_check refuses each way a payload can be wrong,
 * naming the field. */
#include "support.h"
#include "evkind.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static void
test_names (void **state)
{
    (void) state;
    assert_true (EVK_COUNT > 10);
    for (int k = 0; k < EVK_COUNT; k++) {
        const char *name = evk_name ((evk_kind_t) k);
        assert_non_null (name);
        assert_true (strlen (name) > 0 && strlen (name) <= 64);
        for (const char *p = name; *p; p++)     /* event-log's rule for kinds */
            assert_true (islower ((unsigned char) *p) || isdigit ((unsigned char) *p)
                         || *p == '_');
        assert_int_equal (evk_lookup (name), k);
        const evk_def_t *def = evk_def ((evk_kind_t) k);
        assert_non_null (def->doc);
        for (size_t i = 0; i < def->nfields; i++)
            for (size_t j = i + 1; j < def->nfields; j++)
                assert_string_not_equal (def->fields[i].name, def->fields[j].name);
    }
    assert_int_equal (evk_lookup ("no_such_kind"), EVK_COUNT);
    assert_int_equal (evk_lookup (NULL), EVK_COUNT);
    assert_null (evk_name (EVK_COUNT));
    assert_string_equal (evk_name (EVK_tool_call), "tool_call");
}

static void
expect_json (json_t *got, const char *want)
{
    assert_non_null (got);
    json_t *w = json_loads (want, 0, NULL);
    assert_non_null (w);
    if (!json_equal (got, w)) {
        char *text = json_dumps (got, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg ("built %s, want %s", text, want);
    }
    json_decref (w);
    json_decref (got);
}

static void
test_constructors (void **state)
{
    (void) state;
    expect_json (EVK (plan, .text = "read, then patch"), "{\"text\":\"read, then patch\"}");
    json_t *args = json_pack ("{s:s}", "cmd", "make");
    expect_json (EVK (tool_call, .toolCallId = "c1", .name = "runCommand", .args = args),
                 "{\"toolCallId\":\"c1\",\"name\":\"runCommand\",\"args\":{\"cmd\":\"make\"}}");
    expect_json (EVK (tool_call, .toolCallId = "c1", .name = "f", .args = args, .client = true),
                 "{\"toolCallId\":\"c1\",\"name\":\"f\",\"args\":{\"cmd\":\"make\"},"
                 "\"client\":true}");
    /* args is borrowed: the constructor took its own references */
    assert_int_equal (args->refcount, 1);
    json_decref (args);
    expect_json (EVK (approval_decision, .toolCallId = "c2", .approved = false),
                 "{\"toolCallId\":\"c2\",\"approved\":false}");
    expect_json (EVK (usage, .inputTokens = 5, .outputTokens = 0, .cachedTokens = 0),
                 "{\"inputTokens\":5,\"outputTokens\":0,\"cachedTokens\":0,"
                 "\"cacheWriteTokens\":0}");
    /* missing required fields */
    assert_null (EVK (plan, .text = NULL));
    assert_null (EVK (tool_call, .toolCallId = "c1", .name = "x"));
    assert_null (evk_json (EVK_COUNT, &(evk_plan_t) { .text = "x" }));
    /* a string jansson cannot hold is refused, as json_pack refused it */
    assert_null (EVK (text, .text = "\xff\xfe"));
    assert_null (EVK (approval_decision, .toolCallId = "c", .approved = true, .reason = "\xff"));
    /* what a constructor builds passes the check, for every kind */
    for (int k = 0; k < EVK_COUNT; k++) {
        const evk_def_t *def = evk_def ((evk_kind_t) k);
        /* cppcheck-suppress unusedStructMember ; align is there for its alignment */
        union { char bytes[1024]; max_align_t align; } u = { { 0 } };
        char *fields = u.bytes;
        json_t *any = json_object ();
        for (size_t i = 0; i < def->nfields; i++) {
            const evk_field_t *f = &def->fields[i];
            void *at = fields + f->offset;
            if (f->type == EVK_T_STR)
                *(const char **) at = "x";
            else if (f->type == EVK_T_U64)
                *(uint64_t *) at = 1;
            else if (f->type == EVK_T_BOOL)
                *(bool *) at = true;
            else
                *(json_t **) at = any;
        }
        json_t *built = evk_json ((evk_kind_t) k, fields);
        assert_non_null (built);
        assert_int_equal (json_object_size (built), def->nfields);
        char why[256];
        if (evk_check (def->name, built, why, sizeof why))
            fail_msg ("%s", why);
        json_decref (built);
        json_decref (any);
    }
}

/* Fails unless evk_check refuses data (JSON text) of kind, with a reason
 * that contains word. */
static void
expect_refused (const char *kind, const char *data, const char *word)
{
    json_t *d = data ? json_loads (data, JSON_DECODE_ANY, NULL) : NULL;
    char why[256] = "";
    assert_int_equal (evk_check (kind, d, why, sizeof why), -1);
    if (!strstr (why, word))
        fail_msg ("%s %s: refused with '%s', which does not name %s", kind, data, why, word);
    json_decref (d);
}

static void
test_check (void **state)
{
    (void) state;
    char why[256];
    json_t *ok = json_pack ("{s:s, s:b, s:s}", "toolCallId", "c", "approved", 1, "reason", "r");
    assert_int_equal (evk_check ("approval_decision", ok, why, sizeof why), 0);
    json_decref (ok);
    assert_int_equal (evk_check ("sync", NULL, why, sizeof why), 0);
    expect_refused ("no_such", "{}", "no_such");
    expect_refused (NULL, "{}", "not declared");
    expect_refused ("plan", "[1]", "map");
    expect_refused ("plan", NULL, "text");
    expect_refused ("plan", "{\"plan\":\"x\"}", "plan");       /* the old documented shape */
    expect_refused ("plan", "{\"text\":null}", "text");
    expect_refused ("plan", "{\"text\":\"x\",\"more\":1}", "more");
    expect_refused ("plan", "{\"text\":3}", "text");
    expect_refused ("step_started", "{\"step\":-1,\"overheadUs\":0}", "step");
    expect_refused ("step_started", "{\"step\":1.5,\"overheadUs\":0}", "step");
    expect_refused ("approval_decision", "{\"toolCallId\":\"c\",\"approved\":1}", "approved");
    expect_refused ("tool_call", "{\"toolCallId\":\"c\",\"name\":\"n\",\"args\":[]}", "args");
    char big[700];
    memset (big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char data[800];
    snprintf (data, sizeof data, "{\"status\":\"failed\",\"reason\":\"%s\"}", big);
    expect_refused ("failed", data, "reason");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_names),
        cmocka_unit_test (test_constructors),
        cmocka_unit_test (test_check),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
