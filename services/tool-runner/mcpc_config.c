/* mcpc_config: mcp.json parsed under limits; bad entries skipped by name. */
#include "mcpc_config.h"

#include "egress_rule.h"
#include "jsoncap.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TIMEOUT_MS_DEFAULT 60000u
#define TIMEOUT_MS_MAX 600000u
#define CAP_DEFAULT ((size_t) 65536)
#define CAP_MIN ((size_t) 256)
#define CAP_MAX ((size_t) 16 << 20)
#define ARGS_MAX 256
#define STR_MAX 4096

struct _mcpc_config_t {
    json_t *root;               /* owns every string the servers point at */
    json_t *empty_array;
    json_t *empty_object;
    json_t *skipped;
    mcpc_server_t servers[MCPC_SERVERS_MAX];
    size_t count;
    bool expand;                /* ${VAR} expanded: the deployment's file, not a user's */
    char fault[512];            /* the last entry's fault, when it is not a constant */
};

static void
skip (mcpc_config_t *self, const char *name, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (reason, sizeof reason, fmt, ap);
    va_end (ap);
    json_array_append_new (self->skipped, json_pack ("{s:s, s:s}", "name", name,
                                                     "reason", reason));
}

static bool
name_ok (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > MCPC_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum ((unsigned char) name[i]) && name[i] != '_' && name[i] != '-')
            return false;
    return true;
}

/* A string value without control characters (they would end a header or
 * confuse a log), at most STR_MAX bytes. */
static bool
text_ok (const json_t *v)
{
    if (!json_is_string (v) || json_string_length (v) > STR_MAX)
        return false;
    const char *s = json_string_value (v);
    if (strlen (s) != json_string_length (v))
        return false;       /* an embedded NUL */
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Whether map is an object of text values under valid names: variable
 * names for env, header names (token characters) for headers. */
static bool
string_map_ok (const json_t *map, bool env_names)
{
    if (!json_is_object (map))
        return false;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) map, key, value) {
        if (!text_ok (value) || !*key || strlen (key) > 256)
            return false;
        for (const char *k = key; *k; k++) {
            /* header names: RFC 9110 token characters only */
            bool ok = env_names ? (isalnum ((unsigned char) *k) || *k == '_')
                                : (isalnum ((unsigned char) *k) || strchr ("!#$%&'*+-.^_`|~", *k));
            if (!ok || (env_names && k == key && isdigit ((unsigned char) *k)))
                return false;
        }
    }
    return true;
}

/* Expands `${NAME}` and `${NAME:-default}` (the default when NAME is
 * unset or empty) in the string v in place, from tool-runner's
 * environment, as Claude Code does in an mcp.json: secrets stay out of the
 * file. NULL, or the fault written into fault (what names the value): an
 * unset variable without a default, a malformed reference, a result over
 * STR_MAX. Anything else (`$NAME`, a lone `$`) is kept as written. */
