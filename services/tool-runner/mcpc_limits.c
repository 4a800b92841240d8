/* mcpc_limits: a user's mcp.json checked against the deployment's limits. */
#include "mcpc_limits.h"

#include "cfg.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The first value of map (an object of strings) holding `${`, or NULL. */
static const char *
dollar_key (const json_t *map)
{
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) map, key, value)
        if (strstr (json_string_value (value), "${"))
            return key;
    return NULL;
}

/* Whether the list (comma-separated `host` or `host:port`) names url's
 * host: a `host` entry any port of it, `host:port` that port alone. */
static bool
host_allowed (const char *url, const char *list, char *host_out, size_t hostlen)
{
    CURLU *u = curl_url ();
    char *host = NULL, *port = NULL;
    bool ok = false;
    snprintf (host_out, hostlen, "?");
    if (curl_url_set (u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_get (u, CURLUPART_HOST, &host, 0) == CURLUE_OK
        && curl_url_get (u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        snprintf (host_out, hostlen, "%s", host);
        char hostport[512];
        snprintf (hostport, sizeof hostport, "%s:%s", host, port);
        const char *p = list;
        while (p && *p && !ok) {
            p += strspn (p, " ,");
            size_t n = strcspn (p, ",");
            size_t m = n;
            while (m && p[m - 1] == ' ')
                m--;
            ok = m && ((strlen (host) == m && !strncasecmp (p, host, m))
                       || (strlen (hostport) == m && !strncasecmp (p, hostport, m)));
            p += n;
        }
    }
    curl_free (host);
    curl_free (port);
    curl_url_cleanup (u);
    return ok;
}

/* True when the deployment has a server of name in any case: `SHARED.*`
 * beside `shared.*` would be look-alikes in approvals and the catalogue. */
static bool
deployment_has (const mcpc_config_t *deployment, const char *name)
{
    for (size_t i = 0; deployment && i < mcpc_config_size (deployment); i++)
        if (!strcasecmp (mcpc_config_at (deployment, i)->name, name))
            return true;
    return false;
}

/* The fault of one server, or -1 with err. */
static int
check_server (const mcpc_server_t *s, const mcpc_config_t *deployment, char *err, size_t errlen)
{
    const char *key = NULL;
    if (deployment_has (deployment, s->name))
        snprintf (err, errlen, "server '%s': the deployment has a server of that name; "
                  "choose another", s->name);
    else if (s->files)
        snprintf (err, errlen, "server '%s': `files` (a host path) is for the deployment's "
                  "servers only", s->name);
    else if (s->url && strstr (s->url, "${"))
        snprintf (err, errlen, "server '%s': `url` holds `${`: a user's mcp.json is not "
                  "expanded from tool-runner's environment; write the value itself", s->name);
    else if ((key = dollar_key (s->headers)) || (key = dollar_key (s->env)))
        snprintf (err, errlen, "server '%s': %s `%.200s` holds `${`: a user's mcp.json is not "
                  "expanded from tool-runner's environment; write the value itself", s->name,
                  s->kind == MCPC_HTTP ? "header" : "env", key);
    else if (s->trusted && cfg_u64 ("CAISSON_MCP_USER_TRUSTED") != 1)
        snprintf (err, errlen, "server '%s': `trusted` is not honoured for a user's servers "
                  "here (CAISSON_MCP_USER_TRUSTED is 0): leave it out, and its tools that "
                  "change things wait for approval", s->name);
    else if (s->kind == MCPC_HTTP) {
        char host[256];
        if (host_allowed (s->url, cfg_str ("CAISSON_MCP_USER_HTTP_ALLOW"), host, sizeof host))
            return 0;
        snprintf (err, errlen, "server '%s': host '%s' is not one a user's server may be on "
                  "(CAISSON_MCP_USER_HTTP_ALLOW lists them)", s->name, host);
    }
    else
        return 0;
    return -1;
}

int
mcpc_limits_check (const mcpc_config_t *mine, const mcpc_config_t *deployment, char *err,
                   size_t errlen)
{
    size_t i;
    json_t *skip;
    json_array_foreach ((json_t *) mcpc_config_skipped (mine), i, skip) {
        const char *reason = json_string_value (json_object_get (skip, "reason"));
        if (strcmp (reason, "disabled")) {
            snprintf (err, errlen, "server '%s': %s",
                      json_string_value (json_object_get (skip, "name")), reason);
            return -1;
        }
    }
    uint64_t max = cfg_u64 ("CAISSON_MCP_USER_SERVERS_MAX");
    size_t n = mcpc_config_size (mine);
    if (n && max == 0) {
        snprintf (err, errlen, "this deployment does not let users add MCP servers "
                  "(CAISSON_MCP_USER_SERVERS_MAX is 0)");
        return -1;
    }
    if (n > max) {
        snprintf (err, errlen, "%zu servers: a user may have at most %llu "
                  "(CAISSON_MCP_USER_SERVERS_MAX)", n, (unsigned long long) max);
        return -1;
    }
    for (i = 0; i < n; i++)
        if (check_server (mcpc_config_at (mine, i), deployment, err, errlen))
            return -1;
    return 0;
}
