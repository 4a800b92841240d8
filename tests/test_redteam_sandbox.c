/* test_redteam_sandbox: the sandbox side of issue 11's attacks, each as the
 * tenant (or a second local user) would try it, each asserting it fails:
 * host descriptors inherited by a sandbox's processes (and the pread of
 * sandbox-manager's LMDB file through one), a forged sandbox record
 * re-created on restart, requests naming another user's sandbox, host
 * files readable by another local uid, and a FIFO that stalls the init.
 * The stack test at the end does the same for the processes `caisson up`
 * starts: no inherited log, /dev/null or ready-pipe descriptors, and a
 * data dir made by an older version tightened on start. */
#define _GNU_SOURCE
#include "sbx_client.h"
#include "fake_egress.h"
#include "mpjson.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Lists the calling process's descriptors, as `fd target` lines, leaving
 * out the one listdir itself holds (it points at /proc/<pid>/fd). */
static const char fd_lister[] =
    "import os\n"
    "me = '/proc/%d/fd' % os.getpid()\n"
    "for fd in sorted(int(n) for n in os.listdir('/proc/self/fd')):\n"
    "    try: t = os.readlink('/proc/self/fd/%d' % fd)\n"
    "    except OSError: continue\n"
    "    if t != me: print(fd, t)\n";

/* Fails unless every line of listing is fd 0, 1 or 2. */
static void
only_std_fds (const char *where, const char *listing)
{
    char copy[8192];
    snprintf (copy, sizeof copy, "%s", listing);
    int lines = 0;
    for (char *save, *l = strtok_r (copy, "\n", &save); l; l = strtok_r (NULL, "\n", &save)) {
        int fd = atoi (l);
        if (fd > 2)
            fail_msg ("%s: descriptor of the host inherited: %s\nall:\n%s", where, l, listing);
        lines++;
    }
    if (lines < 3)
        fail_msg ("%s: listing incomplete:\n%s", where, listing);
}

static proto_msg_t *
as_user (proto_msg_t *req, const char *user, bool op)
{
    proto_set_str (&req->env.user, user);
    req->env.op = op;
    return req;
}

static char *
create_as (const char *user)
{
    proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_create, NULL), user, false);
    proto_set_str (&req->body.sandbox_create.language, "python");
    req->body.sandbox_create.ttl_seconds = 600;
    proto_msg_t *rep = call (req);
    if (rep->type == PROTO_error)
        fail_msg ("create: %s", rep->body.error.message);
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    return id;
}

static void
destroy_op (const char *user, bool op, char *id)
{
    proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_destroy, NULL), user, op);
    proto_set_str (&req->body.sandbox_destroy.sandbox_id, id);
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    proto_msg_destroy (&rep);
    free (id);
}

static void
destroy_as (const char *user, char *id)
{
    destroy_op (user, false, id);
}

/* 1. A foreground command, a background one (nohup, read later, and
 * `background: true`) and runCode see only 0, 1 and 2. */
static void
test_no_host_descriptors (void **state)
{
    (void) state;
    char *id = create_as ("alice"), out[8192];
    proto_msg_t *w = as_user (proto_msg_new (PROTO_sandbox_write_file, NULL), "alice", false);
    proto_set_str (&w->body.sandbox_write_file.sandbox_id, id);
    proto_set_str (&w->body.sandbox_write_file.path, "lsfd.py");
    proto_set_bytes (&w->body.sandbox_write_file.content, fd_lister, strlen (fd_lister));
    proto_msg_t *rep = call (w);
    assert_int_equal (rep->type, PROTO_sandbox_path);
    proto_msg_destroy (&rep);

    assert_int_equal (run_as ("alice", id, "python3 lsfd.py", out, sizeof out), 0);
    only_std_fds ("foreground exec", out);

    assert_int_equal (run_as ("alice", id, "nohup sh -c 'sleep 0.3; python3 lsfd.py "
                              "< /dev/null > nohup.txt 2>&1' > /dev/null 2>&1 &", NULL, 0), 0);
    proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_exec, NULL), "alice", false);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    any_set (&req->body.sandbox_exec.command, json_string ("python3 lsfd.py > bg.txt 2>&1"));
    req->body.sandbox_exec.background = true;
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    proto_msg_destroy (&rep);
    /* Both write their listing when they exit (a loaded host: up to 15 s). */
    assert_int_equal (run_as ("alice", id, "for i in $(seq 150); do test -s bg.txt && test -s "
                              "nohup.txt && exit 0; sleep 0.1; done; exit 1", NULL, 0), 0);
    /* The redirections moved 0-2; what a background process holds beyond
     * them is what it inherited. */
    assert_int_equal (run_as ("alice", id, "cat bg.txt | grep -v '^[012] '; cat nohup.txt | "
                              "grep -v '^[012] '; echo 0 a && echo 1 b && echo 2 c", out,
                              sizeof out), 0);
    only_std_fds ("background process", out);

    req = as_user (proto_msg_new (PROTO_sandbox_run_code, NULL), "alice", false);
    proto_set_str (&req->body.sandbox_run_code.sandbox_id, id);
    proto_set_str (&req->body.sandbox_run_code.code, fd_lister);
    proto_set_str (&req->body.sandbox_run_code.language, "python");
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    only_std_fds ("runCode", rep->body.sandbox_exec_result.stdout);
    proto_msg_destroy (&rep);
    destroy_as ("alice", id);
}

