/* gk_win: the budget windows of gateway-keys, in the UTC calendar.
 *
 * A window is `day` (from 00:00 UTC), `week` (from Monday 00:00 UTC),
 * `month` (from the 1st, 00:00 UTC) or `total` (one window for ever).
 * Counters are kept per window start, so a window resets by itself: the
 * first call after midnight counts under a new start. Pure functions of
 * the time given, so tests can ask about any moment. */
#ifndef GK_WIN_H
#define GK_WIN_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { GK_WIN_DAY, GK_WIN_WEEK, GK_WIN_MONTH, GK_WIN_TOTAL } gk_win_t;

/* The window named name (`day`, `week`, `month`, `total`); false when it
 * names none. */
bool gk_win_parse (const char *name, gk_win_t *out);
const char *gk_win_name (gk_win_t w);

/* The start of the window holding now_ms (ms since the epoch); 0 for
 * `total`. */
uint64_t gk_win_start (gk_win_t w, uint64_t now_ms);

/* When the window that starts at start ends (the next one's start); 0
 * for `total`, which never resets. */
uint64_t gk_win_reset (gk_win_t w, uint64_t start);

/* Writes ms as `2026-12-08T00:00:00Z` into out (at least 24 bytes). */
void gk_win_iso (uint64_t ms, char *out, unsigned n);

#endif