static const char *
expand (json_t *v, const char *what, char *fault, size_t faultlen)
{
    const char *in = json_string_value (v);
    if (!in || !strstr (in, "${") || strlen (in) != json_string_length (v))
        return NULL;            /* nothing to do, or an embedded NUL text_ok refuses */
    char *out = xmalloc (STR_MAX + 1);
    size_t n = 0;
    bool too_long = false;      /* or otherwise unusable */
    for (const char *p = in; *p;) {
        const char *val = p;
        size_t vlen = 1;
        if (p[0] == '$' && p[1] == '{') {
            const char *name = p + 2, *q = name;
            while (isalnum ((unsigned char) *q) || *q == '_')
                q++;
            size_t len = (size_t) (q - name);
            const char *dflt = NULL;
            if (q[0] == ':' && q[1] == '-') {
                dflt = q + 2;
                q = strchr (dflt, '}');
            }
            if (!q || *q != '}' || !len || len > 128 || isdigit ((unsigned char) *name)) {
                snprintf (fault, faultlen, "%s has a malformed ${...} (write ${NAME} or "
                          "${NAME:-default})", what);
                free (out);
                return fault;
            }
            char var[129];
            memcpy (var, name, len);
            var[len] = '\0';
            val = getenv (var);
            vlen = val ? strlen (val) : 0;
            if (dflt && !vlen) {
                val = dflt;
                vlen = (size_t) (q - dflt);
            }
            else if (!val) {
                snprintf (fault, faultlen, "%s uses ${%s}, which is not set in tool-runner's "
                          "environment (give it a value, or a default: ${%s:-...})", what, var,
                          var);
                free (out);
                return fault;
            }
            p = q + 1;
        }
        else
            p++;
        if (n + vlen > STR_MAX)
            too_long = true;
        else {
            memcpy (out + n, val, vlen);
            n += vlen;
        }
    }
    if (too_long)
        snprintf (fault, faultlen, "%s is longer than %d bytes once expanded", what, STR_MAX);
    else if (json_string_setn (v, out, n)) {
        snprintf (fault, faultlen, "%s is not UTF-8 once expanded", what);
        too_long = true;
    }
    free (out);
    return too_long ? fault : NULL;
}

/* expand () on each string value of map (what: "header" or "env"). */
static const char *
expand_map (json_t *map, const char *what, char *fault, size_t faultlen)
{
    const char *key;
    json_t *value;
    json_object_foreach (map, key, value) {
        char label[300];
        snprintf (label, sizeof label, "%s `%.256s`", what, key);
        if (expand (value, label, fault, faultlen))
            return fault;
    }
    return NULL;
}

/* Fills the stdio half of server from entry; NULL or the fault. */
static const char *
parse_stdio (mcpc_config_t *self, json_t *entry, mcpc_server_t *server)
{
    json_t *command = json_object_get (entry, "command");
    if (!text_ok (command) || !json_string_length (command))
        return "`command` must be a non-empty single-line string";
    server->command = json_string_value (command);
    json_t *args = json_object_get (entry, "args");
    if (args) {
        if (!json_is_array (args) || json_array_size (args) > ARGS_MAX)
            return "`args` must be an array of at most 256 strings";
        size_t i;
        json_t *arg;
        json_array_foreach (args, i, arg)
            if (!text_ok (arg))
                return "`args` must hold only single-line strings";
    }
    server->args = args ? args : self->empty_array;
    json_t *env = json_object_get (entry, "env");
    if (self->expand && json_is_object (env)
        && expand_map (env, "env", self->fault, sizeof self->fault))
        return self->fault;
    if (env && !string_map_ok (env, true))
        return "`env` must map variable names to single-line strings";
    server->env = env ? env : self->empty_object;
    json_t *files = json_object_get (entry, "files");
    if (files) {
        const char *path = json_string_value (files);
        size_t n = path ? strlen (path) : 0;
        if (!text_ok (files) || path[0] != '/'
            || !((n > 4 && !strcmp (path + n - 4, ".tgz"))
                 || (n > 7 && !strcmp (path + n - 7, ".tar.gz"))))
            return "`files` must be an absolute path to a .tgz or .tar.gz";
        server->files = path;
    }
    return NULL;
}

/* Fills the HTTP half of server from entry; NULL or the fault. */
static const char *
parse_http (mcpc_config_t *self, json_t *entry, mcpc_server_t *server)
{
    json_t *url = json_object_get (entry, "url");
    if (self->expand && expand (url, "`url`", self->fault, sizeof self->fault))
        return self->fault;
    const char *u = json_string_value (url);
    if (!text_ok (url) || (strncmp (u, "http://", 7) && strncmp (u, "https://", 8)))
        return "`url` must be an http:// or https:// URL";
    if (strchr (u, ' ') || !u[strncmp (u, "http://", 7) ? 8 : 7])
        return "`url` has no host or contains a space";
    server->url = u;
    json_t *headers = json_object_get (entry, "headers");
    if (self->expand && json_is_object (headers)
        && expand_map (headers, "header", self->fault, sizeof self->fault))
        return self->fault;
    if (headers && !string_map_ok (headers, false))
        return "`headers` must map header names to single-line strings";
    server->headers = headers ? headers : self->empty_object;
    if (json_object_get (entry, "files"))
        return "`files` is for stdio servers only";
    return NULL;
}

