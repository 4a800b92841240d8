/* profile_diff: what changed between two profile versions' bodies, for
 * profile.diff (proto/profiles.def): a unified line diff (3 lines of
 * context) of `systemPrompt` and of each tool description, `- old` /
 * `+ new` for the other keys. The line diff is a longest common
 * subsequence over the lines left once the common head and tail are set
 * aside; past PDIFF_CELLS cells for one text, or PDIFF_BUDGET for the
 * whole diff (64 tool descriptions could each take PDIFF_CELLS, and
 * event-log answers nobody meanwhile), it says so and shows the whole text
 * as replaced instead of allocating and computing without bound. The text stops at
 * PDIFF_MAX bytes (the reply's limit), saying so. */
#include "elog.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PDIFF_MAX ((1u << 20) - 256)
#define PDIFF_CELLS (4u << 20)      /* 16 MiB of table at most */
#define PDIFF_BUDGET (8u << 20)     /* cells over all the keys of one diff */
#define PDIFF_CONTEXT 3
#define CUT_NOTE "(diff cut at 1 MiB)\n"

typedef struct {
    char *data;
    size_t len, cap;
    bool cut;                   /* PDIFF_MAX reached */
} sbuf_t;

/* Appends n bytes of text, whatever the length so far. */
static void
append (sbuf_t *s, const char *text, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        s->data = xrealloc (s->data, s->cap);
    }
    memcpy (s->data + s->len, text, n);
    s->len += n;
    s->data[s->len] = '\0';
}

/* Appends text unless that passes PDIFF_MAX (then nothing more is). */
static void
put (sbuf_t *s, const char *text, size_t n)
{
    if (s->cut || s->len + n > PDIFF_MAX) {
        s->cut = true;
        return;
    }
    append (s, text, n);
}

static void
puts_ (sbuf_t *s, const char *text)
{
    put (s, text, strlen (text));
}

typedef struct {
    const char *at;
    size_t len;
} line_t;

/* The lines of text (without their '\n'; a final '\n' ends the last
 * line rather than starting an empty one); *n their count. */
static line_t *
split (const char *text, size_t *n)
{
    size_t count = 0, cap = 16;
    line_t *lines = xmalloc (cap * sizeof *lines);
    const char *p = text;
    while (*p) {
        const char *nl = strchr (p, '\n');
        size_t len = nl ? (size_t) (nl - p) : strlen (p);
        if (count == cap)
            lines = xrealloc (lines, (cap *= 2) * sizeof *lines);
        lines[count++] = (line_t) { p, len };
        p += len + (nl != NULL);
    }
    *n = count;
    return lines;
}

static bool
same (const line_t *a, const line_t *b)
{
    return a->len == b->len && !memcmp (a->at, b->at, a->len);
}

typedef struct {
    char type;                  /* ' ', '-' or '+' */
    const line_t *line;
} op_t;

/* The edit script turning a[0..n) into b[0..m); *count its length, *capped
 * when the table would have been too large (then: all removed, all added). */
static op_t *
script (const line_t *a, size_t n, const line_t *b, size_t m, size_t *count, bool *capped,
        size_t *budget)
{
    op_t *ops = xmalloc ((n + m + 1) * sizeof *ops);
    size_t k = 0, head = 0, tail = 0;
    while (head < n && head < m && same (&a[head], &b[head]))
        head++;
    while (tail < n - head && tail < m - head && same (&a[n - 1 - tail], &b[m - 1 - tail]))
        tail++;
    for (size_t i = 0; i < head; i++)
        ops[k++] = (op_t) { ' ', &a[i] };
    size_t an = n - head - tail, bm = m - head - tail;
    const line_t *am = a + head, *bmid = b + head;
    size_t cells = (an + 1) * (bm + 1);
    *capped = cells > PDIFF_CELLS || cells > *budget;
    if (!*capped)
        *budget -= cells;
    if (*capped) {
        for (size_t i = 0; i < an; i++)
            ops[k++] = (op_t) { '-', &am[i] };
        for (size_t j = 0; j < bm; j++)
            ops[k++] = (op_t) { '+', &bmid[j] };
    }
    else {
        /* L[i][j]: the longest common subsequence of am[i..] and bmid[j..] */
        uint32_t *L = xcalloc ((an + 1) * (bm + 1), sizeof *L);
        for (size_t i = an; i-- > 0;)
            for (size_t j = bm; j-- > 0;)
                L[i * (bm + 1) + j] = same (&am[i], &bmid[j]) ? L[(i + 1) * (bm + 1) + j + 1] + 1
                                    : L[(i + 1) * (bm + 1) + j] >= L[i * (bm + 1) + j + 1]
                                    ? L[(i + 1) * (bm + 1) + j] : L[i * (bm + 1) + j + 1];
        size_t i = 0, j = 0;
        while (i < an || j < bm) {
            if (i < an && j < bm && same (&am[i], &bmid[j]))
                ops[k++] = (op_t) { ' ', &am[i++] }, j++;
            /* on a tie the removal first, so a changed line reads - then + */
            else if (i < an && (j == bm || L[(i + 1) * (bm + 1) + j] >= L[i * (bm + 1) + j + 1]))
                ops[k++] = (op_t) { '-', &am[i++] };
            else
                ops[k++] = (op_t) { '+', &bmid[j++] };
        }
        free (L);
    }
    for (size_t i = n - tail; i < n; i++)
        ops[k++] = (op_t) { ' ', &a[i] };
    *count = k;
    return ops;
}

