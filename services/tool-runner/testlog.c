/* testlog: test runners' summaries into counts. See testlog.h. */
#include "testlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The number just before word in the line segment [p, end), e.g. "3" in
 * "3 passed"; -1 when absent. */
static long
number_before (const char *p, const char *end, const char *word)
{
    size_t wl = strlen (word);
    for (const char *q = p; q + wl <= end; q++) {
        if (strncmp (q, word, wl) || q - p < 2 || q[-1] != ' ')
            continue;
        const char *d = q - 1;
        while (d > p && d[-1] >= '0' && d[-1] <= '9')
            d--;
        if (d < q - 1)
            return strtol (d, NULL, 10);
    }
    return -1;
}

static long
number_after (const char *p, const char *key)
{
    const char *q = strstr (p, key);
    return q ? strtol (q + strlen (key), NULL, 10) : 0;
}

static const char *
line_end (const char *p)
{
    const char *e = strchr (p, '\n');
    return e ? e : p + strlen (p);
}

static bool
pytest (const char *log, testlog_counts_t *c)
{
    bool found = false;
    /* The summary is the last line naming "passed", "failed" or the like
     * followed by " in <time>". */
    for (const char *p = log; *p; p = *line_end (p) ? line_end (p) + 1 : line_end (p)) {
        const char *e = line_end (p);
        long pa = number_before (p, e, "passed"), fa = number_before (p, e, "failed");
        long sk = number_before (p, e, "skipped"), er = number_before (p, e, "error");
        bool summary = (pa >= 0 || fa >= 0 || sk >= 0 || er >= 0) && strstr (p, " in ")
                       && strstr (p, " in ") < e;
        if (summary) {
            c->passed = pa > 0 ? pa : 0;
            c->failed = (fa > 0 ? fa : 0) + (er > 0 ? er : 0);
            c->skipped = sk > 0 ? sk : 0;
            found = true;
        }
    }
    return found;
}

static bool
unittest (const char *log, testlog_counts_t *c)
{
    const char *ran = NULL;
    for (const char *p = strstr (log, "Ran "); p; p = strstr (p + 1, "Ran "))
        ran = p;
    if (!ran)
        return false;
    long total = strtol (ran + 4, NULL, 10);
    const char *tail = line_end (ran);
    long failures = number_after (tail, "failures="), errors = number_after (tail, "errors=");
    long skipped = number_after (tail, "skipped=");
    long xfail = number_after (tail, "expected failures=");
    c->failed = failures + errors;
    c->skipped = skipped + xfail;
    c->passed = total - c->failed - c->skipped;
    if (c->passed < 0)
        c->passed = 0;
    return true;
}

static bool
node (const char *log, testlog_counts_t *c)
{
    static const char *const prefixes[] = { "# ", "\xe2\x84\xb9 " };
    for (size_t i = 0; i < 2; i++) {
        char pass[16], fail[16], skip[16], todo[16];
        snprintf (pass, sizeof pass, "\n%spass ", prefixes[i]);
        snprintf (fail, sizeof fail, "\n%sfail ", prefixes[i]);
        snprintf (skip, sizeof skip, "\n%sskipped ", prefixes[i]);
        snprintf (todo, sizeof todo, "\n%stodo ", prefixes[i]);
        const char *p = strstr (log, pass);
        if (!p)
            continue;
        c->passed = strtol (p + strlen (pass), NULL, 10);
        c->failed = number_after (log, fail);
        c->skipped = number_after (log, skip) + number_after (log, todo);
        return true;
    }
    return false;
}

static long
count (const char *log, const char *needle)
{
    long n = 0;
    for (const char *p = strstr (log, needle); p; p = strstr (p + 1, needle))
        n++;
    return n;
}

static bool
go (const char *log, testlog_counts_t *c)
{
    c->passed = count (log, "--- PASS:");
    c->failed = count (log, "--- FAIL:");
    c->skipped = count (log, "--- SKIP:");
    return c->passed + c->failed + c->skipped > 0 || strstr (log, "\nok ") || !strncmp (log, "ok ", 3);
}

static bool
cargo (const char *log, testlog_counts_t *c)
{
    bool found = false;
    for (const char *p = strstr (log, "test result:"); p; p = strstr (p + 1, "test result:")) {
        const char *e = line_end (p);
        long pa = number_before (p, e, "passed;"), fa = number_before (p, e, "failed;");
        long ig = number_before (p, e, "ignored;");
        c->passed += pa > 0 ? pa : 0;
        c->failed += fa > 0 ? fa : 0;
        c->skipped += ig > 0 ? ig : 0;
        found = true;
    }
    return found;
}

static bool
ctest (const char *log, testlog_counts_t *c)
{
    const char *p = strstr (log, "tests passed, ");
    if (!p)
        return false;
    long failed = strtol (p + strlen ("tests passed, "), NULL, 10);
    const char *out = strstr (p, "out of ");
    if (!out)
        return false;
    long total = strtol (out + 7, NULL, 10);
    /* Skipped tests count toward neither passed nor failed in the summary
     * of recent ctest, but are listed as "(Skipped)". */
    c->skipped = count (log, "(Skipped)");
    c->failed = failed;
    c->passed = total - failed - c->skipped > 0 ? total - failed - c->skipped : 0;
    return true;
}

bool
testlog_parse (const char *runner, const char *log, testlog_counts_t *out)
{
    static const struct {
        const char *name;
        bool (*fn) (const char *, testlog_counts_t *);
    } parsers[] = { { "pytest", pytest }, { "unittest", unittest }, { "node", node },
                    { "go", go }, { "cargo", cargo }, { "ctest", ctest } };
    *out = (testlog_counts_t) { 0, 0, 0 };
    for (size_t i = 0; i < sizeof parsers / sizeof parsers[0]; i++)
        if (!strcmp (runner, parsers[i].name))
            return parsers[i].fn (log, out);
    return false;
}