/* 1. The attack itself: pread every descriptor looking for LMDB pages
 * holding sandbox records (another tenant's envVars among them). */
static void
test_pread_of_store (void **state)
{
    (void) state;
    proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_create, NULL), "victim", false);
    json_t *env = json_pack ("{s:s}", "API_KEY", "victim-secret-4242");
    any_set (&req->body.sandbox_create.env_vars, env);
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *victim = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    char *id = create_as ("mallory"), out[8192];
    const char *attack =
        "python3 -c \"\nimport os\nfound = []\nfor fd in range(3, 1024):\n"
        "    try: data = os.pread(fd, 1 << 20, 0)\n    except OSError: continue\n"
        "    if b'sandboxId' in data or b'victim-secret' in data: found.append(fd)\n"
        "print('FOUND', found) if found else print('none')\n\"";
    assert_int_equal (run_as ("mallory", id, attack, out, sizeof out), 0);
    if (strstr (out, "FOUND"))
        fail_msg ("a sandbox read sandbox-manager's store through an inherited descriptor: %s", out);
    assert_non_null (strstr (out, "none"));
    destroy_as ("mallory", id);
    destroy_as ("victim", victim);
    /* Nor does the secret reach a log. */
    char log[600], line[4096];
    snprintf (log, sizeof log, "%s/caisson-sandbox-manager.log", s_dir);
    FILE *f = fopen (log, "r");
    assert_non_null (f);
    while (fgets (line, sizeof line, f))
        if (strstr (line, "victim-secret-4242"))
            fail_msg ("an envVars value reached the log: %s", line);
    fclose (f);
}

/* 3. Every request naming alice's sandbox, sent by bob, answers not_found
 * (as for an id that does not exist); an operator gets through. */
