/* mcpc: a set of MCP servers (the deployment's, or one user's): their
 * start, states, tools and lists (calls: mcpc_call.c; tool rows:
 * mcpc_rows.c). */
#include "mcpc_int.h"

#include "cfg.h"
#include "clog.h"
#include "mcpc_config.h"
#include "mcpc_limits.h"
#include "mcpc_store.h"
#include "mcpc_tools.h"
#include "xalloc.h"

#include <czmq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
mcpc_sandbox_user (const mcpc_t *self)
{
    return self->owner ? self->owner : SERVICE_USER;
}

void
mcpc_set_state (mcpc_t *self, size_t i, const char *state, const char *reason)
{
    pthread_mutex_lock (&self->lock);
    self->servers[i].state = state;
    free (self->servers[i].reason);
    self->servers[i].reason = reason ? xstrdup (reason) : NULL;
    pthread_mutex_unlock (&self->lock);
}

/* Starts server i (stdio: its sandbox; http: a session) and lists its
 * tools: a new array of entries, those left out appended to skipped; or
 * NULL with why. */
static json_t *
start_server (mcpc_t *self, size_t i, json_t *skipped, char *version, size_t vlen, char *why,
              size_t whylen)
{
    const mcpc_server_t *s = mcpc_config_at (self->config, i);
    json_t *entries;
    if (s->kind == MCPC_HTTP) {
        mcpc_http_t *http = mcpc_http_new (s, &self->stop);
        entries = mcpc_http_tools (http, skipped, why, whylen);
        mcpc_http_version (http, version, vlen);
        if (entries)
            self->servers[i].http = http;       /* calls wait for `ready` to see it */
        else
            mcpc_http_destroy (&http);
    }
    else {
        mcpc_stdio_t *conn = mcpc_stdio_start (s, mcpc_sandbox_user (self), &self->stop, why,
                                               whylen);
        entries = conn ? mcpc_stdio_tools (conn, skipped, why, whylen) : NULL;
        if (conn)
            snprintf (version, vlen, "%s", mcpc_stdio_version (conn));
        if (entries)
            self->servers[i].conn = conn;
        else
            mcpc_stdio_destroy (&conn);
    }
    return entries;
}

/* Starts server i and sets its state; false when that failed (its
 * retry_at then set by the back-off). */
static bool
start_one (mcpc_t *self, size_t i)
{
    const mcpc_server_t *s = mcpc_config_at (self->config, i);
    mcpc_set_state (self, i, "starting", NULL);
    char why[1024], version[16] = "";
    json_t *skipped = json_array ();
    json_t *entries = start_server (self, i, skipped, version, sizeof version, why, sizeof why);
    if (!entries) {
        clog_warn (NULL, "%s", why);
        pthread_mutex_lock (&self->servers[i].call_lock);
        mcpc_backoff (&self->servers[i]);
        pthread_mutex_unlock (&self->servers[i].call_lock);
        mcpc_set_state (self, i, "failed", why);
        mcpc_note_left_out (self, i, skipped);
        json_decref (skipped);
        return false;
    }
    size_t added = mcpc_add_tools (self, i, entries, skipped);
    clog_info (NULL, "MCP server %s ready: %zu tools (protocol %s)", s->name, added, version);
    json_decref (entries);
    json_decref (skipped);
    pthread_mutex_lock (&self->servers[i].call_lock);
    self->servers[i].backoff = 0;
    self->servers[i].retry_at = 0;
    pthread_mutex_unlock (&self->servers[i].call_lock);
    mcpc_set_state (self, i, "ready", NULL);
    return true;
}

/* Whether server i's next start is due; false too once the set stops. */
static bool
start_due (mcpc_t *self, size_t i)
{
    pthread_mutex_lock (&self->servers[i].call_lock);
    bool due = zclock_mono () >= self->servers[i].retry_at;
    pthread_mutex_unlock (&self->servers[i].call_lock);
    return due && !self->stop;
}

typedef struct {
    mcpc_t *self;
    size_t i;
    pthread_t thread;
    bool running;
} remote_start_t;

/* A server that fails its first start has no tools, so no call would
 * start it again: its thread tries again after the back-off until it is
 * ready or the set stops (a remote server down at deploy time comes up
 * when it comes back). */
static void *
remote_main (void *arg)
{
    remote_start_t *r = arg;
    while (!start_one (r->self, r->i)) {
        while (!r->self->stop && !start_due (r->self, r->i))
            zclock_sleep (100);
        if (r->self->stop)
            break;
    }
    return NULL;
}

/* Remote servers start at once, each on a thread of its own (one that
 * hangs for its timeoutMs holds up no other); stdio ones one after the
 * other (each waits on sandbox-manager), those that fail again after
 * their back-off until they are ready or the set stops. */
