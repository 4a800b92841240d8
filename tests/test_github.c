/* test_github: git.openPR's GitHub REST handling against recorded
 * responses (tests/data/github) served by a local libmicrohttpd server:
 * the request it makes (method, path, token, JSON body), a created pull
 * request, one that already exists (looked up, so a retried call opens
 * one), refused credentials, an unreachable API; and GitHub URL parsing. */
#include "support.h"
#include "github.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char method[16];
    char url[512];
    char auth[256];
    char body[4096];
    size_t used;
} seen_t;

static seen_t s_seen[8];
static int s_nseen;
static struct MHD_Daemon *s_daemon;
static char s_api[64];

static char *
recorded (const char *name)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/tests/data/github/%s", CAISSON_SOURCE_DIR, name);
    FILE *f = fopen (path, "rb");
    assert_non_null (f);
    char *buf = calloc (1, 65536);
    size_t n = fread (buf, 1, 65535, f);
    buf[n] = '\0';
    fclose (f);
    return buf;
}

static enum MHD_Result
serve (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void) cls, (void) version;
    seen_t *seen = *con_cls;
    if (!seen) {
        seen = &s_seen[s_nseen < 7 ? s_nseen++ : 7];
        memset (seen, 0, sizeof *seen);
        snprintf (seen->method, sizeof seen->method, "%s", method);
        const char *head = MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, "head");
        snprintf (seen->url, sizeof seen->url, "%s%s%s", url, head ? "?head=" : "",
                  head ? head : "");
        const char *auth = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Authorization");
        snprintf (seen->auth, sizeof seen->auth, "%s", auth ? auth : "");
        *con_cls = seen;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t take = *upload_size < sizeof seen->body - 1 - seen->used
                          ? *upload_size : sizeof seen->body - 1 - seen->used;
        memcpy (seen->body + seen->used, upload, take);
        seen->used += take;
        *upload_size = 0;
        return MHD_YES;
    }
    const char *file;
    unsigned status;
    if (strstr (seen->auth, "Bearer bad")) {
        file = "bad-credentials.json";
        status = 401;
    }
    else if (!strcmp (method, "GET")) {
        file = "list.json";
        status = 200;
    }
    else if (strstr (seen->body, "caisson/dup")) {
        file = "exists.json";
        status = 422;
    }
    else {
        file = "created.json";
        status = 201;
    }
    char *body = recorded (file);
    struct MHD_Response *rep = MHD_create_response_from_buffer (strlen (body), body,
                                                                MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (rep, "Content-Type", "application/json; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response (conn, status, rep);
    MHD_destroy_response (rep);
    return rc;
}

static int
setup (void **state)
{
    (void) state;
    curl_global_init (CURL_GLOBAL_DEFAULT);
    s_daemon = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve, NULL,
                                 MHD_OPTION_END);
    if (!s_daemon)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (s_daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf (s_api, sizeof s_api, "http://127.0.0.1:%u", (unsigned) info->port);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    MHD_stop_daemon (s_daemon);
    curl_global_cleanup ();
    return 0;
}

static void
test_created (void **state)
{
    (void) state;
    s_nseen = 0;
    json_t *r = github_open_pr (s_api, "tok123", "acme/widgets", "caisson/add-sub", "main",
                                "Add sub to calc", "Adds subtraction.", 10);
    assert_true (json_is_true (json_object_get (r, "success")));
    assert_string_equal (json_string_value (json_object_get (r, "id")), "42");
    assert_string_equal (json_string_value (json_object_get (r, "url")),
                         "https://github.com/acme/widgets/pull/42");
    json_decref (r);
    assert_int_equal (s_nseen, 1);
    assert_string_equal (s_seen[0].method, "POST");
    assert_string_equal (s_seen[0].url, "/repos/acme/widgets/pulls");
    assert_string_equal (s_seen[0].auth, "Bearer tok123");
    json_t *sent = json_loads (s_seen[0].body, 0, NULL);
    assert_non_null (sent);
    assert_string_equal (json_string_value (json_object_get (sent, "head")), "caisson/add-sub");
    assert_string_equal (json_string_value (json_object_get (sent, "base")), "main");
    assert_string_equal (json_string_value (json_object_get (sent, "title")), "Add sub to calc");
    assert_string_equal (json_string_value (json_object_get (sent, "body")), "Adds subtraction.");
    json_decref (sent);
}

static void
test_already_exists (void **state)
{
    (void) state;
    s_nseen = 0;
    json_t *r = github_open_pr (s_api, "tok123", "acme/widgets", "caisson/dup", "main", "Again",
                                "b", 10);
    assert_true (json_is_true (json_object_get (r, "success")));
    assert_string_equal (json_string_value (json_object_get (r, "id")), "7");
    json_decref (r);
    assert_int_equal (s_nseen, 2);
    assert_string_equal (s_seen[1].method, "GET");
    assert_string_equal (s_seen[1].url, "/repos/acme/widgets/pulls?head=acme:caisson/dup");
}

static void
test_refused_and_unreachable (void **state)
{
    (void) state;
    json_t *r = github_open_pr (s_api, "bad", "acme/widgets", "caisson/x", "main", "T", "b", 10);
    json_t *e = json_object_get (r, "error");
    assert_string_equal (json_string_value (json_object_get (e, "code")), "github_denied");
    assert_non_null (strstr (json_string_value (json_object_get (e, "message")), "Bad credentials"));
    json_decref (r);
    r = github_open_pr ("http://127.0.0.1:1", "t", "acme/widgets", "caisson/x", "main", "T", "b", 5);
    e = json_object_get (r, "error");
    assert_string_equal (json_string_value (json_object_get (e, "code")), "github_unavailable");
    json_decref (r);
}

static void
test_slug (void **state)
{
    (void) state;
    char slug[128];
    assert_int_equal (github_slug ("https://github.com/acme/widgets.git", slug, sizeof slug), 0);
    assert_string_equal (slug, "acme/widgets");
    assert_int_equal (github_slug ("https://github.com/acme/widgets", slug, sizeof slug), 0);
    assert_string_equal (slug, "acme/widgets");
    assert_int_equal (github_slug ("https://gitlab.com/acme/widgets", slug, sizeof slug), -1);
    assert_int_equal (github_slug ("https://github.com/acme", slug, sizeof slug), -1);
    assert_int_equal (github_slug ("https://github.com/acme/w/x", slug, sizeof slug), -1);
    assert_int_equal (github_slug ("https://github.com/a/b c", slug, sizeof slug), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_created),
        cmocka_unit_test (test_already_exists),
        cmocka_unit_test (test_refused_and_unreachable),
        cmocka_unit_test (test_slug),
    };
    return support_run_group_tests (tests, setup, teardown);
}
