/* profilefetch: a run's profile from event-log (see profilefetch.h). */
#include "profilefetch.h"
#include "mpjson.h"
#include "proto.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESOLVE_TIMEOUT_MS 5000
#define TEXT_MAX (64u << 10)    /* one prompt or tool description */
#define TOOLS_MAX 64

typedef struct {
    profilefetch_fn *fn;
    void *arg;
} fetch_t;

/* `^[a-z][a-z0-9-]{0,31}$` */
static bool
name_ok (const char *s, size_t len)
{
    if (!len || len > PROFILE_NAME_MAX || !islower ((unsigned char) s[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!islower ((unsigned char) s[i]) && !isdigit ((unsigned char) s[i]) && s[i] != '-')
            return false;
    return true;
}

int
profilefetch_parse (const char *spec, char *name, uint64_t *version, char *why, size_t whylen)
{
    *version = 0;
    if (!spec || !*spec) {
        snprintf (name, PROFILE_NAME_MAX + 1, "default");
        return 0;
    }
    const char *at = strchr (spec, '@');
    size_t len = at ? (size_t) (at - spec) : strlen (spec);
    if (!name_ok (spec, len)) {
        snprintf (why, whylen, "profile: '%.48s' is not a profile name (a lower-case letter, "
                  "then up to 31 lower-case letters, digits or '-'), optionally @version", spec);
        return -1;
    }
    if (at) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = isdigit ((unsigned char) at[1]) ? strtoull (at + 1, &end, 10) : 0;
        if (!v || errno || *end) {
            snprintf (why, whylen, "profile: '%.48s': the version after '@' is not a number "
                      "from 1", spec);
            return -1;
        }
        *version = v;
    }
    snprintf (name, PROFILE_NAME_MAX + 1, "%.*s", (int) len, spec);
    return 0;
}

static void
on_resolved (const proto_msg_t *reply, const char *error, void *arg)
{
    fetch_t *f = arg;
    json_t *profile = NULL;
    const char *code = "unavailable", *why = error ? error : "event-log did not answer";
    if (reply && reply->type == PROTO_profile) {
        const proto_profile_t *b = &reply->body.profile;
        json_t *body = mpjson_get (&b->body, 32);
        profile = json_pack ("{s:s, s:I, s:o, s:s}", "name", b->name ? b->name : "",
                             "version", (json_int_t) b->version, "body",
                             body ? body : json_object (), "role", b->role ? b->role : "");
        if (!profile) {
            code = "no_memory";
            why = "the profile could not be read";
        }
    }
    else if (reply && reply->type == PROTO_error) {
        code = reply->body.error.code ? reply->body.error.code : "unavailable";
        why = reply->body.error.message ? reply->body.error.message : "";
        /* an event-log from before profiles keeps none: the deployment's
         * own settings, as when none is stored */
        if (proto_error_lookup (code) == PROTO_ERR_unknown_type)
            code = "not_found";
    }
    else if (reply)
        why = "event-log answered profile.resolve with something else";
    f->fn (profile, profile ? NULL : code, profile ? NULL : why, f->arg);
    free (f);
}

int
profilefetch_start (rpc_t *rpc, const proto_msg_t *cause, const char *name, uint64_t version,
                    const char *thread, profilefetch_fn *fn, void *arg)
{
    fetch_t *f = calloc (1, sizeof *f);
    proto_msg_t *req = f ? proto_msg_new (PROTO_profile_resolve, cause) : NULL;
    int rc = -1;
    if (req) {
        *f = (fetch_t) { fn, arg };
        proto_set_str (&req->body.profile_resolve.name, name);
        req->body.profile_resolve.version = version;
        proto_set_str (&req->body.profile_resolve.thread_id, thread);
        rc = rpc_call (rpc, "event-log", req, RESOLVE_TIMEOUT_MS, 1, on_resolved, f);
        proto_msg_destroy (&req);
    }
    if (rc)
        free (f);
    return rc;
}

static bool
text_ok (const json_t *v)
{
    return json_is_string (v) && json_string_length (v) <= TEXT_MAX;
}

/* toolDescriptions: {tool: text}, at most TOOLS_MAX. */
static int
check_tools (const json_t *v, char *why, size_t whylen)
{
    if (!json_is_object (v) || json_object_size (v) > TOOLS_MAX) {
        snprintf (why, whylen, "toolDescriptions: expected a map of at most %d tools", TOOLS_MAX);
        return -1;
    }
    const char *tool;
    json_t *text;
    json_object_foreach ((json_t *) v, tool, text)
        if (!*tool || strlen (tool) > 128 || !text_ok (text)) {
            snprintf (why, whylen, "toolDescriptions.%.64s: expected a tool name and a text of "
                      "at most 64 KiB", tool);
            return -1;
        }
    return 0;
}

static int
check_checks (const json_t *v, char *why, size_t whylen)
{
    size_t i;
    json_t *c;
    if (!json_is_array (v) || json_array_size (v) > 64) {
        snprintf (why, whylen, "checks: expected an array of at most 64 check names");
        return -1;
    }
    json_array_foreach (v, i, c)
        if (!json_is_string (c) || !json_string_length (c) || json_string_length (c) > 64) {
            snprintf (why, whylen, "checks[%zu]: expected a check name", i);
            return -1;
        }
    return 0;
}

json_t *
profilefetch_settings (const json_t *profile, json_t **budgets, json_t **checks, char **model,
                       char *why, size_t whylen)
{
    *budgets = *checks = NULL;
    *model = NULL;
    if (whylen)
        *why = 0;
    const char *name = json_string_value (json_object_get (profile, "name"));
    json_int_t version = json_integer_value (json_object_get (profile, "version"));
    const json_t *body = json_object_get (profile, "body");
    if (!name || !name_ok (name, strlen (name)) || version < 1 || !json_is_object (body)) {
        snprintf (why, whylen, "event-log's profile has no valid name, version or body");
        return NULL;
    }
    char label[PROFILE_NAME_MAX + 24];
    snprintf (label, sizeof label, "%s@%lld", name, (long long) version);
    json_t *out = json_pack ("{s:s}", "label", label);
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) body, key, v) {
        int bad = 0;
        if (!strcmp (key, "systemPrompt"))
            bad = !text_ok (v) || !json_string_length (v)
                  || json_object_set (out, key, v);
        else if (!strcmp (key, "toolDescriptions"))
            bad = check_tools (v, why, whylen) || json_object_set (out, key, v);
        else if (!strcmp (key, "budgets"))
            bad = !json_is_object (v) || !(*budgets = json_incref (v));
        else if (!strcmp (key, "checks"))
            bad = check_checks (v, why, whylen) || !(*checks = json_incref (v));
        else if (!strcmp (key, "model"))
            bad = !json_is_string (v) || json_string_length (v) > 256
                  || !(*model = strdup (json_string_value (v)));
        else {
            snprintf (why, whylen, "%.64s: unknown key", key);
            bad = 1;
        }
        if (bad) {
            if (!*why)
                snprintf (why, whylen, "%.64s: not a profile's", key);
            goto bad;
        }
    }
    return out;
bad:
    json_decref (out);
    json_decref (*budgets);
    json_decref (*checks);
    free (*model);
    *budgets = *checks = NULL;
    *model = NULL;
    return NULL;
}
