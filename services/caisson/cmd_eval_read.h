/* cmd_eval_read: the commands of `caisson eval` that read stored evals
 * (list, show, report, export), as the CLI's user. Each returns the exit
 * status cmd_eval.h describes, printing why on stderr. */
#ifndef CAISSON_CMD_EVAL_READ_H
#define CAISSON_CMD_EVAL_READ_H

#include "bus_client.h"
#include <stdbool.h>

/* The usage text of `caisson eval` (cmd_eval.c). */
extern const char *const cmd_eval_usage;

/* The user's evals, newest first: a table, or with json their listing. */
int cmd_eval_list (bus_client_t *c, bool json);

/* sub `show` (pos[0]) or `report` (pos[0], and pos[1] to compare with). */
int cmd_eval_read (bus_client_t *c, const char *sub, const char *const pos[], int npos, bool json);

/* `export pos[0] --swebench` into file (NULL: stdout). */
/* `eval rm ID...`: deletes each of the user's evals named; 0 when all were. */
int cmd_eval_rm (bus_client_t *c, const char *const pos[], int npos);

int cmd_eval_export (bus_client_t *c, const char *const pos[], int npos, bool swebench,
                     const char *file);

#endif
