/* gw_fakes: what test_gateway_http puts around a real caisson-gateway: a
 * stand-in `gateway-keys` bus worker answering gkey.reserve with the real
 * gkey.grant shape (a grant, or each refusal, by which key was shown) and
 * recording every request it gets as a JSON line, and a fake provider
 * (libmicrohttpd, in the test process) for what llm-replay cannot do:
 * whole JSON answers, streams in odd pieces with CRLF, `event:` and
 * comment lines, an error body quoting the key it was sent, a stream
 * that stalls. */
#ifndef CAISSON_GW_FAKES_H
#define CAISSON_GW_FAKES_H

#include "proto.h"

#include <jansson.h>
#include <stdbool.h>

#define GW_HEX40(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define GW_KEY_OK "vk_alice_" GW_HEX40 ("a")
#define GW_KEY_BUDGET "vk_alice_" GW_HEX40 ("b")      /* 402 key.cost.day */
#define GW_KEY_RATE "vk_alice_" GW_HEX40 ("c")        /* 429, retry after 7 s */
#define GW_KEY_REVOKED "vk_alice_" GW_HEX40 ("d")     /* 401 key_revoked */
#define GW_KEY_MODEL "vk_alice_" GW_HEX40 ("e")       /* 403 model_not_allowed */
#define GW_KEY_UNKNOWN "vk_alice_" GW_HEX40 ("f")     /* 401 invalid_api_key */
#define GW_CAPPED_MAX 300                             /* output granted a capped call */
#define GW_BUDGET_RESET_MS 1765152000000ull           /* 2025-12-08T00:00:00Z */

/* The stand-in gateway-keys' handler (for support_serve); it appends
 * {type, ...fields} lines to the file GW_FAKE_LOG names. */
proto_msg_t *gw_fake_keys (const proto_msg_t *req, void *arg);

/* Lines of type (`reserve`, `settle`, `release`) in the log at path. */
int gw_fake_log_count (const char *path, const char *type);

/* The line of type for call (NULL: any), waiting up to wait_ms; NULL when none came. */
json_t *gw_fake_log_find (const char *path, const char *type, const char *call, int wait_ms);

/* Starts the fake provider on a free port; its port. Models (the body's
 * `model`): `plain` (a whole answer, either protocol), `odd` (the stream
 * gw_fake_odd_stream in 7-byte pieces), `echo-key` (400 quoting the
 * Authorization it got), `echo-body` (200 with the body and key headers
 * it got), `slow` (one event, then nothing for 3 s), `stall` (no answer
 * for 3 s), `echo-key-stream` (a stream quoting the key of
 * gw_fake_upstream_key in 5-byte pieces 2 ms apart, literally and in
 * part JSON-escaped), `echo-key-encoded` (400 quoting it JSON-escaped in
 * either case, partly escaped, and percent-encoded), `usage-echo` (200
 * whose `usage` is the request's `metadata`: a provider's usage lies). */
int gw_fake_upstream_start (void);

/* The real key the echo-key-* models quote (set before calls). */
void gw_fake_upstream_key (const char *key);

/* The key the last call came with (Authorization, or x-api-key on
 * /messages) into out (n bytes); returns out. */
const char *gw_fake_upstream_auth (char *out, size_t n);
void gw_fake_upstream_stop (void);

/* True once the `slow` stream's connection was closed by its client. */
bool gw_fake_upstream_cancelled (void);

extern const char gw_fake_odd_stream[];
extern const char gw_fake_odd_usage[];      /* its usage chunk, an event of it */

#endif
