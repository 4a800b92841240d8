// The AG-UI translation through the real client pipeline, without a stack:
// each FILE is a text/event-stream body ui-bridge's translator produced
// (threadId and runId written as __THREAD__ and __RUN__). An HttpAgent whose
// fetch returns those bodies runs once per file, so the client parses the
// SSE, applies its sequence checks and state patches, and every event is
// validated against the @ag-ui/core 1.0 schemas. The first file must end in
// an approval interrupt; the next runs resume it.
// An optional third file is a run of its own that must end cancelled.
//   node agui_replay.mjs FIRST.sse RESUMED.sse [CANCELLED.sse]
import { readFileSync } from "node:fs";
import { HttpAgent } from "@ag-ui/client";
import { EventSchemas } from "@ag-ui/core/schemas";

const files = process.argv.slice(2);
const problems = [];
let body = "";
const agent = new HttpAgent({
  url: "http://replay.invalid/agui",
  fetch: async (url, init) => {
    const input = JSON.parse(init.body);
    const text = body.replaceAll("__THREAD__", input.threadId).replaceAll("__RUN__", input.runId);
    return new Response(text, { status: 200, headers: { "Content-Type": "text/event-stream" } });
  },
});
agent.messages = [{ id: "u1", role: "user", content: "seed task" }];
let events = [];
const subscriber = {
  onEvent: ({ event }) => {
    const parsed = EventSchemas.safeParse(event);
    if (!parsed.success) problems.push(`${event.type}: ${parsed.error.message}`);
    events.push(event);
  },
};

try {
  body = readFileSync(files[0], "utf8");
  if (body.includes("\r")) problems.push("CR in " + files[0]);
  await agent.runAgent({}, subscriber);
  const fin = events.at(-1);
  if (fin?.type !== "RUN_FINISHED" || fin.outcome?.type !== "interrupt")
    throw new Error("first run did not end in an interrupt: " + events.map((e) => e.type).join(" "));
  const interrupt = fin.outcome.interrupts[0];
  console.log("replay: run 1:", events.length, "events, interrupt", interrupt.id);
  events = [];
  body = readFileSync(files[1], "utf8");
  await agent.runAgent({ resume: [{ interruptId: interrupt.id, status: "resolved", payload: { approved: true } }] }, subscriber);
  const fin2 = events.at(-1);
  if (fin2?.type !== "RUN_FINISHED" || (fin2.outcome && fin2.outcome.type !== "success"))
    problems.push("resumed run did not finish: " + events.map((e) => e.type).join(" "));
  console.log("replay: run 2:", events.length, "events; state", JSON.stringify(agent.state));
  if (agent.state.status !== "completed") problems.push("state.status is " + agent.state.status);
  if (files[2]) {
    events = [];
    body = readFileSync(files[2], "utf8");
    await agent.runAgent({}, subscriber);
    const fin3 = events.at(-1);
    if (fin3?.type !== "RUN_FINISHED" || fin3.outcome?.type !== "cancelled")
      problems.push("cancelled run did not finish cancelled: " + events.map((e) => e.type).join(" "));
    if (agent.state.status !== "cancelled") problems.push("state.status is " + agent.state.status);
    console.log("replay: run 3:", events.length, "events, cancelled");
  }
} catch (e) {
  problems.push(e.stack || e.message);
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("replay: ok");
