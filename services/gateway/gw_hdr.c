/* gw_hdr: see gw_hdr.h. */
#include "gw_hdr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
gw_hdr_u64 (struct MHD_Response *rsp, const char *name, uint64_t v)
{
    char s[32];
    snprintf (s, sizeof s, "%llu", (unsigned long long) v);
    MHD_add_response_header (rsp, name, s);
}

/* Client headers the provider must not see: the virtual key, the client's
 * account, the connection's own, and what gateway and curl set. */
static bool
dropped (const char *name)
{
    static const char *const drop[] = {
        "authorization", "x-api-key", "openai-organization", "openai-project", "host",
        "content-length", "content-type", "connection", "keep-alive", "proxy-authorization",
        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "expect",
        "accept-encoding", "cookie", NULL
    };
    for (size_t i = 0; drop[i]; i++)
        if (!strcasecmp (name, drop[i]))
            return true;
    return false;
}

typedef struct {
    struct curl_slist *list;
    bool version;               /* anthropic-version given */
} hdrs_t;

static enum MHD_Result
copy_header (void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
    (void) kind;
    hdrs_t *h = cls;
    if (!name || !value || dropped (name) || strpbrk (value, "\r\n"))
        return MHD_YES;
    h->version |= !strcasecmp (name, "anthropic-version");
    size_t n = strlen (name) + strlen (value) + 3;
    char *line = malloc (n);
    if (line) {
        snprintf (line, n, "%s: %s", name, value);
        h->list = curl_slist_append (h->list, line);
        free (line);
    }
    return MHD_YES;
}

struct curl_slist *
gw_hdr_upstream (struct MHD_Connection *con, bool anthropic, const char *secret)
{
    hdrs_t h = { NULL, false };
    MHD_get_connection_values (con, MHD_HEADER_KIND, copy_header, &h);
    h.list = curl_slist_append (h.list, "Content-Type: application/json");
    h.list = curl_slist_append (h.list, "Expect:");
    if (anthropic && !h.version)
        h.list = curl_slist_append (h.list, "anthropic-version: 2023-06-01");
    if (secret) {
        size_t n = strlen (secret) + 32;
        char *line = malloc (n);
        if (line) {
            snprintf (line, n, anthropic ? "x-api-key: %s" : "Authorization: Bearer %s",
                      secret);
            h.list = curl_slist_append (h.list, line);
            explicit_bzero (line, n);
            free (line);
        }
    }
    return h.list;
}

/* Answer headers passed on; the provider's x-ratelimit-* are not. */
void
gw_hdr_pass (struct MHD_Response *rsp, gw_up_t *up)
{
    static const char *const keep[] = { "Content-Type", "Cache-Control", "x-request-id",
                                        "request-id", "Retry-After", "retry-after-ms", NULL };
    for (size_t i = 0; keep[i]; i++) {
        const char *v = gw_up_header (up, keep[i]);
        if (v)
            MHD_add_response_header (rsp, keep[i], v);
    }
}

