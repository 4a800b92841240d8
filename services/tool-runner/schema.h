/* schema: checks tool arguments against the JSON Schema subset the
 * catalogue uses, and says what is wrong in words a model can act on.
 *
 * Supported keywords: type (string, integer, number, boolean, object,
 * array), properties, required, additionalProperties (false, or a schema
 * for every other property), enum, minimum, maximum, minLength, maxLength
 * (in characters), pattern (POSIX extended regex), items, minItems,
 * maxItems, maxProperties. A property that is not required may be null, as
 * models send it: it is then removed, so tools see it as absent. */
#ifndef TR_SCHEMA_H
#define TR_SCHEMA_H

#include <jansson.h>

/* Validates value against schema, dropping null optional properties from
 * value's objects on the way. Returns 0, or -1 with *error set to a new
 * `{success: false, error: {code, message, field}}` for the first fault.
 * Codes: invalid_arguments (not an object at the top), missing_field,
 * wrong_type, unknown_field, not_in_enum, below_minimum, above_maximum,
 * too_short, too_long, pattern_mismatch, too_few_items, too_many_items,
 * too_deep. field is a path such as `files[2].path`. */
int schema_validate (const json_t *schema, json_t *value, json_t **error);

#endif
