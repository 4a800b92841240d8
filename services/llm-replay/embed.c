/* embed: the scripted model's embeddings. See embed.h. */
#include "embed.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORD_MAX 48

/* Concepts: each row a name then the stems (after stem ()) that mean it. */
static const char *const concepts[][10] = {
    { "fail", "fail", "crash", "break", "broke", "broken", "panic", "abort", "segfault", "die" },
    { "bug", "bug", "defect", "fault", "flaw", "glitch", "issu", "error", "problem" },
    { "fix", "fix", "repair", "patch", "correct", "resolv", "solv", "mend" },
    { "empty", "empty", "blank", "void", "nothing", "null", "zero-length" },
    { "string", "string", "text", "str", "characters", "word" },
    { "input", "input", "argument", "arg", "param", "parameter" },
    { "test", "test", "spec", "check", "verif", "verifi", "verify", "assert" },
    { "make", "make", "creat", "build", "add", "writ", "generat", "implement" },
    { "delete", "delet", "remov", "eras", "drop", "purg" },
    { "fast", "fast", "quick", "speed", "perform", "slow", "latenc", "rapid" },
    { "function", "function", "func", "method", "routin", "procedur" },
    { "parse", "pars", "tokeniz", "lex", "lexer" },
    { "sort", "sort", "order", "rank" },
    { "config", "config", "configur", "setting", "sett", "option", "preferenc" },
    { "store", "databas", "db", "stor", "storag", "persist", "lmdb" },
    { "deploy", "deploy", "ship", "releas", "launch", "rollout" },
    { "car", "car", "automobil", "vehicl", "auto" },
    { "big", "big", "larg", "huge", "giant", "enormous" },
    { "small", "small", "tiny", "littl", "minor" },
    { "start", "start", "begin", "begun", "init", "initializ" },
    { "finish", "finish", "end", "stop", "complet", "done" },
    { "weather", "weather", "rain", "sunny", "forecast", "temperatur" },
    { "cat", "cat", "kitten", "feline" },
    { "dog", "dog", "puppy", "canin", "hound" },
};

static const char *const stop[] = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from",
    "has", "have", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or",
    "our", "so", "that", "the", "their", "then", "there", "these", "this", "to", "was", "we",
    "were", "what", "when", "will", "with", "you", "your", "given", "gets", "get", "got",
    "please", "how", "why", "which", "some", "any", "all"
};

static bool
word_byte (unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || c == '-' || c >= 0x80;
}

static bool
ends (const char *w, size_t n, const char *suffix, size_t keep)
{
    size_t s = strlen (suffix);
    return n >= s + keep && !memcmp (w + n - s, suffix, s);
}

/* A light suffix stemmer: enough for plurals and verb forms (two
 * suffixes at most, each leaving three bytes). */
static void
stem (char *w)
{
    size_t n = strlen (w);
    static const char *const suffixes[] = { "ing", "ed", "es", "s", "ly", "er", "ion", "ation" };
    for (int round = 0; round < 2; round++)     /* "parsers" -> "parser" -> "pars" */
        for (size_t i = sizeof suffixes / sizeof *suffixes; i-- > 0;)
            if (ends (w, n, suffixes[i], 3) && !(i == 3 && ends (w, n, "ss", 2))) {
                w[n - strlen (suffixes[i])] = '\0';
                n = strlen (w);
                break;
            }
    if (n > 3 && w[n - 1] == 'e')
        w[n - 1] = '\0';            /* "parse" and "pars" alike */
}

static const char *
concept_of (const char *w)
{
    for (size_t c = 0; c < sizeof concepts / sizeof *concepts; c++)
        for (size_t i = 1; i < 10 && concepts[c][i]; i++)
            if (!strcmp (w, concepts[c][i]))
                return concepts[c][0];
    return w;
}

static void
feature (const char *name, float *out, size_t dims)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *) name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    out[h % dims] += (h >> 63) ? -1.0f : 1.0f;
}

