/* guard: layered allow/deny lists, caps and timeouts. See guard.h. */
#include "guard.h"
#include "cfg.h"
#include "toolctx.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 4

typedef struct {
    json_t *write_allow;        /* arrays of pattern strings; NULL: no rule */
    json_t *write_deny;
    json_t *cmd_allow;
    json_t *cmd_deny;
    json_t *repo_allow;
} layer_t;

struct _guard_t {
    layer_t layer[MAX_LAYERS];
    int nlayers;
    size_t max_output;
    unsigned timeout_s;
};

/* A comma-separated setting as an array of patterns. */
static json_t *
split (const char *list)
{
    json_t *a = json_array ();
    const char *p = list;
    while (a && *p) {
        size_t n = strcspn (p, ",");
        if (n)
            json_array_append_new (a, json_stringn (p, n));
        p += n + (p[n] == ',');
    }
    return a;
}

guard_t *
guard_new (void)
{
    guard_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    layer_t *l = &self->layer[0];
    l->write_allow = split (cfg_str ("CAISSON_TOOLS_WRITE_GLOBS"));
    l->write_deny = split (cfg_str ("CAISSON_TOOLS_WRITE_DENY"));
    l->cmd_allow = split (cfg_str ("CAISSON_TOOLS_COMMAND_ALLOW"));
    l->cmd_deny = split (cfg_str ("CAISSON_TOOLS_COMMAND_DENY"));
    l->repo_allow = split (cfg_str ("CAISSON_TOOLS_REPO_ALLOW"));
    self->nlayers = 1;
    self->max_output = cfg_u64 ("CAISSON_TOOLS_MAX_OUTPUT");
    self->timeout_s = (unsigned) cfg_u64 ("CAISSON_TOOLS_TIMEOUT_S");
    return self;
}

void
guard_destroy (guard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    guard_t *self = *self_p;
    for (int i = 0; i < self->nlayers; i++) {
        json_decref (self->layer[i].write_allow);
        json_decref (self->layer[i].write_deny);
        json_decref (self->layer[i].cmd_allow);
        json_decref (self->layer[i].cmd_deny);
        json_decref (self->layer[i].repo_allow);
    }
    free (self);
    *self_p = NULL;
}

static json_t *
copy_list (const json_t *v)
{
    return v ? json_deep_copy (v) : NULL;
}

static int
take_list (const json_t *limits, const char *key, json_t **out, json_t **error)
{
    json_t *v = json_object_get (limits, key);
    if (!v)
        return 0;
    size_t i;
    json_t *s;
    bool ok = json_is_array (v) && json_array_size (v) <= 256;
    json_array_foreach (v, i, s)
        ok = ok && json_is_string (s) && json_string_length (s) < 1024;
    if (!ok) {
        *error = tool_error ("bad_limits", key, "limits.%s must be an array of pattern strings",
                             key);
        return -1;
    }
    *out = json_deep_copy (v);
    return 0;
}

guard_t *
guard_narrow (const guard_t *base, const json_t *limits, json_t **error)
{
    static const char *const known[] = { "writeGlobs", "writeDeny", "commandAllow",
                                         "commandDeny", "repoAllow", "maxOutputBytes",
                                         "timeoutSeconds" };
    *error = NULL;
    if (limits && !json_is_object (limits)) {
        *error = tool_error ("bad_limits", "limits", "limits must be an object");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) limits, key, v) {
        bool found = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            found = found || !strcmp (key, known[i]);
        if (!found) {
            *error = tool_error ("bad_limits", key, "limits.%s is not a guardrail this "
                                 "tool-runner knows; refusing rather than ignoring it", key);
            return NULL;
        }
    }
    if (limits && base->nlayers >= MAX_LAYERS) {
        *error = tool_error ("bad_limits", "limits", "too many layers of limits");
        return NULL;
    }
    guard_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    for (int i = 0; i < base->nlayers; i++) {
        const layer_t *b = &base->layer[i];
        self->layer[i] = (layer_t) { copy_list (b->write_allow), copy_list (b->write_deny),
                                     copy_list (b->cmd_allow), copy_list (b->cmd_deny),
                                     copy_list (b->repo_allow) };
    }
    self->nlayers = base->nlayers;
    self->max_output = base->max_output;
    self->timeout_s = base->timeout_s;
    if (!limits)
        return self;
    layer_t *l = &self->layer[self->nlayers++];
    if (take_list (limits, "writeGlobs", &l->write_allow, error)
        || take_list (limits, "writeDeny", &l->write_deny, error)
        || take_list (limits, "commandAllow", &l->cmd_allow, error)
        || take_list (limits, "commandDeny", &l->cmd_deny, error)
        || take_list (limits, "repoAllow", &l->repo_allow, error)) {
        guard_destroy (&self);
        return NULL;
    }
    json_t *cap = json_object_get (limits, "maxOutputBytes");
    json_t *tmo = json_object_get (limits, "timeoutSeconds");
    if ((cap && (!json_is_integer (cap) || json_integer_value (cap) < 0))
        || (tmo && (!json_is_integer (tmo) || json_integer_value (tmo) < 1))) {
        *error = tool_error ("bad_limits", cap ? "maxOutputBytes" : "timeoutSeconds",
                             "limits.maxOutputBytes and limits.timeoutSeconds must be "
                             "positive integers");
        guard_destroy (&self);
        return NULL;
    }
    if (cap && (size_t) json_integer_value (cap) < self->max_output)
        self->max_output = (size_t) json_integer_value (cap);
    if (tmo && (unsigned) json_integer_value (tmo) < self->timeout_s)
        self->timeout_s = (unsigned) json_integer_value (tmo);
    return self;
}

