/* gk_win: budget windows in the UTC calendar. See gk_win.h. */
#include "gk_win.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000ull

static const char *const names[] = { "day", "week", "month", "total" };

bool
gk_win_parse (const char *name, gk_win_t *out)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcmp (name, names[i])) {
            *out = (gk_win_t) i;
            return true;
        }
    return false;
}

const char *
gk_win_name (gk_win_t w)
{
    return (unsigned) w < 4 ? names[w] : "total";
}

/* The 1st of the month that holds ms, months_on months later. */
static uint64_t
month_start (uint64_t ms, int months_on)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&t, &tm);
    struct tm first = { .tm_year = tm.tm_year, .tm_mon = tm.tm_mon + months_on, .tm_mday = 1 };
    return (uint64_t) timegm (&first) * 1000;
}

uint64_t
gk_win_start (gk_win_t w, uint64_t now_ms)
{
    uint64_t day = now_ms / DAY_MS;
    switch (w) {
    case GK_WIN_DAY:
        return day * DAY_MS;
    case GK_WIN_WEEK:
        /* 1970-01-01 was a Thursday: day 0 is 3 days after a Monday. */
        return (day - (day + 3) % 7) * DAY_MS;
    case GK_WIN_MONTH:
        return month_start (now_ms, 0);
    default:
        return 0;
    }
}

uint64_t
gk_win_reset (gk_win_t w, uint64_t start)
{
    switch (w) {
    case GK_WIN_DAY:
        return start + DAY_MS;
    case GK_WIN_WEEK:
        return start + 7 * DAY_MS;
    case GK_WIN_MONTH:
        return month_start (start, 1);
    default:
        return 0;
    }
}

void
gk_win_iso (uint64_t ms, char *out, unsigned n)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
