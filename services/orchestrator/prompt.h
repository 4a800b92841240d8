/* prompt: the orchestrator's system prompt, versioned. Every run records
 * the version it used (run_started's promptVersion), so a change in
 * behaviour can be traced to a change in the prompt. */
#ifndef CAISSON_PROMPT_H
#define CAISSON_PROMPT_H

#define PROMPT_VERSION "caisson-agent-1"

/* The system prompt text (static). */
const char *prompt_system (void);

#endif