int
guard_resolve (const char *workspace, const char *path, bool inside, char *abs,
               size_t abslen, json_t **error)
{
    char joined[8192];
    if (strlen (path) >= 4096 || memchr (path, '\n', strlen (path))) {
        *error = tool_error ("bad_path", "path", "path is too long or holds a newline");
        return -1;
    }
    snprintf (joined, sizeof joined, "%s/%s", path[0] == '/' ? "" : workspace, path);
    /* Lexical normalisation: each component pushed or popped in place. */
    size_t out = 0;
    char *save = NULL;
    abs[0] = '\0';
    for (char *c = strtok_r (joined, "/", &save); c; c = strtok_r (NULL, "/", &save)) {
        if (!strcmp (c, "."))
            continue;
        if (!strcmp (c, "..")) {
            while (out > 0 && abs[out - 1] != '/')
                out--;
            if (out > 0)
                out--;
            abs[out] = '\0';
            continue;
        }
        if (out + strlen (c) + 2 > abslen) {
            *error = tool_error ("bad_path", "path", "path is too long");
            return -1;
        }
        abs[out++] = '/';
        strcpy (abs + out, c);
        out += strlen (c);
    }
    if (out == 0)
        strcpy (abs, "/");
    size_t wl = strlen (workspace);
    if (inside && !(strncmp (abs, workspace, wl) == 0 && (abs[wl] == '\0' || abs[wl] == '/'))) {
        *error = tool_error ("path_outside_workspace", "path", "path must stay inside %s "
                             "(it resolves to %s)", workspace, abs);
        return -1;
    }
    return 0;
}

static bool
matches (const json_t *patterns, const char *s)
{
    size_t i;
    json_t *p;
    json_array_foreach (patterns, i, p)
        if (fnmatch (json_string_value (p), s, 0) == 0)
            return true;
    return false;
}

int
guard_write (const guard_t *self, const char *workspace, const char *abs, const char *field,
             json_t **error)
{
    size_t wl = strlen (workspace);
    const char *rel = abs + wl + (abs[wl] == '/');
    for (int i = 0; i < self->nlayers; i++) {
        const layer_t *l = &self->layer[i];
        bool denied = l->write_deny && matches (l->write_deny, rel);
        if (denied || (l->write_allow && !matches (l->write_allow, rel))) {
            *error = tool_error ("path_not_allowed", field, "writing %s is not allowed here: "
                                 "allowed paths are the workspace's %s%s", abs,
                                 denied ? "paths outside " : "paths matching ",
                                 denied ? "the deny list" : "allow list");
            return -1;
        }
    }
    return 0;
}

int
guard_command (const guard_t *self, const char *command, json_t **error)
{
    while (*command == ' ' || *command == '\t')
        command++;
    for (int i = 0; i < self->nlayers; i++) {
        const layer_t *l = &self->layer[i];
        if ((l->cmd_deny && matches (l->cmd_deny, command))
            || (l->cmd_allow && !matches (l->cmd_allow, command))) {
            *error = tool_error ("command_denied", "command", "this command is not allowed "
                                 "by the deployment's or the run's command list; use another "
                                 "command");
            return -1;
        }
    }
    return 0;
}

/* Whether a pattern of patterns matches s once `{user}` in it stands for
 * user (escaped; NULL or "": such a pattern matches nothing). */
static bool
matches_as (const json_t *patterns, const char *s, const char *user)
{
    size_t i;
    json_t *p;
    json_array_foreach (patterns, i, p) {
        const char *pat = json_string_value (p), *at = strstr (pat, "{user}");
        if (!at) {
            if (fnmatch (pat, s, 0) == 0)
                return true;
            continue;
        }
        if (!user || !*user || strlen (pat) + 2 * strlen (user) >= 4096)
            continue;
        char expanded[4096];
        size_t n = (size_t) (at - pat);
        memcpy (expanded, pat, n);
        for (const char *u = user; *u; u++) {
            if (strchr ("*?[]\\", *u))
                expanded[n++] = '\\';
            expanded[n++] = *u;
        }
        snprintf (expanded + n, sizeof expanded - n, "%s", at + 6);
        if (fnmatch (expanded, s, 0) == 0)
            return true;
    }
    return false;
}

bool
guard_repo (const guard_t *self, const char *url, const char *user)
{
    for (int i = 0; i < self->nlayers; i++)
        if (self->layer[i].repo_allow && !matches_as (self->layer[i].repo_allow, url, user))
            return false;
    return true;
}

size_t guard_max_output (const guard_t *self) { return self->max_output; }
unsigned guard_timeout (const guard_t *self) { return self->timeout_s; }

size_t
guard_cut (const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char) s[max] & 0xC0) == 0x80)
        max--;
    return max;
}
