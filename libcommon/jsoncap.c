/* jsoncap: a JSON value cut to fit, still valid. See jsoncap.h. */
#include "jsoncap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 200
/* Each round encodes and walks the whole value; a value of many equal
 * parts (one cut per round) would cost MAX_ROUNDS times its size. Past
 * this many bytes encoded in all, it gets the short message instead. */
#define KEEP_MIN 32             /* a cut string keeps at least this much */

static size_t
encoded (const json_t *v)
{
    return json_dumpb (v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The longest string (by bytes) and the longest array under v. */
static void
largest (json_t *v, json_t **str, json_t **arr)
{
    size_t i;
    const char *k;
    json_t *c;
    if (json_is_string (v) && (!*str || json_string_length (v) > json_string_length (*str)))
        *str = v;
    else if (json_is_array (v)) {
        if (!*arr || json_array_size (v) > json_array_size (*arr))
            *arr = v;
        json_array_foreach (v, i, c)
            largest (c, str, arr);
    }
    else if (json_is_object (v))
        json_object_foreach (v, k, c)
            largest (c, str, arr);
}

/* Cuts string s by about over bytes (more when escapes make the text
 * longer than the bytes), at a UTF-8 boundary. Returns 0, or -1 when it
 * is too short to cut. */
static int
cut_string (json_t *s, size_t over)
{
    size_t len = json_string_length (s);
    if (len <= KEEP_MIN + 40)
        return -1;
    size_t keep = len > over + 40 + KEEP_MIN ? len - over - 40 : KEEP_MIN;
    /* escapes: the encoding may be longer than the bytes; cut at least half */
    if (keep > len / 2 && over > len / 4)
        keep = len / 2;
    const char *text = json_string_value (s);
    while (keep > 0 && ((unsigned char) text[keep] & 0xC0) == 0x80)
        keep--;
    char note[64];
    int n = snprintf (note, sizeof note, "...[%zu bytes cut]", len - keep);
    char *buf = malloc (keep + (size_t) n + 1);
    if (!buf)
        return -1;
    memcpy (buf, text, keep);
    memcpy (buf + keep, note, (size_t) n + 1);
    int rc = json_string_setn (s, buf, keep + (size_t) n);
    free (buf);
    return rc;
}

json_t *
jsoncap_fit (json_t *v, size_t max)
{
    return jsoncap_fit_counted (v, max, NULL);
}

json_t *
jsoncap_fit_counted (json_t *v, size_t max, size_t *work_out)
{
    size_t orig = encoded (v), size, work = 0;
    if (work_out)
        *work_out = orig;
    if (orig <= max)
        return json_incref (v);
    json_t *copy = json_deep_copy (v);
    json_t *out = json_is_object (copy) ? copy
                                        : json_pack ("{s:b, s:o}", "truncated", 1, "result", copy);
    if (!out)
        return NULL;
    json_object_set_new (out, "truncated", json_true ());
    json_object_set_new (out, "originalBytes", json_integer ((json_int_t) orig));
    for (int round = 0; round < MAX_ROUNDS && (size = encoded (out)) > max
                        && (work += size) <= JSONCAP_WORK_MAX; round++) {
        json_t *s = NULL, *a = NULL;
        largest (out, &s, &a);
        if (s && !cut_string (s, size - max))
            continue;
        if (a && json_array_size (a) > 0) {
            size_t n = json_array_size (a), drop = n / 2 ? n / 2 : 1;
            while (drop--)
                json_array_remove (a, json_array_size (a) - 1);
            continue;
        }
        break;
    }
    if (work_out)
        *work_out = orig + work;
    if (encoded (out) > max) {
        json_decref (out);
        out = json_pack ("{s:b, s:I, s:s}", "truncated", 1, "originalBytes", (json_int_t) orig,
                         "message", "the result was too large to show; ask for less");
    }
    return out;
}
