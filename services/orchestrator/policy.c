/* policy: see policy.h. */
#include "policy.h"
#include "cfg.h"
#include "verify.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
matches (const json_t *patterns, const char *tool)
{
    size_t i;
    json_t *p;
    json_array_foreach (patterns, i, p)
        if (json_is_string (p) && fnmatch (json_string_value (p), tool, 0) == 0)
            return true;
    return false;
}

policy_verdict_t
policy_check (const json_t *policy, const char *tool, const json_t *args, bool mutates)
{
    if (matches (json_object_get (policy, "deny"), tool))
        return POLICY_DENY;
    bool gated = mutates || strcmp (tool, "git.openPR") == 0
                 || (strcmp (tool, "repo.applyDiff") == 0
                     && !json_is_true (json_object_get (args, "dryRun")));
    if (!gated)
        return POLICY_RUN;
    const char *mode = json_string_value (json_object_get (policy, "approval")) ?: "ask";
    if (strcmp (mode, "never") == 0)
        return POLICY_DENY;
    if (strcmp (mode, "auto") == 0 || matches (json_object_get (policy, "autoApprove"), tool))
        return POLICY_RUN;
    return POLICY_ASK;
}

/* How strict an approval mode is: higher holds more back; -1 unknown. */
static int
strictness (const char *mode)
{
    static const char *const modes[] = { "auto", "ask", "never" };
    for (int i = 0; i < 3; i++)
        if (mode && strcmp (mode, modes[i]) == 0)
            return i;
    return -1;
}

/* A comma-separated setting as an array of its non-empty items. */
static json_t *
split (const char *setting)
{
    json_t *out = json_array ();
    char *list = strdup (cfg_str (setting));
    for (char *save = NULL, *tok = list ? strtok_r (list, ",", &save) : NULL; tok;
         tok = strtok_r (NULL, ",", &save))
        if (*tok)
            json_array_append_new (out, json_string (tok));
    free (list);
    return out;
}

/* True when v is an array of at most 256 strings of at most 256 bytes. */
static bool
patterns (const json_t *v)
{
    size_t i;
    json_t *p;
    if (!json_is_array (v) || json_array_size (v) > 256)
        return false;
    json_array_foreach (v, i, p)
        if (!json_is_string (p) || json_string_length (p) > 256)
            return false;
    return true;
}

static bool
listed (const json_t *list, const char *s)
{
    size_t i;
    json_t *p;
    json_array_foreach (list, i, p)
        if (strcmp (json_string_value (p), s) == 0)
            return true;
    return false;
}

/* True, with why naming it, when list names a check verify does not know:
 * a misspelt check must not pass as "skipped". */
static bool
unknown_check (const json_t *list, const char *field, char *why, size_t whylen)
{
    size_t i;
    json_t *c;
    json_array_foreach (list, i, c)
        if (!verify_known (json_string_value (c))) {
            snprintf (why, whylen, "%s[%zu]: unknown check '%.64s' (known: %s)", field, i,
                      json_string_value (c), verify_names ());
            return true;
        }
    return false;
}

/* The deployment's verify settings, laid into p: verifyOnChange (checks
 * for runs that change files and name none) and testCommand. */
static int
deployment_checks (json_t *p, char *why, size_t whylen)
{
    json_t *on_change = split ("CAISSON_RUN_VERIFY_DEFAULT");
    if (unknown_check (on_change, "CAISSON_RUN_VERIFY_DEFAULT", why, whylen)) {
        json_decref (on_change);
        return -1;
    }
    if (json_array_size (on_change))
        json_object_set (p, "verifyOnChange", on_change);
    json_decref (on_change);
    const char *test_command = cfg_str ("CAISSON_TOOLS_TEST_COMMAND");
    if (*test_command)
        json_object_set_new (p, "testCommand", json_string (test_command));
    return 0;
}

json_t *
policy_effective (const json_t *run_policy, bool op, char *why, size_t whylen)
{
    const char *floor_mode = cfg_str ("CAISSON_APPROVAL");
    json_t *p = json_pack ("{s:s, s:o, s:o}", "approval", floor_mode, "autoApprove",
                           split ("CAISSON_AUTO_APPROVE"), "deny", split ("CAISSON_DENY"));
    /* what a deployment allows an operator: never a non-operator */
    bool may_loosen = op && cfg_u64 ("CAISSON_RUN_ALLOW_AUTO") == 1;
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) run_policy, key, v) {
        if (strcmp (key, "approval") == 0) {
            int want = strictness (json_string_value (v));
            if (want < 0) {
                snprintf (why, whylen, "policy.approval: expected \"ask\", \"auto\" or \"never\"");
                goto refuse;
            }
            if (want < strictness (floor_mode) && !may_loosen) {
                snprintf (why, whylen, "policy.approval: '%s' is laxer than this deployment's "
                          "'%s'; only an operator may choose it, where CAISSON_RUN_ALLOW_AUTO=1",
                          json_string_value (v), floor_mode);
                goto refuse;
            }
        }
        else if (strcmp (key, "autoApprove") == 0) {
            if (!patterns (v)) {
                snprintf (why, whylen, "policy.autoApprove: expected an array of tool-name "
                          "patterns");
                goto refuse;
            }
            size_t i;
            json_t *pat;
            json_array_foreach (v, i, pat)
                if (!may_loosen && !listed (json_object_get (p, "autoApprove"),
                                            json_string_value (pat))) {
                    snprintf (why, whylen, "policy.autoApprove[%zu]: '%s' is not in this "
                              "deployment's CAISSON_AUTO_APPROVE; only an operator may add "
                              "patterns, where CAISSON_RUN_ALLOW_AUTO=1", i,
                              json_string_value (pat));
                    goto refuse;
                }
        }
        else if (strcmp (key, "deny") == 0 || strcmp (key, "verify") == 0) {
            if (!patterns (v)) {
                snprintf (why, whylen, "policy.%s: expected an array of strings", key);
                goto refuse;
            }
            if (strcmp (key, "deny") == 0) {
                /* the deployment's refusals stay: a run's only add */
                json_array_extend (json_object_get (p, "deny"), v);
                continue;
            }
            if (unknown_check (v, "policy.verify", why, whylen))
                goto refuse;
        }
        else {
            snprintf (why, whylen, "policy.%.64s: unknown (expected approval, autoApprove, deny "
                      "or verify)", key);
            goto refuse;
        }
        json_object_set (p, key, v);
    }
    if (deployment_checks (p, why, whylen))
        goto refuse;
    return p;
refuse:
    json_decref (p);
    return NULL;
}

json_t *
policy_effective_checks (const json_t *run_policy, const json_t *checks, bool op, char *why,
                         size_t whylen)
{
    if (!checks || json_object_get (run_policy, "verify"))
        return policy_effective (run_policy, op, why, whylen);
    json_t *p = run_policy ? json_copy ((json_t *) run_policy) : json_object ();
    json_object_set (p, "verify", (json_t *) checks);
    char inner[256] = "";
    json_t *e = policy_effective (p, op, inner, sizeof inner);
    json_decref (p);
    if (!e)
        snprintf (why, whylen, "the profile's checks: %s", inner);
    return e;
}
