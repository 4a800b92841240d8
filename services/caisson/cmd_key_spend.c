/* cmd_key_spend: see cmd_key_spend.h. Records are read oldest first, a
 * page (1000) at a time, and summed as they come: the command holds the
 * sums, never the records. */
#define _GNU_SOURCE
#include "cmd_key_spend.h"
#include "cliask.h"
#include "mpjson.h"
#include "tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 1000
#define DAY_MS (24ULL * 3600 * 1000)

static const char *const figs[] = { "calls", "in", "out", "cached", "nusd", "errors" };
#define NFIG (sizeof figs / sizeof figs[0])

int
cmd_key_since (const char *text, uint64_t now_ms, uint64_t *ms)
{
    static const char *const iso[] = { "%Y-%m-%d", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%SZ" };
    for (size_t i = 0; i < sizeof iso / sizeof iso[0]; i++) {
        struct tm tm = { 0 };
        const char *end = strptime (text, iso[i], &tm);
        if (end && !*end) {
            time_t t = timegm (&tm);
            if (t < 0)
                return -1;
            *ms = (uint64_t) t * 1000;
            return 0;
        }
    }
    uint64_t span;
    if (tokens_parse_duration (text, &span) || !span || span > now_ms)
        return -1;              /* "never" and "0" name no time */
    *ms = now_ms - span;
    return 0;
}

static uint64_t
num (const json_t *o, const char *k)
{
    json_int_t v = json_integer_value (json_object_get (o, k));
    return v > 0 ? (uint64_t) v : 0;
}

/* The row record rec falls in, per by, into out (n bytes). */
static void
row_name (const json_t *rec, const char *by, char *out, size_t n)
{
    const char *field = !strcmp (by, "key") ? "key" : "model";
    const char *s = json_string_value (json_object_get (rec, field));
    if (!strcmp (by, "day")) {
        time_t t = (time_t) (num (rec, "ts") / 1000);
        struct tm tm;
        if (!gmtime_r (&t, &tm) || !strftime (out, n, "%Y-%m-%d", &tm))
            snprintf (out, n, "?");
    }
    else
        snprintf (out, n, "%s", s && *s ? s : "-");
}

/* Adds rec into its row of sums (name -> {calls, in, ...}). */
static void
add (json_t *sums, const json_t *rec, const char *by)
{
    char name[300];
    row_name (rec, by, name, sizeof name);
    json_t *row = json_object_get (sums, name);
    if (!row) {
        row = json_object ();
        for (size_t i = 0; i < NFIG; i++)
            json_object_set_new (row, figs[i], json_integer (0));
        json_object_set_new (sums, name, row);
    }
    const char *outcome = json_string_value (json_object_get (rec, "outcome"));
    const uint64_t v[NFIG] = { 1, num (rec, "in"), num (rec, "out"), num (rec, "cached"),
                               num (rec, "nusd"), outcome && strcmp (outcome, "ok") };
    for (size_t i = 0; i < NFIG; i++)
        json_object_set_new (row, figs[i],
                             json_integer ((json_int_t) (num (row, figs[i]) + v[i])));
}

/* Reads every page of records from since_ms on into sums. Returns 0 or 1. */
static int
read_all (bus_client_t *c, const char *user, const char *key_id, uint64_t since_ms,
          const char *by, json_t *sums)
{
    uint64_t from = 0;
    for (;;) {
        proto_msg_t *m = proto_msg_new (PROTO_spend_read, NULL);
        proto_spend_read_t *r = &m->body.spend_read;
        proto_set_str (&r->user, user);
        proto_set_str (&r->key_id, key_id);
        r->since = since_ms;
        r->from_seq = from;
        r->limit = PAGE;
        proto_msg_t *rep = cliask (c, "event-log", m);
        if (!rep)
            return 1;
        json_t *recs = mpjson_get (&rep->body.spend_page.records, 8), *rec;
        size_t i;
        json_array_foreach (recs, i, rec)
            add (sums, rec, by);
        json_decref (recs);
        from = rep->body.spend_page.next;
        proto_msg_destroy (&rep);
        if (!from)
            return 0;
    }
}

static int
by_name (const void *a, const void *b)
{
    const json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
    return strcmp (json_string_value (json_object_get (x, "name")),
                   json_string_value (json_object_get (y, "name")));
}

/* Most spent first, then by name. */
static int
by_cost (const void *a, const void *b)
{
    uint64_t x = num (*(json_t *const *) a, "nusd"), y = num (*(json_t *const *) b, "nusd");
    return x != y ? (x < y ? 1 : -1) : by_name (a, b);
}

/* sums as rows, sorted: days in order, models and keys by cost. */
static json_t *
rows_of (json_t *sums, const char *by)
{
    size_t n = json_object_size (sums), k = 0;
    json_t **list = calloc (n ? n : 1, sizeof *list), *row;
    const char *name;
    json_object_foreach (sums, name, row) {
        json_t *r = json_pack ("{s:s}", "name", name);
        json_object_update (r, row);
        list[k++] = r;
    }
    qsort (list, n, sizeof *list, strcmp (by, "day") ? by_cost : by_name);
    json_t *rows = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (rows, list[i]);
    free (list);
    return rows;
}

int
cmd_key_spend (bus_client_t *c, const char *user, const char *key_id, uint64_t since_ms,
               const char *by, bool json)
{
    json_t *sums = json_object ();
    if (read_all (c, user, key_id, since_ms, by, sums)) {
        json_decref (sums);
        return 1;
    }
    json_t *rows = rows_of (sums, by), *row;
    json_decref (sums);
    size_t i;
    if (json) {
        json_t *out = json_pack ("{s:I, s:s, s:O}", "since", (json_int_t) since_ms, "by", by,
                                 "rows", rows);
        char *s = json_dumps (out, JSON_COMPACT);
        printf ("%s\n", s ? s : "null");
        free (s);
        json_decref (out);
    }
    else {
        printf ("%-32s %8s %12s %12s %12s %14s %7s\n", !strcmp (by, "day") ? "DAY (UTC)"
                : !strcmp (by, "key") ? "KEY" : "MODEL", "CALLS", "IN", "OUT", "CACHED", "USD",
                "ERRORS");
        json_array_foreach (rows, i, row)
            printf ("%-32.32s %8llu %12llu %12llu %12llu %14.6f %7llu\n",
                    json_string_value (json_object_get (row, "name")),
                    (unsigned long long) num (row, "calls"), (unsigned long long) num (row, "in"),
                    (unsigned long long) num (row, "out"),
                    (unsigned long long) num (row, "cached"), (double) num (row, "nusd") / 1e9,
                    (unsigned long long) num (row, "errors"));
    }
    json_decref (rows);
    return 0;
}
