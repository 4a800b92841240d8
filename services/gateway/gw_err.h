/* gw_err: the gateway's own answers in each protocol's error shape.
 *
 * OpenAI clients read `{"error":{"message","type","param","code"}}`,
 * Anthropic's `{"type":"error","error":{"type","message"}}`; the SDKs map
 * the status to their error classes and show the message, so a refusal
 * names its budget or limit there. (A provider's echo of the real key is
 * gw_mask's.) */
#ifndef CAISSON_GW_ERR_H
#define CAISSON_GW_ERR_H

#include "llm.h"

#include <stddef.h>

/* The error body (new) for status, code (may be NULL) and message. */
char *gw_err_body (llm_proto_t proto, int status, const char *code, const char *message);

#endif
