/* orch: the orchestrator service. It wires runs (run.h, the state
 * machine) to the bus (rpc: tool-runner, event-log), the model client
 * (llm_client) and the store (runstore.h), and answers the runs family.
 *
 * Dependencies go one way: orch uses run and runstore; run and runstore
 * use neither orch nor each other. Everything runs on the service's one
 * zloop: model streams, tool calls and event appends, budget timers. No
 * run has a thread. */
#ifndef CAISSON_ORCH_H
#define CAISSON_ORCH_H

/* The service's main: svc_main with the runs family's handler. */
int orch_main (int argc, char **argv);

#endif
