/* testlog: reads pass/fail/skip counts out of a test runner's output.
 *
 * Understood: pytest (its summary line), python unittest (`Ran N tests`
 * and `OK`/`FAILED (...)`), `node --test` (TAP `# pass N` or the spec
 * reporter's `ℹ pass N`), `go test -v` (`--- PASS/FAIL/SKIP` lines),
 * `cargo test` (`test result:` lines, summed) and ctest (`N% tests passed,
 * M tests failed out of T`). */
#ifndef TR_TESTLOG_H
#define TR_TESTLOG_H

#include <stdbool.h>

typedef struct {
    long passed, failed, skipped;
} testlog_counts_t;

/* Parses log as the output of runner ("pytest", "unittest", "node", "go",
 * "cargo", "ctest"). Returns true when the counts could be read. */
bool testlog_parse (const char *runner, const char *log, testlog_counts_t *out);

#endif
