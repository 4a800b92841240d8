/* keys: the bus's CURVE keys for a stack started by `caisson up`, and
 * `caisson keys`, which makes them without starting anything (for
 * containers, whose bus makes the keys the others mount). */
#ifndef CAISSON_KEYS_H
#define CAISSON_KEYS_H

#include <stddef.h>

/* Points CAISSON_BUS_KEYS at data/keys unless it is set, so every child
 * and the endpoints file name the same absolute directory, then creates
 * the keypairs missing there (none when CAISSON_BUS_CURVE=0). Returns 0,
 * or -1 with the reason on stderr. */
int keys_prepare (const char *data);

/* `caisson keys`: keys_prepare, then prints the directory. Returns an
 * exit status. */
int cmd_keys (const char *data);

#endif
