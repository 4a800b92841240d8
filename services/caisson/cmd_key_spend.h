/* cmd_key_spend: `caisson key usage --since T --by model|key|day`: what
 * was spent, from event-log's spend records (spend.read, every page),
 * summed per model, key or UTC day: calls, tokens in, out and cached,
 * USD and errors (an outcome other than `ok`), as in `caisson stats`. */
#ifndef CAISSON_CMD_KEY_SPEND_H
#define CAISSON_CMD_KEY_SPEND_H

#include "bus_client.h"

#include <stdbool.h>
#include <stdint.h>

/* Parses T, an ISO date (2026-12-01, 2026-12-01T10:00Z, with seconds too)
 * or a span back from now_ms (7d, 12h, 30m) into *ms since the epoch.
 * Returns 0, or -1 when T is neither. */
int cmd_key_since (const char *text, uint64_t now_ms, uint64_t *ms);

/* Prints the sums of the spend records from since_ms on, of user (NULL:
 * everyone's, as an operator sees them) and of key_id (may be NULL), per
 * by ("model", "key" or "day"): a table, or with json one object
 * {since, by, rows: [{name, calls, in, out, cached, nusd, errors}]}.
 * Returns the exit status (1 when event-log did not answer). */
int cmd_key_spend (bus_client_t *c, const char *user, const char *key_id, uint64_t since_ms,
                   const char *by, bool json);

#endif
