/* catalogue: the tools tool-runner offers, one table row each.
 *
 * A row names the tool, describes it for a model, gives the JSON Schema of
 * its input and output (written in catalogue.c as JSON text), its limits
 * (timeout, output cap), its effects (none, inside the sandbox, or beyond
 * it: `mutates`, what approval gates key on) and the function that runs it.
 * `tools.list` returns the table as JSON; the handler validates arguments
 * against the input schema before the function is called. */
#ifndef TR_CATALOGUE_H
#define TR_CATALOGUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "toolctx.h"

/* What a tool changes: nothing; the sandbox only; the repository under
 * review (a diff applied to it, which is what a pull request will carry);
 * the world beyond the sandbox. The last two are `mutates`. */
typedef enum { TOOL_READS, TOOL_SANDBOX, TOOL_REPOSITORY, TOOL_EXTERNAL } tool_effect_t;

typedef struct _tool_def_t {
    const char *name;
    const char *description;
    const char *input;          /* JSON Schema text, ' standing for " */
    const char *output;         /* likewise */
    unsigned timeout_s;
    size_t max_output;          /* cap on the result's encoded bytes */
    tool_effect_t effect;
    tool_fn *fn;
} tool_def_t;

typedef struct _catalogue_t catalogue_t;

/* Parses every row's schemas. Returns NULL (with the row named on
 * stderr) when one does not parse, which is a build mistake. */
catalogue_t *catalogue_new (void);
void catalogue_destroy (catalogue_t **self_p);

/* The row for name, or NULL. */
const tool_def_t *catalogue_find (catalogue_t *self, const char *name, size_t *index);

/* The parsed input schema of row index (borrowed). */
const json_t *catalogue_input (catalogue_t *self, size_t index);

/* The whole catalogue as a JSON array of {name, description, inputSchema,
 * outputSchema, mutates, effect, dryRun, timeoutSeconds, maxOutputBytes}
 * (borrowed). */
const json_t *catalogue_json (catalogue_t *self);

size_t catalogue_count (catalogue_t *self);

#endif