/* Caisson's own keys, shared by both kinds; NULL or the fault. */
static const char *
parse_caisson_keys (json_t *entry, mcpc_server_t *server)
{
    json_t *v = json_object_get (entry, "trusted");
    if (v && !json_is_boolean (v))
        return "`trusted` must be true or false";
    server->trusted = json_is_true (v);
    v = json_object_get (entry, "timeoutMs");
    if (v && (!json_is_integer (v) || json_integer_value (v) < 1
              || json_integer_value (v) > TIMEOUT_MS_MAX))
        return "`timeoutMs` must be an integer from 1 to 600000";
    server->timeout_ms = v ? (unsigned) json_integer_value (v) : TIMEOUT_MS_DEFAULT;
    v = json_object_get (entry, "outputCapBytes");
    if (v && (!json_is_integer (v) || json_integer_value (v) < (json_int_t) CAP_MIN
              || json_integer_value (v) > (json_int_t) CAP_MAX))
        return "`outputCapBytes` must be an integer from 256 to 16777216";
    server->output_cap = v ? (size_t) json_integer_value (v) : CAP_DEFAULT;
    v = json_object_get (entry, "network");
    const char *network = v ? json_string_value (v) : "none";
    if (!network || (strcmp (network, "none") && strcmp (network, "policy")))
        return "`network` must be \"none\" or \"policy\"";
    server->network_policy = !strcmp (network, "policy");
    v = json_object_get (entry, "allow");
    if (v) {
        if (!json_is_array (v) || json_array_size (v) > EGRESS_RULES_MAX)
            return "`allow` must be an array of egress rules";
        size_t i;
        json_t *rule;
        json_array_foreach (v, i, rule)
            if (!text_ok (rule) || json_string_length (rule) > EGRESS_RULE_MAX)
                return "`allow` must hold egress rules (strings up to 300 bytes)";
        if (!server->network_policy && json_array_size (v))
            return "`allow` needs \"network\": \"policy\"";
    }
    server->allow = v;
    return NULL;
}

/* Adds the server name -> entry, or records why it was skipped. */
static void
add_server (mcpc_config_t *self, const char *name, json_t *entry)
{
    /* Its tools go on the model's wire as <server>__<tool>: a `_` before
     * the dot would make `___`, which reads back two ways. */
    if (!name_ok (name) || strstr (name, "__") || name[strlen (name) - 1] == '_') {
        skip (self, name, "a server name is 1-%d letters, digits, `_` or `-` (not `__`, "
              "not ending in `_`)", MCPC_NAME_MAX);
        return;
    }
    if (!json_is_object (entry)) {
        skip (self, name, "the entry is not an object");
        return;
    }
    if (json_is_true (json_object_get (entry, "disabled"))) {
        skip (self, name, "disabled");
        return;
    }
    if (self->count == MCPC_SERVERS_MAX) {
        skip (self, name, "more than %d servers", MCPC_SERVERS_MAX);
        return;
    }
    json_t *type = json_object_get (entry, "type");
    bool has_command = json_object_get (entry, "command") != NULL;
    bool has_url = json_object_get (entry, "url") != NULL;
    const char *t = type ? json_string_value (type) : (has_url ? "http" : "stdio");
    mcpc_server_t server = { .name = name };
    const char *fault = NULL;
    if (!t)
        fault = "`type` must be a string";
    else if (!strcmp (t, "sse"))
        fault = "type \"sse\" (the deprecated HTTP+SSE transport) is not supported: "
                "use a Streamable HTTP URL with type \"http\"";
    else if (has_command && has_url)
        fault = "has both `command` and `url`";
    else if (!strcmp (t, "stdio"))
        fault = parse_stdio (self, entry, &server);
    else if (!strcmp (t, "http") || !strcmp (t, "streamable-http")) {
        server.kind = MCPC_HTTP;
        fault = parse_http (self, entry, &server);
    }
    else
        fault = "`type` must be \"stdio\" or \"http\"";
    if (!fault)
        fault = parse_caisson_keys (entry, &server);
    if (fault)
        skip (self, name, "%s", fault);
    else
        self->servers[self->count++] = server;
}

