/* test_sandbox: sandbox-manager through the bus, with the real broker and
 * service binaries: lifecycle, every file operation, exec (timeout,
 * truncation, stdin, background), runCode and the seed example. */
#define _GNU_SOURCE
#include "sbx_client.h"
#include "bus_tap.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

static void
test_seed_example (void **state)
{
    (void) state;
    char *id = create ("python", 600);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_write_files, NULL);
    proto_set_str (&req->body.sandbox_write_files.sandbox_id, id);
    any_set (&req->body.sandbox_write_files.files, json_pack (
        "[{s:s, s:s}, {s:s, s:s}]", "path", "reverse_string.py", "data",
        "def reverse_string(s):\n    return s[::-1]\n", "path", "test_reverse_string.py", "data",
        "import unittest\nfrom reverse_string import reverse_string\n\n"
        "class TestReverseString(unittest.TestCase):\n"
        "    def test_regular(self):\n        self.assertEqual(reverse_string(\"hello\"), \"olleh\")\n"
        "    def test_empty(self):\n        self.assertEqual(reverse_string(\"\"), \"\")\n"
        "    def test_single_char(self):\n        self.assertEqual(reverse_string(\"a\"), \"a\")\n"
        "    def test_numbers(self):\n        self.assertEqual(reverse_string(\"12345\"), \"54321\")\n\n"
        "if __name__ == \"__main__\":\n    unittest.main()\n"));
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_paths);
    char why[128];
    json_t *paths = mpjson_decode (rep->body.sandbox_paths.files_written.data,
                                   rep->body.sandbox_paths.files_written.size, 2, why, sizeof why);
    assert_string_equal (json_string_value (json_array_get (paths, 0)), "/workspace/reverse_string.py");
    json_decref (paths);
    proto_msg_destroy (&rep);
    rep = sh (id, "python3 test_reverse_string.py", 20, NULL);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_int_equal (rep->body.sandbox_exec_result.exit_code, 0);
    assert_non_null (strstr (rep->body.sandbox_exec_result.stderr, "Ran 4 tests"));
    assert_non_null (strstr (rep->body.sandbox_exec_result.stderr, "OK"));
    proto_msg_destroy (&rep);
    destroy (id);
}

static proto_msg_t *
get (const char *id)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_get, NULL);
    proto_set_str (&req->body.sandbox_get.sandbox_id, id);
    return call (req);
}

static void
test_exec (void **state)
{
    (void) state;
    char *id = create ("python", 600);
    proto_msg_t *rep = sh (id, "cat; echo err >&2; exit 3", 10, "from stdin\n");
    assert_int_equal (rep->body.sandbox_exec_result.exit_code, 3);
    assert_string_equal (rep->body.sandbox_exec_result.stdout, "from stdin\n");
    assert_string_equal (rep->body.sandbox_exec_result.stderr, "err\n");
    assert_false (rep->body.sandbox_exec_result.timed_out);
    proto_msg_destroy (&rep);
    /* A timeout kills the whole tree, the child that left the group too. */
    rep = sh (id, "sleep 100 & setsid sleep 100 & sleep 100", 1, NULL);
    assert_true (rep->body.sandbox_exec_result.timed_out);
    proto_msg_destroy (&rep);
    char out[4096];
    assert_int_equal (run (id, "ps -e -o comm= | grep -c sleep || true", out, sizeof out), 0);
    assert_string_equal (out, "0\n");
    rep = sh (id, "head -c 3000000 /dev/zero | tr '\\0' a", 10, NULL);
    assert_true (rep->body.sandbox_exec_result.truncated);
    assert_int_equal (strlen (rep->body.sandbox_exec_result.stdout), 1048576);
    proto_msg_destroy (&rep);
    /* Background: a pid at once, then wait, output, list. */
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    any_set (&req->body.sandbox_exec.command, json_pack ("[s,s,s]", "sh", "-c", "sleep 0.3; echo done"));
    req->body.sandbox_exec.background = true;
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_true (rep->body.sandbox_exec_result.running);
    uint64_t pid = rep->body.sandbox_exec_result.pid;
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_sandbox_exec_wait, NULL);
    proto_set_str (&req->body.sandbox_exec_wait.sandbox_id, id);
    req->body.sandbox_exec_wait.pid = pid;
    rep = call (req);
    assert_false (rep->body.sandbox_exec_result.running);
    assert_string_equal (rep->body.sandbox_exec_result.stdout, "done\n");
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_sandbox_exec_list, NULL);
    proto_set_str (&req->body.sandbox_exec_list.sandbox_id, id);
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_procs);
    proto_msg_destroy (&rep);
    /* runCode */
    req = proto_msg_new (PROTO_sandbox_run_code, NULL);
    proto_set_str (&req->body.sandbox_run_code.sandbox_id, id);
    proto_set_str (&req->body.sandbox_run_code.code, "print(6 * 7)");
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_string_equal (rep->body.sandbox_exec_result.stdout, "42\n");
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_sandbox_run_code, NULL);
    proto_set_str (&req->body.sandbox_run_code.sandbox_id, id);
    proto_set_str (&req->body.sandbox_run_code.language, "javascript");
    proto_set_str (&req->body.sandbox_run_code.code, "console.log(6 * 7)");
    rep = call (req);
    assert_string_equal (rep->body.sandbox_exec_result.stdout, "42\n");
    proto_msg_destroy (&rep);
    if (access ("/usr/bin/tsc", X_OK) == 0) {
        req = proto_msg_new (PROTO_sandbox_run_code, NULL);
        proto_set_str (&req->body.sandbox_run_code.sandbox_id, id);
        proto_set_str (&req->body.sandbox_run_code.language, "typescript");
        proto_set_str (&req->body.sandbox_run_code.code, "const n: number = 6 * 7;\nconsole.log(n);\n");
        rep = call (req);
        assert_int_equal (rep->type, PROTO_sandbox_exec_result);
        assert_string_equal (rep->body.sandbox_exec_result.stdout, "42\n");
        proto_msg_destroy (&rep);
    }
    destroy (id);
}

