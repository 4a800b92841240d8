/* test_docs: the generated documents are committed, and must stay what
 * caisson-docgen prints from today's tables (for docs/events.md, its kinds
 * section); every setting, message type and event kind must appear in
 * them. */
#include "support.h"
#include "cfg.h"
#include "evkind.h"
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_MAX (1u << 20)

/* The whole of a committed document, NUL-terminated; the caller frees. */
static char *
committed (const char *name)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/docs/%s", CAISSON_SOURCE_DIR, name);
    FILE *f = fopen (path, "rb");
    if (!f)
        fail_msg ("%s is missing: run `make docs` and commit it", path);
    char *text = malloc (OUT_MAX);
    assert_non_null (text);
    size_t n = fread (text, 1, OUT_MAX - 1, f);
    fclose (f);
    text[n] = '\0';
    return text;
}

/* Fails, naming the first differing line, unless caisson-docgen prints
 * exactly the committed docs/<what>.md. */
static void
expect_current (const char *what)
{
    char name[64];
    snprintf (name, sizeof name, "%s.md", what);
    char *want = committed (name);
    char *got = malloc (OUT_MAX);
    assert_non_null (got);
    const char *argv[] = { "caisson-docgen", what, NULL };
    assert_int_equal (support_run (argv, got, OUT_MAX), 0);
    assert_true (strlen (got) < OUT_MAX - 1);
    if (strcmp (got, want) != 0) {
        size_t line = 1;
        for (size_t i = 0; got[i] && got[i] == want[i]; i++)
            line += got[i] == '\n';
        free (got);
        free (want);
        fail_msg ("docs/%s differs from `caisson-docgen %s` from line %zu on: "
                  "run `make docs` and commit the result", name, what, line);
    }
    free (got);
    free (want);
}

static void
test_protocol_is_current (void **state)
{
    (void) state;
    expect_current ("protocol");
}

static void
test_configuration_is_current (void **state)
{
    (void) state;
    expect_current ("configuration");
}

/* docs/events.md is prose around one generated section: that section must
 * be exactly what `caisson-docgen events` prints, and every kind in it. */
static void
test_events_is_current (void **state)
{
    (void) state;
    char *text = committed ("events.md");
    char *got = malloc (OUT_MAX);
    assert_non_null (got);
    const char *argv[] = { "caisson-docgen", "events", NULL };
    assert_int_equal (support_run (argv, got, OUT_MAX), 0);
    assert_true (strlen (got) > 0 && strlen (got) < OUT_MAX - 1);
    if (!strstr (text, got)) {
        const char *at = strstr (text, "<!-- BEGIN generated");
        size_t line = 1;
        for (size_t i = 0; at && at[i] && at[i] == got[i]; i++)
            line += got[i] == '\n';
        free (got);
        free (text);
        fail_msg ("docs/events.md's kinds section differs from `caisson-docgen events`%s%zu: "
                  "run `make docs` and commit the result", at ? " from its line " : ", line ",
                  line);
    }
    for (int k = 0; k < EVK_COUNT; k++) {
        char heading[128];
        snprintf (heading, sizeof heading, "### `%s`\n", evk_name ((evk_kind_t) k));
        assert_non_null (strstr (text, heading));
    }
    free (got);
    free (text);
}

/* Fails unless `word` (in backquotes) appears in text. */
static void
expect_named (const char *text, const char *doc, const char *word)
{
    char quoted[256];
    snprintf (quoted, sizeof quoted, "`%s`", word);
    if (!strstr (text, quoted))
        fail_msg ("docs/%s does not mention %s: run `make docs`", doc, quoted);
}

static void
test_every_setting_documented (void **state)
{
    (void) state;
    char *text = committed ("configuration.md");
    size_t n;
    const cfg_entry_t *t = cfg_table (&n);
    assert_true (n > 0);
    for (size_t i = 0; i < n; i++)
        expect_named (text, "configuration.md", t[i].name);
    free (text);
}

static void
test_every_message_documented (void **state)
{
    (void) state;
    char *text = committed ("protocol.md");
    for (int t = 0; t < PROTO_TYPE_COUNT; t++)
        expect_named (text, "protocol.md", proto_type_name ((proto_type_t) t));
    size_t n;
    const proto_field_t *env = proto_envelope_fields (&n);
    for (size_t i = 0; i < n; i++)
        expect_named (text, "protocol.md", env[i].name);
    for (int c = PROTO_E_TOO_BIG; c <= PROTO_E_NOMEM; c++)
        expect_named (text, "protocol.md", proto_errcode_name ((proto_errcode_t) c));
    free (text);
}

static void
test_command_line (void **state)
{
    (void) state;
    char out[4096];
    const char *version[] = { "caisson-docgen", "--version", NULL };
    assert_int_equal (support_run (version, out, sizeof out), 0);
    assert_non_null (strstr (out, "caisson-docgen "));
    const char *help[] = { "caisson-docgen", "--help", NULL };
    assert_int_equal (support_run (help, out, sizeof out), 0);
    assert_non_null (strstr (out, "protocol|configuration|events"));
    const char *bad[] = { "caisson-docgen", "manual", NULL };
    assert_int_equal (support_run (bad, out, sizeof out), 2);
    assert_string_equal (out, "");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_protocol_is_current),
        cmocka_unit_test (test_configuration_is_current),
        cmocka_unit_test (test_events_is_current),
        cmocka_unit_test (test_every_setting_documented),
        cmocka_unit_test (test_every_message_documented),
        cmocka_unit_test (test_command_line),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
