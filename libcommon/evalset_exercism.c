/* evalset_exercism: a set in the public exercise layout, loaded through
 * its mapping file (caisson-set.json, evals/README.md § Bringing your own
 * set) without conversion. Each exercise folder holds .docs/instructions.md
 * (and optionally .docs/instructions.append.md) and .meta/config.json,
 * whose `files` lists the stub (`solution`), the tests (`test`), the
 * example solution (`example`) and support files (`editor`). The stub and
 * the support files become the starting files, the tests are hidden, and
 * the example is laid over the stub's path as the reference solution. */
#include "evalset_int.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The list at key in files (an array of 1..64 strings when need, else of
 * 0..64), or NULL with e's error filled in. */
static const json_t *
list_of (efs_t *e, const json_t *files, const char *key, bool need)
{
    json_t *v = json_object_get (files, key);
    if (!v && !need)
        return json_null ();    /* iterates as an empty list */
    size_t i;
    json_t *s;
    if (!json_is_array (v) || json_array_size (v) > 64 || (need && !json_array_size (v))) {
        efs_fail (e, ".meta/config.json: files.%s must be an array of %s64 paths", key,
                  need ? "1.." : "at most ");
        return NULL;
    }
    json_array_foreach (v, i, s)
        if (!json_is_string (s)) {
            efs_fail (e, ".meta/config.json: files.%s[%zu] must be a path", key, i);
            return NULL;
        }
    return v;
}

/* Reads each path of list under dir into out as {path: as, data}, as
 * being the path of the same index in names (or the path itself). */
static int
read_list (efs_t *e, int dir, const json_t *list, const json_t *names, json_t *out)
{
    size_t i;
    json_t *p;
    json_array_foreach (list, i, p) {
        size_t len;
        char *text = efs_read (e, dir, json_string_value (p), json_string_value (p), false, &len);
        if (!text)
            return -1;
        const char *as = json_string_value (json_array_get (names, i));
        json_array_append_new (out, json_pack ("{s:s, s:s%}", "path", as ? as : json_string_value (p),
                                               "data", text, len));
        free (text);
    }
    return 0;
}

/* One exercise folder (taken: closed here) as a task document. */
static json_t *
load_exercise (efs_t *e, int dir, const char *id, const json_t *map)
{
    json_t *doc = json_object (), *cfg = evalset_read_json (e, dir, ".meta/config.json");
    json_t *files = json_object_get (cfg, "files");
    const json_t *stub = NULL, *test = NULL, *example = NULL, *editor = NULL;
    char *text = NULL, *append = NULL;
    size_t len = 0, alen = 0;
    int rc = !cfg ? -1
           : !json_is_object (files) ? efs_fail (e, ".meta/config.json: no \"files\" object")
           : (!(stub = list_of (e, files, "solution", true))
              || !(test = list_of (e, files, "test", true))
              || !(example = list_of (e, files, "example", true))
              || !(editor = list_of (e, files, "editor", false))) ? -1
           : json_array_size (example) != json_array_size (stub)
           ? efs_fail (e, ".meta/config.json: files.example names %zu files and files.solution "
                       "%zu: each example file is laid over the stub of the same index",
                       json_array_size (example), json_array_size (stub))
           : evalset_settings (e, map, (const char *const[]) { "layout", "exercises",
                                                               "include", "idPrefix", NULL },
                               doc);
    if (rc == 0 && !(text = efs_read (e, dir, ".docs/instructions.md", ".docs/instructions.md",
                                      false, &len)))
        rc = -1;
    if (rc == 0 && !(append = efs_read (e, dir, ".docs/instructions.append.md",
                                        ".docs/instructions.append.md", true, &alen))
        && alen != (size_t) -1)
        rc = -1;
    json_t *start = json_array (), *hidden = json_array (), *solution = json_array ();
    if (rc == 0)
        rc = read_list (e, dir, stub, NULL, start) || read_list (e, dir, editor, NULL, start)
          || read_list (e, dir, test, NULL, hidden)
          || read_list (e, dir, example, stub, solution) ? -1 : 0;
    if (rc == 0) {
        /* where to write is the exercise's convention, not in its text */
        size_t cap = len + (append ? alen : 0) + 200 + 80 * json_array_size (stub);
        char *task = malloc (cap);
        size_t k = (size_t) snprintf (task, cap, "%s%s%s\n\nWrite your solution in", text,
                                      append ? "\n\n" : "", append ? append : "");
        size_t i;
        json_t *p;
        json_array_foreach (stub, i, p)
            k += (size_t) snprintf (task + k, cap - k, "%s `%.64s`", i ? "," : "",
                                    json_string_value (p));
        snprintf (task + k, cap - k, " (the stub is in place).");
        json_object_set_new (doc, "id", json_string (id));
        json_object_set_new (doc, "task", json_string (task));
        json_object_set (doc, "files", start);
        json_object_set (doc, "tests", hidden);
        json_object_set (doc, "solution", solution);
        free (task);
    }
    json_decref (start);
    json_decref (hidden);
    json_decref (solution);
    free (text);
    free (append);
    json_decref (cfg);
    close (dir);
    if (rc) {
        json_decref (doc);
        return NULL;
    }
    return doc;
}

