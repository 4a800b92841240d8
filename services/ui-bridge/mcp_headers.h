/* mcp_headers: the MCP-specific request headers /mcp reads (mcp_http.h),
 * and the Origin and Accept checks it makes of any request.
 *
 * Mcp-Name and Mcp-Method may carry UTF-8 that is not header-safe as
 * `=?base64?<b64>?=`; MCP-Protocol-Version, Mcp-Session-Id, Mcp-Method and
 * Mcp-Name may each appear once, or repeated with one value: an
 * intermediary reading one copy and Caisson another must not see two
 * different requests. */
#ifndef CAISSON_MCP_HEADERS_H
#define CAISSON_MCP_HEADERS_H

#include "http.h"

/* Decodes an Mcp-Name / Mcp-Method value v into out (outlen bytes): the
 * base64 form decoded, any other value as it is. -1 when malformed: a
 * character outside the alphabet, padding anywhere but at the end, or a
 * decoded NUL (either would let what a gateway routes on and the name
 * the server reads differ), or too long for out. */
int mcp_headers_decode (const char *v, char *out, size_t outlen);

/* The name of an MCP header req repeats with values that disagree, or
 * NULL. */
const char *mcp_headers_conflict (http_req_t *req);
/* False when req's Accept rules out an SSE answer: it is present and
 * names neither text/event-stream nor a wildcard covering it (spec: a
 * client accepts both application/json and text/event-stream). */
bool mcp_headers_takes_sse (http_req_t *req);

/* True when origin (an Origin header: scheme://host[:port]) is one /mcp
 * serves: listed in CAISSON_MCP_ORIGINS, or by default the bridge's own
 * address and its localhost, 127.0.0.1 and [::1] forms. */
bool mcp_headers_origin_ok (const char *origin);

#endif
