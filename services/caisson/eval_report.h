/* eval_report: the figures of an eval record (docs/evals.md § The record),
 * its report for people, the comparison of two evals, and the SWE-bench
 * predictions export. Pure functions of records: no bus. */
#ifndef CAISSON_EVAL_REPORT_H
#define CAISSON_EVAL_REPORT_H

#include <jansson.h>
#include <stdio.h>

/* Sets a task's `passes` and `passAtK` ({"1": p, "<repeat>": p}) from its
 * attempts (an eval of `repeat` repeats). */
void eval_report_task (json_t *task, unsigned repeat);

/* The summary of tasks (each updated by eval_report_task): {tasks,
 * attempts, passed, passRate, passAtK, meanTokens, meanSeconds,
 * meanSteps, costUsd, causes: {cause: n}} (new). */
json_t *eval_report_summary (const json_t *tasks, unsigned repeat);

/* The comparison of eval b against eval a: {a, b, passRate, meanTokens,
 * meanSeconds (each {a, b, change}), fixed, broken, unchanged (task id
 * lists), added, removed} (new). A task is fixed when it passed in no
 * attempt of a and in some of b, broken the other way round. */
json_t *eval_report_compare (const json_t *a, const json_t *b);

/* record, or when its compact JSON passes max bytes a copy made to fit
 * (new either way): first every patch but the one the export would take
 * of each task is dropped (`patchDropped: true`), then the tests' outputs
 * are cut to their last 512 bytes, then the remaining patches to 32 KiB
 * (`patchCut: true`). What is left may still be too big for a huge set. */
json_t *eval_report_fit (json_t *record, size_t max);

/* Prints record's summary (and with b, the comparison with b) for people. */
void eval_report_print (FILE *out, const json_t *a, const json_t *b);

/* Writes record's predictions in SWE-bench's JSONL form, one line per
 * task {instance_id, model_name_or_path, model_patch}: the first passing
 * attempt's patch, else the first attempt's. Returns the lines written,
 * or -1 when out failed. */
int eval_report_export (FILE *out, const json_t *record);

#endif
