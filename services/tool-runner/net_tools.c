/* net_tools: requestNetworkAccess. See net_tools.h. */
#include "net_tools.h"
#include "cfg.h"
#include "egress_rule.h"
#include "mpjson.h"
#include "sandbox_call.h"

#include <stdio.h>
#include <string.h>

#define S(args, key) json_string_value (json_object_get (args, key))

int
net_tools_check_rule (const char *rule, json_t **error)
{
    char why[512] = "";
    /* `*` alone is every public address: a ceiling, not a host to ask for */
    if (!strcmp (rule, "*")) {
        *error = tool_error ("bad_policy", "host", "ask for a host (e.g. pypi.org, "
                             "*.example.org, 203.0.113.7:8443), not for everything");
        return -1;
    }
    egress_presets_t *presets = egress_presets_new (cfg_str ("CAISSON_EGRESS_PRESETS"), why,
                                                    sizeof why);
    json_t *list = json_pack ("[s]", rule);
    egress_rules_t *rules = presets && list
                            ? egress_rules_from_json (list, presets, why, sizeof why) : NULL;
    egress_rules_t *ceiling = rules ? egress_rules_from_csv (cfg_str ("CAISSON_EGRESS_ALLOW_MAX"),
                                                             presets, why, sizeof why)
                                    : NULL;
    int rc = 0;
    if (!rules) {
        *error = tool_error ("bad_policy", "host", "%s", *why ? why : "not a network rule");
        rc = -1;
    }
    else if (!ceiling) {
        *error = tool_error ("internal", NULL, "CAISSON_EGRESS_ALLOW_MAX: %s", why);
        rc = -1;
    }
    else if (egress_rules_within (rules, ceiling, why, sizeof why)) {
        *error = tool_error ("forbidden", "host", "%s; no approval can grant it", why);
        rc = -1;
    }
    egress_rules_destroy (&ceiling);
    egress_rules_destroy (&rules);
    egress_presets_destroy (&presets);
    json_decref (list);
    return rc;
}

json_t *
net_tools_request_access (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId"), *host = S (args, "host"),
               *reason = S (args, "reason");
    json_t *error;
    if (net_tools_check_rule (host, &error))
        return error;
    if (ctx->dry_run) {
        if (sandbox_call_check (ctx, sbx, &error))
            return error;
        char what[1024];
        snprintf (what, sizeof what, "allow %s for sandbox %s: %s", host, sbx, reason);
        return json_pack ("{s:b, s:b, s:s, s:{s:s, s:s, s:s}}", "success", 1, "dryRun", 1,
                          "wouldDo", what, "detail", "sandboxId", sbx, "host", host, "reason",
                          reason);
    }
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_net_update);
    json_t *add = json_pack ("[s]", host);
    if (!req || !add || mpjson_set (&req->body.sandbox_net_update.allow_add, add, 4)) {
        json_decref (add);
        proto_msg_destroy (&req);
        return tool_error ("internal", NULL, "out of memory");
    }
    json_decref (add);
    proto_sandbox_net_update_t *b = &req->body.sandbox_net_update;
    proto_set_str (&b->sandbox_id, sbx);
    proto_set_str (&b->reason, reason);
    proto_set_str (&b->tool_call_id, ctx->call_id);
    proto_msg_t *rep = sandbox_call (ctx, sbx, req, &error);
    if (!rep)
        return error;
    const proto_sandbox_info_t *info = &rep->body.sandbox_info;
    json_t *allowed = mpjson_get (&info->network_allow, 4);
    if (!json_is_array (allowed)) {
        json_decref (allowed);
        allowed = json_array ();
    }
    char note[512];
    snprintf (note, sizeof note, "new connections to %s are allowed from now on; run the "
              "command again (connections already refused are not retried)", host);
    proto_msg_destroy (&rep);
    return json_pack ("{s:b, s:o, s:s}", "success", 1, "allowed", allowed, "note", note);
}
