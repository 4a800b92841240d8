/* cfg: the one table of settings. See cfg.h. */
#include "cfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALL "all"
static const cfg_entry_t table[] = {
    { "CAISSON_DATA", "./var", "caisson, services",
      "Data directory: LMDB files, logs, and the endpoints a running stack "
      "uses (`run/endpoints.env`)." },
    { "CAISSON_BUS", "tcp://127.0.0.1:5550", ALL,
      "Broker endpoint for requests (Majordomo clients and workers)." },
    { "CAISSON_BUS_PUB", "tcp://127.0.0.1:5551", ALL,
      "Event proxy endpoint that publishers connect to (XSUB side)." },
    { "CAISSON_BUS_SUB", "tcp://127.0.0.1:5552", ALL,
      "Event proxy endpoint that subscribers and taps connect to (XPUB "
      "side)." },
    { "CAISSON_BUS_CURVE", "1", ALL,
      "1: every bus socket uses ZeroMQ CURVE (encrypted; the broker admits "
      "only the keys in CAISSON_BUS_KEYS). 0: plain ZeroMQ, unauthenticated, "
      "for a trusted single-user host only (each process logs a warning)." },
    { "CAISSON_BUS_KEYS", "", ALL,
      "Directory of the bus's CURVE keys (`<role>.key`, `<role>.key_secret`); "
      "empty means `$CAISSON_DATA/keys`. `caisson up` creates missing ones." },
    { "CAISSON_BUS_ROLE", "client", "caisson",
      "Whose key in CAISSON_BUS_KEYS the CLI's bus sockets use: `client` "
      "(the operators' key) or a service's name, as in that service's "
      "container, whose key directory holds only its own secret. Services "
      "and the broker always use their own." },
    { "CAISSON_HTTP", "127.0.0.1:8080", "ui-bridge, caisson",
      "HTTP listen address of ui-bridge." },
    { "CAISSON_INSTANCE", "", "services",
      "Instance id of this process; empty means the id the data dir keeps "
      "for the service (DATA/<service>/instance, or instance-2, ... when a "
      "live process holds it; made once), `@hostname` the host name's "
      "letters and digits. Requests to `<service>.<instance>` reach only "
      "this process." },
    { "CAISSON_STORE_PER_INSTANCE", "0", "orchestrator, tool-runner, sandbox-manager",
      "1: keep this instance's LMDB store in DATA/<service>/<instance> "
      "rather than DATA/<service>. Needed where instances share a volume "
      "from different pid namespaces (containers): LMDB tells its readers "
      "apart by pid, so such processes must not share one environment." },
    { "CAISSON_LOG_LEVEL", "info", ALL,
      "Lowest level logged: `debug`, `info`, `warn` or `error`." },
    { "CAISSON_MAX_FRAME", "16777216", ALL,
      "Largest bus frame accepted, in bytes (also set as ZMQ_MAXMSGSIZE)." },
    { "CAISSON_MAX_DEPTH", "32", ALL,
      "Deepest msgpack nesting accepted in a message." },
    { "CAISSON_HEARTBEAT_MS", "1000", ALL,
      "Heartbeat interval between broker and workers, in milliseconds." },
    { "CAISSON_HEARTBEAT_LIVENESS", "3", ALL,
      "Heartbeats missed before a peer is taken for dead." },
    { "CAISSON_REQUEST_TIMEOUT_MS", "2500", ALL,
      "How long a client waits for a reply before resending the request." },
    { "CAISSON_REQUEST_RETRIES", "3", ALL,
      "How many times a client resends an unanswered request (same message "
      "and correlation id) before it gives up." },
    { "CAISSON_WORKER_CREDIT", "64", "services",
      "Requests the broker may have in flight to one worker at once." },
    { "CAISSON_BROKER_QUEUE", "10000", "bus",
      "Requests the broker holds per service while no worker is ready; past "
      "that it answers with an error." },
    { "CAISSON_BROKER_INSTANCE_GRACE_MS", "10000", "bus",
      "How long requests to a `<service>.<instance>` whose process is gone "
      "wait for it to come back (a restart); past that, and at once for an "
      "instance never registered, the broker answers `not_found`." },
    { "CAISSON_BROKER_QUEUE_MB", "256", "bus",
      "Bytes of request bodies the broker holds queued across all services, "
      "in MiB; past that new requests for a service with no ready worker get "
      "an error." },
    { "CAISSON_LMDB_MAP_MB", "1024", "event-log",
      "Initial LMDB map size in MiB; grown by doubling when full." },
    { "CAISSON_LMDB_MAX_MB", "65536", "event-log",
      "Largest the LMDB map may grow to, in MiB." },
    { "CAISSON_RESTART_MAX_MS", "5000", "caisson",
      "Longest back-off before the supervisor restarts a crashed process." },
    { "CAISSON_HEALTH_TIMEOUT_MS", "5000", "caisson",
      "How long `caisson up` waits for every process to report healthy." },
    /* ui-bridge: the HTTP API, AG-UI and the web UI. */
    { "CAISSON_HTTP_MAX_BODY", "1048576", "ui-bridge",
      "Largest HTTP request body accepted, in bytes (413 beyond)." },
    { "CAISSON_HTTP_MAX_HEADER", "16384", "ui-bridge",
      "Largest request line plus headers accepted, in bytes (431 beyond)." },
    { "CAISSON_HTTP_MAX_CONNECTIONS", "256", "ui-bridge",
      "HTTP connections served at once (each has its own thread); more wait "
      "in the listen queue." },
    { "CAISSON_HTTP_MAX_PER_IP", "32", "ui-bridge",
      "HTTP connections served at once from one client address (an IPv6 "
      "client's /64); the next 4 are answered 429 too_many_connections with "
      "Retry-After, more are closed unanswered." },
    { "CAISSON_HTTP_MAX_ANON", "32", "ui-bridge",
      "HTTP connections not yet authenticated held at once, from all addresses "
      "together; past that, a new one closes the oldest of them, so stalled "
      "anonymous clients cannot take the slots of users who authenticate." },
    { "CAISSON_HTTP_MAX_PER_USER", "32", "ui-bridge",
      "Requests one user may have being served at once, event streams included "
      "(429 beyond)." },
    { "CAISSON_HTTP_MAX_CONN_PER_USER", "64", "ui-bridge",
      "HTTP connections one user may hold at once, idle keep-alive ones included "
      "(a connection is the first user's to authenticate on it; 429 and closed "
      "beyond), so one tenant cannot take every connection." },
    { "CAISSON_HTTP_IDLE_S", "30", "ui-bridge",
      "Seconds without progress after which an HTTP connection is closed, "
      "so a stalled client frees its slot." },
    /* ui-bridge: /mcp, Caisson as an MCP server (docs/mcp.md). */
    { "CAISSON_MCP_ORIGINS", "", "ui-bridge",
      "Comma-separated Origins (scheme://host:port) /mcp accepts from browsers; "
      "empty: the bridge's own CAISSON_HTTP address and its localhost forms. A "
      "request without Origin is not a browser's and passes; any other gets 403." },
    { "CAISSON_MCP_SESSIONS_MAX", "16", "ui-bridge",
      "2025-era MCP sessions one user may hold at /mcp; one more drops their "
      "least recently used." },
    { "CAISSON_MCP_SESSION_IDLE_S", "3600", "ui-bridge",
      "Seconds an unused 2025-era MCP session at /mcp lives (then 404: the client "
      "initializes again)." },
    { "CAISSON_MCP_APPROVAL_TIMEOUT_S", "600", "ui-bridge",
      "Seconds a gated tools/call over /mcp waits for approval (in Caisson or "
      "through the client's elicitation); then its run is cancelled and the call "
      "answers \"approval timed out\"." },
    /* tool-runner: Caisson as an MCP client (docs/mcp.md). */
    { "CAISSON_MCP_SERVERS", "", "tool-runner",
      "Path of an mcp.json whose `mcpServers` give the agent their tools as "
      "`<server>.<tool>`; empty: none. Entries that are wrong are skipped and "
      "named in the log and `caisson mcp list`." },
    { "CAISSON_MCP_USER_SERVERS_MAX", "4", "tool-runner",
      "MCP servers a user may list in their own mcp.json (`caisson mcp set`, PUT "
      "/api/mcp); 0: users may not add servers." },
    { "CAISSON_MCP_USER_HTTP_ALLOW", "", "tool-runner",
      "Comma-separated hosts (`host` for any port, `host:port` for one) a user's "
      "http MCP servers may be on; empty: none (tool-runner's network position is "
      "not a user's to use)." },
    { "CAISSON_MCP_USER_TRUSTED", "0", "tool-runner",
      "1: `trusted` in a user's mcp.json is honoured (their tools skip the "
      "approval gate); 0: an entry with it is refused." },
    { "CAISSON_MCP_USER_IDLE_S", "900", "tool-runner",
      "Seconds after a user's last tools.list or tools.call at which their own MCP "
      "servers are stopped (started again by the next)." },
    { "CAISSON_HTTP_RATE", "50", "ui-bridge",
      "Requests per second each user may make (a token bucket; 429 beyond)." },
    { "CAISSON_HTTP_BURST", "100", "ui-bridge",
      "Requests a user may make at once before CAISSON_HTTP_RATE applies." },
    { "CAISSON_HTTP_CORS", "", "ui-bridge",
      "Comma-separated origins allowed to call the API from a browser "
      "(e.g. `http://localhost:3000`); empty allows none but the UI's own." },
    { "CAISSON_METRICS_TOKEN", "", "ui-bridge",
      "A bearer token for Prometheus: a /metrics scrape bringing it (or an operator's token) "
      "also gets the series naming users and keys (the gateway's spend); empty: only operators." },
    { "CAISSON_TOKENS_FILE", "", "ui-bridge, caisson",
      "File of hashed API tokens; empty means `$CAISSON_DATA/ui-bridge/tokens`. "
      "ui-bridge instances that share it share tokens." },
    { "CAISSON_TOKENS_EXPIRES", "90d", "caisson",
      "How long a new token lasts unless `caisson token create --expires` says: "
      "N followed by `s`, `m`, `h` or `d`, or `never`. ui-bridge refuses an "
      "expired token (401)." },
    { "CAISSON_HTTP_AUTH_FAILS", "10", "ui-bridge",
      "Failed authentications one client address may make within a minute; past "
      "that it gets 429 (with Retry-After), even with a right token, for "
      "CAISSON_HTTP_AUTH_COOLDOWN_S." },
    { "CAISSON_HTTP_AUTH_COOLDOWN_S", "60", "ui-bridge",
      "Seconds an address that failed too often must wait before it may "
      "authenticate again." },
    { "CAISSON_SSE_HEARTBEAT_MS", "15000", "ui-bridge",
      "Interval of keep-alive comments on idle event streams." },
    /* event-log */
    { "CAISSON_EVALS_MAX_PER_USER", "500", "event-log",
      "Evals (`caisson eval run` records) one user may keep; storing another new one is `limit` "
      "until they delete some. Replacing an existing record is never refused by this count." },
    { "CAISSON_EVALS_MAX_MB_PER_USER", "256", "event-log",
      "Bytes (MiB) one user's stored evals may take together; a put past it is `limit` "
      "(a replacement counts only its new size), so no user fills the store all share." },
    { "CAISSON_EVENTLOG_SYNC", "full", "event-log",
      "Durability of each batch commit: `full` (data and meta page synced), "
      "`nometasync` (meta page not synced: a crash may lose the last batch, never "
      "corrupts) or `nosync` (synced every CAISSON_EVENTLOG_SYNC_MS; see docs/storage.md)." },
    { "CAISSON_EVENTLOG_SYNC_MS", "100", "event-log",
      "With CAISSON_EVENTLOG_SYNC=nosync, how often the store is synced, in milliseconds." },
    { "CAISSON_EVENTLOG_BATCH_MS", "0", "event-log",
      "How long queued appends may wait for more to join their commit, in "
      "milliseconds; 0 commits once per loop turn, whatever has arrived." },
    { "CAISSON_EVENTLOG_RETENTION_DAYS", "0", "event-log",
      "Runs started more than this many days ago are deleted, with the artifacts "
      "only they referenced; 0 keeps everything." },
    { "CAISSON_MEMORY_MAX_BYTES", "8192", "event-log",
      "The most bytes a working memory document may hold; a longer one is refused "
      "(`over_limit`). event-log enforces it and says it in every `memory` reply, which "
      "is how the agent is told the limit." },
    { "CAISSON_MEMORY_SCOPE", "user", "orchestrator",
      "Which working memory document a run reads and updates: `user` (one per user, "
      "shared by all their threads), `thread` (one per conversation thread) or `off` "
      "(no working memory, no updateWorkingMemory tool)." },
    /* tool-runner */
    { "CAISSON_TOOLS_PREVIEW_PATCH_MAX", "65536", "tool-runner",
      "Most bytes of the patch a `git.openPR` dry run (the approval request's "
      "preview) shows; a larger one is cut at a line boundary and marked "
      "`patchTruncated` with its whole size in `patchBytes`. Keep it under "
      "96 KiB: the whole preview must fit git.openPR's 256 KiB result." },
    { "CAISSON_TOOLS_WRITE_GLOBS", "*", "tool-runner",
      "Comma-separated fnmatch globs (`*` crosses `/`), relative to a sandbox's "
      "workspace, that file writes, deletes and applied diffs must match." },
    { "CAISSON_TOOLS_WRITE_DENY", ".git,.git/*", "tool-runner",
      "Comma-separated globs that writes and diffs must not match, even when "
      "allowed above." },
    { "CAISSON_TOOLS_COMMAND_ALLOW", "*", "tool-runner",
      "Comma-separated globs a runCommand command string must match." },
    { "CAISSON_TOOLS_COMMAND_DENY", "", "tool-runner",
      "Comma-separated globs a runCommand command string must not match, e.g. "
      "`*sudo *`." },
    { "CAISSON_TOOLS_REPO_ALLOW", "", "tool-runner",
      "Comma-separated globs of repositories repo.clone may fetch and git.openPR "
      "push to, e.g. `/srv/git/*` or `https://github.com/org/*`; local paths are "
      "matched after resolving symlinks and `..`; `{user}` in a pattern stands for the "
      "calling user, so `/srv/eval-repos/{user}/*` keeps each user to their own. Empty: "
      "none (`caisson up` adds its offline demo repository and `<data>/eval-repos/{user}/*`)." },
    { "CAISSON_TOOLS_MAX_OUTPUT", "1048576", "tool-runner",
      "Most bytes of a command's stdout or stderr, a file's content or a test "
      "log returned in a result; the rest is cut and `truncated` set." },
    { "CAISSON_TOOLS_TIMEOUT_S", "600", "tool-runner",
      "Longest any tool call may run, in seconds (each tool has its own, "
      "smaller or equal, and a run's remaining budget may be smaller still)." },
    { "CAISSON_TOOLS_CONCURRENCY", "16", "tool-runner",
      "Tool calls one tool-runner instance runs at once; more are refused with "
      "`busy`, which the caller retries." },
    { "CAISSON_TOOLS_SLOTS_PER_USER", "0", "tool-runner",
      "Of those, how many one user (the envelope's `user`) may hold at once, so "
      "another user's call still runs while one floods; past it that user's calls "
      "get `busy`. 0 means half of CAISSON_TOOLS_CONCURRENCY." },
    { "CAISSON_TOOLS_LEASE_MS", "3000", "tool-runner",
      "A running call's lease: an instance renews it every third of this; a "
      "retry reaching another instance takes the call over once it lapses." },
    { "CAISSON_TOOLS_KEEP_HOURS", "168", "tool-runner",
      "How long a finished call's result is kept, answering repeats of its "
      "call id; older results are deleted." },
    { "CAISSON_TOOLS_SANDBOX_TRY_MS", "2000", "tool-runner",
      "How long one request to sandbox-manager waits before it is resent "
      "(same id, so it never runs twice), until the call's deadline." },
    { "CAISSON_TOOLS_READ_MAX_FILES", "200", "tool-runner",
      "Most files repo.readFiles returns." },
    { "CAISSON_TOOLS_TEST_COMMAND", "", "tool-runner",
      "Test command ci.runTests runs; empty means detected from the repository." },
    { "CAISSON_TOOLS_GITHUB_TOKEN", "", "tool-runner",
      "GitHub token for repositories on github.com: clones and pushes are made "
      "with it on the host, and git.openPR opens pull requests through the REST "
      "API. It never enters a sandbox. Empty: GitHub repositories are refused." },
    { "CAISSON_TOOLS_GITHUB_API", "https://api.github.com", "tool-runner",
      "Base URL of the GitHub REST API (GitHub Enterprise, or a test server)." },
    { "CAISSON_TOOLS_FORGE_URL", "", "tool-runner",
      "Base of the URLs local pull requests are given, e.g. "
      "`https://caisson.example/prs/`; empty gives `caisson pr <id>`." },
    /* orchestrator and caisson-llm-replay (the scripted model) */
    { "MODEL", "", "orchestrator",
      "Default model as `provider/model` (e.g. `openai/gpt-4o-mini`); empty: the default "
      "model of the first provider whose key is set (openai, anthropic, google, groq, "
      "mistral, cerebras, openrouter), else the scripted model (`replay/demo`), which "
      "`caisson up` then starts. A provider nobody knows is refused at start." },
    { "CAISSON_RUN_MAX_STEPS", "20", "orchestrator",
      "Step budget of a run (model turns): the default and the ceiling a run may ask below." },
    { "CAISSON_RUN_MAX_TOOL_CALLS", "50", "orchestrator",
      "Tool-call budget of a run: the default and its ceiling." },
    { "CAISSON_RUN_MAX_SECONDS", "900", "orchestrator",
      "Wall-clock budget of a run, in seconds: the default and its ceiling." },
    { "CAISSON_RUN_MAX_TOKENS", "500000", "orchestrator",
      "Token budget of a run (input plus output, summed over turns): the default and its ceiling." },
    { "CAISSON_RUN_MAX_LIVE_PER_USER", "16", "orchestrator",
      "Runs one user may have live at once on an orchestrator instance (running or "
      "awaiting approval or a client's result); run.start past that is `limit` (HTTP "
      "429) until one ends. Operators are not counted." },
    { "CAISSON_RUN_VERIFY_DEFAULT", "", "orchestrator",
      "Verify checks (comma-separated, e.g. `tests_passed`) for runs that changed files "
      "and whose policy named no checks; empty: none. An unknown check refuses every run.start." },
    { "CAISSON_RUN_SANDBOX_IDLE_S", "900", "orchestrator",
      "How long the sandboxes a completed run on a named thread created are kept for the "
      "thread's next runs, in seconds; a run alone (no thread_id) or one that did not "
      "complete destroys its sandboxes when it ends." },
    { "CAISSON_RUN_LEASE_S", "30", "orchestrator",
      "With CAISSON_STORE_PER_INSTANCE=1: how long an orchestrator's lease on its store "
      "outlives it, in seconds (renewed every third of it). Once it has run out and no "
      "process holds that store, a live orchestrator of the data dir adopts its unfinished "
      "runs and kept sandboxes; one restarted sooner takes them up itself. 0 counts as 1." },
    { "CAISSON_MODEL_CONTEXT", "", "orchestrator",
      "Context windows in tokens that override the provider table's, as "
      "`provider/model=tokens,...` (`provider/*` for every model of a provider)." },
    { "CAISSON_CONDENSE_SHARE", "0.75", "orchestrator",
      "Share of the model's context window a run's next request may fill before its "
      "conversation is condensed (old tool results elided, then older turns summarised): "
      "0.1 to 1 (anything else: 0.75)." },
    { "CAISSON_CONDENSE_KEEP_TURNS", "4", "orchestrator",
      "The latest model turns (with their tool results) condensation never elides or "
      "summarises." },
    { "CAISSON_LLM_TIMEOUT_MS", "120000", "orchestrator",
      "Longest a model response may take, in ms; a stream silent for a tenth of this "
      "is cut and retried." },
    { "CAISSON_THREAD_TITLES", "1", "orchestrator",
      "1: after a thread's first run completes, one small extra model call (no tools, at "
      "most 32 tokens) titles the thread (`thread_titled`); 0: a thread keeps the title "
      "made from its first task's first line." },
    { "CAISSON_LLM_RETRIES", "4", "orchestrator",
      "Retries of a model call after 429, 5xx, a cut stream or a timeout." },
    { "CAISSON_TOOLS_CATALOGUE_TTL_MS", "30000", "orchestrator",
      "Age in ms past which the orchestrator fetches tool-runner's catalogue again (runs go "
      "on with the one it has meanwhile); while an MCP server is still starting it is "
      "fetched again before each model turn (docs/orchestrator.md)." },
    { "CAISSON_APPROVAL", "ask", "orchestrator",
      "Deployment approval policy for tools that mutate beyond the sandbox: `ask`, "
      "`auto` or `never`; a run's policy may make it stricter, never laxer." },
    { "CAISSON_AUTO_APPROVE", "", "orchestrator",
      "Comma-separated tool-name patterns (fnmatch) that run without asking." },
    { "CAISSON_DENY", "", "orchestrator",
      "Comma-separated tool-name patterns (fnmatch) no run may call; a run's "
      "`deny` adds to them." },
    { "CAISSON_RUN_ALLOW_AUTO", "0", "orchestrator",
      "1 lets an operator's run loosen the approval policy (`approval: auto`, "
      "`autoApprove` patterns not listed above); 0 refuses it. A non-operator's "
      "run may only tighten the policy and the budgets, whatever this says." },
    { "CAISSON_EMBED_MODEL", "", "orchestrator",
      "Embedding model for semantic recall, `provider/model` of a provider with an "
      "OpenAI-compatible `/embeddings` endpoint (e.g. `openai/text-embedding-3-small`, "
      "`ollama/nomic-embed-text`, `replay/embed` for the scripted model); empty: recall "
      "ranks by words only (BM25), which is always on." },
    { "CAISSON_RECALL_AUTO_K", "3", "orchestrator",
      "Earlier messages of the run's user recalled before its first step (its task is the "
      "query, its own thread left out) and shown to the model fenced as data, when they pass "
      "the floors below; 0: no automatic recall." },
    { "CAISSON_RECALL_AUTO_MIN_SCORE", "1.0", "orchestrator",
      "Automatic recall by words: the least BM25 score a hit needs; below it a hit is left "
      "out as irrelevant." },
    { "CAISSON_RECALL_AUTO_MIN_COSINE", "0.5", "orchestrator",
      "Automatic recall by embeddings (CAISSON_EMBED_MODEL set): the least cosine similarity "
      "between the task and a hit." },
    { "CAISSON_RECALL_TOOL", "1", "orchestrator",
      "1 offers the agent the `recall` tool (search the user's earlier conversations); 0 "
      "does not." },
    { "CAISSON_RECALL_TIMEOUT_MS", "2000", "orchestrator",
      "How long a run waits for recall (embedding the query and event-log's answer); past "
      "it the run goes on without (automatic) or the tool call fails (tool)." },
    { "CAISSON_LLM_REPLAY_URL", "http://127.0.0.1:7391/v1", "orchestrator",
      "Base URL of the scripted model for models named `replay/...`." },
    { "CAISSON_LLM_REPLAY_PORT", "7391", "caisson-llm-replay",
      "Port the scripted model listens on." },
    { "CAISSON_LLM_REPLAY_ADDR", "127.0.0.1", "caisson-llm-replay",
      "IPv4 address the scripted model listens on: loopback, or 0.0.0.0 in a "
      "container that others reach by name." },
    { "CAISSON_LLM_REPLAY_KEY", "", "caisson-llm-replay",
      "When set, the scripted model answers 401 to a request without this key (as "
      "`Authorization: Bearer` or `x-api-key`), as a provider does: tests check keys travel." },
    { "CAISSON_LLM_REPLAY_DIR", "", "caisson-llm-replay",
      "Directories (colon-separated) of cassettes (*.json) the scripted model plays; "
      "empty: the demo cassettes built in." },
    { "CAISSON_LLM_REPLAY_EVALS", "", "caisson-llm-replay",
      "Eval task sets (directories, colon-separated) whose tasks the scripted model's "
      "`oracle` model solves and `giveup` gives up (docs/evals.md), besides any "
      "`--eval-set`; empty and no `--eval-set`: the sets under the evals/ directory it "
      "was built from (golden, imported-example), when that is there." },
    { "CAISSON_LLM_REPLAY_CONTEXT", "131072", "caisson-llm-replay, orchestrator",
      "The scripted model's declared context window in tokens (request bytes / 4): it "
      "answers a larger request 400 `context_length_exceeded`, as a provider does; the "
      "orchestrator's window for `replay/*` models." },
    { "CAISSON_LLM_REPLAY_LATENCY_MS", "0", "caisson-llm-replay",
      "Latency added before every scripted reply, in ms." },
    /* sandbox-manager */
    { "CAISSON_SANDBOX_TTL_S", "3600", "sandbox-manager",
      "A sandbox's default lifetime in seconds (its TTL), when create names none." },
    { "CAISSON_SANDBOX_TTL_MAX_S", "86400", "sandbox-manager",
      "Longest TTL a create or setTimeout may ask for, in seconds." },
    { "CAISSON_SANDBOX_MEMORY_MB", "512", "sandbox-manager",
      "A sandbox's default memory limit (cgroup), in MiB." },
    { "CAISSON_SANDBOX_MEMORY_MAX_MB", "4096", "sandbox-manager",
      "Largest memory limit a create may ask for, in MiB." },
    { "CAISSON_SANDBOX_CPUS", "1", "sandbox-manager",
      "A sandbox's default CPU limit (cgroup quota), in CPUs." },
    { "CAISSON_SANDBOX_CPUS_MAX", "2", "sandbox-manager",
      "Largest CPU limit a create may ask for." },
    { "CAISSON_SANDBOX_PIDS", "256", "sandbox-manager",
      "Most processes and threads one sandbox may have at once (pids cgroup)." },
    { "CAISSON_SANDBOX_TMP_MB", "256", "sandbox-manager",
      "Size of each sandbox's private /tmp (tmpfs), in MiB." },
    { "CAISSON_SANDBOX_NOFILE", "1024", "sandbox-manager",
      "RLIMIT_NOFILE of sandbox processes." },
    { "CAISSON_SANDBOX_FSIZE_MB", "1024", "sandbox-manager",
      "RLIMIT_FSIZE of sandbox processes (largest file one may write), in MiB." },
    { "CAISSON_SANDBOX_DISK_MB", "1024", "sandbox-manager",
      "Size of each sandbox's workspace, in MiB: its own filesystem, so a full workspace "
      "answers ENOSPC to that sandbox alone (docs/sandbox.md)." },
    { "CAISSON_SANDBOX_INODES", "100000", "sandbox-manager",
      "Most files and directories one workspace may hold (its filesystem's inodes)." },
    { "CAISSON_SANDBOX_DISK_BACKEND", "auto", "sandbox-manager",
      "What holds each workspace: `loop` (an ext4 image on a loop device, kept across "
      "restarts), `tmpfs` (memory, lost with its mount), `auto` (loop, else tmpfs, else none, "
      "logged) or `none` (a plain directory: no limit)." },
    { "CAISSON_SANDBOX_OUTPUT_CAP", "1048576", "sandbox-manager",
      "Bytes of stdout and of stderr an exec captures; past that the result is "
      "flagged truncated." },
    { "CAISSON_SANDBOX_READ_CAP", "8388608", "sandbox-manager",
      "Most bytes one readFile returns." },
    { "CAISSON_SANDBOX_MAX_PER_USER", "16", "sandbox-manager",
      "Most live sandboxes one user (the envelope's `user`) may have on this host." },
    { "CAISSON_SANDBOX_ALLOW_HOST_NET", "0", "sandbox-manager",
      "1 lets an operator's create ask for `network: host` (a tenant's is always "
      "refused); 0 refuses it to everyone." },
    { "CAISSON_SANDBOX_NETWORK", "none", "sandbox-manager",
      "Network mode of a create that names none: `none` (only `lo`) or `policy` (out only "
      "through egress-proxy, under the sandbox's rules; docs/sandbox.md § Network)." },
    { "CAISSON_SANDBOX_NETWORK_MAX", "host", "sandbox-manager",
      "The most a create may ask for: `none`, `policy` or `host` (`host` also needs "
      "CAISSON_SANDBOX_ALLOW_HOST_NET=1 and an operator, so tenants get at most `policy`). "
      "A stored sandbox above it is refused on restart." },
    { "CAISSON_EGRESS_ALLOW_MAX", "*", "sandbox-manager, tool-runner, egress-proxy",
      "Ceiling of every sandbox's allow rules (comma-separated rules or presets; `*` = any "
      "public address): a create or a `sandbox.net.update` asking for more is refused, and "
      "the proxy checks it again at each connection." },
    { "CAISSON_EGRESS_ALLOW", "", "sandbox-manager",
      "Allow rules of a `policy` sandbox whose create lists none (comma-separated); empty: "
      "nothing, a real deny-everything-else." },
    { "CAISSON_EGRESS_DENY", "", "sandbox-manager, egress-proxy",
      "Deny rules added to every sandbox's (comma-separated); deny wins over allow." },
    { "CAISSON_EGRESS_PRESETS", "", "sandbox-manager, tool-runner, egress-proxy",
      "Named rule sets beside the built-in ones (`pypi`, `npm`, `debian`, `github`), as "
      "`name=rule rule;name2=rule`; a name given here replaces the built-in one." },
    { "CAISSON_EGRESS_MAX_CONNS", "64", "sandbox-manager, egress-proxy",
      "Most connections one sandbox may have open through the proxy at once." },
    { "CAISSON_EGRESS_BYTES_PER_MIN", "4294967296", "sandbox-manager, egress-proxy",
      "Bytes per minute (both directions) one sandbox may move through the proxy before its "
      "connections are throttled (slowed, not cut); 0: no limit." },
    { "CAISSON_EGRESS_RUN_EVENTS_PER_MIN", "120", "egress-proxy",
      "Most `net` events appended to one run per minute (refusals first); every decision is "
      "still published on `sandbox.<id>.net`." },
    { "CAISSON_EGRESS_PORT", "3128", "sandbox-manager",
      "Port on 127.0.0.1 inside a `policy` sandbox where its init forwards to the proxy; "
      "HTTP_PROXY, HTTPS_PROXY and ALL_PROXY point there." },
    { "CAISSON_EGRESS_NO_PROXY", "localhost,127.0.0.1,::1", "sandbox-manager",
      "NO_PROXY (and no_proxy) inside a `policy` sandbox." },
    { "CAISSON_EGRESS_HOSTS", "", "egress-proxy",
      "A hosts file (`address name...` lines) the proxy reads before DNS: names for tests "
      "and for hosts a deployment pins; empty: DNS only." },
    { "CAISSON_EGRESS_PEER_UID_CHECK", "1", "egress-proxy",
      "1: a connection on a sandbox's socket is served only when the peer's uid "
      "(SO_PEERCRED) is that sandbox's; 0 for engines that map uids otherwise (rootless)." },
    { "CAISSON_EGRESS_RESOLVERS", "4", "egress-proxy",
      "Threads resolving names for the proxy." },
    { "CAISSON_EGRESS_RESOLVE_TIMEOUT_MS", "5000", "egress-proxy",
      "How long a name may take to resolve before the client is told it cannot be." },
    { "CAISSON_EGRESS_CONNECT_TIMEOUT_MS", "10000", "egress-proxy",
      "How long a connection out may take to open." },
    { "CAISSON_EGRESS_FIRST_BYTES_MS", "3000", "egress-proxy",
      "How long the proxy waits for a CONNECT or SOCKS client's first bytes (the TLS "
      "ClientHello whose server name it checks)." },
    { "CAISSON_EGRESS_IDLE_S", "600", "egress-proxy",
      "A proxied connection with no bytes either way for this long is closed." },
    /* the model gateway (docs/gateway.md) */
    { "CAISSON_GATEWAY_HTTP", "127.0.0.1:7400", "gateway",
      "Listen address of the model gateway's HTTP front (OpenAI and Anthropic protocols); "
      "replicas on one host share it." },
    { "CAISSON_GATEWAY_URL", "http://127.0.0.1:7400", "gateway clients",
      "Where host clients, the orchestrator and egress-proxy reach the gateway." },
    { "CAISSON_GATEWAY_SANDBOX_PORT", "4000", "sandbox-manager",
      "Port on 127.0.0.1 inside a sandbox holding a virtual key where its init forwards to "
      "the gateway (OPENAI_BASE_URL, ANTHROPIC_BASE_URL point there)." },
    { "CAISSON_GATEWAY_SANDBOX_KEYS", "1", "sandbox-manager",
      "1: a sandbox gets a virtual key of its own (expiring with it) when gateway-keys runs." },
    { "CAISSON_GATEWAY_ORCHESTRATOR", "0", "orchestrator, caisson",
      "1: the orchestrator's model calls go through the gateway with a key minted per run, "
      "so a user's budget covers their runs and their sandboxes' code." },
    { "CAISSON_GATEWAY_PRICES", "", "gateway, gateway-keys",
      "Prices, `provider/model=in,out[,cached[,max_out]]` in USD per million tokens, "
      "`;`-separated; `provider/*` covers a provider's other models." },
    { "CAISSON_GATEWAY_UNPRICED", "refuse", "gateway-keys",
      "A model with no price, called with a key under a cost budget: `refuse` or `free`." },
    { "CAISSON_GATEWAY_MODELS", "*", "gateway-keys",
      "Models any key may be allowed (comma-separated `provider/model` or `provider/*`; `*` all)." },
    { "CAISSON_GATEWAY_ALIASES", "", "gateway",
      "Bare model names clients may send, as `bare=provider/model`, comma-separated." },
    { "CAISSON_GATEWAY_DEFAULT_PROVIDER", "openai", "gateway",
      "The provider of a bare model name on the OpenAI routes (`/v1/messages` takes `anthropic`)." },
    { "CAISSON_GATEWAY_USER_BUDGET_TOKENS", "0", "gateway-keys",
      "Tokens per window a user's keys may spend together, unless set per user; 0: no limit." },
    { "CAISSON_GATEWAY_USER_BUDGET_USD", "0.00", "gateway-keys",
      "Cost per window (USD) a user's keys may spend together, unless set per user; 0: no limit." },
    { "CAISSON_GATEWAY_USER_WINDOW", "month", "gateway-keys",
      "The window of the user budgets: `day`, `week`, `month` or `total`." },
    { "CAISSON_GATEWAY_SANDBOX_RPM", "60", "gateway-keys",
      "Requests per minute of a sandbox's minted key." },
    { "CAISSON_GATEWAY_SANDBOX_TPM", "200000", "gateway-keys",
      "Tokens per minute of a sandbox's minted key." },
    { "CAISSON_GATEWAY_SANDBOX_BUDGET_USD", "0.00", "gateway-keys",
      "Cost cap (USD) of one sandbox's key over its life; 0: only its owner's budget." },
    { "CAISSON_GATEWAY_USER_KEYS_MAX", "5", "gateway-keys",
      "Most live keys a user may make for themselves." },
    { "CAISSON_GATEWAY_RPM_MAX", "600", "gateway-keys",
      "The most requests per minute a user may give a key of their own." },
    { "CAISSON_GATEWAY_TPM_MAX", "1000000", "gateway-keys",
      "The most tokens per minute a user may give a key of their own." },
    { "CAISSON_GATEWAY_MAX_OUTPUT", "8192", "gateway",
      "Output tokens reserved for a call that names no maximum, when its price gives none." },
    { "CAISSON_GATEWAY_CAP_MAX_TOKENS", "1", "gateway",
      "1: a call naming no maximum that its budgets cannot cover in full is sent with the "
      "maximum they afford (header x-caisson-max-tokens); 0: it is refused." },
    { "CAISSON_GATEWAY_MIN_OUTPUT", "256", "gateway-keys",
      "The fewest output tokens a capped call is granted; less is refused." },
    { "CAISSON_GATEWAY_MAX_BODY", "33554432", "gateway",
      "Largest request body, in bytes." },
    { "CAISSON_GATEWAY_UPSTREAM_TIMEOUT_S", "600", "gateway",
      "Longest a call to a provider may take." },
    { "CAISSON_GATEWAY_MAX_CONNS", "1024", "gateway",
      "Most client connections one gateway serves at once." },
    { "CAISSON_GATEWAY_IMAGE_TOKENS",
      "openai/gpt-4o-mini*=48200;openai/gpt-4o*=1500;openai/gpt-4.1-nano*=3800;"
      "openai/*=2700;anthropic/*=1600",
      "gateway",
      "Input tokens reserved per image, by model: `pattern=N;...` (first match; a trailing `*` "
      "is a prefix, `*` any model). The most a high-detail image is billed (gpt-4o-mini 2833 "
      "+ 8 tiles x 5667; gpt-4o 1445; patch-billed models 1536 x their multiplier, up to 3779 "
      "for gpt-4.1-nano; Claude ~1600 at 1.15 MP); a model listed nowhere "
      "reserves 48200, the largest known." },
    { "CAISSON_GATEWAY_NO_USAGE", "bound", "gateway",
      "A provider's answer that reports no usage is charged `bound`: the most the call can "
      "have used (its input bound, and its output bytes up to its maximum), so budgets hold; "
      "or `estimate`: bytes / 4, closer for prose, up to 4 times under for digits or CJK." },
    { "CAISSON_GATEWAY_DOCUMENT_TOKENS", "200000", "gateway",
      "Input tokens reserved for a call with a document or file block when the model's "
      "context window is not known (a known window is reserved whole)." },
    { "CAISSON_GATEWAY_BUFFER_MAX", "268435456", "gateway",
      "Most request-body bytes one gateway holds across all its connections; past it a new "
      "body is refused (503, Retry-After)." },
    { "CAISSON_GATEWAY_REQUEST_TIMEOUT_S", "30", "gateway",
      "Longest from a connection's first byte (or its previous answer) to a complete request "
      "body; past it the connection is closed (408 when it can still be answered)." },
    { "CAISSON_GATEWAY_KEYS_SYNC", "settle", "gateway-keys",
      "`settle`: spend is on disk before a settle is answered (reservations may be lost with "
      "power, not with a crash); `full`: every change; `nosync`: every CAISSON_GATEWAY_KEYS_SYNC_MS." },
    { "CAISSON_GATEWAY_KEYS_SYNC_MS", "1000", "gateway-keys",
      "With CAISSON_GATEWAY_KEYS_SYNC=nosync: how often the store is flushed." },
    { "CAISSON_GATEWAY_KEYS_MAP_MB", "0", "gateway-keys",
      "Largest gateway-keys' store may grow to, in MiB (0: CAISSON_LMDB_MAX_MB). A full store "
      "refuses reserves and key changes with `store_full` (the gateway answers 503); what is "
      "stored stays." },
    { "CAISSON_GATEWAY_ORPHAN_S", "30", "gateway-keys",
      "A reservation whose gateway has been gone this long is charged in full (the provider may "
      "have served it); a late settle corrects it." },
    { "CAISSON_GATEWAY_KEYS_KEEP_DAYS", "30", "gateway-keys",
      "A key revoked or expired this many days ago is deleted with its counters (its calls "
      "stay in the spend log); its secret is then refused as unknown. Old windows' counters "
      "go after the same time." },
    { "CAISSON_GATEWAY_GC_S", "600", "gateway-keys",
      "How often expired keys and keys of destroyed sandboxes are swept." },
    { "CAISSON_GATEWAY_RUN_EVENTS_MAX", "1000", "event-log",
      "The most `model_call` events a run gets (its sandboxes' and user keys' gateway calls); "
      "past it the run record only counts them (`modelCalls`)." },
    { "CAISSON_SPEND_RETENTION_DAYS", "400", "event-log",
      "How long event-log keeps spend records (the daily totals stay)." },
    { "CAISSON_SANDBOX_HEAL_MAX", "3", "sandbox-manager",
      "How many times a sandbox whose init died is re-created before it is marked broken." },
    { "CAISSON_SANDBOX_UID_BASE", "1100000", "sandbox-manager",
      "First host uid given to sandboxes; each sandbox's root maps to its own uid from here." },
    { "CAISSON_SANDBOX_UID_COUNT", "65536", "sandbox-manager",
      "How many host uids from CAISSON_SANDBOX_UID_BASE sandboxes may use; a stored record "
      "naming a uid outside the range is refused on restart. With "
      "CAISSON_STORE_PER_INSTANCE=1 each registry takes its own 64th of it." },
    { "CAISSON_SANDBOX_LEASE_S", "30", "sandbox-manager",
      "With CAISSON_STORE_PER_INSTANCE=1: how long a manager's registry stays its "
      "own after it stops (renewed every third of this while it runs). A registry "
      "no process holds whose lease has lapsed is adopted by a live manager, which "
      "serves its sandboxes under their ids from then on. 0: this manager "
      "adopts none, and its registry is never adopted." },
    { "CAISSON_SANDBOX_ROOT", "/", "sandbox-manager",
      "Directory whose usr, etc, opt (and lib, bin symlinks) form every sandbox's read-only "
      "root: the host's own, or a template root." },
    { "CAISSON_SANDBOX_POOL", "2", "sandbox-manager",
      "Sandboxes kept started and unclaimed, so a create with default settings returns at once." },
};