static void
test_files (void **state)
{
    (void) state;
    char *id = create ("python", 600);
    proto_msg_t *rep = write_file (id, "a/b/c.txt", "hello");
    assert_int_equal (rep->type, PROTO_sandbox_path);
    assert_string_equal (rep->body.sandbox_path.path, "/workspace/a/b/c.txt");
    proto_msg_destroy (&rep);
    rep = call (file_req (PROTO_sandbox_read_file, id, "/workspace/a/b/c.txt"));
    assert_int_equal (rep->type, PROTO_sandbox_file);
    assert_int_equal (rep->body.sandbox_file.content.size, 5);
    assert_memory_equal (rep->body.sandbox_file.content.data, "hello", 5);
    proto_msg_destroy (&rep);
    rep = call (file_req (PROTO_sandbox_get_file_info, id, "a/b/c.txt"));
    assert_int_equal (rep->type, PROTO_sandbox_file_info);
    assert_string_equal (rep->body.sandbox_file_info.type, "file");
    assert_string_equal (rep->body.sandbox_file_info.permissions, "rw-r--r--");
    assert_int_equal (rep->body.sandbox_file_info.size, 5);
    proto_msg_destroy (&rep);
    rep = call (file_req (PROTO_sandbox_get_file_size, id, "a/b/c.txt"));
    assert_int_equal (rep->body.sandbox_file_size.size, 5);
    proto_msg_destroy (&rep);
    rep = call (file_req (PROTO_sandbox_check_file_exists, id, "a/nope"));
    assert_int_equal (rep->type, PROTO_sandbox_file_exists);
    assert_false (rep->body.sandbox_file_exists.exists);
    proto_msg_destroy (&rep);
    rep = call (file_req (PROTO_sandbox_create_directory, id, "d1/d2"));
    assert_int_equal (rep->type, PROTO_sandbox_path);
    proto_msg_destroy (&rep);
    proto_msg_t *req = file_req (PROTO_sandbox_list_files, id, ".");
    req->body.sandbox_list_files.depth = 3;
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_file_list);
    char why[128];
    json_t *files = mpjson_decode (rep->body.sandbox_file_list.files.data,
                                   rep->body.sandbox_file_list.files.size, 3, why, sizeof why);
    assert_int_equal (json_array_size (files), 5);
    json_decref (files);
    proto_msg_destroy (&rep);
    rep = call (file_req (PROTO_sandbox_delete_file, id, "a"));
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
    req = file_req (PROTO_sandbox_delete_file, id, "a");
    req->body.sandbox_delete_file.recursive = true;
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_path);
    proto_msg_destroy (&rep);
    /* Escapes through the file operations are refused, naming the path. */
    assert_int_equal (run (id, "ln -s /etc/shadow /workspace/s; ln -s / /workspace/rootlink", NULL, 0), 0);
    const char *bad[] = { "../x", "/etc/passwd", "s", "rootlink/etc/hostname", "a/../../etc/passwd" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rep = call (file_req (PROTO_sandbox_read_file, id, bad[i]));
        assert_int_equal (rep->type, PROTO_error);
        assert_non_null (strstr (rep->body.error.message, "path"));
        proto_msg_destroy (&rep);
    }
    rep = write_file (id, "rootlink/tmp/x", "escape");
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
    rep = write_file (id, "/usr/evil", "x");
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
    destroy (id);
}