/* The parse; expand: ${VAR} replaced from the environment. */
static mcpc_config_t *
parse (const char *text, size_t len, bool expand, char *err, size_t errlen)
{
    if (len > MCPC_CONFIG_BYTES_MAX) {
        snprintf (err, errlen, "mcp.json is larger than %zu bytes", MCPC_CONFIG_BYTES_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf (err, errlen, "mcp.json is not JSON: %s (line %d)", jerr.text, jerr.line);
        return NULL;
    }
    json_t *servers = json_object_get (root, "mcpServers");
    const char *fault = NULL;
    if (jsoncap_depth (root, MCPC_CONFIG_DEPTH_MAX) > MCPC_CONFIG_DEPTH_MAX)
        fault = "mcp.json nests deeper than 16 levels";
    else if (!json_is_object (servers))
        fault = "mcp.json has no `mcpServers` object";
    if (fault) {
        snprintf (err, errlen, "%s", fault);
        json_decref (root);
        return NULL;
    }
    mcpc_config_t *self = xcalloc (1, sizeof *self);
    self->root = root;
    self->empty_array = json_array ();
    self->empty_object = json_object ();
    self->skipped = json_array ();
    self->expand = expand;
    const char *name;
    json_t *entry;
    json_object_foreach (servers, name, entry)
        add_server (self, name, entry);
    return self;
}

mcpc_config_t *
mcpc_config_parse (const char *text, size_t len, char *err, size_t errlen)
{
    return parse (text, len, true, err, errlen);
}

mcpc_config_t *
mcpc_config_parse_user (const char *text, size_t len, char *err, size_t errlen)
{
    return parse (text, len, false, err, errlen);
}

mcpc_config_t *
mcpc_config_load (const char *path, char *err, size_t errlen)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (err, errlen, "cannot read %s: %s", path, strerror (errno));
        return NULL;
    }
    char *text = xmalloc (MCPC_CONFIG_BYTES_MAX + 1);
    size_t len = fread (text, 1, MCPC_CONFIG_BYTES_MAX + 1, f);
    bool failed = ferror (f);
    fclose (f);
    mcpc_config_t *self = NULL;
    if (failed)
        snprintf (err, errlen, "cannot read %s", path);
    else
        self = mcpc_config_parse (text, len, err, errlen);
    free (text);
    return self;
}

void
mcpc_config_destroy (mcpc_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcpc_config_t *self = *self_p;
    json_decref (self->root);
    json_decref (self->empty_array);
    json_decref (self->empty_object);
    json_decref (self->skipped);
    free (self);
    *self_p = NULL;
}

size_t
mcpc_config_size (const mcpc_config_t *self)
{
    return self->count;
}

const mcpc_server_t *
mcpc_config_at (const mcpc_config_t *self, size_t index)
{
    return index < self->count ? &self->servers[index] : NULL;
}

const mcpc_server_t *
mcpc_config_find (const mcpc_config_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (!strcmp (self->servers[i].name, name))
            return &self->servers[i];
    return NULL;
}

const json_t *
mcpc_config_skipped (const mcpc_config_t *self)
{
    return self->skipped;
}