const cfg_entry_t *
cfg_table (size_t *count)
{
    *count = sizeof table / sizeof table[0];
    return table;
}

static const cfg_entry_t *
lookup (const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp (table[i].name, name) == 0)
            return &table[i];
    fprintf (stderr, "cfg: undeclared setting %s\n", name);
    abort ();
}

const char *
cfg_str (const char *name)
{
    const cfg_entry_t *e = lookup (name);
    const char *v = getenv (name);
    return v && *v ? v : e->fallback;
}

static int
parse_u64 (const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

uint64_t
cfg_u64 (const char *name)
{
    uint64_t v = 0;
    if (parse_u64 (cfg_str (name), &v) == 0)
        return v;
    parse_u64 (lookup (name)->fallback, &v);
    return v;
}

int
cfg_check (char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        uint64_t v;
        const char *fb = table[i].fallback;
        if (parse_u64 (fb, &v) != 0)
            continue;       /* not an integer setting */
        const char *s = getenv (table[i].name);
        if (s && *s && parse_u64 (s, &v) != 0) {
            snprintf (err, errlen, "%s: expected a non-negative integer, got '%s'",
                      table[i].name, s);
            return -1;
        }
    }
    return 0;
}

void
cfg_path (const char *name, const char *under, char *out, size_t outlen)
{
    const char *path = cfg_str (name);
    if (*path)
        snprintf (out, outlen, "%s", path);
    else
        snprintf (out, outlen, "%s/%s", cfg_str ("CAISSON_DATA"), under);
}
