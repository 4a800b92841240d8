/* fake_sandbox: a stand-in sandbox-manager for tool-runner's tests, until
 * the real one is merged: it speaks the sandbox family over the bus as
 * instance `fake`, keeps each sandbox's workspace as a host directory, and
 * runs commands with /bin/sh there, with no isolation at all. exec is
 * answered later (deferred) as the real service does, so a test can kill a
 * tool-runner while a command runs. Every exec is appended to
 * <dir>/execs, one line per run, and every request's type to
 * <dir>/requests, so tests count executions and requests. Each create's
 * network fields go to <dir>/creates and each sandbox.net.update to
 * <dir>/net_updates, one JSON object a line. */
#ifndef CAISSON_TEST_FAKE_SANDBOX_H
#define CAISSON_TEST_FAKE_SANDBOX_H

/* Serves until SIGTERM. Returns the exit status. */
int fake_sandbox_main (const char *dir);

#endif
