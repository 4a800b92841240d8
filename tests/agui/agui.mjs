// AG-UI conformance of POST /agui with the real @ag-ui/client HttpAgent
// (its sequence checks run on every event) and every event validated
// against the @ag-ui/core 1.0 schemas:
//   node agui.mjs BASE_URL TOKEN TASK FRONTEND_TASK
// The task must lead the scripted model to a gated tool call: the first
// run ends in an approval interrupt, the second resumes it approved and
// must finish with a tool result. FRONTEND_TASK must lead it to call the
// front-end tool confirmChoice this script offers in `tools`: that run
// streams the call and finishes plainly, and the next request, carrying
// the tool message with the answer, continues the run to an answer that
// uses it. A raw read of a last run checks the framing: LF only, one
// `data: <json>` per frame, no null fields.
import { HttpAgent } from "@ag-ui/client";
import { EventSchemas } from "@ag-ui/core/schemas";

const [base, token, task, frontendTask] = process.argv.slice(2);
const problems = [];
const fail = (m) => { problems.push(m); };

// Each model turn is a text message of its own: a run that completes ends
// with the last turn's message, whose text is exactly the answer (a later
// turn's text used to land in the previous turn's message).
function lastMessageIsAnswer(evs, what) {
  const fin = evs.at(-1);
  if (typeof fin.result !== "string") return;
  const ids = [...new Set(evs.filter((e) => e.type === "TEXT_MESSAGE_START").map((e) => e.messageId))];
  if (ids.length !== evs.filter((e) => e.type === "TEXT_MESSAGE_START").length) fail(`${what}: a message id opened twice`);
  const last = ids.at(-1);
  const text = evs.filter((e) => e.type === "TEXT_MESSAGE_CONTENT" && e.messageId === last).map((e) => e.delta).join("");
  if (text !== fin.result) fail(`${what}: the last message is ${JSON.stringify(text)}, the answer ${JSON.stringify(fin.result)}`);
}

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
  lastMessageIsAnswer(events, "the resumed run");
  console.log("agui: first run", types.length, "events; resumed run", types2.length, "events");

  const fe = new HttpAgent({ url: `${base}/agui`, headers: { Authorization: `Bearer ${token}` } });
  fe.messages = [{ id: "user-fe", role: "user", content: frontendTask }];
  const confirmChoice = {
    name: "confirmChoice",
    description: "Ask the person to pick one of the options",
    parameters: { type: "object", properties: { question: { type: "string" }, options: { type: "array", items: { type: "string" } } },
                  required: ["question"] },
  };
  events = [];
  await fe.runAgent({ tools: [confirmChoice] }, subscriber);
  const types3 = events.map((e) => e.type);
  const fin3 = events.at(-1);
  if (fin3.type !== "RUN_FINISHED" || (fin3.outcome && fin3.outcome.type !== "success"))
    throw new Error("the front-end tool run did not finish plainly: " + types3.join(" "));
  const start = events.find((e) => e.type === "TOOL_CALL_START");
  if (start?.toolCallName !== "confirmChoice") fail("no TOOL_CALL_START for confirmChoice: " + types3.join(" "));
  const args = JSON.parse(events.filter((e) => e.type === "TOOL_CALL_ARGS" && e.toolCallId === start.toolCallId).map((e) => e.delta).join(""));
  if (!args.question) fail("confirmChoice args without a question: " + JSON.stringify(args));
  if (!events.some((e) => e.type === "TOOL_CALL_END" && e.toolCallId === start.toolCallId)) fail("no TOOL_CALL_END for the front-end call");
  if (types3.includes("TOOL_CALL_RESULT")) fail("the server answered the front-end tool itself");
  const call = fe.messages.flatMap((m) => m.toolCalls ?? []).find((c) => c.function.name === "confirmChoice");
  if (call?.id !== start.toolCallId) throw new Error("the client holds no confirmChoice call: " + JSON.stringify(fe.messages));
  fe.messages.push({ id: "tool-fe", role: "tool", toolCallId: call.id, content: JSON.stringify({ choice: "blue" }) });
  events = [];
  await fe.runAgent({ tools: [confirmChoice] }, subscriber);
  const types4 = events.map((e) => e.type);
  const fin4 = events.at(-1);
  if (fin4.type !== "RUN_FINISHED" || (fin4.outcome && fin4.outcome.type !== "success"))
    fail("the answered run did not finish: " + types4.join(" "));
  else if (!String(fin4.result).includes("You chose blue"))
    fail("the answer does not use the client's result: " + JSON.stringify(fin4.result));
  lastMessageIsAnswer(events, "the answered run");
  if (types4.includes("TOOL_CALL_START")) fail("the answered run streamed a tool call again: " + types4.join(" "));
  console.log("agui: front-end tool run", types3.length, "events; answered run", types4.length, "events");

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
