/* replay_http: what the caisson-llm-replay suites (test_replay,
 * test_replay_wire, test_replay_oracle) share: requests to the server
 * under test over real HTTP with libcurl, and its health probe. */
#ifndef CAISSON_TEST_REPLAY_HTTP_H
#define CAISSON_TEST_REPLAY_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>

/* A reply: status (0 when none came), Content-Type ("" when none) and
 * body (the caller's; "" when empty). */
typedef struct {
    long status;
    char ctype[128];
    char *body;
} rh_reply_t;

/* The server's base URL, "http://127.0.0.1:PORT", set by rh_set_port. */
extern char rh_base[64];
void rh_set_port (int port);

/* GET (post NULL) or POST post as JSON to rh_base + path, with the raw
 * header lines headers (NULL-terminated; may be NULL), waiting at most
 * timeout_ms; progress, when not NULL, is the transfer's
 * CURLOPT_XFERINFOFUNCTION (returning non-zero abandons it). */
rh_reply_t rh_request (const char *path, const char *post, const char *const headers[],
                       long timeout_ms, curl_xferinfo_callback progress);

/* True when GET /health answers 200: for support_poll and
 * support_llm_replay_up. */
bool rh_healthy (void);

#endif
