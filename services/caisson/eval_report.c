/* eval_report: see eval_report.h. */
#include "eval_report.h"
#include "eval_score.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static double
num (const json_t *o, const char *key)
{
    json_t *v = json_object_get (o, key);
    return json_is_number (v) ? json_number_value (v) : 0.0;
}

static const char *
str (const json_t *o, const char *key)
{
    return json_string_value (json_object_get (o, key)) ?: "";
}

void
eval_report_task (json_t *task, unsigned repeat)
{
    json_t *attempts = json_object_get (task, "attempts"), *a;
    size_t i;
    unsigned passes = 0, n = (unsigned) json_array_size (attempts);
    json_array_foreach (attempts, i, a)
        passes += json_is_true (json_object_get (a, "passed"));
    json_object_set_new (task, "passes", json_integer (passes));
    json_t *at = json_object ();
    char k[16];
    json_object_set_new (at, "1", json_real (eval_pass_at_k (n, passes, 1)));
    snprintf (k, sizeof k, "%u", repeat ? repeat : 1);
    json_object_set_new (at, k, json_real (eval_pass_at_k (n, passes, repeat ? repeat : 1)));
    json_object_set_new (task, "passAtK", at);
}

json_t *
eval_report_summary (const json_t *tasks, unsigned repeat)
{
    size_t i, j;
    json_t *t, *a;
    unsigned attempts = 0, passed = 0, counted = 0;
    double tokens = 0, seconds = 0, steps = 0, cost = 0, p1 = 0, pk = 0;
    json_t *causes = json_object ();
    char k[16];
    snprintf (k, sizeof k, "%u", repeat ? repeat : 1);
    json_array_foreach (tasks, i, t) {
        json_t *at = json_object_get (t, "passAtK");
        p1 += num (at, "1");
        pk += num (at, k);
        json_array_foreach (json_object_get (t, "attempts"), j, a) {
            attempts++;
            passed += json_is_true (json_object_get (a, "passed"));
            cost += num (a, "costUsd");
            if (json_object_get (a, "runId")) {
                counted++;
                tokens += num (a, "inputTokens") + num (a, "outputTokens");
                seconds += num (a, "seconds");
                steps += num (a, "steps");
            }
            const char *c = json_string_value (json_object_get (a, "cause"));
            if (!c && json_object_get (a, "error"))
                c = "harness_error";
            if (c)
                json_object_set_new (causes, c,
                                     json_integer (json_integer_value (json_object_get (causes, c)) + 1));
        }
    }
    size_t nt = json_array_size (tasks);
    json_t *passk = json_object ();
    json_object_set_new (passk, "1", json_real (nt ? p1 / (double) nt : 0));
    json_object_set_new (passk, k, json_real (nt ? pk / (double) nt : 0));
    return json_pack ("{s:I, s:I, s:I, s:f, s:o, s:f, s:f, s:f, s:f, s:o}", "tasks",
                      (json_int_t) nt, "attempts", (json_int_t) attempts, "passed",
                      (json_int_t) passed, "passRate",
                      attempts ? (double) passed / attempts : 0.0, "passAtK", passk,
                      "meanTokens", counted ? tokens / counted : 0.0, "meanSeconds",
                      counted ? seconds / counted : 0.0, "meanSteps",
                      counted ? steps / counted : 0.0, "costUsd", cost, "causes", causes);
}

/* The task of record with this id, or NULL. */
static const json_t *
task_of (const json_t *record, const char *id)
{
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (record, "tasks"), i, t)
        if (!strcmp (str (t, "id"), id))
            return t;
    return NULL;
}

static json_t *
change (const json_t *sa, const json_t *sb, const char *key)
{
    double x = num (sa, key), y = num (sb, key);
    return json_pack ("{s:f, s:f, s:f}", "a", x, "b", y, "change", y - x);
}