/* Writes the hunks of ops (GNU unified format, PDIFF_CONTEXT lines). */
static void
hunks (sbuf_t *s, const op_t *ops, size_t k)
{
    size_t i = 0, old_no = 1, new_no = 1;   /* line numbers at ops[i] */
    while (i < k) {
        size_t c = i;
        while (c < k && ops[c].type == ' ')
            c++;
        if (c == k)
            return;
        size_t start = c > i + PDIFF_CONTEXT ? c - PDIFF_CONTEXT : i;
        size_t os = old_no + (start - i), ns = new_no + (start - i);
        /* the hunk ends after the last change followed by more than
         * 2 * context unchanged lines, or by the end */
        size_t end = c, last = c;
        while (end < k) {
            if (ops[end].type != ' ')
                last = end;
            else if (end - last > 2 * PDIFF_CONTEXT)
                break;
            end++;
        }
        end = last + 1 + PDIFF_CONTEXT < k ? last + 1 + PDIFF_CONTEXT : k;
        size_t oc = 0, nc = 0;
        for (size_t j = start; j < end; j++) {
            oc += ops[j].type != '+';
            nc += ops[j].type != '-';
        }
        char head[96];
        snprintf (head, sizeof head, "@@ -%zu,%zu +%zu,%zu @@\n", oc ? os : os - 1, oc,
                  nc ? ns : ns - 1, nc);
        puts_ (s, head);
        for (size_t j = start; j < end; j++) {
            put (s, &ops[j].type, 1);
            put (s, ops[j].line->at, ops[j].line->len);
            put (s, "\n", 1);
        }
        for (size_t j = i; j < end; j++) {
            old_no += ops[j].type != '+';
            new_no += ops[j].type != '-';
        }
        i = end;
    }
}

/* The line diff of one text key (NULL: absent, compared as empty). */
static void
text_diff (sbuf_t *s, const char *label, const char *a, const char *b, uint64_t va,
           uint64_t vb, size_t *budget)
{
    a = a ? a : "";
    b = b ? b : "";
    if (!strcmp (a, b))
        return;
    char head[256];
    snprintf (head, sizeof head, "--- %s (version %llu)\n+++ %s (version %llu)\n", label,
              (unsigned long long) va, label, (unsigned long long) vb);
    puts_ (s, head);
    size_t n, m, k;
    bool capped;
    line_t *la = split (a, &n), *lb = split (b, &m);
    op_t *ops = script (la, n, lb, m, &k, &capped, budget);
    if (capped) {
        snprintf (head, sizeof head, "(%zu and %zu lines: too many to compare line by line; "
                  "the whole text is shown as replaced)\n", n, m);
        puts_ (s, head);
    }
    hunks (s, ops, k);
    free (ops);
    free (la);
    free (lb);
}

/* One side of a non-text key: its compact JSON (a string as it is). */
static void
side (sbuf_t *s, char sign, const json_t *v)
{
    char mark[3] = { sign, ' ', '\0' };
    puts_ (s, mark);
    if (!v)
        puts_ (s, "(absent)");
    else if (json_is_string (v))
        puts_ (s, json_string_value (v));
    else {
        char *text = json_dumps (v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        puts_ (s, text ? text : "?");
        free (text);
    }
    puts_ (s, "\n");
}

static int
by_name (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

char *
profile_diff (const json_t *a, const json_t *b, uint64_t va, uint64_t vb)
{
    sbuf_t s = { 0 };
    size_t budget = PDIFF_BUDGET;
    puts_ (&s, "");
    text_diff (&s, "systemPrompt", json_string_value (json_object_get (a, "systemPrompt")),
               json_string_value (json_object_get (b, "systemPrompt")), va, vb, &budget);
    /* every tool either side names, in name order */
    json_t *ta = json_object_get (a, "toolDescriptions"), *tb = json_object_get (b,
                                                                               "toolDescriptions");
    json_t *names = json_object ();
    const char *name;
    json_t *v;
    json_object_foreach (ta, name, v)
        json_object_set (names, name, json_true ());
    json_object_foreach (tb, name, v)
        json_object_set (names, name, json_true ());
    size_t count = json_object_size (names), i = 0;
    const char **sorted = xcalloc (count + 1, sizeof *sorted);
    json_object_foreach (names, name, v)
        sorted[i++] = name;
    qsort (sorted, count, sizeof *sorted, by_name);
    for (i = 0; i < count; i++) {
        char label[128];
        snprintf (label, sizeof label, "toolDescriptions.%s", sorted[i]);
        text_diff (&s, label, json_string_value (json_object_get (ta, sorted[i])),
                   json_string_value (json_object_get (tb, sorted[i])), va, vb, &budget);
    }
    free (sorted);
    json_decref (names);
    static const char *const others[] = { "budgets", "checks", "model" };
    for (i = 0; i < sizeof others / sizeof others[0]; i++) {
        const json_t *x = json_object_get (a, others[i]), *y = json_object_get (b, others[i]);
        if ((!x && !y) || (x && y && json_equal ((json_t *) x, (json_t *) y)))
            continue;
        puts_ (&s, others[i]);
        puts_ (&s, "\n");
        side (&s, '-', x);
        side (&s, '+', y);
    }
    if (s.cut)
        append (&s, CUT_NOTE, strlen (CUT_NOTE));
    return s.data;
}