static void
test_lifecycle (void **state)
{
    (void) state;
    char *id = create ("python", 600);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_pause, NULL);
    proto_set_str (&req->body.sandbox_pause.sandbox_id, id);
    proto_msg_t *rep = call (req);
    assert_string_equal (rep->body.sandbox_info.status, "paused");
    proto_msg_destroy (&rep);
    rep = sh (id, "true", 5, NULL);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "not_ready");
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_sandbox_resume, NULL);
    proto_set_str (&req->body.sandbox_resume.sandbox_id, id);
    rep = call (req);
    assert_string_equal (rep->body.sandbox_info.status, "ready");
    proto_msg_destroy (&rep);
    assert_int_equal (run (id, "true", NULL, 0), 0);
    req = proto_msg_new (PROTO_sandbox_set_timeout, NULL);
    proto_set_str (&req->body.sandbox_set_timeout.sandbox_id, id);
    req->body.sandbox_set_timeout.ttl_seconds = 1;
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    uint64_t init = rep->body.sandbox_info.init_pid;
    proto_msg_destroy (&rep);
    /* TTL: gone, and every process with it, within a second of expiry. */
    sleep (2);
    rep = get (id);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);
    for (int i = 0; i < 100 && support_alive ((pid_t) init); i++)
        usleep (10000);
    assert_false (support_alive ((pid_t) init));
    free (id);
    req = proto_msg_new (PROTO_sandbox_list, NULL);
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_listed);
    proto_msg_destroy (&rep);
}

static void
test_heal_and_restart (void **state)
{
    (void) state;
    char *id = create ("python", 600);
    proto_msg_t *w = write_file (id, "keep.txt", "kept");
    assert_int_equal (w->type, PROTO_sandbox_path);
    proto_msg_destroy (&w);
    /* A restarted manager takes its sandboxes back, workspace intact. */
    support_expect_clean_exit (s_mgr);
    start_stack_manager ();
    char out[256];
    assert_int_equal (run (id, "cat keep.txt", out, sizeof out), 0);
    assert_string_equal (out, "kept");
    /* An init that died while the manager was down is re-created on restart. */
    proto_msg_t *g = get (id);
    pid_t first = (pid_t) g->body.sandbox_info.init_pid;
    proto_msg_destroy (&g);
    stop_manager_kill_init (first);
    start_stack_manager ();
    assert_int_equal (run (id, "cat keep.txt", out, sizeof out), 0);
    assert_string_equal (out, "kept");
    /* Healing: the init killed three times comes back; the fourth, broken. */
    for (int death = 1; death <= 4; death++) {
        proto_msg_t *rep = get (id);
        pid_t init = (pid_t) rep->body.sandbox_info.init_pid;
        proto_msg_destroy (&rep);
        kill (init, SIGKILL);
        for (int i = 0; i < 100; i++) {
            rep = get (id);
            bool moved = rep->body.sandbox_info.restarts == (uint64_t) death;
            proto_msg_destroy (&rep);
            if (moved)
                break;
            usleep (20000);
        }
        rep = get (id);
        assert_int_equal (rep->body.sandbox_info.restarts, death);
        assert_string_equal (rep->body.sandbox_info.status, death < 4 ? "ready" : "broken");
        proto_msg_destroy (&rep);
        if (death < 4) {
            assert_int_equal (run (id, "cat keep.txt", out, sizeof out), 0);
            assert_string_equal (out, "kept");
        }
    }
    destroy (id);
}

