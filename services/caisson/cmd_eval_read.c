/* cmd_eval_read: see cmd_eval_read.h. */
#include "cmd_eval_read.h"
#include "eval_bus.h"
#include "eval_report.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
print_json (const json_t *v)
{
    char *text = json_dumps (v, JSON_COMPACT);
    printf ("%s\n", text ? text : "null");
    free (text);
}

/* A record still `running` whose harness ran on this host and is gone
 * (killed, it could not say so) is stored as `interrupted` with a reason,
 * and the sandboxes it left are destroyed; then true. A live or another
 * host's harness: false, rec unchanged. */
static bool
settle (bus_client_t *c, json_t *rec)
{
    const char *status = json_string_value (json_object_get (rec, "status"));
    const char *id = json_string_value (json_object_get (rec, "id"));
    json_t *h = json_object_get (rec, "harness");
    json_int_t pid = json_integer_value (json_object_get (h, "pid"));
    char host[256] = "", reason[400], why[512];
    gethostname (host, sizeof host - 1);
    if (!status || strcmp (status, "running") || !id || pid <= 0 || pid == getpid ()
        || strcmp (json_string_value (json_object_get (h, "host")) ?: "", host)
        || kill ((pid_t) pid, 0) == 0 || errno != ESRCH)
        return false;
    int dropped = evalbus_drop_sandboxes (c, id);
    snprintf (reason, sizeof reason, "its harness (pid %lld on %s) ended without finishing; "
              "%d sandbox(es) it left destroyed", (long long) pid, host, dropped);
    json_object_set_new (rec, "status", json_string ("interrupted"));
    json_object_set_new (rec, "reason", json_string (reason));
    if (evalbus_put (c, id, rec, why, sizeof why))
        fprintf (stderr, "caisson: eval %s: %s\n", id, why);
    return true;
}

int
cmd_eval_list (bus_client_t *c, bool json)
{
    char why[512];
    json_t *list = evalbus_list (c, why, sizeof why), *r;
    if (!list)
        return fprintf (stderr, "caisson: %s\n", why), 1;
    size_t k;
    json_array_foreach (list, k, r) {
        const char *st = json_string_value (json_object_get (r, "status"));
        json_t *whole = st && !strcmp (st, "running")
            ? evalbus_get (c, json_string_value (json_object_get (r, "id")), why, sizeof why)
            : NULL;
        if (whole && settle (c, whole))
            json_object_set_new (r, "status", json_string ("interrupted"));
        json_decref (whole);
    }
    if (json)
        print_json (list);
    else {
        size_t i;
        printf ("%-40s %-11s %-16s %-20s %8s %6s\n", "ID", "STATUS", "SET", "MODEL", "PASS", "TASKS");
        json_array_foreach (list, i, r) {
            json_t *s = json_object_get (r, "summary");
            printf ("%-40s %-11s %-16s %-20s %7.1f%% %6lld\n",
                    json_string_value (json_object_get (r, "id")) ?: "",
                    json_string_value (json_object_get (r, "status")) ?: "",
                    json_string_value (json_object_get (r, "set")) ?: "",
                    json_string_value (json_object_get (r, "model")) ?: "(default)",
                    100.0 * json_number_value (json_object_get (s, "passRate")),
                    (long long) json_integer_value (json_object_get (s, "tasks")));
        }
    }
    json_decref (list);
    return 0;
}

/* The record of eval id (new), or NULL with why printed. */
static json_t *
fetch (bus_client_t *c, const char *id)
{
    char why[512];
    json_t *r = evalbus_get (c, id, why, sizeof why);
    if (!r)
        fprintf (stderr, "caisson: eval %s: %s\n", id, why);
    else
        settle (c, r);
    return r;
}

static void
print_tasks (const json_t *r)
{
    size_t i, j;
    json_t *t, *a;
    printf ("\n%-32s %7s  %s\n", "TASK", "PASSES", "CAUSES");
    json_array_foreach (json_object_get (r, "tasks"), i, t) {
        json_t *attempts = json_object_get (t, "attempts");
        printf ("%-32s %3lld/%-3zu ", json_string_value (json_object_get (t, "id")) ?: "",
                (long long) json_integer_value (json_object_get (t, "passes")),
                json_array_size (attempts));
        json_array_foreach (attempts, j, a) {
            const char *c = json_string_value (json_object_get (a, "cause"));
            printf (" %s", c ? c : json_object_get (a, "error") ? "harness_error" : "-");
        }
        printf ("\n");
    }
}

int
cmd_eval_read (bus_client_t *c, const char *sub, const char *const pos[], int npos, bool json)
{
    if (npos < 1 || (!strcmp (sub, "show") && npos > 1))
        return fprintf (stderr, "usage: %s\n", cmd_eval_usage), 2;
    json_t *a = fetch (c, pos[0]), *b = NULL;
    if (!a || (npos > 1 && !(b = fetch (c, pos[1])))) {
        json_decref (a);
        return 1;
    }
    if (!strcmp (sub, "show")) {
        if (json)
            print_json (a);
        else {
            eval_report_print (stdout, a, NULL);
            print_tasks (a);
        }
    }
    else if (json) {
        json_t *out = json_pack ("{s:O, s:O*}", "a", json_object_get (a, "summary"), "b",
                                 b ? json_object_get (b, "summary") : NULL);
        if (b)
            json_object_set_new (out, "compare", eval_report_compare (a, b));
        print_json (out);
        json_decref (out);
    }
    else
        eval_report_print (stdout, a, b);
    json_decref (a);
    json_decref (b);
    return 0;
}

int
cmd_eval_rm (bus_client_t *c, const char *const pos[], int npos)
{
    if (npos < 1)
        return fprintf (stderr, "usage: %s\n", cmd_eval_usage), 2;
    int rc = 0;
    for (int i = 0; i < npos; i++) {
        char why[512];
        if (evalbus_delete (c, pos[i], why, sizeof why)) {
            fprintf (stderr, "caisson: eval %s: %s\n", pos[i], why);
            rc = 1;
        }
        else
            printf ("deleted eval %s\n", pos[i]);
    }
    return rc;
}

int
cmd_eval_export (bus_client_t *c, const char *const pos[], int npos, bool swebench,
                 const char *file)
{
    if (npos != 1 || !swebench)
        return fprintf (stderr, "usage: %s\n", cmd_eval_usage), 2;
    json_t *r = fetch (c, pos[0]);
    if (!r)
        return 1;
    FILE *out = file ? fopen (file, "w") : stdout;
    int lines = out ? eval_report_export (out, r) : -1;
    if (out && out != stdout && fclose (out))
        lines = -1;
    if (lines < 0)
        fprintf (stderr, "caisson: cannot write %s\n", file ? file : "the output");
    json_decref (r);
    return lines < 0 ? 1 : 0;
}

