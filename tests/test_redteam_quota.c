/* test_redteam_quota: a tenant filling its workspace, as issue 11 found
 * it could (items 8 and 11): each attack runs inside a real sandbox and
 * must fail.
 *
 *   - writing until the disk is full: the sandbox gets ENOSPC at its own
 *     limit, the host's data dir holds no more than that limit of its
 *     data, and another user's sandbox still creates and writes;
 *   - creating files until the inodes run out: the same, for inodes;
 *   - through tool-runner: runCommand and writeFile tell the model
 *     "workspace full (limit 8 MiB)";
 *   - /proc/self/mountinfo inside names no host path of the data dir;
 *   - destroy leaves no mount and no loop device behind; `caisson down`
 *     detaches every workspace, and a restarted manager re-attaches it
 *     with the files and the limit intact;
 *   - the same limit on a tmpfs, where loop devices are missing.
 * Small limits keep it fast: CAISSON_SANDBOX_DISK_MB=8, INODES=500. */
#define _GNU_SOURCE
#include "sbx_client.h"
#include "mpjson.h"

#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DISK_MB 8
#define INODES 500

static pid_t s_tools;
static char s_live[8][128];     /* sandboxes a test made and has not destroyed */

/* A ready sandbox owned by user (free it with done). */
static char *
create_as (const char *user)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->body.sandbox_create.language, "python");
    proto_set_str (&req->env.user, user);
    req->body.sandbox_create.ttl_seconds = 600;
    proto_msg_t *rep = call (req);
    if (rep->type == PROTO_error)
        fail_msg ("create: %s", rep->body.error.message);
    assert_string_equal (rep->body.sandbox_info.status, "ready");
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    for (int i = 0; i < 8; i++)
        if (!s_live[i][0]) {
            snprintf (s_live[i], sizeof s_live[i], "%s", id);
            break;
        }
    return id;
}

/* Destroys a sandbox create_as made. */
static void
done (char *id)
{
    for (int i = 0; i < 8; i++)
        if (!strcmp (s_live[i], id))
            s_live[i][0] = 0;
    destroy (id);
}

/* After each test, failed or not: its sandboxes go. */
static int
after (void **state)
{
    (void) state;
    for (int i = 0; i < 8; i++)
        if (s_live[i][0]) {
            proto_msg_t *req = proto_msg_new (PROTO_sandbox_destroy, NULL);
            proto_set_str (&req->body.sandbox_destroy.sandbox_id, s_live[i]);
            proto_msg_t *rep = bus_client_request (s_c, "sandbox-manager", req);
            proto_msg_destroy (&req);
            proto_msg_destroy (&rep);
            s_live[i][0] = 0;
        }
    return 0;
}

static dev_t s_host_dev;
static unsigned long long s_host_bytes;

static int
count_host (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) p, (void) flag, (void) ftw;
    if (st->st_dev == s_host_dev)
        s_host_bytes += (unsigned long long) st->st_blocks * 512;
    return 0;
}

/* Bytes a sandbox's directory takes on the host filesystem of the data dir
 * (what its own filesystem holds does not count: another device). */
static unsigned long long
host_bytes (const char *id)
{
    char dir[1024];
    struct stat st;
    assert_int_equal (stat (s_dir, &st), 0);
    s_host_dev = st.st_dev;
    s_host_bytes = 0;
    snprintf (dir, sizeof dir, "%s/sandboxes/%s", s_dir, id);
    nftw (dir, count_host, 16, FTW_PHYS);
    return s_host_bytes;
}

/* Whether the host's mount table has a mount at or under the sandbox's directory. */
static bool
host_mounted (const char *id)
{
    char dir[1024], line[4096];
    snprintf (dir, sizeof dir, "%s/sandboxes/%s", s_dir, id);
    FILE *f = fopen ("/proc/self/mountinfo", "r");
    bool found = false;
    while (f && !found && fgets (line, sizeof line, f))
        found = strstr (line, dir) != NULL;
    if (f)
        fclose (f);
    return found;
}

