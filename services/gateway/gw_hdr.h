/* gw_hdr: which headers cross the gateway.
 *
 * Upstream, the client's headers go on but for its virtual key
 * (Authorization, x-api-key), its account (OpenAI-Organization,
 * OpenAI-Project), Host, Content-Length, hop-by-hop ones, Cookie and
 * Accept-Encoding (the gateway reads the answer, so it asks for it
 * uncompressed); the real key is added the provider's way. Back to the
 * client go the status, Content-Type, Cache-Control, the request ids and
 * Retry-After; the provider's x-ratelimit-* describe the shared account
 * and are replaced by the virtual key's (gw_call). */
#ifndef CAISSON_GW_HDR_H
#define CAISSON_GW_HDR_H

#include "gw_up.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

/* The headers of the upstream request for con's request (new), with
 * secret (NULL: the provider takes none) as `x-api-key` (anthropic) or
 * `Authorization: Bearer`. */
struct curl_slist *gw_hdr_upstream (struct MHD_Connection *con, bool anthropic,
                                    const char *secret);

/* Copies the provider's answer headers the client gets onto rsp. */
void gw_hdr_pass (struct MHD_Response *rsp, gw_up_t *up);

/* Adds header name with the decimal v. */
void gw_hdr_u64 (struct MHD_Response *rsp, const char *name, uint64_t v);

#endif
