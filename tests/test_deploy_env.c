/* test_deploy_env: the deployment files pass every provider the provider
 * table knows to the orchestrator. compose.yaml's orchestrator service must
 * carry each provider's key, second key name and base-URL variable, and
 * .env.example must list each one compose reads from the environment
 * (`NAME: ${NAME}`): podman-compose 1.0 cannot default an unset variable,
 * and a key missing from compose never reaches the orchestrator (a
 * GROQ-only deployment then ran the scripted model). The table is read
 * through llm_provider_at, so a provider added there without the files
 * fails here. */
#include "support.h"
#include "llm_provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
slurp (const char *rel)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/%s", CAISSON_SOURCE_DIR, rel);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    char *buf = calloc (1, 1 << 20);
    assert_non_null (buf);
    size_t n = fread (buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose (f);
    return buf;
}

/* The orchestrator service's block of compose.yaml: from "  orchestrator:"
 * to the next line indented by two spaces (the next service). */
static char *
orchestrator_block (const char *compose)
{
    const char *at = strstr (compose, "\n  orchestrator:\n");
    assert_non_null (at);
    at++;
    const char *end = at + 1;
    while ((end = strchr (end, '\n')) && !(end[1] == ' ' && end[2] == ' ' && end[3] != ' '
                                            && end[3] != '#' && end[3] != '\n'))
        end++;
    size_t n = end ? (size_t) (end - at) : strlen (at);
    return strndup (at, n);
}

/* How compose.yaml's orchestrator sets name: 2 from the environment
 * (`name: ${name}`), 1 another way (a fixed value), 0 not at all. */
static int
compose_sets (const char *block, const char *name)
{
    char want[256], from_env[512];
    snprintf (want, sizeof want, "\n      %s: ", name);
    const char *at = strstr (block, want);
    if (!at)
        return 0;
    snprintf (from_env, sizeof from_env, "%s${%s}\n", want, name);
    return strncmp (at, from_env, strlen (from_env)) == 0 ? 2 : 1;
}

static bool
env_example_lists (const char *env, const char *name)
{
    char want[256];
    snprintf (want, sizeof want, "\n%s=", name);
    return strstr (env, want) || (strncmp (env, want + 1, strlen (want + 1)) == 0);
}

static void
check_var (const char *block, const char *env, const char *provider, const char *name)
{
    if (!name)
        return;
    int how = compose_sets (block, name);
    if (how == 0)
        fail_msg ("compose.yaml's orchestrator does not pass %s (provider %s)", name, provider);
    if (how == 2 && !env_example_lists (env, name))
        fail_msg (".env.example does not list %s (provider %s), which compose.yaml reads", name,
                  provider);
}

static void
test_every_provider_passed (void **state)
{
    (void) state;
    char *compose = slurp ("compose.yaml"), *env = slurp (".env.example");
    char *block = orchestrator_block (compose);
    size_t n = 0;
    for (const llm_provider_t *p; (p = llm_provider_at (n)); n++) {
        check_var (block, env, p->name, p->key_env);
        check_var (block, env, p->name, p->key_env_alt);
        check_var (block, env, p->name, p->url_env);
    }
    assert_true (n >= 10); /* the table was read, not an empty stand-in */
    check_var (block, env, "(default)", "MODEL");
    free (block);
    free (compose);
    free (env);
}

/* The parser itself: a variable absent from the block is seen as absent. */
static void
test_parser_sees_absence (void **state)
{
    (void) state;
    const char *compose = "services:\n  orchestrator:\n    environment:\n"
                          "      A_KEY: ${A_KEY}\n      B_URL: http://x\n  ui-bridge:\n"
                          "    environment:\n      C_KEY: ${C_KEY}\n";
    char *block = orchestrator_block (compose);
    assert_int_equal (compose_sets (block, "A_KEY"), 2);
    assert_int_equal (compose_sets (block, "B_URL"), 1);
    assert_int_equal (compose_sets (block, "C_KEY"), 0);
    assert_true (env_example_lists ("A_KEY=\n", "A_KEY"));
    assert_false (env_example_lists ("# A_KEY=\nAA_KEY=\n", "A_KEY"));
    free (block);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parser_sees_absence),
        cmocka_unit_test (test_every_provider_passed),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