static void *
starter_main (void *arg)
{
    mcpc_t *self = arg;
    size_t n = mcpc_config_size (self->config);
    remote_start_t *remote = xcalloc (n, sizeof *remote);
    for (size_t i = 0; i < n; i++)
        if (mcpc_config_at (self->config, i)->kind == MCPC_HTTP) {
            remote[i] = (remote_start_t) { .self = self, .i = i };
            remote[i].running = pthread_create (&remote[i].thread, NULL, remote_main,
                                                &remote[i]) == 0;
            if (!remote[i].running)
                mcpc_set_state (self, i, "failed", "tool-runner could not start a thread for it");
        }
    bool *down = xcalloc (n, sizeof *down);
    for (size_t i = 0; i < n && !self->stop; i++)
        if (mcpc_config_at (self->config, i)->kind == MCPC_STDIO)
            down[i] = !start_one (self, i);
    for (bool any = true; any && !self->stop;) {
        any = false;
        for (size_t i = 0; i < n; i++) {
            if (down[i] && start_due (self, i))
                down[i] = !start_one (self, i);
            any |= down[i];
        }
        if (any)
            zclock_sleep (100);
    }
    free (down);
    for (size_t i = 0; i < n; i++)
        if (remote[i].running)
            pthread_join (remote[i].thread, NULL);
    free (remote);
    return NULL;
}

/* A user's set: reads the user's mcp.json from event-log, checks it
 * against the limits (they may have changed since it was stored), then
 * starts its servers as starter_main does. */
static void *
user_starter_main (void *arg)
{
    mcpc_t *self = arg;
    char err[1024] = "";
    char *text = NULL;
    uint64_t version = 0;
    mcpc_config_t *config = NULL;
    bus_client_t *client = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (client) {
        bus_client_set_timeout (client, 3000, 1);
        bus_client_set_abort (client, &self->stop);
    }
    if (!client)
        snprintf (err, sizeof err, "your mcp.json could not be read: no bus");
    else if (mcpc_store_load (client, self->owner, &text, &version, err, sizeof err) == 0
             && *text) {
        config = mcpc_config_parse_user (text, strlen (text), err, sizeof err);
        if (config && mcpc_limits_check (config, self->deployment, err, sizeof err))
            mcpc_config_destroy (&config);
    }
    bus_client_destroy (&client);
    free (text);
    pthread_mutex_lock (&self->lock);
    self->config = config;
    if (!config && *err)
        self->problem = xstrdup (err);
    self->loaded = true;
    pthread_mutex_unlock (&self->lock);
    if (*err)
        clog_warn (NULL, "MCP servers of %s: %s; none used", self->owner, err);
    else if (config)
        clog_info (NULL, "MCP servers of %s: %zu (mcp.json version %llu)", self->owner,
                   mcpc_config_size (config), (unsigned long long) version);
    return config ? starter_main (self) : NULL;
}

