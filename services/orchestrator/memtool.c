/* memtool: the updateWorkingMemory tool (see memtool.h). */
#include "memtool.h"

#include <stdio.h>
#include <string.h>

json_t *
memtool_spec (uint64_t max)
{
    char desc[1024];
    snprintf (desc, sizeof desc,
              "Change your working memory, the Markdown document shown to you at every step "
              "(at most %llu bytes). mode `patch` replaces the text `old` (which must occur "
              "exactly once; copy it exactly) by `new`; mode `replace` makes `content` the "
              "whole document (empty clears it). The result gives the new version, or an "
              "error saying what to change.", (unsigned long long) max);
    return json_pack ("{s:s, s:s, s:{s:s, s:{s:{s:s, s:[s,s]}, s:{s:s}, s:{s:s}, s:{s:s}},"
                      " s:[s]}}",
                      "name", MEMTOOL_NAME, "description", desc, "inputSchema",
                      "type", "object", "properties",
                      "mode", "type", "string", "enum", "replace", "patch",
                      "content", "type", "string", "old", "type", "string", "new", "type",
                      "string", "required", "mode");
}

bool
memtool_is (const char *name)
{
    return name && strcmp (name, MEMTOOL_NAME) == 0;
}

/* args[key] when it is a string or absent (*s NULL); false otherwise. */
static bool
str_arg (const json_t *args, const char *key, const char **s)
{
    json_t *v = json_object_get (args, key);
    *s = json_string_value (v);
    return !v || json_is_string (v);
}

json_t *
memtool_put (const json_t *args, uint64_t seen, char *why, size_t whylen)
{
    const char *mode, *content, *old, *new_;
    if (!str_arg (args, "mode", &mode) || !str_arg (args, "content", &content)
        || !str_arg (args, "old", &old) || !str_arg (args, "new", &new_)) {
        snprintf (why, whylen, "mode, content, old and new are strings");
        return NULL;
    }
    if (!mode || (strcmp (mode, "replace") && strcmp (mode, "patch"))) {
        snprintf (why, whylen, "mode: expected `replace` or `patch`");
        return NULL;
    }
    if (!strcmp (mode, "replace")) {
        if (!content) {
            snprintf (why, whylen, "a replace needs `content`, the whole new document");
            return NULL;
        }
        return json_pack ("{s:s, s:s, s:I}", "mode", mode, "content", content, "version",
                          (json_int_t) seen);
    }
    if (!old || !*old || !new_) {
        snprintf (why, whylen, "a patch needs `old` (the text to find, not empty) and `new`");
        return NULL;
    }
    return json_pack ("{s:s, s:s, s:s, s:b}", "mode", mode, "old", old, "new", new_,
                      "anyVersion", 1);
}