/* Whether a loop device is backed by a file in the sandbox's directory. */
static bool
loop_backed (const char *id)
{
    char dir[1024], path[512], back[4096];
    snprintf (dir, sizeof dir, "%s/sandboxes/%s/", s_dir, id);
    DIR *d = opendir ("/sys/block");
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir (d))) {
        if (strncmp (e->d_name, "loop", 4))
            continue;
        snprintf (path, sizeof path, "/sys/block/%s/loop/backing_file", e->d_name);
        FILE *f = fopen (path, "r");
        if (f && fgets (back, sizeof back, f))
            found = strncmp (back, dir, strlen (dir)) == 0;
        if (f)
            fclose (f);
    }
    if (d)
        closedir (d);
    return found;
}

/* Calls tool name through tool-runner as user tester; the result. */
static json_t *
tool (const char *name, json_t *args, bool *ok)
{
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    char id[CID_SIZE];
    cid_new (id);
    proto_set_str (&req->env.user, "tester");
    proto_set_str (&req->body.tools_call.name, name);
    proto_set_str (&req->body.tools_call.call_id, id);
    assert_int_equal (mpjson_set (&req->body.tools_call.args, args, 32), 0);
    json_decref (args);
    proto_msg_t *rep = bus_client_request (s_c, "tool-runner", req);
    proto_msg_destroy (&req);
    return support_tools_result (rep, name, ok);
}

/* Fills the workspace with 4x its limit: the command must fail with
 * ENOSPC, the host must hold no more than the limit, and another user's
 * sandbox must still create and write. */
static void
test_disk_full (void **state)
{
    (void) state;
    char *a = create_as ("tester"), *b = NULL, out[8192];
    proto_msg_t *rep = sh (a, "head -c 33554432 /dev/zero > fill", 60, NULL);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
    if (r->exit_code == 0)
        fail_msg ("attack succeeded: 32 MiB written into a workspace limited to %d MiB", DISK_MB);
    assert_non_null (strstr (r->stderr, "No space left on device"));
    assert_non_null (r->workspace_full);
    assert_string_equal (r->workspace_full, "workspace full (limit 8 MiB)");
    proto_msg_destroy (&rep);
    unsigned long long on_host = host_bytes (a);
    if (on_host > (DISK_MB + 1ull) << 20)
        fail_msg ("the workspace put %llu bytes on the host's data filesystem", on_host);
    /* Another tenant is not affected. */
    b = create_as ("other");
    assert_int_equal (run_as ("other", b, "head -c 1048576 /dev/zero > f && mkdir d && touch d/x && "
                              "wc -c < f", out, sizeof out), 0);
    assert_non_null (strstr (out, "1048576"));
    /* Its own /tmp is a separate limit, and freeing space frees it. */
    assert_int_equal (run (a, "echo x > /tmp/x && rm fill && echo y > y && cat y", out,
                           sizeof out), 0);
    done (a);
    done (b);
}

/* Creates files until the inodes run out: ENOSPC at about the limit, in
 * that sandbox only. */
static void
test_inodes_full (void **state)
{
    (void) state;
    char *a = create_as ("tester"), *b = NULL, out[8192];
    proto_msg_t *rep = sh (a, "i=0; while [ $i -lt 4000 ]; do true > f$i || break; i=$((i+1)); done; "
                              "echo made $i; [ $i -lt 4000 ] && exit 1; exit 0", 60, NULL);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
    if (r->exit_code == 0)
        fail_msg ("attack succeeded: 4000 files made in a workspace limited to %d", INODES);
    assert_non_null (strstr (r->stderr, "No space left on device"));
    int made = 0;
    const char *said = r->stdout ? strstr (r->stdout, "made") : NULL;
    if (!said || sscanf (said, "made %d", &made) != 1)
        fail_msg ("no count of files made: stdout %s, stderr %s", r->stdout, r->stderr);
    assert_true (made >= INODES / 2 && made <= INODES + 64);
    assert_non_null (r->workspace_full);
    assert_string_equal (r->workspace_full, "workspace full (limit 500 files and directories)");
    proto_msg_destroy (&rep);
    b = create_as ("other");
    assert_int_equal (run_as ("other", b, "for i in $(seq 1 100); do : > g$i || exit 1; done; ls | wc -l", out,
                           sizeof out), 0);
    assert_non_null (strstr (out, "100"));
    done (a);
    done (b);
}

