/* keys: the bus's keys for a stack. See keys.h and libcommon/buskey.h. */
#include "keys.h"
#include "buskey.h"
#include "cfg.h"
#include "stack.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

int
keys_prepare (const char *data)
{
    char dir[PATH_MAX], err[PATH_MAX + 160];
    if (!*cfg_str ("CAISSON_BUS_KEYS")) {
        snprintf (dir, sizeof dir, "%s/keys", data);
        setenv ("CAISSON_BUS_KEYS", dir, 1);
    }
    if (!buskey_curve ()) {
        fprintf (stderr, "caisson: warning: CAISSON_BUS_CURVE=0: the bus is plain ZeroMQ; "
                 "any local process can call, serve and listen on it\n");
        return 0;
    }
    buskey_dir (dir, sizeof dir);
    if (buskey_create (dir, err, sizeof err)) {
        fprintf (stderr, "caisson: %s\n", err);
        return -1;
    }
    return 0;
}

int
cmd_keys (const char *data)
{
    if (stack_check_owner (data) || keys_prepare (data))
        return 1;
    char dir[PATH_MAX];
    buskey_dir (dir, sizeof dir);
    printf ("%s\n", dir);
    return 0;
}