static void
test_owner_checks (void **state)
{
    (void) state;
    char *id = create_as ("alice");
    const proto_type_t types[] = {
        PROTO_sandbox_get, PROTO_sandbox_exec, PROTO_sandbox_run_code, PROTO_sandbox_read_file,
        PROTO_sandbox_write_file, PROTO_sandbox_write_files, PROTO_sandbox_list_files,
        PROTO_sandbox_get_file_info, PROTO_sandbox_delete_file, PROTO_sandbox_create_directory,
        PROTO_sandbox_check_file_exists, PROTO_sandbox_get_file_size, PROTO_sandbox_watch_start,
        PROTO_sandbox_watch_stop, PROTO_sandbox_pause, PROTO_sandbox_resume,
        PROTO_sandbox_set_timeout, PROTO_sandbox_exec_list, PROTO_sandbox_exec_kill,
        PROTO_sandbox_exec_wait, PROTO_sandbox_exec_output, PROTO_sandbox_exec_cancel,
        PROTO_sandbox_destroy,
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        proto_msg_t *req = as_user (proto_msg_new (types[i], NULL), "bob", false);
        /* Every sandbox request opens with sandboxId; fill what each needs. */
        proto_set_str (&req->body.sandbox_get.sandbox_id, id);
        if (types[i] == PROTO_sandbox_exec)
            any_set (&req->body.sandbox_exec.command, json_string ("touch /workspace/bob-was-here"));
        else if (types[i] == PROTO_sandbox_run_code)
            proto_set_str (&req->body.sandbox_run_code.code, "open('/workspace/bob-was-here','w')");
        else if (types[i] == PROTO_sandbox_write_file) {
            proto_set_str (&req->body.sandbox_write_file.path, "bob-was-here");
            proto_set_bytes (&req->body.sandbox_write_file.content, "x", 1);
        } else if (types[i] == PROTO_sandbox_write_files)
            any_set (&req->body.sandbox_write_files.files,
                     json_pack ("[{s:s, s:s}]", "path", "bob-was-here", "data", "x"));
        else if (types[i] == PROTO_sandbox_exec_cancel)
            proto_set_str (&req->body.sandbox_exec_cancel.request, "01HZZZZZZZZZZZZZZZZZZZZZZZ");
        else if (types[i] == PROTO_sandbox_set_timeout)
            req->body.sandbox_set_timeout.ttl_seconds = 1;
        else if (types[i] == PROTO_sandbox_exec_kill || types[i] == PROTO_sandbox_exec_wait
                 || types[i] == PROTO_sandbox_exec_output)
            req->body.sandbox_exec_kill.pid = 1;
        else if (types[i] != PROTO_sandbox_watch_stop && types[i] != PROTO_sandbox_get
                 && types[i] != PROTO_sandbox_pause && types[i] != PROTO_sandbox_resume
                 && types[i] != PROTO_sandbox_exec_list && types[i] != PROTO_sandbox_destroy)
            proto_set_str (&req->body.sandbox_read_file.path, "secret.txt");
        proto_msg_t *rep = call (req);
        if (rep->type != PROTO_error || strcmp (rep->body.error.code, "not_found"))
            fail_msg ("bob's %s on alice's sandbox was answered %s %s", proto_type_name (types[i]),
                      proto_type_name (rep->type),
                      rep->type == PROTO_error ? rep->body.error.code : "");
        proto_msg_destroy (&rep);
    }
    /* None of it happened: alice's sandbox is there, untouched. */
    char out[256];
    assert_int_equal (run_as ("alice", id, "test ! -e /workspace/bob-was-here && echo clean", out,
                              sizeof out), 0);
    assert_string_equal (out, "clean\n");
    /* bob's list leaves it out; an operator's shows it. */
    proto_msg_t *rep = call (as_user (proto_msg_new (PROTO_sandbox_list, NULL), "bob", false));
    assert_int_equal (rep->type, PROTO_sandbox_listed);
    json_t *arr = mpjson_get (&rep->body.sandbox_listed.sandboxes, 8);
    size_t i;
    json_t *b;
    json_array_foreach (arr, i, b)
        assert_string_not_equal (json_string_value (json_object_get (b, "sandboxId")), id);
    json_decref (arr);
    proto_msg_destroy (&rep);
    /* An operator acts on anyone's sandbox. */
    proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_exec, NULL), "root-op", true);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    any_set (&req->body.sandbox_exec.command, json_string ("echo operator"));
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_string_equal (rep->body.sandbox_exec_result.stdout, "operator\n");
    proto_msg_destroy (&rep);
    req = as_user (proto_msg_new (PROTO_sandbox_get, NULL), "root-op", true);
    proto_set_str (&req->body.sandbox_get.sandbox_id, id);
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    assert_string_equal (rep->body.sandbox_info.user, "alice");
    proto_msg_destroy (&rep);
    /* bob cannot refuse alice's next exec in advance by cancelling its
     * request id through a sandbox of his own. */
    char *bobs = create_as ("bob");
    const char *rid = "01JZZZZZZZZZZZZZZZZZZZZZZZ";
    req = as_user (proto_msg_new (PROTO_sandbox_exec_cancel, NULL), "bob", false);
    proto_set_str (&req->body.sandbox_exec_cancel.sandbox_id, bobs);
    proto_set_str (&req->body.sandbox_exec_cancel.request, rid);
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_ack);
    proto_msg_destroy (&rep);
    req = as_user (proto_msg_new (PROTO_sandbox_exec, NULL), "alice", false);
    proto_set_str (&req->env.id, rid);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    any_set (&req->body.sandbox_exec.command, json_string ("echo ran"));
    rep = call (req);
    if (rep->type != PROTO_sandbox_exec_result)
        fail_msg ("bob's cancel refused alice's exec: %s", rep->type == PROTO_error
                  ? rep->body.error.message : proto_type_name (rep->type));
    proto_msg_destroy (&rep);
    destroy_as ("bob", bobs);
    destroy_as ("alice", id);
}

