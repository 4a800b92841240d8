/* gw_client: what the caisson-gateway suites (test_gateway_http,
 * test_gateway_refuse) share: the stack (the broker, the stand-in
 * gateway-keys of gw_fakes.c, llm-replay, the fake provider as `openai/`
 * and `anthropic/`, `groq/` at a closed port, and caisson-gateway with a
 * 2 s upstream timeout and a 1 MiB body limit), an HTTP client that keeps
 * the answer's head and body, and checks of settles and error shapes. */
#ifndef CAISSON_GW_CLIENT_H
#define CAISSON_GW_CLIENT_H

#include "support.h"
#include "gw_fakes.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The providers' real key, in the gateway's environment only. */
#define GWC_REAL_KEY "sk-caisson-REAL-0123456789abcdef0123456789abcdef"

typedef struct {
    long status;
    char *head, *body;
    size_t hlen, blen;
    size_t abort_after;         /* >0: hang up once this many body bytes came */
} rsp_t;

extern const char *gwc_self, *gwc_dir;
extern char gwc_log[600];               /* the stand-in gateway-keys' record */
extern char gwc_url[64];                /* the gateway, http://127.0.0.1:port */
extern char gwc_replay_url[64];         /* llm-replay, .../v1 */
extern pid_t gwc_bus, gwc_keys, gwc_replay, gwc_gw;
extern const char *const gwc_ok[];      /* the header of GW_KEY_OK */

/* POSTs body (NULL: a GET) to base+path with the header lines (NULL-ended). */
rsp_t gwc_http (const char *base, const char *path, const char *body, const char *const hdrs[],
                size_t abort_after);
void gwc_free (rsp_t *r);
/* The value of header name in r (static storage), "" when absent. */
const char *gwc_hval (const rsp_t *r, const char *name);

/* The group setup and teardown: the stack up, and down. */
int gwc_setup (void **state);
int gwc_teardown (void **state);

/* The settle of the call r answered (x-caisson-call), waited for (new). */
json_t *gwc_settle_of (const rsp_t *r);
/* Checks a settle's outcome, input and output (-1: any) and estimated flag. */
void gwc_expect_settle (json_t *s, const char *outcome, json_int_t in, json_int_t out,
                        bool estimated);
/* The `error` object of r's body (new), checked for Anthropic's envelope. */
json_t *gwc_error_of (const rsp_t *r, bool anthropic);

/* Stops the gateway, asserting a clean exit (no sanitizer report). */
void gwc_clean_exit (void);

/* In main, first: plays the stand-in gateway-keys when argv[1] says
 * `keys` and returns its exit status, else -1. */
int gwc_child (int argc, char **argv);

#endif
