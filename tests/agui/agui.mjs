// AG-UI conformance of POST /agui with the real @ag-ui/client HttpAgent
// (its sequence checks run on every event) and every event validated
// against the @ag-ui/core 1.0 schemas:
//   node agui.mjs BASE_URL TOKEN TASK
// The task must lead the scripted model to a gated tool call: the first
// run ends in an approval interrupt, the second resumes it approved and
// must finish with a tool result. A raw read of a third run checks the
// framing: LF only, one `data: <json>` per frame, no null fields.
import { HttpAgent } from "@ag-ui/client";
import { EventSchemas } from "@ag-ui/core/schemas";

const [base, token, task] = process.argv.slice(2);
const problems = [];
const fail = (m) => { problems.push(m); };

function noNulls(value, path) {
  if (value === null) fail(`null at ${path}`);
  else if (typeof value === "object")
    for (const [k, v] of Object.entries(value)) if (!(path.endsWith(".snapshot") || path.includes(".value"))) noNulls(v, `${path}.${k}`);
}

const agent = new HttpAgent({ url: `${base}/agui`, headers: { Authorization: `Bearer ${token}` } });
agent.messages = [{ id: "user-1", role: "user", content: task }];
let events = [];
const subscriber = {
  onEvent: ({ event }) => {
    const parsed = EventSchemas.safeParse(event);
    if (!parsed.success) fail(`${event.type}: ${parsed.error.message}`);
    noNulls(event, event.type);
    events.push(event);
  },
};

try {
  await agent.runAgent({}, subscriber);
  const types = events.map((e) => e.type);
  if (types[0] !== "RUN_STARTED") fail("first event is " + types[0]);
  const fin = events.at(-1);
  if (fin.type !== "RUN_FINISHED" || fin.outcome?.type !== "interrupt")
    throw new Error("the first run did not end in an interrupt: " + types.join(" "));
  const interrupt = fin.outcome.interrupts[0];
  if (interrupt.reason !== "confirmation" || !interrupt.toolCallId) fail("interrupt shape: " + JSON.stringify(interrupt));
  for (const t of ["TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "STEP_STARTED", "STEP_FINISHED", "STATE_SNAPSHOT"])
    if (!types.includes(t)) fail(`first run has no ${t}`);

  events = [];
  await agent.runAgent({ resume: [{ interruptId: interrupt.id, status: "resolved", payload: { approved: true } }] }, subscriber);
  const types2 = events.map((e) => e.type);
  const fin2 = events.at(-1);
  if (fin2.type !== "RUN_FINISHED" || (fin2.outcome && fin2.outcome.type !== "success"))
    fail("the resumed run did not finish: " + types2.join(" "));
  if (!types2.includes("TOOL_CALL_RESULT")) fail("the resumed run has no TOOL_CALL_RESULT: " + types2.join(" "));
  console.log("agui: first run", types.length, "events; resumed run", types2.length, "events");

  const res = await fetch(`${base}/agui`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ threadId: "raw-thread", runId: "raw-run", messages: [{ id: "u", role: "user", content: task }],
                           tools: [], context: [], state: {}, forwardedProps: {} }),
  });
  const raw = await res.text();
  if (raw.includes("\r")) fail("CR in the stream");
  for (const frame of raw.split("\n\n").filter((f) => f && !f.startsWith(":"))) {
    if (!frame.startsWith("data: ") || frame.includes("\n")) fail("bad frame: " + frame.slice(0, 80));
    else JSON.parse(frame.slice(6));
  }
} catch (e) {
  fail(e.stack || e.message);
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("agui: ok");