static proto_msg_t *
get_as (const char *user, bool op, const char *id)
{
    proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_get, NULL), user, op);
    proto_set_str (&req->body.sandbox_get.sandbox_id, id);
    return call (req);
}

/* Edits id's stored record in place, as a process holding the store's
 * descriptor would: the JSON text in the value is rewritten, whatever
 * precedes it kept. */
static void
forge_record (const char *id, json_t *changes)
{
    char dir[1024];
    snprintf (dir, sizeof dir, "%s/sandbox-manager", s_dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal (mdb_env_create (&env), 0);
    mdb_env_set_maxdbs (env, 4);
    mdb_env_set_mapsize (env, 1024ull << 20);
    assert_int_equal (mdb_env_open (env, dir, 0, 0600), 0);
    assert_int_equal (mdb_txn_begin (env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "sandboxes", 0, &dbi), 0);
    MDB_val k = { strlen (id), (void *) id }, v;
    assert_int_equal (mdb_get (txn, dbi, &k, &v), 0);
    const char *text = v.mv_data, *brace = memchr (text, '{', v.mv_size);
    assert_non_null (brace);
    json_t *rec = json_loadb (brace, v.mv_size - (size_t) (brace - text), 0, NULL);
    assert_non_null (rec);
    json_object_update (rec, changes);
    char *js = json_dumps (rec, JSON_COMPACT);
    size_t pre = (size_t) (brace - text), len = pre + strlen (js);
    char *nv = malloc (len);
    memcpy (nv, text, pre);
    memcpy (nv + pre, js, strlen (js));
    MDB_val nval = { len, nv };
    assert_int_equal (mdb_put (txn, dbi, &k, &nval, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
    free (nv);
    free (js);
    json_decref (rec);
    json_decref (changes);
}

/* Fails when a process of sandbox id runs as host uid 0 or in the host's
 * network namespace. */
static void
no_privileged_process (const char *id)
{
    char path[512], line[256], ns[64] = "", hostns[64] = "";
    ssize_t n = readlink ("/proc/self/ns/net", hostns, sizeof hostns - 1);
    hostns[n > 0 ? n : 0] = 0;
    snprintf (path, sizeof path, "/sys/fs/cgroup/pids/caisson/%s/cgroup.procs", id);
    FILE *f = fopen (path, "r");
    int pid;
    while (f && fscanf (f, "%d", &pid) == 1) {
        snprintf (path, sizeof path, "/proc/%d/status", pid);
        FILE *s = fopen (path, "r");
        while (s && fgets (line, sizeof line, s))
            if (!strncmp (line, "Uid:", 4) && atoi (line + 4) == 0)
                fail_msg ("sandbox %s: process %d runs as host uid 0", id, pid);
        if (s)
            fclose (s);
        snprintf (path, sizeof path, "/proc/%d/ns/net", pid);
        n = readlink (path, ns, sizeof ns - 1);
        ns[n > 0 ? n : 0] = 0;
        if (n > 0 && !strcmp (ns, hostns))
            fail_msg ("sandbox %s: process %d is on the host's network", id, pid);
    }
    if (f)
        fclose (f);
}

/* 2. Records forged while sandbox-manager is down (host uid 0, host
 * network, another owner) are refused on restart: the sandbox is broken,
 * not re-created with those values, and the forged owner gets nothing. */
static void
test_forged_record_refused (void **state)
{
    (void) state;
    char *dead = create_as ("carol"), *live = create_as ("carol");
    proto_msg_t *rep = get_as ("carol", false, dead);
    pid_t init = (pid_t) rep->body.sandbox_info.init_pid;
    proto_msg_destroy (&rep);
    stop_manager_kill_init (init);
    forge_record (dead, json_pack ("{s:i, s:s, s:s}", "uid", 0, "network", "host", "user", "mallory"));
    forge_record (live, json_pack ("{s:s}", "user", "mallory"));
    start_stack_manager ();
    const char *ids[] = { dead, live };
    for (int i = 0; i < 2; i++) {
        rep = get_as ("mallory", false, ids[i]);
        if (rep->type != PROTO_error || strcmp (rep->body.error.code, "not_found"))
            fail_msg ("the forged owner reached sandbox %s: %s %s", ids[i],
                      proto_type_name (rep->type), rep->type == PROTO_error
                      ? rep->body.error.message : "");
        proto_msg_destroy (&rep);
        rep = get_as ("ops", true, ids[i]);
        assert_int_equal (rep->type, PROTO_sandbox_info);
        if (strcmp (rep->body.sandbox_info.status, "broken"))
            fail_msg ("forged record of %s re-created: status %s, user %s", ids[i],
                      rep->body.sandbox_info.status, rep->body.sandbox_info.user);
        assert_non_null (strstr (rep->body.sandbox_info.reason, "record"));
        proto_msg_destroy (&rep);
        no_privileged_process (ids[i]);
    }
    /* Refused records have no owner: an operator's to remove. */
    destroy_op ("ops", true, dead);
    destroy_op ("ops", true, live);
}

/* 2. A sealed record that today's settings no longer allow (network host
 * after CAISSON_SANDBOX_ALLOW_HOST_NET was turned off) is not re-created
 * either: its owner sees it broken, with the reason. */
static void
test_record_checked_against_settings (void **state)
{
    (void) state;
    support_expect_clean_exit (s_mgr);
    setenv ("CAISSON_SANDBOX_ALLOW_HOST_NET", "1", 1);
    start_stack_manager ();
    /* Even where the deployment allows the host's network, a tenant may
     * not choose it: only an operator may. */
    proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_create, NULL), "frank", false);
    proto_set_str (&req->body.sandbox_create.network, "host");
    proto_msg_t *rep = call (req);
    if (rep->type != PROTO_error)
        fail_msg ("attack succeeded: a tenant's sandbox was given the host's network");
    assert_string_equal (rep->body.error.code, "forbidden");
    proto_msg_destroy (&rep);
    req = as_user (proto_msg_new (PROTO_sandbox_create, NULL), "frank", true);
    proto_set_str (&req->body.sandbox_create.network, "host");
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    pid_t init = (pid_t) rep->body.sandbox_info.init_pid;
    proto_msg_destroy (&rep);
    stop_manager_kill_init (init);
    unsetenv ("CAISSON_SANDBOX_ALLOW_HOST_NET");
    start_stack_manager ();
    rep = get_as ("frank", false, id);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    if (strcmp (rep->body.sandbox_info.status, "broken"))
        fail_msg ("a host-network sandbox was re-created after host networking was turned off: %s",
                  rep->body.sandbox_info.status);
    assert_non_null (strstr (rep->body.sandbox_info.reason, "CAISSON_SANDBOX_ALLOW_HOST_NET"));
    proto_msg_destroy (&rep);
    no_privileged_process (id);
    destroy_as ("frank", id);
}

/* issue 15 (C1): a policy sandbox's rules are checked again on restart.
 * One sealed under a wider ceiling (CAISSON_EGRESS_ALLOW_MAX) than today's
 * is broken, not given its policy again; one forged into mode policy with
 * an allow-everything rule is refused as forged. Neither reaches the proxy
 * with a policy; both are dropped there. */
static void
test_policy_record_checked (void **state)
{
    (void) state;
    fake_egress_start ();
    proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_create, NULL), "gina", false);
    proto_set_str (&req->body.sandbox_create.network, "policy");
    any_set (&req->body.sandbox_create.network_allow, json_pack ("[s]", "*.example.org"));
    proto_msg_t *rep = call (req);
    if (rep->type != PROTO_sandbox_info)
        fail_msg ("policy create: %s", rep->type == PROTO_error ? rep->body.error.message : "");
    char *wide = strdup (rep->body.sandbox_info.sandbox_id);
    pid_t init = (pid_t) rep->body.sandbox_info.init_pid;
    proto_msg_destroy (&rep);
    char *forged = create_as ("gina");
    rep = get_as ("gina", false, forged);
    pid_t init2 = (pid_t) rep->body.sandbox_info.init_pid;
    proto_msg_destroy (&rep);
    stop_manager_kill_init (init);
    kill (init2, SIGKILL);
    forge_record (forged, json_pack ("{s:s, s:[s]}", "network", "policy", "networkAllow", "*"));
    setenv ("CAISSON_EGRESS_ALLOW_MAX", "pypi.org", 1);
    fake_egress_clear ();
    start_stack_manager ();
    const char *ids[] = { wide, forged };
    for (int i = 0; i < 2; i++) {
        rep = get_as ("ops", true, ids[i]);
        assert_int_equal (rep->type, PROTO_sandbox_info);
        if (strcmp (rep->body.sandbox_info.status, "broken"))
            fail_msg ("attack succeeded: sandbox %s restored in mode policy beyond the ceiling: %s",
                      ids[i], rep->body.sandbox_info.status);
        assert_non_null (strstr (rep->body.sandbox_info.reason, i ? "record" : "ceiling"));
        proto_msg_destroy (&rep);
    }
    for (int i = 0; i < 2; i++) {
        json_t *drops = NULL;
        for (int t = 0; t < 100 && !json_array_size (drops); t++) {
            json_decref (drops);
            usleep (50000);
            drops = fake_egress_find ("egress.policy.drop", ids[i]);
        }
        json_t *sets = fake_egress_find ("egress.policy.set", ids[i]);
        if (json_array_size (sets))
            fail_msg ("attack succeeded: the proxy was given %s's refused policy", ids[i]);
        assert_int_equal (json_array_size (drops), 1);
        json_decref (sets);
        json_decref (drops);
    }
    unsetenv ("CAISSON_EGRESS_ALLOW_MAX");
    destroy_op ("ops", true, wide);
    destroy_op ("ops", true, forged);
    fake_egress_stop ();
}

