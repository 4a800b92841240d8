/* tools_standin: a stand-in tool-runner's replies. See tools_standin.h. */
#include "tools_standin.h"
#include "mpjson.h"

proto_msg_t *
standin_catalogue (const proto_msg_t *req, const char *const names[], size_t n,
                   const char *desc_prefix, int mutating)
{
    json_t *tools = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (tools, json_pack ("{s:s, s:s+, s:{s:s}, s:b}", "name", names[i],
                                                 "description", desc_prefix, names[i],
                                                 "inputSchema", "type", "object", "mutates",
                                                 (int) i == mutating));
    proto_msg_t *rep = proto_msg_new (PROTO_tools_catalogue, req);
    mpjson_set (&rep->body.tools_catalogue.tools, tools, 16);
    json_decref (tools);
    return rep;
}

proto_msg_t *
standin_result (const proto_msg_t *req, json_t *result, uint64_t duration_us)
{
    proto_msg_t *rep = proto_msg_new (PROTO_tools_result, req);
    proto_tools_result_t *r = &rep->body.tools_result;
    proto_set_str (&r->call_id, req->body.tools_call.call_id);
    proto_set_str (&r->name, req->body.tools_call.name);
    r->ok = true;
    r->duration_us = duration_us;
    mpjson_set (&r->result, result, 16);
    json_decref (result);
    return rep;
}
