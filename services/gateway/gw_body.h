/* gw_body: what the gateway reads from a client's request body and what
 * it sends upstream instead.
 *
 * The model is resolved (an alias, a bare name taking the route's default
 * provider) through the provider table; a model whose provider speaks the
 * other protocol is refused with the route to use. The call's most input
 * tokens are bounded by its text's UTF-8 bytes (a byte-level BPE never
 * makes more tokens than bytes; object keys, tool schemas and system text
 * included) plus 8 a message and CAISSON_GATEWAY_IMAGE_TOKENS an image,
 * and at most the model's context window when it is known (the provider
 * table's for a hosted provider, or CAISSON_MODEL_CONTEXT); a document or
 * file block (`document`, `file`, `input_file`: billed by page, beyond
 * what its bytes bound) makes it the whole window, or at least
 * CAISSON_GATEWAY_DOCUMENT_TOKENS when the window is not known. Its most output
 * tokens are the client's max, else the model's price `max_out`, else
 * CAISSON_GATEWAY_MAX_OUTPUT, times the choices asked for (`n`). The
 * body sent upstream is the client's with the provider's model name,
 * and, for a streamed chat, usage asked for (`stream_options.
 * include_usage`) unless the provider sends it anyway; a call naming no
 * max gets the granted one (shared among its choices). */
#ifndef CAISSON_GW_BODY_H
#define CAISSON_GW_BODY_H

#include "llm_provider.h"
#include "mprice.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { GW_CHAT, GW_MESSAGES, GW_EMBEDDINGS } gw_route_t;

#define GW_MAX_DEPTH 64         /* deepest JSON a client may send */
#define GW_MESSAGE_TOKENS 8

typedef struct {
    gw_route_t route;
    json_t *req;                /* the client's body (owned) */
    const llm_provider_t *prov;
    char model[256];            /* `provider/model`, after aliases */
    size_t model_at;            /* where the provider's own name starts in model */
    bool stream;
    bool add_usage;             /* usage asked for by the gateway: withhold it */
    bool client_max;            /* the client named its max output */
    uint64_t choices;           /* `n`: each choice may use the whole max */
    uint64_t input_bound, output_max;   /* output_max covers every choice */
    uint64_t extra_output;      /* billed as output past the max: a prediction's tokens */
} gw_req_t;

/* Why a request is refused before it goes anywhere. */
typedef struct {
    int status;                 /* 400 */
    char code[64];
    char msg[512];
} gw_fail_t;

/* Settings read once (CAISSON_GATEWAY_*); prices borrowed, may be NULL. */
typedef struct {
    const char *aliases, *default_provider;
    uint64_t max_output;
    const char *image_tokens;   /* CAISSON_GATEWAY_IMAGE_TOKENS */
    uint64_t document_tokens;
    const mprices_t *prices;
    bool window_unknown;        /* the call may read past the table's window (a beta) */
} gw_body_opts_t;

/* An image's tokens for model under spec (CAISSON_GATEWAY_IMAGE_TOKENS:
 * `pattern=N;...`, first match wins, a trailing `*` a prefix); unlisted
 * models GW_IMAGE_TOKENS_UNLISTED. */
#define GW_IMAGE_TOKENS_UNLISTED 48200
uint64_t gw_body_image_tokens (const char *spec, const char *model);

/* Reads body (len bytes) for route into r. 0, or -1 with f filled in. */
int gw_body_parse (gw_req_t *r, gw_route_t route, const char *body, size_t len,
                   const gw_body_opts_t *o, gw_fail_t *f);
void gw_body_clear (gw_req_t *r);

/* The body to send upstream (new), with granted_max as the max output
 * when the client named none (0: leave it). NULL when memory runs out. */
char *gw_body_upstream (const gw_req_t *r, uint64_t granted_max);

/* The route's name for gkey.reserve: `chat`, `messages`, `embeddings`. */
const char *gw_route_name (gw_route_t route);

#endif