/* The model is told: runCommand's result and writeFile's error say the
 * workspace is full, and what its limit is. */
static void
test_tools_say_full (void **state)
{
    (void) state;
    char *a = create_as ("tester");
    bool ok;
    json_t *res = tool ("runCommand", json_pack ("{s:s, s:s}", "sandboxId", a, "command",
                                                 "head -c 33554432 /dev/zero > fill"), &ok);
    if (json_integer_value (json_object_get (res, "exitCode")) == 0)
        fail_msg ("attack succeeded: runCommand wrote 32 MiB into an %d MiB workspace", DISK_MB);
    assert_string_equal (json_string_value (json_object_get (res, "workspaceFull")),
                         "workspace full (limit 8 MiB)");
    json_decref (res);
    char *big = malloc (1 << 20);
    memset (big, 'x', 1 << 20);
    res = tool ("writeFile", json_pack ("{s:s, s:s, s:s%}", "sandboxId", a, "path", "big.txt",
                                        "content", big, (size_t) (1 << 20)), &ok);
    free (big);
    assert_false (ok);
    json_t *err = json_object_get (res, "error");
    assert_string_equal (json_string_value (json_object_get (err, "code")), "workspace_full");
    const char *msg = json_string_value (json_object_get (err, "message"));
    if (!strstr (msg, "workspace full (limit 8 MiB)"))
        fail_msg ("writeFile's error does not say the workspace is full: %s", msg);
    json_decref (res);
    /* writeFiles too, straight to sandbox-manager. */
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_write_files, NULL);
    proto_set_str (&req->env.user, "tester");
    proto_set_str (&req->body.sandbox_write_files.sandbox_id, a);
    char *text = malloc (1 << 20);
    memset (text, 'y', 1 << 20);
    any_set (&req->body.sandbox_write_files.files,
             json_pack ("[{s:s, s:s%}]", "path", "many/one.txt", "data", text, (size_t) (1 << 20)));
    free (text);
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "workspace_full");
    proto_msg_destroy (&rep);
    done (a);
}

/* The sandbox's view of its mounts names nothing of the host's data dir. */
static void
test_mountinfo (void **state)
{
    (void) state;
    char *a = create_as ("tester"), out[8192];
    assert_int_equal (run (a, "cat /proc/self/mountinfo", out, sizeof out), 0);
    if (strstr (out, s_dir))
        fail_msg ("mountinfo names the host's data dir %s:\n%s", s_dir, out);
    /* The workspace is the root of its own filesystem. */
    assert_int_equal (run (a, "grep ' /workspace ' /proc/self/mountinfo | cut -d' ' -f4", out,
                           sizeof out), 0);
    assert_string_equal (out, "/\n");
    done (a);
}

/* Destroy detaches the workspace: no mount, no loop device left. */
static void
test_destroy_clean (void **state)
{
    (void) state;
    char *a = create_as ("tester"), id[128];
    snprintf (id, sizeof id, "%s", a);
    assert_true (host_mounted (id));
    assert_true (loop_backed (id));
    done (a);
    bool clean = false;
    for (int i = 0; i < 500 && !clean; i++) {
        clean = !host_mounted (id) && !loop_backed (id);
        if (!clean)
            usleep (10000);
    }
    if (!clean)
        fail_msg ("sandbox %s left %s behind", id, host_mounted (id) ? "a mount" : "a loop device");
}

/* `caisson down` detaches every workspace; the next manager re-attaches
 * the image: the files are there, and the limit still holds. */