json_t *
eval_report_compare (const json_t *a, const json_t *b)
{
    json_t *sa = json_object_get (a, "summary"), *sb = json_object_get (b, "summary");
    json_t *fixed = json_array (), *broken = json_array (), *same = json_array ();
    json_t *added = json_array (), *removed = json_array (), *t;
    size_t i;
    json_array_foreach (json_object_get (b, "tasks"), i, t) {
        const json_t *was = task_of (a, str (t, "id"));
        json_t *id = json_object_get (t, "id");
        if (!was) {
            json_array_append (added, id);
            continue;
        }
        bool before = num (was, "passes") > 0, after = num (t, "passes") > 0;
        json_array_append (before == after ? same : after ? fixed : broken, id);
    }
    json_array_foreach (json_object_get (a, "tasks"), i, t)
        if (!task_of (b, str (t, "id")))
            json_array_append (removed, json_object_get (t, "id"));
    return json_pack ("{s:O*, s:O*, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "a",
                      json_object_get (a, "id"), "b", json_object_get (b, "id"), "passRate",
                      change (sa, sb, "passRate"), "meanTokens", change (sa, sb, "meanTokens"),
                      "meanSeconds", change (sa, sb, "meanSeconds"), "fixed", fixed, "broken",
                      broken, "unchanged", same, "added", added, "removed", removed);
}

typedef struct {
    const char *cause;
    json_int_t n;
} count_t;

static int
by_count (const void *x, const void *y)
{
    const count_t *a = x, *b = y;
    return a->n != b->n ? (a->n < b->n ? 1 : -1) : strcmp (a->cause, b->cause);
}

/* Causes, most common first, as "cause n, cause n". */
static void
print_causes (FILE *out, const json_t *causes)
{
    size_t n = 0, max = json_object_size (causes);
    count_t *all = calloc (max + 1, sizeof *all);
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) causes, key, v)
        if (all && n < max)
            all[n++] = (count_t) { key, json_integer_value (v) };
    if (all)
        qsort (all, n, sizeof *all, by_count);
    for (size_t i = 0; i < n; i++)
        fprintf (out, "%s%s %lld", i ? ", " : "", all[i].cause, (long long) all[i].n);
    fprintf (out, "%s\n", n ? "" : "none");
    free (all);
}

static void
print_summary (FILE *out, const json_t *r)
{
    const json_t *s = json_object_get (r, "summary");
    fprintf (out, "eval %s: set %s, model %s%s%s, %s\n", str (r, "id"), str (r, "set"),
             *str (r, "model") ? str (r, "model") : "(default)",
             *str (r, "profile") ? ", profile " : "", str (r, "profile"), str (r, "status"));
    fprintf (out, "  pass rate     %.1f%% (%lld of %lld attempts, %lld tasks)\n",
             100.0 * num (s, "passRate"), (long long) num (s, "passed"),
             (long long) num (s, "attempts"), (long long) num (s, "tasks"));
    const char *k;
    json_t *v;
    fprintf (out, "  pass@k       ");
    json_object_foreach (json_object_get (s, "passAtK"), k, v)
        fprintf (out, " pass@%s %.3f", k, json_number_value (v));
    fprintf (out, "\n  mean tokens   %.0f\n  mean runtime  %.2f s\n  mean steps    %.1f\n"
             "  cost          $%.4f\n  causes        ", num (s, "meanTokens"),
             num (s, "meanSeconds"), num (s, "meanSteps"), num (s, "costUsd"));
    print_causes (out, json_object_get (s, "causes"));
}

static void
print_ids (FILE *out, const char *label, const json_t *ids)
{
    size_t i;
    json_t *id;
    fprintf (out, "  %-10s %zu", label, json_array_size (ids));
    json_array_foreach (ids, i, id)
        fprintf (out, "%s%s", i ? ", " : ": ", json_string_value (id));
    fprintf (out, "\n");
}

