/* mcpc_rows: the catalogue rows of a set's MCP tools: added when a server
 * is ready, screened (names of Caisson's own tools left out, what was left
 * out named for `caisson mcp list`), and replaced when the server's tools
 * are listed again (mcpc_relist). Shares mcpc_int.h with mcpc.c. */
#include "mcpc_int.h"

#include "clog.h"
#include "mcpc_tools.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds entries as server i's rows under the set's lock, up to the set's
 * MCPC_SET_BYTES_MAX of rows: those past it are appended to skipped.
 * Returns how many were added. */
static size_t
add_locked (mcpc_t *self, size_t i, json_t *entries, json_t *skipped)
{
    size_t j, used = 0, added = 0;
    json_t *entry;
    for (mtool_t *t = self->tools; t; t = t->next)
        used += mcpc_tools_bytes (t->entry);
    json_array_foreach (entries, j, entry) {
        size_t bytes = mcpc_tools_bytes (entry);
        if (used + bytes > MCPC_SET_BYTES_MAX) {
            char reason[64];
            snprintf (reason, sizeof reason, "past the servers' %zu MiB of catalogue",
                      MCPC_SET_BYTES_MAX >> 20);
            json_array_append_new (skipped, json_pack ("{s:O, s:s}", "name",
                                                       json_object_get (entry, "name"),
                                                       "reason", reason));
            continue;
        }
        used += bytes;
        added++;
        mtool_t *t = xcalloc (1, sizeof *t);
        t->entry = json_incref (entry);
        t->server = i;
        t->set = self;
        t->def = (tool_def_t) {
            .name = json_string_value (json_object_get (entry, "name")),
            .description = json_string_value (json_object_get (entry, "description")),
            .timeout_s = (unsigned) json_integer_value (json_object_get (entry,
                                                                         "timeoutSeconds")),
            .max_output = (size_t) json_integer_value (json_object_get (entry,
                                                                        "maxOutputBytes")),
            .effect = json_is_true (json_object_get (entry, "mutates")) ? TOOL_EXTERNAL
                                                                         : TOOL_READS,
            .fn = mcpc_tool_fn,
        };
        t->next = self->tools;
        self->tools = t;
    }
    return added;
}

/* Moves the entries named as one of Caisson's own tools (a server called
 * `git` offering `openPR`) to skipped: the model would see two tools of
 * one name, and a call would run Caisson's. */
static void
leave_out_builtins (json_t *entries, json_t *skipped)
{
    for (size_t j = 0; j < json_array_size (entries);) {
        json_t *entry = json_array_get (entries, j);
        const char *full = json_string_value (json_object_get (entry, "name"));
        /* the rows are a static table: catalogue_find reads no catalogue */
        if (catalogue_find (NULL, full, NULL)) {
            json_array_append_new (skipped, json_pack ("{s:s, s:s}", "name", full, "reason",
                                                       "Caisson has a tool of that name"));
            json_array_remove (entries, j);
        }
        else
            j++;
    }
}

/* Logs the tools of server i left out (skipped: [{name, reason}]) and
 * keeps them, so `caisson mcp list` shows them as the server's reason. */
static void
note_left_out (mcpc_t *self, size_t i, const json_t *skipped)
{
    const mcpc_server_t *s = mcpc_config_at (self->config, i);
    size_t k;
    json_t *skip;
    json_array_foreach (skipped, k, skip)
        clog_warn (NULL, "MCP server %s: tool %s left out: %s", s->name,
                   json_string_value (json_object_get (skip, "name")),
                   json_string_value (json_object_get (skip, "reason")));
    char *note = mcpc_tools_left_out (skipped);
    pthread_mutex_lock (&self->lock);
    free (self->servers[i].left_out);
    self->servers[i].left_out = note;
    pthread_mutex_unlock (&self->lock);
}

void
mcpc_note_left_out (mcpc_t *self, size_t i, const json_t *skipped)
{
    note_left_out (self, i, skipped);
}

size_t
mcpc_add_tools (mcpc_t *self, size_t i, json_t *entries, json_t *skipped)
{
    leave_out_builtins (entries, skipped);
    pthread_mutex_lock (&self->lock);
    size_t added = add_locked (self, i, entries, skipped);
    pthread_mutex_unlock (&self->lock);
    note_left_out (self, i, skipped);
    return added;
}

/* Replaces server i's rows by entries: a row whose entry is unchanged
 * stays, the others are retired (kept: a running call may hold one) and
 * the new entries added. false, changing nothing, when that would retire
 * more than RETIRED_MAX rows in all. */
static bool
replace_tools (mcpc_t *self, size_t i, json_t *entries, json_t *skipped)
{
    pthread_mutex_lock (&self->lock);
    size_t going = 0;
    for (mtool_t *t = self->tools; t; t = t->next)
        if (t->server == i) {
            size_t j;
            json_t *entry;
            bool kept = false;
            json_array_foreach (entries, j, entry)
                kept |= json_equal (entry, t->entry);
            going += !kept;
        }
    if (self->nretired + going > RETIRED_MAX) {
        pthread_mutex_unlock (&self->lock);
        return false;
    }
    for (mtool_t **p = &self->tools; *p;) {
        mtool_t *t = *p;
        size_t j;
        json_t *entry;
        bool kept = false;
        json_array_foreach (entries, j, entry)
            if (t->server == i && json_equal (entry, t->entry)) {
                json_array_remove (entries, j);     /* no row twice */
                kept = true;
                break;
            }
        if (t->server == i && !kept) {
            *p = t->next;
            t->next = self->retired;
            self->retired = t;
            self->nretired++;
        }
        else
            p = &t->next;
    }
    add_locked (self, i, entries, skipped); /* in the same hold: two lists never interleave */
    pthread_mutex_unlock (&self->lock);
    return true;
}

/* mcpc_request_fn over mcpc_http_request, in the deployment's session. */
static int
http_request_fn (void *conn, const char *method, const json_t *params, json_t **result,
                 char *why, size_t whylen)
{
    return mcpc_http_request (conn, "", method, params, result, why, whylen);
}

void
mcpc_relist (mcpc_t *self, size_t i)
{
    const mcpc_server_t *s = mcpc_config_at (self->config, i);
    server_t *srv = &self->servers[i];
    json_t *skipped = json_array ();
    char why[1024];
    json_t *entries = s->kind == MCPC_HTTP
                          ? mcpc_tools_list (s, http_request_fn, srv->http, skipped, why,
                                             sizeof why)
                          : mcpc_stdio_tools (srv->conn, skipped, why, sizeof why);
    if (!entries)
        clog_warn (NULL, "MCP server %s: its tools could not be listed again (kept as they "
                   "were): %s", s->name, why);
    else {
        leave_out_builtins (entries, skipped);
        size_t n = json_array_size (entries);
        if (replace_tools (self, i, entries, skipped)) {
            note_left_out (self, i, skipped);
            clog_info (NULL, "MCP server %s: tools listed again: %zu", s->name, n);
        }
        else
            clog_warn (NULL, "MCP server %s changed its tools too often: kept as they were",
                       s->name);
    }
    json_decref (entries);
    json_decref (skipped);
}
