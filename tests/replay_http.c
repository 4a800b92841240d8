/* replay_http: requests to caisson-llm-replay. See replay_http.h. */
#include "replay_http.h"
#include "http_body.h"

#include <stdio.h>
#include <stdlib.h>

char rh_base[64];

void
rh_set_port (int port)
{
    snprintf (rh_base, sizeof rh_base, "http://127.0.0.1:%d", port);
}

rh_reply_t
rh_request (const char *path, const char *post, const char *const headers[], long timeout_ms,
            curl_xferinfo_callback progress)
{
    char url[256];
    snprintf (url, sizeof url, "%s%s", rh_base, path);
    CURL *e = curl_easy_init ();
    http_body_t b = { 0 };
    struct curl_slist *h = curl_slist_append (NULL, "Content-Type: application/json");
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append (h, headers[i]);
    curl_easy_setopt (e, CURLOPT_URL, url);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, http_body_collect);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (progress) {
        curl_easy_setopt (e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt (e, CURLOPT_XFERINFOFUNCTION, progress);
    }
    if (post)
        curl_easy_setopt (e, CURLOPT_POSTFIELDS, post);
    rh_reply_t r = { 0 };
    if (curl_easy_perform (e) == CURLE_OK) {
        curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &r.status);
        char *ct = NULL;
        curl_easy_getinfo (e, CURLINFO_CONTENT_TYPE, &ct);
        snprintf (r.ctype, sizeof r.ctype, "%s", ct ? ct : "");
    }
    curl_slist_free_all (h);
    curl_easy_cleanup (e);
    r.body = http_body_take (&b);
    return r;
}

bool
rh_healthy (void)
{
    rh_reply_t r = rh_request ("/health", NULL, NULL, 10000, NULL);
    free (r.body);
    return r.status == 200;
}
