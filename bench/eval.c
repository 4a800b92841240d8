/* bench-eval: the oracle eval of the golden set (issue 18) at concurrency
 * 1 and 8, through the whole stack (`caisson up --detach` on a private data
 * directory and ports, the scripted model's `oracle`), as a team would run
 * it: `caisson eval run evals/golden --model replay/oracle --concurrency N`.
 *
 * For each concurrency: the eval's wall time and tasks per minute; the
 * time spent in the agent's runs (the record's `seconds`: the baseline),
 * in the hidden tests (`testsSeconds`), and the harness's own time per task
 * beside them: an attempt's `wallSeconds` less those two (sandbox, starting
 * files, commits, watching the run, the patch, clean-up), as p50 and mean. Prints the load average before and after and the
 * git revision. Needs root (sandboxes): without it says so and exits 0. A
 * benchmark, not a test: 1 only when it cannot run. */
#define _GNU_SOURCE
#include "bench_util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SET CAISSON_SOURCE_DIR "/evals/golden"

static char s_bindir[4096], s_dir[4096];

/* Runs bindir/caisson with args, stdout to out (a path, or NULL: ours),
 * stderr to dir/bench.log; its exit status, or -1. */
static int
caisson (const char *const args[], const char *out)
{
    fflush (stdout);            /* else the child's freopen writes our buffer again */
    pid_t pid = fork ();
    if (pid == 0) {
        char bin[4200], log[4200];
        snprintf (bin, sizeof bin, "%s/caisson", s_bindir);
        snprintf (log, sizeof log, "%s/bench.log", s_dir);
        if (!freopen (log, "a", stderr) || (out && !freopen (out, "w", stdout)))
            _exit (127);
        const char *argv[16] = { "caisson" };
        for (int i = 0; i < 14 && args[i]; i++)
            argv[i + 1] = args[i];
        execv (bin, (char *const *) argv);
        _exit (127);
    }
    int st;
    if (pid < 0 || waitpid (pid, &st, 0) < 0)
        return -1;
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

static double
num (const json_t *o, const char *key)
{
    return json_number_value (json_object_get (o, key));
}

/* The eval at concurrency conc: runs it, reads its record, prints a row.
 * 0, or -1. */
static int
measure (int conc)
{
    char out[4200], id[32], cs[8];
    snprintf (out, sizeof out, "%s/eval-c%d.json", s_dir, conc);
    snprintf (id, sizeof id, "bench-c%d", conc);
    snprintf (cs, sizeof cs, "%d", conc);
    double t0 = bench_now_ms ();
    int rc = caisson ((const char *[]) { "eval", "run", SET, "--model", "replay/oracle",
                                         "--concurrency", cs, "--id", id, "--json", NULL },
                      out);
    double wall = (bench_now_ms () - t0) / 1000;
    json_error_t jerr;
    json_t *rec = json_load_file (out, 0, &jerr);
    if (rc != 0 || !rec) {
        fprintf (stderr, "bench-eval: eval at concurrency %d: exit %d, %s (see %s/bench.log)\n",
                 conc, rc, rec ? "" : jerr.text, s_dir);
        json_decref (rec);
        return -1;
    }
    size_t n = 0, passed = 0, i, j;
    double run_sum = 0, tests_sum = 0, over_sum = 0, over[4096];
    json_t *task, *att;
    json_array_foreach (json_object_get (rec, "tasks"), i, task)
        json_array_foreach (json_object_get (task, "attempts"), j, att) {
            if (n == sizeof over / sizeof *over)
                break;
            double run = num (att, "seconds"), tests = num (att, "testsSeconds");
            run_sum += run;
            tests_sum += tests;
            over[n] = num (att, "wallSeconds") - run - tests;
            over_sum += over[n++];
            passed += json_is_true (json_object_get (att, "passed"));
        }
    json_decref (rec);
    if (!n) {
        fprintf (stderr, "bench-eval: the record at %s has no attempts\n", out);
        return -1;
    }
    qsort (over, n, sizeof *over, bench_cmp_double);
    printf ("| %d | %zu/%zu | %.1f s | %.1f | %.3f s | %.3f s | %.3f s | %.3f s |\n", conc,
            passed, n, wall, n / wall * 60, run_sum / n, tests_sum / n, over[n / 2],
            over_sum / n);
    return 0;
}

int
main (void)
{
    if (geteuid () != 0) {
        printf ("bench-eval: needs root (sandboxes); not run\n");
        return 0;
    }
    if (bench_stack_env ("eval", s_bindir, sizeof s_bindir, s_dir, sizeof s_dir))
        return 1;
    bench_replay_env (s_dir, bench_free_port (), bench_free_port ());
    char http[64];
    snprintf (http, sizeof http, "127.0.0.1:%d", bench_free_port ());
    setenv ("CAISSON_HTTP", http, 1);
    unsetenv ("MODEL");
    unsetenv ("OPENAI_API_KEY");
    unsetenv ("ANTHROPIC_API_KEY");
    unsetenv ("CAISSON_LLM_REPLAY_EVALS");
    /* the golden set's tasks run as one user: let 8 of them run at once */
    setenv ("CAISSON_RUN_MAX_LIVE_PER_USER", "16", 1);
    double load0 = bench_load ();
    if (caisson ((const char *[]) { "up", "--detach", NULL }, "/dev/null")) {
        fprintf (stderr, "bench-eval: caisson up failed (see %s)\n", s_dir);
        return 1;
    }
    printf ("bench-eval: the golden set (%s), model replay/oracle, load %.2f\n\n", SET, load0);
    printf ("| concurrency | passed | wall | tasks/min | run (mean) | hidden tests (mean) | "
            "harness p50 | harness mean |\n|---|---|---|---|---|---|---|---|\n");
    int rc = measure (1) || measure (8);
    caisson ((const char *[]) { "down", NULL }, "/dev/null");
    printf ("\nper attempt: run = the agent's run (its events' times: the baseline); hidden "
            "tests = writing and running them (testsSeconds); harness = the rest of the "
            "attempt's wallSeconds (sandbox, files, commits, watching the run, its events, "
            "the patch, clean-up). load %.2f at the end; data in %s\n", bench_load (), s_dir);
    return rc ? 1 : 0;
}
