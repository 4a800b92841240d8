/* test_sbx_watch: the init's watches as objects, in process. Each watch
 * set is its own (inotify descriptor, ids, directories) and reports
 * changes only through its context's send, so two contexts never see each
 * other's events and nothing reaches a manager that is not there. */
#include "support.h"
#include "sbx_initd.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int events;
    uint64_t watch_id;
    char path[512];
} seen_t;

/* The context's send: keeps what a manager would get. */
static void
keep (void *arg, proto_msg_t *msg)
{
    seen_t *seen = arg;
    if (msg && msg->type == PROTO_sandbox_fs_event) {
        seen->events++;
        seen->watch_id = msg->body.sandbox_fs_event.watch_id;
        snprintf (seen->path, sizeof seen->path, "%s", msg->body.sandbox_fs_event.path);
    }
    proto_msg_destroy (&msg);
}

static proto_msg_t *
start (sbx_watch_t *w, const char *dir)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_watch_start, NULL);
    proto_set_str (&req->body.sandbox_watch_start.sandbox_id, "t-1");
    proto_set_str (&req->body.sandbox_watch_start.path, dir);
    proto_msg_t *rep = sbx_watch_start (w, req);
    proto_msg_destroy (&req);
    return rep;
}

/* Serves w until it has reported something, or a second has passed. */
static void
serve (sbx_watch_t *w, seen_t *seen)
{
    for (int i = 0; i < 20 && !seen->events; i++) {
        struct pollfd p = { .fd = sbx_watch_fd (w), .events = POLLIN };
        if (poll (&p, 1, 50) > 0)
            sbx_watch_service (w);
    }
}

static void
test_two_watch_sets (void **state)
{
    (void) state;
    char a[] = "/tmp/caisson-watch-a-XXXXXX", b[] = "/tmp/caisson-watch-b-XXXXXX", f[600];
    assert_non_null (mkdtemp (a));
    assert_non_null (mkdtemp (b));
    seen_t seen_a = { 0 }, seen_b = { 0 };
    sbx_ictx_t ctx_a = { .send = keep, .send_arg = &seen_a, .id = "t-1" };
    sbx_ictx_t ctx_b = { .send = keep, .send_arg = &seen_b, .id = "t-2" };
    sbx_watch_t *wa = sbx_watch_new (&ctx_a), *wb = sbx_watch_new (&ctx_b);
    assert_non_null (wa);
    assert_non_null (wb);
    assert_int_equal (sbx_watch_fd (wa), -1);   /* no inotify until a watch starts */
    proto_msg_t *ra = start (wa, a), *rb = start (wb, b);
    assert_int_equal (ra->type, PROTO_sandbox_watch);
    assert_int_equal (rb->type, PROTO_sandbox_watch);
    /* ids are per set: both first watches are 1 */
    assert_int_equal (ra->body.sandbox_watch.watch_id, 1);
    assert_int_equal (rb->body.sandbox_watch.watch_id, 1);
    assert_true (sbx_watch_fd (wa) >= 0 && sbx_watch_fd (wa) != sbx_watch_fd (wb));
    proto_msg_destroy (&ra);
    proto_msg_destroy (&rb);
    snprintf (f, sizeof f, "%s/new.txt", a);
    FILE *fp = fopen (f, "w");
    assert_non_null (fp);
    fclose (fp);
    serve (wa, &seen_a);
    serve (wb, &seen_b);
    assert_true (seen_a.events > 0);
    assert_int_equal (seen_a.watch_id, 1);
    assert_string_equal (seen_a.path, f);
    assert_int_equal (seen_b.events, 0);
    /* after stop, the set reports nothing more */
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_watch_stop, NULL);
    proto_set_str (&req->body.sandbox_watch_stop.sandbox_id, "t-1");
    req->body.sandbox_watch_stop.watch_id = 1;
    proto_msg_t *rep = sbx_watch_stop (wa, req);
    assert_int_equal (rep->type, PROTO_sandbox_ack);
    proto_msg_destroy (&rep);
    proto_msg_destroy (&req);
    seen_a.events = 0;
    unlink (f);
    serve (wa, &seen_a);
    assert_int_equal (seen_a.events, 0);
    sbx_watch_destroy (&wa);
    sbx_watch_destroy (&wb);
    assert_null (wa);
    sbx_watch_destroy (&wa);    /* destroying NULL is a no-op */
    rmdir (a);
    rmdir (b);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_two_watch_sets),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