void
eval_report_print (FILE *out, const json_t *a, const json_t *b)
{
    print_summary (out, a);
    if (!b)
        return;
    print_summary (out, b);
    json_t *c = eval_report_compare (a, b);
    json_t *pr = json_object_get (c, "passRate"), *tk = json_object_get (c, "meanTokens");
    json_t *sec = json_object_get (c, "meanSeconds");
    fprintf (out, "%s -> %s\n  pass rate  %+.1f points\n  tokens     %+.0f\n  runtime    %+.2f s\n",
             str (a, "id"), str (b, "id"), 100.0 * num (pr, "change"), num (tk, "change"),
             num (sec, "change"));
    print_ids (out, "fixed", json_object_get (c, "fixed"));
    print_ids (out, "broken", json_object_get (c, "broken"));
    fprintf (out, "  %-10s %zu\n", "unchanged", json_array_size (json_object_get (c, "unchanged")));
    if (json_array_size (json_object_get (c, "added")))
        print_ids (out, "only in B", json_object_get (c, "added"));
    if (json_array_size (json_object_get (c, "removed")))
        print_ids (out, "only in A", json_object_get (c, "removed"));
    json_decref (c);
}

static size_t
size_of (const json_t *v)
{
    char *text = json_dumps (v, JSON_COMPACT);
    size_t n = text ? strlen (text) : SIZE_MAX;
    free (text);
    return n;
}

/* The attempt the export takes of task: its first passing, else its first. */
static const json_t *
pick (const json_t *task)
{
    json_t *attempts = json_object_get (task, "attempts"), *a;
    size_t i;
    json_array_foreach (attempts, i, a)
        if (json_is_true (json_object_get (a, "passed")))
            return a;
    return json_array_get (attempts, 0);
}

/* s's string at key cut to its first (tail false) or last max bytes, at
 * a line break (first) or a character boundary (last). */
static void
cut (json_t *s, const char *key, size_t max, bool tail)
{
    const char *text = json_string_value (json_object_get (s, key));
    size_t len = text ? strlen (text) : 0;
    if (len <= max)
        return;
    size_t from = 0, to = max;
    if (tail) {
        from = len - max;
        while (from < len && ((unsigned char) text[from] & 0xC0) == 0x80)
            from++;
        to = len;
    }
    else
        while (to && text[to - 1] != '\n')
            to--;
    json_object_set_new (s, key, json_stringn (text + from, to - from));
}

json_t *
eval_report_fit (json_t *record, size_t max)
{
    if (size_of (record) <= max)
        return json_incref (record);
    json_t *r = json_deep_copy (record), *t, *a;
    size_t i, j;
    for (int pass = 0; pass < 3 && size_of (r) > max; pass++)
        json_array_foreach (json_object_get (r, "tasks"), i, t) {
            const json_t *keep = pick (t);
            json_array_foreach (json_object_get (t, "attempts"), j, a) {
                if (pass == 0 && a != keep && json_object_get (a, "patch")) {
                    json_object_del (a, "patch");
                    json_object_set_new (a, "patchDropped", json_true ());
                }
                else if (pass == 1)
                    cut (json_object_get (a, "tests"), "output", 512, true);
                else if (pass == 2 && a == keep
                         && json_string_length (json_object_get (a, "patch")) > 32768) {
                    cut (a, "patch", 32768, false);
                    json_object_set_new (a, "patchCut", json_true ());
                }
            }
        }
    return r;
}

int
eval_report_export (FILE *out, const json_t *record)
{
    const char *model = *str (record, "model") ? str (record, "model") : "caisson";
    size_t i;
    json_t *t;
    int lines = 0;
    json_array_foreach (json_object_get (record, "tasks"), i, t) {
        json_t *line = json_pack ("{s:s, s:s, s:s}", "instance_id", str (t, "id"),
                                  "model_name_or_path", model, "model_patch", str (pick (t), "patch"));
        char *text = json_dumps (line, JSON_COMPACT);
        json_decref (line);
        if (!text || fprintf (out, "%s\n", text) < 0) {
            free (text);
            return -1;
        }
        free (text);
        lines++;
    }
    return fflush (out) ? -1 : lines;
}