static void
test_down_and_restore (void **state)
{
    (void) state;
    char *a = create_as ("tester"), out[8192], id[128];
    snprintf (id, sizeof id, "%s", a);
    assert_int_equal (run (a, "echo kept > kept.txt", out, sizeof out), 0);
    support_expect_clean_exit (s_mgr);
    const char *argv[] = { "caisson", "down", "--data", s_dir, NULL };
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    bool gone = false;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = !host_mounted (id) && !loop_backed (id);
        if (!gone)
            usleep (10000);
    }
    assert_true (gone);
    start_stack_manager ();
    proto_msg_t *rep = NULL;
    for (int i = 0; i < 100; i++) {
        proto_msg_destroy (&rep);
        rep = sh (a, "cat kept.txt", 10, NULL);
        if (rep->type == PROTO_sandbox_exec_result)
            break;
        usleep (50000);
    }
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_string_equal (rep->body.sandbox_exec_result.stdout, "kept\n");
    proto_msg_destroy (&rep);
    assert_true (host_mounted (id));
    assert_int_not_equal (run (a, "head -c 33554432 /dev/zero > fill", out, sizeof out), 0);
    assert_non_null (strstr (out, "No space left on device"));
    done (a);
}

/* Where loop devices are missing (CAISSON_SANDBOX_DISK_BACKEND=tmpfs
 * stands in for such a container): the limit still holds, mountinfo still
 * names no host path, and destroy leaves no mount. */
static void
test_tmpfs_fallback (void **state)
{
    (void) state;
    support_expect_clean_exit (s_mgr);
    static const char *const env[] = { "CAISSON_SANDBOX_DISK_BACKEND=tmpfs", NULL };
    s_mgr = support_spawn ("caisson-sandbox-manager", env);
    proto_msg_t *rep = NULL;
    for (int i = 0; i < 200 && !(rep && rep->type == PROTO_health_rep); i++) {
        proto_msg_destroy (&rep);
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        rep = bus_client_request (s_c, "sandbox-manager", req);
        proto_msg_destroy (&req);
    }
    proto_msg_destroy (&rep);
    char *a = create_as ("tester"), out[8192], id[128];
    snprintf (id, sizeof id, "%s", a);
    assert_true (host_mounted (id));
    assert_false (loop_backed (id));
    rep = sh (a, "head -c 33554432 /dev/zero > fill", 60, NULL);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_int_not_equal (rep->body.sandbox_exec_result.exit_code, 0);
    assert_non_null (strstr (rep->body.sandbox_exec_result.stderr, "No space left on device"));
    assert_string_equal (rep->body.sandbox_exec_result.workspace_full, "workspace full (limit 8 MiB)");
    proto_msg_destroy (&rep);
    assert_int_equal (run (a, "cat /proc/self/mountinfo", out, sizeof out), 0);
    assert_null (strstr (out, s_dir));
    done (a);
    bool clean = false;
    for (int i = 0; i < 500 && !clean; i++) {
        clean = !host_mounted (id);
        if (!clean)
            usleep (10000);
    }
    assert_true (clean);
    support_expect_clean_exit (s_mgr);
    start_stack_manager ();
}

static int
setup (void **state)
{
    setenv ("CAISSON_SANDBOX_DISK_MB", "8", 1);
    setenv ("CAISSON_SANDBOX_INODES", "500", 1);
    int rc = sbx_setup (state);
    s_tools = support_spawn ("caisson-tool-runner", NULL);
    for (int i = 0; i < 200; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        proto_msg_t *rep = bus_client_request (s_c, "tool-runner", req);
        proto_msg_destroy (&req);
        bool up = rep && rep->type == PROTO_health_rep;
        proto_msg_destroy (&rep);
        if (up)
            break;
    }
    return rc;
}

static int
teardown (void **state)
{
    support_expect_clean_exit (s_tools);
    return sbx_teardown (state);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_disk_full, after),
        cmocka_unit_test_teardown (test_inodes_full, after),
        cmocka_unit_test_teardown (test_tools_say_full, after),
        cmocka_unit_test_teardown (test_mountinfo, after),
        cmocka_unit_test_teardown (test_destroy_clean, after),
        cmocka_unit_test_teardown (test_down_and_restore, after),
        cmocka_unit_test_teardown (test_tmpfs_fallback, after),
    };
    return support_run_group_tests (tests, setup, teardown);
}
