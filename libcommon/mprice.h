/* mprice: model prices for the gateway's cost budgets (docs/gateway.md).
 *
 * CAISSON_GATEWAY_PRICES lists `provider/model=in,out[,cached[,max_out]]`,
 * `;`-separated: USD per million input, output and cached-input tokens,
 * and the most output tokens the model gives (what a call naming no
 * maximum is reserved for). A model `*` (`provider/` then `*`) prices a provider's other
 * models. Costs are whole nano-USD, rounded up, so many small calls never
 * add up to less than they cost. */
#ifndef CAISSON_MPRICE_H
#define CAISSON_MPRICE_H

#include <stddef.h>
#include <stdint.h>

typedef struct mprices_t mprices_t;

typedef struct {
    uint64_t in_pm;      /* nano-USD per million input tokens */
    uint64_t out_pm;     /* nano-USD per million output tokens */
    uint64_t cached_pm;  /* nano-USD per million cached input tokens */
    uint64_t max_out;    /* most output tokens; 0: not given */
} mprice_t;

/* Parses cfg (NULL or "": no prices). NULL, with why (n bytes) naming
 * the bad entry, when it does not parse (negative, not a number, more
 * than 1e6 USD per million, a name that is not `provider/model`). */
mprices_t *mprices_load (const char *cfg, char *why, size_t n);
void mprices_destroy (mprices_t **self_p);

/* The price of model (`provider/model`): its own entry, else its
 * provider's wildcard (model `*`), else NULL (borrowed). */
const mprice_t *mprice_of (const mprices_t *self, const char *model);

/* Nano-USD for these tokens at price p, rounded up; UINT64_MAX when it
 * overflows. cached tokens are part of in and priced at cached_pm. */
uint64_t mprice_cost (const mprice_t *p, uint64_t in, uint64_t cached, uint64_t out);

#endif
