/* gw_err: see gw_err.h. */
#include "gw_err.h"

#include <jansson.h>
#include <string.h>

/* The error type each protocol's SDKs expect for a status. */
static const char *
type_of (llm_proto_t proto, int status)
{
    bool a = proto == LLM_ANTHROPIC;
    switch (status) {
    case 401: return "authentication_error";
    case 402: return a ? "billing_error" : "insufficient_quota";
    case 403: return "permission_error";
    case 404: return a ? "not_found_error" : "invalid_request_error";
    case 413: return a ? "request_too_large" : "invalid_request_error";
    case 429: return a ? "rate_limit_error" : "rate_limit_exceeded";
    case 503: return a ? "overloaded_error" : "api_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

char *
gw_err_body (llm_proto_t proto, int status, const char *code, const char *message)
{
    json_t *doc;
    const char *type = type_of (proto, status);
    if (proto == LLM_ANTHROPIC)
        doc = json_pack ("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", type,
                         "message", message);
    else
        doc = json_pack ("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", message, "type", type,
                         "param", "code", code);
    char *out = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    return out;
}
