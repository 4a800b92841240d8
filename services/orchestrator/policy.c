/* policy: see policy.h. */
#include "policy.h"
#include "cfg.h"

#include <fnmatch.h>
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

json_t *
policy_effective (const json_t *run_policy)
{
    json_t *p = json_object ();
    json_object_set_new (p, "approval", json_string (cfg_str ("CAISSON_APPROVAL")));
    json_t *auto_ = json_array ();
    char *list = strdup (cfg_str ("CAISSON_AUTO_APPROVE"));
    for (char *save = NULL, *tok = strtok_r (list, ",", &save); tok;
         tok = strtok_r (NULL, ",", &save))
        if (*tok)
            json_array_append_new (auto_, json_string (tok));
    free (list);
    json_object_set_new (p, "autoApprove", auto_);
    if (json_is_object (run_policy))
        json_object_update (p, (json_t *) run_policy);
    return p;
}
