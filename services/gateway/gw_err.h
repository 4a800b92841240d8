/* gw_err: the gateway's own answers in each protocol's error shape, and
 * the masking of a provider's error bodies.
 *
 * OpenAI clients read `{"error":{"message","type","param","code"}}`,
 * Anthropic's `{"type":"error","error":{"type","message"}}`; the SDKs map
 * the status to their error classes and show the message, so a refusal
 * names its budget or limit there. A provider's error body may echo the
 * key it was sent (some quote the header back): every copy of the real
 * key's bytes is replaced by `***` before the client sees it. */
#ifndef CAISSON_GW_ERR_H
#define CAISSON_GW_ERR_H

#include "llm.h"

#include <stddef.h>

/* The error body (new) for status, code (may be NULL) and message. */
char *gw_err_body (llm_proto_t proto, int status, const char *code, const char *message);

/* Replaces every copy of secret (NULL or "": nothing) in buf (len bytes)
 * (at least 4 bytes) by "***", in place; returns the new length. */
size_t gw_err_mask (char *buf, size_t len, const char *secret);

#endif