/* A set without servers yet. */
static mcpc_t *
make (void)
{
    mcpc_t *self = xcalloc (1, sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    for (size_t i = 0; i < MCPC_SERVERS_MAX; i++) {
        self->servers[i].state = "configured";
        pthread_mutex_init (&self->servers[i].call_lock, NULL);
    }
    self->refs = 1;
    self->used = zclock_mono ();
    return self;
}

mcpc_t *
mcpc_new_user (const char *user, const mcpc_t *deployment)
{
    mcpc_t *self = make ();
    self->owner = xstrdup (user);
    self->path = xstrdup ("mcp.json");
    self->deployment = deployment ? deployment->config : NULL;
    self->starting = pthread_create (&self->starter, NULL, user_starter_main, self) == 0;
    if (!self->starting)
        self->problem = xstrdup ("tool-runner could not start a thread for your servers");
    return self;
}

mcpc_t *
mcpc_ref (mcpc_t *self)
{
    self->refs++;
    return self;
}

int
mcpc_refs (const mcpc_t *self)
{
    return self->refs;
}

void
mcpc_touch (mcpc_t *self)
{
    self->used = zclock_mono ();
}

int64_t
mcpc_idle_ms (const mcpc_t *self)
{
    return zclock_mono () - self->used;
}

mcpc_t *
mcpc_new (const char *path)
{
    mcpc_t *self = make ();
    if (!path || !*path)
        return self;
    self->path = xstrdup (path);
    char err[512];
    self->config = mcpc_config_load (path, err, sizeof err);
    if (!self->config) {
        clog_warn (NULL, "MCP servers: %s; none used", err);
        self->problem = xstrdup (err);
        return self;
    }
    size_t i;
    json_t *skip;
    json_array_foreach ((json_t *) mcpc_config_skipped (self->config), i, skip)
        clog_warn (NULL, "MCP server '%s' skipped: %s",
                   json_string_value (json_object_get (skip, "name")),
                   json_string_value (json_object_get (skip, "reason")));
    clog_info (NULL, "MCP servers: %zu from %s, %zu skipped", mcpc_config_size (self->config),
               path, json_array_size (mcpc_config_skipped (self->config)));
    self->starting = mcpc_config_size (self->config)
                     && pthread_create (&self->starter, NULL, starter_main, self) == 0;
    return self;
}

void
mcpc_destroy (mcpc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcpc_t *self = *self_p;
    *self_p = NULL;
    if (--self->refs > 0)
        return;
    self->stop = true;
    if (self->starting)
        pthread_join (self->starter, NULL);
    self->stop = false;         /* the sandboxes may now be ended */
    for (size_t i = 0; i < MCPC_SERVERS_MAX; i++) {
        mcpc_stdio_destroy (&self->servers[i].conn);
        mcpc_http_destroy (&self->servers[i].http);
        free (self->servers[i].reason);
        free (self->servers[i].left_out);
        pthread_mutex_destroy (&self->servers[i].call_lock);
    }
    for (int k = 0; k < 2; k++)
        for (mtool_t *t = k ? self->retired : self->tools, *next; t; t = next) {
            next = t->next;
            json_decref (t->entry);
            free (t);
        }
    mcpc_config_destroy (&self->config);
    pthread_mutex_destroy (&self->lock);
    free (self->problem);
    free (self->path);
    free (self->owner);
    free (self);
}

const mcpc_config_t *
mcpc_config_of (const mcpc_t *self)
{
    return self->config;
}

json_t *
mcpc_list_json (mcpc_t *self)
{
    json_t *list = json_array ();
    const char *scope = self->owner ? "user" : "deployment";
    pthread_mutex_lock (&self->lock);
    if (self->problem) {
        /* The whole file: one entry named after it, so `caisson mcp list`
         * shows why there are no servers. */
        json_array_append_new (list, json_pack ("{s:s, s:s, s:s, s:s, s:s, s:b, s:[]}",
                                                "name", self->path, "scope", scope,
                                                "transport", "none", "state", "invalid",
                                                "reason", self->problem, "trusted", 0, "tools"));
        pthread_mutex_unlock (&self->lock);
        return list;
    }
    if (!self->config) {
        /* a user's file not read yet: one entry `starting`, so whoever
         * lists (the orchestrator) knows tools may still come */
        if (self->owner && !self->loaded)
            json_array_append_new (list, json_pack ("{s:s, s:s, s:s, s:s, s:b, s:[]}",
                                                    "name", self->path, "scope", scope,
                                                    "transport", "none", "state", "starting",
                                                    "trusted", 0, "tools"));
        pthread_mutex_unlock (&self->lock);
        return list;
    }
    for (size_t i = 0; i < mcpc_config_size (self->config); i++) {
        const mcpc_server_t *s = mcpc_config_at (self->config, i);
        json_t *tools = json_array ();
        for (mtool_t *t = self->tools; t; t = t->next)
            if (t->server == i)
                json_array_insert_new (tools, 0, json_pack ("{s:s, s:s}", "name", t->def.name,
                                                            "effect", json_string_value (
                                                                json_object_get (t->entry,
                                                                                 "effect"))));
        json_t *row = json_pack ("{s:s, s:s, s:s, s:s, s:b, s:o}", "name", s->name,
                                 "scope", scope, "transport", s->kind == MCPC_HTTP ? "http" : "stdio",
                                 "state", self->servers[i].state, "trusted", s->trusted,
                                 "tools", tools);
        const char *reason = self->servers[i].reason;
        if (!reason && !strcmp (self->servers[i].state, "ready"))
            reason = self->servers[i].left_out;
        if (reason)
            json_object_set_new (row, "reason", json_string (reason));
        json_array_append_new (list, row);
    }
    pthread_mutex_unlock (&self->lock);
    size_t i;
    json_t *skip;
    json_array_foreach ((json_t *) mcpc_config_skipped (self->config), i, skip)
        json_array_append_new (list, json_pack ("{s:O, s:s, s:s, s:s, s:O, s:b, s:[]}",
                                                "name", json_object_get (skip, "name"),
                                                "scope", scope, "transport", "none", "state", "invalid",
                                                "reason", json_object_get (skip, "reason"),
                                                "trusted", 0, "tools"));
    return list;
}

json_t *
mcpc_catalogue (mcpc_t *self, const json_t *catalogue)
{
    json_t *all = json_copy ((json_t *) catalogue);
    json_t *mine = json_array ();
    pthread_mutex_lock (&self->lock);
    for (mtool_t *t = self->tools; t; t = t->next)
        json_array_insert (mine, 0, t->entry);
    pthread_mutex_unlock (&self->lock);
    json_array_extend (all, mine);
    json_decref (mine);
    return all;
}

/* The tool called name, or NULL. */
static mtool_t *
find (mcpc_t *self, const char *name)
{
    pthread_mutex_lock (&self->lock);
    mtool_t *t = self->tools;
    while (t && strcmp (t->def.name, name))
        t = t->next;
    pthread_mutex_unlock (&self->lock);
    return t;
}

const tool_def_t *
mcpc_tool_find (mcpc_t *self, const char *name, const json_t **input)
{
    mtool_t *t = find (self, name);
    if (t)
        *input = json_object_get (t->entry, "inputSchema");
    return t ? &t->def : NULL;
}