void
embed_text (const char *text, size_t len, float *out, size_t dims)
{
    memset (out, 0, dims * sizeof *out);
    const unsigned char *p = (const unsigned char *) text, *end = p + len;
    while (p < end) {
        while (p < end && !word_byte (*p))
            p++;
        char w[WORD_MAX + 1];
        size_t n = 0;
        for (; p < end && word_byte (*p); p++)
            if (n < WORD_MAX)
                w[n++] = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        w[n] = '\0';
        bool stopped = !n;
        for (size_t i = 0; !stopped && i < sizeof stop / sizeof *stop; i++)
            stopped = !strcmp (w, stop[i]);
        if (stopped)
            continue;
        stem (w);
        feature (concept_of (w), out, dims);
    }
    double norm = 0;
    for (size_t i = 0; i < dims; i++)
        norm += (double) out[i] * out[i];
    if (norm == 0) {
        feature ("<nothing>", out, dims);   /* providers never answer a zero vector */
        norm = 1;
    }
    norm = sqrt (norm);
    for (size_t i = 0; i < dims; i++)
        out[i] = (float) (out[i] / norm);
}

static char *
fail (int *status, const char *msg)
{
    *status = 400;
    json_t *e = json_pack ("{s:{s:s, s:s}}", "error", "message", msg, "type",
                           "invalid_request_error");
    char *body = json_dumps (e, JSON_COMPACT);
    json_decref (e);
    return body;
}

/* vec as OpenAI's `encoding_format: base64` sends it: the floats'
 * little-endian IEEE 754 bytes in base64 (a new JSON string). */
static json_t *
base64_floats (const float *vec, size_t dims)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = dims * 4;
    unsigned char *raw = malloc (n);
    char *out = malloc ((n + 2) / 3 * 4 + 1);
    for (size_t d = 0; d < dims; d++) {
        uint32_t bits;
        memcpy (&bits, &vec[d], 4);
        for (int b = 0; b < 4; b++)
            raw[d * 4 + (size_t) b] = (unsigned char) (bits >> (8 * b));
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t) raw[i] << 16 | (i + 1 < n ? (uint32_t) raw[i + 1] << 8 : 0)
                   | (i + 2 < n ? raw[i + 2] : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    json_t *s = json_stringn (out, o);
    free (raw);
    free (out);
    return s;
}

char *
embed_answer (const char *body, size_t len, int *status)
{
    json_t *req = json_loadb (body ? body : "", len, 0, NULL);
    json_t *input = json_object_get (req, "input");
    json_t *dj = json_object_get (req, "dimensions");
    const char *model = json_string_value (json_object_get (req, "model"));
    const char *format = json_string_value (json_object_get (req, "encoding_format")) ?: "float";
    size_t dims = dj ? (size_t) json_integer_value (dj) : EMBED_DIMS;
    char *out = NULL;
    if (!json_is_object (req) || !model)
        out = fail (status, "the body must be a JSON object with `model` and `input`");
    else if (dj && (!json_is_integer (dj) || dims < 1 || dims > EMBED_DIMS_MAX))
        out = fail (status, "`dimensions` must be an integer from 1 to 4096");
    else if (!json_is_string (input) && (!json_is_array (input) || !json_array_size (input)
                                         || json_array_size (input) > EMBED_INPUTS_MAX))
        out = fail (status, "`input` must be a string or an array of 1 to 2048 strings");
    else if (strcmp (format, "float") && strcmp (format, "base64"))
        out = fail (status, "`encoding_format` must be `float` or `base64`");
    if (out) {
        json_decref (req);
        return out;
    }
    json_t *one = json_is_string (input) ? json_pack ("[O]", input) : json_incref (input);
    json_t *data = json_array ();
    float *vec = malloc (dims * sizeof *vec);
    size_t i, words = 0;
    json_t *t;
    json_array_foreach (one, i, t) {
        if (!json_is_string (t)) {
            out = fail (status, "every `input` item must be a string");
            break;
        }
        embed_text (json_string_value (t), json_string_length (t), vec, dims);
        words += json_string_length (t) / 4 + 1;
        json_t *e = strcmp (format, "base64") == 0 ? base64_floats (vec, dims) : json_array ();
        for (size_t d = 0; json_is_array (e) && d < dims; d++)
            json_array_append_new (e, json_real (vec[d]));
        json_array_append_new (data, json_pack ("{s:s, s:I, s:o}", "object", "embedding",
                                                "index", (json_int_t) i, "embedding", e));
    }
    if (!out) {
        json_t *rep = json_pack ("{s:s, s:O, s:s, s:{s:I, s:I}}", "object", "list", "data",
                                 data, "model", model, "usage", "prompt_tokens",
                                 (json_int_t) words, "total_tokens", (json_int_t) words);
        out = json_dumps (rep, JSON_COMPACT | JSON_REAL_PRECISION (7));
        json_decref (rep);
        *status = 200;
    }
    free (vec);
    json_decref (data);
    json_decref (one);
    json_decref (req);
    return out;
}