/* Whether name is picked by include (an array of fnmatch patterns; absent: every name). */
static bool
included (const json_t *include, const char *name)
{
    if (!include)
        return true;
    size_t i;
    json_t *pat;
    json_array_foreach (include, i, pat)
        if (fnmatch (json_string_value (pat), name, 0) == 0)
            return true;
    return false;
}

int
evalset_exercism (evalset_t *self, efs_t *e, int dir, const json_t *map)
{
    const char *layout = json_string_value (json_object_get (map, "layout"));
    json_t *ex = json_object_get (map, "exercises"), *include = json_object_get (map, "include");
    json_t *prefix = json_object_get (map, "idPrefix");
    if (!layout || strcmp (layout, "exercism"))
        return efs_fail (e, EVALSET_MAPPING ": \"layout\" must be \"exercism\" (the one public "
                         "layout known)");
    if (ex && !json_is_string (ex))
        return efs_fail (e, EVALSET_MAPPING ": \"exercises\" must be a directory of the set");
    if (prefix && (!json_is_string (prefix) || json_string_length (prefix) > 16))
        return efs_fail (e, EVALSET_MAPPING ": \"idPrefix\" must be a string of at most 16 "
                         "bytes");
    size_t i;
    json_t *pat;
    if (include && !json_is_array (include))
        return efs_fail (e, EVALSET_MAPPING ": \"include\" must be an array of patterns");
    json_array_foreach (include, i, pat)
        if (!json_is_string (pat))
            return efs_fail (e, EVALSET_MAPPING ": include[%zu] must be a pattern", i);
    /* the settings every exercise shares, checked once with the file named */
    char label[200];
    snprintf (label, sizeof label, "%s/" EVALSET_MAPPING, e->label);
    efs_t top = { label, 0, 0, e->why, e->n };
    json_t *probe = json_object ();
    int bad = evalset_settings (&top, map, (const char *const[]) { "layout", "exercises",
                                                                   "include", "idPrefix", NULL },
                                probe);
    json_decref (probe);
    if (bad)
        return -1;
    const char *where = ex ? json_string_value (ex) : ".";
    int exdir = efs_open_dir (e, dir, where, where, false);
    if (exdir < 0)
        return -1;
    json_t *names = json_array ();
    int rc = evalset_subdirs (e, exdir, names);
    json_t *name;
    json_array_foreach (names, i, name) {
        const char *n = json_string_value (name);
        if (rc || !included (include, n))
            continue;
        char id[128];
        snprintf (id, sizeof id, "%s%s", prefix ? json_string_value (prefix) : "", n);
        snprintf (label, sizeof label, "%s/%s", e->label, id);
        efs_t one = { label, 0, 0, e->why, e->n };
        if (!evalset_id_ok (id)) {
            rc = efs_fail (&one, "not a task id (^[a-z0-9][a-z0-9._-]{0,63}$, from \"idPrefix\" "
                           "and the folder's name)");
            break;
        }
        int fd = efs_open_dir (&one, exdir, n, n, false);
        json_t *doc = fd < 0 ? NULL : load_exercise (&one, fd, id, map);
        rc = doc ? evalset_add (self, doc, &one) : -1;
    }
    json_decref (names);
    close (exdir);
    return rc;
}
