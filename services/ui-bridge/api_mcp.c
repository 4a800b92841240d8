/* api_mcp: /api/mcp, the user's own mcp.json (docs/mcp.md § Your own
 * servers): GET reads it, PUT replaces it (the body is the mcp.json
 * itself), DELETE removes it. tool-runner answers: it checks a PUT against
 * the deployment's limits for users (400 naming the entry and the fault)
 * and stores it in event-log; the user's servers restart with it. An
 * operator may name another user with `?user=` (anyone else is told there
 * is none). */
#include "api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000
/* mcp.config.put's `content` (proto/tools.def). */
#define MCP_JSON_MAX 65536

/* A request of type as req's user, for ?user= when given. */
static proto_msg_t *
request (http_req_t *req, proto_type_t type)
{
    proto_msg_t *m = app_msg (req, type);
    const char *user = http_query (req, "user");
    if (user && type == PROTO_mcp_config_get)
        proto_set_str (&m->body.mcp_config_get.user, user);
    else if (user)
        proto_set_str (&m->body.mcp_config_put.user, user);
    return m;
}

static http_res_t *
call (app_t *app, proto_msg_t *m)
{
    proto_msg_t *rep;
    http_res_t *err = app_call (app, "tool-runner", m, TIMEOUT_MS, &rep);
    return err ? err : app_reply_json (200, rep);
}

http_res_t *
api_mcp_config_get (app_t *app, http_req_t *req)
{
    return call (app, request (req, PROTO_mcp_config_get));
}

http_res_t *
api_mcp_config_put (app_t *app, http_req_t *req)
{
    if (!req->body_len)
        return http_res_error (400, "bad_value", "the body is the mcp.json ({\"mcpServers\": "
                               "{...}}); DELETE removes it");
    if (req->body_len > MCP_JSON_MAX || strlen (req->body) != req->body_len)
        return http_res_error (400, "bad_value", "the mcp.json must be text of at most %d "
                               "bytes", MCP_JSON_MAX);
    proto_msg_t *m = request (req, PROTO_mcp_config_put);
    proto_set_str (&m->body.mcp_config_put.content, req->body);
    const char *version = http_query (req, "version");
    if (version) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull (version, &end, 10);
        if (errno || !*version || *end || *version == '-') {
            proto_msg_destroy (&m);
            return http_res_error (400, "bad_value", "version: a number, the version read");
        }
        m->body.mcp_config_put.version = v;
    }
    else
        m->body.mcp_config_put.any_version = true;
    return call (app, m);
}

http_res_t *
api_mcp_config_delete (app_t *app, http_req_t *req)
{
    proto_msg_t *m = request (req, PROTO_mcp_config_put);
    proto_set_str (&m->body.mcp_config_put.content, "");
    m->body.mcp_config_put.any_version = true;
    return call (app, m);
}
