/* github: the REST calls of git.openPR. See github.h. */
#include "github.h"
#include "toolctx.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESPONSE (4u << 20)

int
github_slug (const char *url, char *slug, size_t len)
{
    static const char *const prefixes[] = { "https://github.com/", "git@github.com:" };
    for (size_t i = 0; i < 2; i++) {
        size_t pl = strlen (prefixes[i]);
        if (strncmp (url, prefixes[i], pl))
            continue;
        const char *s = url + pl, *slash = strchr (s, '/');
        if (!slash || slash == s || strchr (slash + 1, '/'))
            return -1;
        size_t n = strlen (s);
        if (n > 4 && !strcmp (s + n - 4, ".git"))
            n -= 4;
        if (n == (size_t) (slash - s) + 1 || n >= len)
            return -1;
        for (size_t k = 0; k < n; k++)
            if (!strchr ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./",
                         s[k]))
                return -1;
        memcpy (slug, s, n);
        slug[n] = '\0';
        return 0;
    }
    return -1;
}

typedef struct {
    char *data;
    size_t size;
} buf_t;

static size_t
on_data (char *ptr, size_t size, size_t nmemb, void *arg)
{
    buf_t *b = arg;
    size_t n = size * nmemb;
    if (b->size + n > MAX_RESPONSE)
        return 0;
    char *grown = realloc (b->data, b->size + n + 1);
    if (!grown)
        return 0;
    memcpy (grown + b->size, ptr, n);
    b->data = grown;
    b->size += n;
    b->data[b->size] = '\0';
    return n;
}

/* One request; *status gets the HTTP status (0 when none came). Returns
 * the parsed JSON body, or NULL. */
static json_t *
request (const char *method, const char *url, const char *token, const json_t *body,
         unsigned timeout_s, long *status, char *why, size_t whylen)
{
    CURL *curl = curl_easy_init ();
    *status = 0;
    if (!curl) {
        snprintf (why, whylen, "libcurl could not start");
        return NULL;
    }
    char auth[512];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *headers = NULL;
    headers = curl_slist_append (headers, auth);
    headers = curl_slist_append (headers, "Accept: application/vnd.github+json");
    headers = curl_slist_append (headers, "X-GitHub-Api-Version: 2022-11-28");
    headers = curl_slist_append (headers, "Content-Type: application/json");
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    buf_t b = { NULL, 0 };
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "caisson-tool-runner");
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, (long) timeout_s);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &b);
    if (text)
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, text);
    CURLcode rc = curl_easy_perform (curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, status);
    else
        snprintf (why, whylen, "%s", curl_easy_strerror (rc));
    json_t *out = b.data ? json_loads (b.data, 0, NULL) : NULL;
    if (rc == CURLE_OK && !out)
        snprintf (why, whylen, "GitHub answered %ld without JSON", *status);
    free (b.data);
    free (text);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return out;
}

static json_t *
pr_result (const json_t *pr)
{
    json_int_t number = json_integer_value (json_object_get (pr, "number"));
    const char *url = json_string_value (json_object_get (pr, "html_url"));
    if (!number || !url)
        return tool_error ("bad_reply", NULL, "GitHub's answer has no pull request number or URL");
    char id[32];
    snprintf (id, sizeof id, "%lld", (long long) number);
    return json_pack ("{s:b, s:s, s:I, s:s}", "success", 1, "id", id, "number", number, "url",
                      url);
}

/* GitHub's 422 for a duplicate names it in errors[].message. */
static bool
says_exists (const json_t *rep)
{
    char *text = rep ? json_dumps (rep, JSON_COMPACT) : NULL;
    bool yes = text && strstr (text, "already exists");
    free (text);
    return yes;
}

json_t *
github_open_pr (const char *api, const char *token, const char *slug, const char *head,
                const char *base, const char *title, const char *body, unsigned timeout_s)
{
    char url[1024], why[256] = "";
    long status;
    snprintf (url, sizeof url, "%s/repos/%s/pulls", api, slug);
    json_t *req = json_pack ("{s:s, s:s, s:s, s:s}", "title", title, "body", body, "head", head,
                             "base", base);
    json_t *rep = request ("POST", url, token, req, timeout_s, &status, why, sizeof why);
    json_decref (req);
    json_t *out;
    if (status == 201 && rep)
        out = pr_result (rep);
    else if (status == 422 && says_exists (rep)) {
        /* Opened by an earlier attempt of this call: find it. */
        const char *slash = strchr (slug, '/');
        snprintf (url, sizeof url, "%s/repos/%s/pulls?state=all&head=%.*s:%s", api, slug,
                  (int) (slash - slug), slug, head);
        json_t *list = request ("GET", url, token, NULL, timeout_s, &status, why, sizeof why);
        out = status == 200 && json_array_size (list) > 0
                  ? pr_result (json_array_get (list, 0))
                  : tool_error ("github_error", NULL, "GitHub says a pull request for %s exists "
                                "but did not list it (%ld)", head, status);
        json_decref (list);
    }
    else if (status == 401 || status == 403)
        out = tool_error ("github_denied", NULL, "GitHub refused the token (%ld): %s", status,
                          json_string_value (json_object_get (rep, "message"))
                              ? json_string_value (json_object_get (rep, "message")) : why);
    else if (status)
        out = tool_error ("github_error", NULL, "GitHub answered %ld: %s", status,
                          json_string_value (json_object_get (rep, "message"))
                              ? json_string_value (json_object_get (rep, "message")) : why);
    else
        out = tool_error ("github_unavailable", NULL, "GitHub could not be reached: %s", why);
    json_decref (rep);
    return out;
}