/* 11. readFile on a FIFO answers at once with an error, and the init keeps
 * serving: the next exec answers within 2 s. */
static void
test_fifo_does_not_stall (void **state)
{
    (void) state;
    char *id = create_as ("dave"), out[256];
    assert_int_equal (run_as ("dave", id, "mkfifo /workspace/f && python3 -c \"import socket; "
                              "socket.socket(socket.AF_UNIX).bind('/workspace/s')\"", out,
                              sizeof out), 0);
    bus_client_t *slow = bus_client_new (getenv ("CAISSON_BUS")), *fast = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (fast, 2000, 0);
    const char *paths[] = { "f", "s" };
    for (int i = 0; i < 2; i++) {
        support_send (slow, "sandbox-manager",
                      as_user (file_req (PROTO_sandbox_read_file, id, paths[i]), "dave", false));
        usleep (100000);
        proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_exec, NULL), "dave", false);
        proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
        any_set (&req->body.sandbox_exec.command, json_string ("echo alive"));
        int64_t t0 = zclock_mono ();
        proto_msg_t *rep = bus_client_request (fast, "sandbox-manager", req);
        proto_msg_destroy (&req);
        if (!rep)
            fail_msg ("readFile of a %s stalled the init: no exec answer within 2 s",
                      i ? "socket" : "FIFO");
        assert_int_equal (rep->type, PROTO_sandbox_exec_result);
        assert_true (zclock_mono () - t0 < 2000);
        proto_msg_destroy (&rep);
        rep = bus_client_recv (slow, 2000, NULL);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_error);
        assert_non_null (strstr (rep->body.error.message, "not a regular file"));
        proto_msg_destroy (&rep);
    }
    /* FIFOs where runCode writes its source: the run still answers. */
    assert_int_equal (run_as ("dave", id, "for i in $(seq 1 64); do mkfifo /tmp/.caisson-code-$i.py; "
                              "done", NULL, 0), 0);
    proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_run_code, NULL), "dave", false);
    proto_set_str (&req->body.sandbox_run_code.sandbox_id, id);
    proto_set_str (&req->body.sandbox_run_code.code, "print('ran')");
    proto_msg_t *rep = bus_client_request (fast, "sandbox-manager", req);
    proto_msg_destroy (&req);
    if (!rep)
        fail_msg ("a FIFO at runCode's source path stalled the init");
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_string_equal (rep->body.sandbox_exec_result.stdout, "ran\n");
    proto_msg_destroy (&rep);
    bus_client_destroy (&slow);
    bus_client_destroy (&fast);
    destroy_as ("dave", id);
}