static void
test_events_and_refusals (void **state)
{
    (void) state;
    char *id = create ("python", 600), prefix[160], topic[256];
    snprintf (prefix, sizeof prefix, "sandbox.%s.", id);
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), prefix);
    assert_non_null (tap);
    usleep (200000);            /* the subscription reaches the proxy */
    /* Output streams live on sandbox.<id>.proc.<pid>. */
    proto_msg_t *rep = sh (id, "echo streamed", 10, NULL), *ev;
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    proto_msg_destroy (&rep);
    bool seen = false;
    while (!seen && (ev = bus_tap_recv (tap, topic, sizeof topic, 2000, NULL))) {
        seen = ev->type == PROTO_sandbox_output && strstr (topic, ".proc.")
               && ev->body.sandbox_output.data.size == 9
               && !memcmp (ev->body.sandbox_output.data.data, "streamed\n", 9);
        proto_msg_destroy (&ev);
    }
    assert_true (seen);
    /* watchDirectory: a write under the directory becomes an fs_event. */
    proto_msg_t *req = file_req (PROTO_sandbox_watch_start, id, ".");
    req->body.sandbox_watch_start.recursive = true;
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_watch);
    uint64_t watch = rep->body.sandbox_watch.watch_id;
    proto_msg_destroy (&rep);
    rep = write_file (id, "watched.txt", "x");
    proto_msg_destroy (&rep);
    seen = false;
    while (!seen && (ev = bus_tap_recv (tap, topic, sizeof topic, 2000, NULL))) {
        seen = ev->type == PROTO_sandbox_fs_event && strstr (topic, ".watch.")
               && strstr (ev->body.sandbox_fs_event.path, "/workspace/watched.txt");
        proto_msg_destroy (&ev);
    }
    assert_true (seen);
    req = proto_msg_new (PROTO_sandbox_watch_stop, NULL);
    proto_set_str (&req->body.sandbox_watch_stop.sandbox_id, id);
    req->body.sandbox_watch_stop.watch_id = watch;
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_ack);
    proto_msg_destroy (&rep);
    bus_tap_destroy (&tap);
    /* Refusals name what was wrong. */
    req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->body.sandbox_create.network, "host");
    rep = call (req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "forbidden");
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_sandbox_create, NULL);
    req->body.sandbox_create.memory_mb = 1 << 20;
    rep = call (req);
    assert_string_equal (rep->body.error.code, "over_limit");
    proto_msg_destroy (&rep);
    /* The per-user maximum (this test's stack allows 3 at once). */
    char *more[2];
    for (int i = 0; i < 2; i++)
        more[i] = create ("python", 600);
    req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->env.user, "tester");
    rep = call (req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "too_many_sandboxes");
    proto_msg_destroy (&rep);
    for (int i = 0; i < 2; i++)
        destroy (more[i]);
    rep = get ("elsewhere-0123456789ab");
    assert_string_equal (rep->body.error.code, "wrong_instance");
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    any_set (&req->body.sandbox_exec.command, json_pack ("[s,i]", "echo", 3));
    rep = call (req);
    assert_string_equal (rep->body.error.code, "bad_command");
    proto_msg_destroy (&rep);
    destroy (id);
}

/* A manager restores only its own instance's sandboxes: one started on
 * the same registry under another id leaves them alone (not listed, not
 * healed, answered wrong_instance), and the owner takes them back after. */
static void
test_restores_only_its_own (void **state)
{
    (void) state;
    char *id = create ("python", 600);
    proto_msg_t *w = write_file (id, "mine.txt", "mine");
    proto_msg_destroy (&w);
    support_expect_clean_exit (s_mgr);
    static const char *const other[] = { "CAISSON_INSTANCE=othermgr", NULL };
    s_mgr = support_spawn ("caisson-sandbox-manager", other);
    support_await_service (s_c, "sandbox-manager.othermgr");
    bus_client_set_timeout (s_c, 30000, 0);     /* as sbx_setup left it */
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_list, NULL);
    req->env.op = true;
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_listed);
    json_t *listed = mpjson_get (&rep->body.sandbox_listed.sandboxes, 8);
    char *text = json_dumps (listed, JSON_COMPACT);
    json_decref (listed);
    proto_msg_destroy (&rep);
    if (text && strstr (text, id))
        fail_msg ("another instance restored %s: %s", id, text);
    free (text);
    rep = get (id);
    assert_string_equal (rep->body.error.code, "wrong_instance");
    proto_msg_destroy (&rep);
    support_expect_clean_exit (s_mgr);
    start_stack_manager ();
    char out[64];
    assert_int_equal (run (id, "cat mine.txt", out, sizeof out), 0);
    assert_string_equal (out, "mine");
    destroy (id);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_seed_example),
        cmocka_unit_test (test_exec),
        cmocka_unit_test (test_files),
        cmocka_unit_test (test_lifecycle),
        cmocka_unit_test (test_events_and_refusals),
        cmocka_unit_test (test_heal_and_restart),
        cmocka_unit_test (test_restores_only_its_own),
    };
    return support_run_group_tests (tests, sbx_setup, sbx_teardown);
}
