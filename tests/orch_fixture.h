/* orch_fixture: test stand-ins for tool-runner and event-log (see
 * orch_fixture.c). */
#ifndef CAISSON_ORCH_FIXTURE_H
#define CAISSON_ORCH_FIXTURE_H

/* Serves both until SIGTERM. Returns the process exit status. */
int orch_fixture_main (void);

#endif
