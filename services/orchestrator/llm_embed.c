/* llm_embed: see llm_embed.h. */
#include "llm_embed.h"
#include "llm_provider.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (64u << 20)        /* 64 inputs x 4096 numbers as JSON text, with room */

void
llm_embeddings_clear (llm_embeddings_t *e)
{
    free (e->data);
    memset (e, 0, sizeof *e);
}

char *
llm_embed_request (const char *model, const char *const *texts, size_t n)
{
    if (!n || n > LLM_EMBED_INPUTS_MAX)
        return NULL;
    json_t *input = json_array ();
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen (texts[i]);
        if (len > LLM_EMBED_TEXT_MAX) {
            len = LLM_EMBED_TEXT_MAX;
            while (len && ((unsigned char) texts[i][len] & 0xC0) == 0x80)
                len--;
        }
        json_t *s = json_stringn (texts[i], len);
        json_array_append_new (input, s ? s : json_string (""));
    }
    json_t *req = json_pack ("{s:s, s:o, s:s}", "model", model, "input", input,
                             "encoding_format", "float");
    char *body = req ? json_dumps (req, JSON_COMPACT) : NULL;
    json_decref (req);
    return body;
}

int
llm_embed_parse (const char *body, size_t len, size_t n, llm_embeddings_t *out, char *why,
                 size_t whylen)
{
    memset (out, 0, sizeof *out);
    json_t *doc = json_loadb (body, len, 0, NULL);
    json_t *data = json_object_get (doc, "data");
    int rc = -1;
    if (json_array_size (data) != n || !n) {
        snprintf (why, whylen, "embeddings answer has %zu vectors for %zu inputs",
                  json_array_size (data), n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get (data, i);
        json_t *vec = json_object_get (item, "embedding");
        json_t *ix = json_object_get (item, "index");
        size_t at = ix ? (size_t) json_integer_value (ix) : i;
        size_t dims = json_array_size (vec);
        if (!json_is_array (vec) || !dims || dims > LLM_EMBED_DIMS_MAX || at >= n
            || (ix && !json_is_integer (ix)) || (out->dims && dims != out->dims)) {
            snprintf (why, whylen, "embeddings answer: data[%zu] is not a vector of 1 to %d "
                      "numbers like the others, at an index below %zu", i, LLM_EMBED_DIMS_MAX,
                      n);
            goto done;
        }
        if (!out->data) {
            out->dims = dims;
            out->count = n;
            if (!(out->data = calloc (n * dims, sizeof *out->data))) {
                snprintf (why, whylen, "out of memory");
                goto done;
            }
        }
        for (size_t d = 0; d < dims; d++) {
            json_t *x = json_array_get (vec, d);
            double v = json_number_value (x);
            if (!json_is_number (x) || !isfinite (v) || fabs (v) > 1e30) {
                snprintf (why, whylen, "embeddings answer: data[%zu][%zu] is not a finite "
                          "number", i, d);
                goto done;
            }
            out->data[at * dims + d] = (float) v;
        }
    }
    rc = 0;
done:
    if (rc)
        llm_embeddings_clear (out);
    json_decref (doc);
    return rc;
}

typedef struct {
    char *data;
    size_t len;
    bool too_big;
} buf_t;

static size_t
on_body (char *ptr, size_t size, size_t nmemb, void *arg)
{
    buf_t *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > BODY_MAX) {
        b->too_big = true;
        return 0;
    }
    char *g = realloc (b->data, b->len + n + 1);
    if (!g)
        return 0;
    memcpy (g + b->len, ptr, n);
    b->data = g;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* The provider's own words from an error body: OpenAI's error.message. */
static void
error_words (const buf_t *b, char *out, size_t outlen)
{
    json_t *doc = b->data ? json_loadb (b->data, b->len, 0, NULL) : NULL;
    json_t *e = json_object_get (doc, "error");
    const char *msg = json_string_value (json_object_get (e, "message"));
    if (!msg)
        msg = json_string_value (e);
    snprintf (out, outlen, "%.200s", msg ? msg : "no error message");
    json_decref (doc);
}

int
llm_embed_fetch (const char *spec, const char *const *texts, size_t n, long timeout_ms,
                 llm_embeddings_t *out, char *why, size_t whylen)
{
    return llm_embed_fetch_via (spec, NULL, NULL, texts, n, timeout_ms, out, why, whylen);
}

int
llm_embed_fetch_via (const char *spec, const char *base, const char *vkey,
                     const char *const *texts, size_t n, long timeout_ms,
                     llm_embeddings_t *out, char *why, size_t whylen)
{
    memset (out, 0, sizeof *out);
    const char *model;
    const llm_provider_t *p = llm_provider_find (spec, &model);
    if (!p || !*model) {
        snprintf (why, whylen, "embedding model '%.100s' names no known provider", spec);
        return -1;
    }
    if (p->proto != LLM_OPENAI) {
        snprintf (why, whylen, "provider %s has no OpenAI-compatible embeddings endpoint",
                  p->name);
        return -1;
    }
    /* the gateway maps the whole `provider/model`, as for chat */
    char *body = llm_embed_request (base ? spec : model, texts, n);
    if (!body) {
        snprintf (why, whylen, "embeddings: 1 to %d texts at a time", LLM_EMBED_INPUTS_MAX);
        return -1;
    }
    char url[2048], auth[1024];
    snprintf (url, sizeof url, "%s/embeddings", base ? base : llm_provider_url (p));
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: application/json");
    const char *key = base ? vkey : llm_provider_key (p);
    if (key && *key) {
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", key);
        headers = curl_slist_append (headers, auth);
        memset (auth, 0, sizeof auth);
    }
    buf_t b = { 0 };
    char err[CURL_ERROR_SIZE] = "";
    CURL *e = curl_easy_init ();
    long status = 0;
    CURLcode cc = CURLE_FAILED_INIT;
    if (e) {
        curl_easy_setopt (e, CURLOPT_URL, url);
        curl_easy_setopt (e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt (e, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt (e, CURLOPT_ERRORBUFFER, err);
        curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt (e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
        cc = curl_easy_perform (e);
        curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup (e);
    }
    curl_slist_free_all (headers);
    free (body);
    int rc = -1;
    if (cc != CURLE_OK)
        snprintf (why, whylen, "embeddings request to %s failed: %s",
                  base ? "the gateway" : p->name,
                  b.too_big ? "answer larger than 64 MiB" : *err ? err : curl_easy_strerror (cc));
    else if (status != 200) {
        char words[256];
        error_words (&b, words, sizeof words);
        snprintf (why, whylen, "embeddings: %s answered HTTP %ld: %s",
                  base ? "the gateway" : p->name, status, words);
    }
    else
        rc = llm_embed_parse (b.data ? b.data : "", b.len, n, out, why, whylen);
    free (b.data);
    return rc;
}
