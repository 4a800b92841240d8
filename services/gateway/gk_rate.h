/* gk_rate: per-key rate limits of gateway-keys, in memory.
 *
 * Each key has 60 one-second buckets of requests and tokens: the last
 * minute. A restart forgets them (at most one permissive minute, as
 * docs/gateway.md says). Changes made while a write transaction runs are
 * tentative (gk_rate_begin/gk_rate_commit), so a transaction that runs
 * again after a map resize, or fails, counts nothing twice. */
#ifndef GK_RATE_H
#define GK_RATE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct gk_rate_t gk_rate_t;

typedef struct {
    bool ok;
    bool by_tokens;          /* refused for tokens, not requests */
    uint64_t retry_after_s;  /* refused: seconds until it fits */
    uint64_t left_req, left_tok;
} gk_rate_verdict_t;

gk_rate_t *gk_rate_new (void);
void gk_rate_destroy (gk_rate_t **self_p);

/* Drops every tentative change: call at the start of each transaction. */
void gk_rate_begin (gk_rate_t *self);
/* Makes the tentative changes count: call once the transaction committed. */
void gk_rate_commit (gk_rate_t *self);

/* Checks one request of tok tokens for key id at now_ms against rpm and
 * tpm (0: no limit) and, when it fits, adds it tentatively. */
gk_rate_verdict_t gk_rate_take (gk_rate_t *self, const char *id, uint64_t rpm, uint64_t tpm,
                                uint64_t tok, uint64_t now_ms);

/* Gives back tok tokens taken at at_ms (a settle using less than its
 * reservation), when that second is still in the last minute. Tentative. */
void gk_rate_give (gk_rate_t *self, const char *id, uint64_t at_ms, uint64_t tok,
                   uint64_t now_ms);

/* Forgets keys with nothing counted in the minute before now_ms (call
 * outside a transaction), so memory follows the keys in use. */
void gk_rate_prune (gk_rate_t *self, uint64_t now_ms);

#endif