/* Opens (or lists) each path as uid/gid 65534 in a child; returns a
 * newline-separated list of those it could open. */
static void
as_nobody_open (const char *const *paths, size_t n, char *opened, size_t len)
{
    int p[2];
    assert_int_equal (pipe (p), 0);
    pid_t pid = fork ();
    if (pid == 0) {
        close (p[0]);
        if (setgroups (0, NULL) || setgid (65534) || setuid (65534))
            _exit (2);
        for (size_t i = 0; i < n; i++) {
            struct stat st;
            bool ok = false;
            if (stat (paths[i], &st) == 0 && S_ISDIR (st.st_mode)) {
                DIR *d = opendir (paths[i]);
                ok = d && readdir (d);
                if (d)
                    closedir (d);
            } else {
                int fd = open (paths[i], O_RDONLY | O_NONBLOCK);
                ok = fd >= 0;
                if (fd >= 0)
                    close (fd);
            }
            if (ok || errno != EACCES)
                dprintf (p[1], "%s (%s)\n", paths[i], ok ? "opened" : strerror (errno));
        }
        _exit (0);
    }
    close (p[1]);
    size_t got = 0;
    ssize_t r;
    while (got < len - 1 && (r = read (p[0], opened + got, len - 1 - got)) > 0)
        got += (size_t) r;
    opened[got] = 0;
    close (p[0]);
    int status;
    waitpid (pid, &status, 0);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

/* 10. A second local uid reads nothing sandbox-manager keeps: its store,
 * the sandboxes' directories, a file a sandbox wrote. The data dir is
 * opened up (0755, as a shared parent may be) so each path's own mode
 * is what is tested. */
static void
test_other_uid_reads_nothing (void **state)
{
    (void) state;
    char *id = create_as ("erin"), out[2048];
    assert_int_equal (run_as ("erin", id, "echo tenant-secret > secret.txt", NULL, 0), 0);
    assert_int_equal (chmod (s_dir, 0755), 0);
    char p[6][600];
    snprintf (p[0], sizeof p[0], "%s/sandbox-manager", s_dir);
    snprintf (p[1], sizeof p[1], "%s/sandbox-manager/data.mdb", s_dir);
    snprintf (p[2], sizeof p[2], "%s/sandbox-manager/lock.mdb", s_dir);
    snprintf (p[3], sizeof p[3], "%s/sandboxes", s_dir);
    snprintf (p[4], sizeof p[4], "%s/sandboxes/%s/workspace", s_dir, id);
    snprintf (p[5], sizeof p[5], "%s/sandboxes/%s/workspace/secret.txt", s_dir, id);
    const char *paths[] = { p[0], p[1], p[2], p[3], p[4], p[5] };
    as_nobody_open (paths, 6, out, sizeof out);
    chmod (s_dir, 0700);
    if (*out)
        fail_msg ("uid 65534 reached:\n%s", out);
    destroy_as ("erin", id);
}

static const char *s_walk_root;
static char s_walk_bad[4096];

static int
check_mode (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) flag, (void) ftw;
    const char *rel = path + strlen (s_walk_root);
    /* A sandbox's own directory must stay searchable by its uid (0711),
     * and its root is only a mount point; nothing in them is readable.
     * So must its net/ (issue 15), where its init reaches the proxy's
     * socket. */
    int depth = 0;
    for (const char *c = rel; *c; c++)
        depth += *c == '/';
    const char *last = strrchr (rel, '/');
    bool inner = depth == 3 && (!strcmp (last, "/root") || !strcmp (last, "/net"));
    bool boxdir = !strncmp (rel, "/sandboxes/", 11) && (depth == 2 || inner);
    mode_t allowed = boxdir ? 0711 : 0700;
    if (S_ISLNK (st->st_mode) || S_ISSOCK (st->st_mode))
        return 0;
    if ((st->st_mode & 077 & ~allowed) && strlen (s_walk_bad) < sizeof s_walk_bad - 600)
        snprintf (s_walk_bad + strlen (s_walk_bad), sizeof s_walk_bad - strlen (s_walk_bad),
                  "%s %o\n", rel, (unsigned) (st->st_mode & 0777));
    return 0;
}

