/* mcpc: the configured MCP servers and their states. See mcpc.h. */
#include "mcpc.h"

#include "clog.h"
#include "mcpc_config.h"
#include "xalloc.h"

#include <stdlib.h>

struct _mcpc_t {
    mcpc_config_t *config;      /* NULL: no servers */
    char *problem;              /* why the file as a whole was not used */
    char *path;
};

mcpc_t *
mcpc_new (const char *path)
{
    mcpc_t *self = xcalloc (1, sizeof *self);
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
    return self;
}

void
mcpc_destroy (mcpc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcpc_t *self = *self_p;
    mcpc_config_destroy (&self->config);
    free (self->problem);
    free (self->path);
    free (self);
    *self_p = NULL;
}

json_t *
mcpc_list_json (const mcpc_t *self)
{
    json_t *list = json_array ();
    if (self->problem) {
        /* The whole file: one entry named after it, so `caisson mcp list`
         * shows why there are no servers. */
        json_array_append_new (list, json_pack ("{s:s, s:s, s:s, s:s, s:b, s:[]}",
                                                "name", self->path, "transport", "none",
                                                "state", "invalid", "reason", self->problem,
                                                "trusted", 0, "tools"));
        return list;
    }
    if (!self->config)
        return list;
    for (size_t i = 0; i < mcpc_config_size (self->config); i++) {
        const mcpc_server_t *s = mcpc_config_at (self->config, i);
        json_array_append_new (list, json_pack ("{s:s, s:s, s:s, s:b, s:[]}", "name", s->name,
                                                "transport", s->kind == MCPC_HTTP ? "http"
                                                                                  : "stdio",
                                                "state", "configured", "trusted", s->trusted,
                                                "tools"));
    }
    size_t i;
    json_t *skip;
    json_array_foreach ((json_t *) mcpc_config_skipped (self->config), i, skip)
        json_array_append_new (list, json_pack ("{s:O, s:s, s:s, s:O, s:b, s:[]}",
                                                "name", json_object_get (skip, "name"),
                                                "transport", "none", "state", "invalid",
                                                "reason", json_object_get (skip, "reason"),
                                                "trusted", 0, "tools"));
    return list;
}