/* 1 and 10 for the processes `caisson up --detach` starts: a data dir an
 * older version left world-readable is tightened, no file it makes is
 * readable by others, no service holds an inherited log or /dev/null,
 * and a sandbox of that stack sees only 0, 1 and 2 (not the ready pipe). */
static void
test_stack_descriptors_and_modes (void **state)
{
    (void) state;
    char *saved = strdup (s_dir), *envs[3];
    const char *keys[] = { "CAISSON_BUS", "CAISSON_BUS_PUB", "CAISSON_BUS_SUB" };
    for (int i = 0; i < 3; i++)
        envs[i] = strdup (getenv (keys[i]));
    s_dir = saved;
    const char *dir = support_sandbox_env ("redteam-stack");
    char path[1024], out[8192];
    assert_int_equal (chmod (dir, 0755), 0);
    snprintf (path, sizeof path, "%s/log", dir);
    assert_int_equal (mkdir (path, 0755), 0);
    chmod (path, 0755);
    snprintf (path, sizeof path, "%s/log/sandbox-manager.log", dir);
    int fd = open (path, O_WRONLY | O_CREAT, 0644);
    assert_true (fd >= 0);
    fchmod (fd, 0644);
    close (fd);
    const char *up[] = { "caisson", "up", "--detach", "--data", dir, NULL };
    assert_int_equal (support_run (up, out, sizeof out), 0);

    /* A sandbox of this stack. */
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (c, 30000, 0);
    proto_msg_t *req = as_user (proto_msg_new (PROTO_sandbox_create, NULL), "alice", false);
    proto_msg_t *rep = bus_client_request (c, "sandbox-manager", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    req = as_user (proto_msg_new (PROTO_sandbox_run_code, NULL), "alice", false);
    proto_set_str (&req->body.sandbox_run_code.sandbox_id, id);
    proto_set_str (&req->body.sandbox_run_code.code, fd_lister);
    proto_set_str (&req->body.sandbox_run_code.language, "python");
    rep = bus_client_request (c, "sandbox-manager", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    only_std_fds ("runCode in a `caisson up` stack", rep->body.sandbox_exec_result.stdout);
    proto_msg_destroy (&rep);
    bus_client_destroy (&c);
    free (id);

    /* Every service: no log or /dev/null beyond its own 0-2. */
    snprintf (path, sizeof path, "%s/run/procs", dir);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    char name[64];
    int pid;
    while (fscanf (f, "%63s %d %*s", name, &pid) == 2) {
        char fdir[64], link[1100], target[1024];
        snprintf (fdir, sizeof fdir, "/proc/%d/fd", pid);
        DIR *d = opendir (fdir);
        struct dirent *e;
        while (d && (e = readdir (d))) {
            if (atoi (e->d_name) <= 2)
                continue;
            snprintf (link, sizeof link, "%s/%s", fdir, e->d_name);
            ssize_t n = readlink (link, target, sizeof target - 1);
            target[n > 0 ? n : 0] = 0;
            size_t tl = strlen (target);
            if (!strcmp (target, "/dev/null") || (tl > 4 && !strcmp (target + tl - 4, ".log")))
                fail_msg ("%s (pid %d) holds inherited fd %s -> %s", name, pid, e->d_name, target);
        }
        if (d)
            closedir (d);
    }
    fclose (f);

    /* Modes: nothing under the data dir readable by others. */
    s_walk_root = dir;
    s_walk_bad[0] = 0;
    nftw (dir, check_mode, 32, FTW_PHYS);
    char tokens[600], log[600], store[600];
    snprintf (tokens, sizeof tokens, "%s/ui-bridge/tokens", dir);
    snprintf (log, sizeof log, "%s/log/sandbox-manager.log", dir);
    snprintf (store, sizeof store, "%s/sandbox-manager/data.mdb", dir);
    const char *paths[] = { dir, tokens, log, store };
    as_nobody_open (paths, 4, out, sizeof out);
    const char *down[] = { "caisson", "down", "--data", dir, NULL };
    support_run (down, NULL, 0);
    for (int i = 0; i < 3; i++) {
        setenv (keys[i], envs[i], 1);
        free (envs[i]);
    }
    setenv ("CAISSON_DATA", s_dir, 1);
    if (*s_walk_bad)
        fail_msg ("readable by other users under the data dir:\n%s", s_walk_bad);
    if (*out)
        fail_msg ("uid 65534 reached:\n%s", out);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_no_host_descriptors),
        cmocka_unit_test (test_pread_of_store),
        cmocka_unit_test (test_owner_checks),
        cmocka_unit_test (test_forged_record_refused),
        cmocka_unit_test (test_record_checked_against_settings),
        cmocka_unit_test (test_policy_record_checked),
        cmocka_unit_test (test_fifo_does_not_stall),
        cmocka_unit_test (test_other_uid_reads_nothing),
        /* Last: it points the environment at a stack of its own. */
        cmocka_unit_test (test_stack_descriptors_and_modes),
    };
    return support_run_group_tests (tests, sbx_setup, sbx_teardown);
}
