// Caisson web UI: a chat with the agent (streamed text, tool-call cards,
// approvals) held in conversation threads (a list beside the chat: a
// message in an open thread continues it, "New chat" starts another), a
// runs dashboard whose runs open and replay, and a sandbox file browser. Plain browser JavaScript, no dependencies: the page works
// offline. The API needs a bearer token, so event streams are read with
// fetch() rather than EventSource (which cannot send headers).
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};

// ---- token -----------------------------------------------------------------
const hashToken = new URLSearchParams(location.hash.slice(1)).get("token");
if (hashToken) { localStorage.setItem("caissonToken", hashToken); history.replaceState(null, "", location.pathname); }
let token = localStorage.getItem("caissonToken") || "";

async function api(method, path, body) {
  const res = await fetch(path, {
    method, headers: { Authorization: "Bearer " + token, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (res.status === 401) showLogin();
  if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
  return data;
}

function showLogin() { $("#login").hidden = false; }
$("#token-save").onclick = () => {
  token = $("#token-input").value.trim();
  localStorage.setItem("caissonToken", token);
  $("#login").hidden = true;
  refreshRuns();
  refreshThreads();
};
if (!token) showLogin();

// ---- views -----------------------------------------------------------------
function show(view) {
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b.dataset.view === view);
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== "view-" + view;
  if (view === "runs") refreshRuns();
  if (view === "sandboxes") refreshSandboxes();
}
for (const b of document.querySelectorAll("nav button")) b.onclick = () => show(b.dataset.view);

// ---- chat and run rendering ------------------------------------------------
// A run is rendered from one ordered sequence: its stored events, each
// shown once, in stored order, as an element naming it (data-seq,
// data-kind). Streamed model text (text_delta, never stored) is only a
// provisional tail kept last on the page; the stored `plan` or `text`
// replaces it, so the page ends as the stored transcript says, live or
// replayed.
let current = null;   // { runId, abort, box, tail, cards: Map, approvals: Map, lastSeq, planText, lastText }
let thread = null;    // the open thread's id: the next message continues it (null: a new chat)

function setStatus(status) {
  const s = $("#run-status");
  s.textContent = status || "";
  s.className = "status " + (status || "");
  $("#run-cancel").hidden = !["running", "awaiting_approval", "awaiting_tool_result"].includes(status);
}

// Adds node for the stored event (kind, seq) before the provisional tail,
// in the followed run's box (each run of a thread has its own).
function add(node, kind, seq) {
  if (seq) { node.dataset.seq = seq; node.dataset.kind = kind; }
  const t = current && current.box ? current.box : $("#transcript");
  if (current && current.tail && current.tail.parentNode === t) t.insertBefore(node, current.tail);
  else t.append(node);
  return node;
}

function note(text, cls = "event-note", kind, seq) { return add(el("div", { class: cls }, text), kind, seq); }

function dropTail() {
  if (current.tail) current.tail.remove();
  current.tail = null;
}
// A unified diff as lines coloured by what they do: file headers, hunk
// headers, added and removed lines.
function renderDiff(text) {
  const pre = el("pre", { class: "diff" });
  for (const line of text.replace(/\n$/, "").split("\n")) {
    const cls = /^(diff --git |\+\+\+ (b\/|\/dev\/null)|--- (a\/|\/dev\/null)|index |new file|deleted file)/.test(line) ? "file"
      : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
    pre.append(el("span", { class: cls }, line + "\n"));
  }
  return pre;
}

// What an approval would change, when its event carries it (git.openPR's
// dry run: files [{path, added, removed}], skipped paths, the patch), at
// the top of the event's data or in its preview or args; nothing when
// absent.
function changeView(data) {
  const src = [data, data.preview || {}, data.args || {}].find((d) => d.patch || d.files) || {};
  const box = el("div", { class: "change" });
  if (Array.isArray(src.files) && src.files.length) {
    const list = el("ul", { class: "files" });
    for (const f of src.files)
      list.append(el("li", {}, el("code", {}, f.path ?? ""), " ",
        el("span", { class: "add" }, `+${f.added ?? 0}`), " ", el("span", { class: "del" }, `-${f.removed ?? 0}`)));
    box.append(el("div", {}, `${src.files.length} file(s) changed`), list);
  }
  if (Array.isArray(src.skipped) && src.skipped.length)
    box.append(el("div", { class: "event-note" }, "left out: " + src.skipped.join(", ")));
  if (typeof src.patch === "string" && src.patch) box.append(renderDiff(src.patch));
  if (src.patchTruncated)
    box.append(el("div", { class: "event-note" },
      `patch cut at a line boundary: the whole patch is ${src.patchBytes ?? "?"} bytes`));
  return box;
}

function resultBody(result) {
  const box = el("div");
  if (result && typeof result === "object") {
    const { stdout, stderr, diff, patch, testLog, log, ...rest } = result;
    if (diff || patch) box.append(el("div", {}, "diff"), renderDiff(diff || patch));
    if (stdout) box.append(el("div", {}, "stdout"), el("pre", {}, stdout));
    if (stderr) box.append(el("div", {}, "stderr"), el("pre", {}, stderr));
    if (testLog || log) box.append(el("div", {}, "test log"), el("pre", {}, testLog || log));
    if (Object.keys(rest).length) box.append(el("pre", {}, JSON.stringify(rest, null, 2)));
  } else box.append(el("pre", {}, JSON.stringify(result, null, 2)));
  return box;
}

function toolCard(data, seq) {
  const summary = el("summary", {}, data.name + " ", el("span", { class: "state" }, "running…"));
  const card = el("details", { class: "tool", "data-call": data.toolCallId }, summary,
    el("div", {}, "arguments"), el("pre", {}, JSON.stringify(data.args ?? {}, null, 2)));
  add(card, "tool_call", seq);
  current.cards.set(data.toolCallId, card);
}

function toolResult(data) {
  const card = current.cards.get(data.toolCallId);
  if (!card) return;
  const state = card.querySelector(".state");
  state.textContent = (data.ok ? "ok" : "error") + (data.durationMs !== undefined ? ` · ${data.durationMs} ms` : "");
  state.className = "state " + (data.ok ? "ok" : "err");
  card.append(el("div", {}, "result"), resultBody(data.result));
}

function approval(data, seq) {
  const reason = el("input", { placeholder: "reason (sent to the agent when declining)", class: "reason" });
  const box = el("div", { class: "approval", "data-call": data.toolCallId },
    el("div", {}, `The agent wants to run ${data.name}. Allow it?`),
    el("pre", {}, JSON.stringify(data.args ?? {}, null, 2)), changeView(data),
    el("div", { class: "row" }, reason,
      el("button", { class: "approve", onclick: () => decide(box, "approve", data.toolCallId) }, "Approve"),
      el("button", { class: "decline", onclick: () => decide(box, "decline", data.toolCallId, reason.value) }, "Decline")));
  add(box, "ask_approval", seq);
  current.approvals.set(data.toolCallId, box);
}

// The stored decision (approval_decision, or the run's end) replaces an
// approval's buttons: a decided call is shown decided, live or replayed.
function decided(box, text, cls = "decision") {
  const row = box.querySelector(".row");
  if (row) row.remove();
  box.append(el("div", { class: cls }, text));
}

async function decide(box, verb, toolCallId, reason) {
  for (const b of box.querySelectorAll("button")) b.disabled = true;
  try {
    await api("POST", `/api/runs/${current.runId}/${verb}`, reason ? { toolCallId, reason } : { toolCallId });
  } catch (e) {
    box.append(el("div", { class: "error" }, e.message));
    for (const b of box.querySelectorAll("button")) b.disabled = false;
  }
}

// One run event; data is shaped as proto/events.def declares its kind
// (docs/events.md, "Kinds"); seq is its run_seq (absent on deltas).
function onEvent(kind, data, seq) {
  if (kind === "text_delta") {
    if (!current.tail) {
      current.tail = el("div", { class: "msg assistant streaming provisional" });
      current.box.append(current.tail);
    }
    current.tail.textContent += data.text ?? "";
    return;
  }
  if (!seq || seq <= current.lastSeq) return;     // not stored, or shown already
  current.lastSeq = seq;
  const modelText = (t) => (t ?? "").trim();
  switch (kind) {
    case "run_started":
      setStatus("running");
      if (data.threadId) setThread(data.threadId);
      if (data.task) add(el("div", { class: "msg user" }, data.task), kind, seq);
      break;
    case "plan":
      dropTail();
      current.planText = current.lastText = modelText(data.text);
      add(el("div", { class: "msg assistant plan" }, data.text ?? ""), kind, seq);
      break;
    case "text":
      dropTail();
      // the first step's text is its plan, shown already
      if (modelText(data.text) !== current.planText)
        add(el("div", { class: "msg assistant" }, data.text ?? ""), kind, seq);
      current.lastText = modelText(data.text);
      current.planText = null;
      break;
    case "step_started": current.planText = null; break;
    case "tool_call": toolCard(data, seq); if (data.client) setStatus("awaiting_tool_result"); break;
    case "tool_result": toolResult(data); if (data.client) setStatus("running"); break;
    case "ask_approval": setStatus("awaiting_approval"); approval(data, seq); break;
    case "approval_decision": {
      setStatus("running");
      const box = current.approvals.get(data.toolCallId);
      const text = (data.approved ? "approved" : "declined") + (data.reason ? ": " + data.reason : "");
      if (box) { decided(box, text); box.dataset.decision = seq; } else note(text, "event-note", kind, seq);
      break;
    }
    case "check":
      note(`check ${data.name}: ${data.ok ? "passed" : "failed"} (${data.detail || ""})`,
        data.ok ? "event-note" : "error", kind, seq);
      break;
    case "complete": {
      dropTail();
      setStatus("completed");
      const answer = modelText(data.answer);
      note("run completed", "event-note", kind, seq);
      if (answer && answer !== current.lastText) add(el("div", { class: "msg assistant answer" }, data.answer));
      endApprovals();
      showArtifacts();
      refreshThreads();
      break;
    }
    case "failed": {
      dropTail();
      const status = data.status || "failed";
      setStatus(status);
      note(`run ${status.replace(/_/g, " ")}: ${data.reason || ""}`,
        status === "cancelled" ? "event-note" : "error", kind, seq);
      endApprovals();
      showArtifacts();
      refreshThreads();
      break;
    }
    case "working_memory_updated":
      note(`working memory updated: version ${data.version}, ${data.bytes} bytes`, "event-note", kind, seq);
      break;
    case "artifact": note(`artifact: ${data.name || data.hash} (${data.kind || "file"})`, "event-note", kind, seq); break;
    default: break;
  }
}

// At the run's end, an approval never decided can no longer be.
function endApprovals() {
  for (const box of current.approvals.values())
    if (box.querySelector(".row")) decided(box, "not decided: the run ended", "decision undecided");
}

// The run's artifacts (diffs, test logs), from its record.
async function showArtifacts() {
  const runId = current.runId;
  let rec;
  try { rec = await api("GET", `/api/runs/${runId}`); } catch (e) { return; }
  if (!rec.artifacts || !rec.artifacts.length || !current || current.runId !== runId) return;
  const box = el("div", { class: "artifacts" }, el("h3", {}, "Artifacts"));
  for (const a of rec.artifacts) {
    const url = `/api/artifacts/${a.hash}?run=${encodeURIComponent(runId)}`;
    const name = a.name || a.hash.slice(0, 12);
    const view = el("div");
    const size = a.size !== undefined ? ` · ${a.size} bytes` : "";
    box.append(el("details", { class: "tool", "data-hash": a.hash, ontoggle: async (e) => {
      if (!e.target.open || view.childNodes.length) return;
      const text = await api("GET", url);
      view.append(a.kind === "diff" ? renderDiff(text) : el("pre", {}, text));
    } }, el("summary", {}, `${name} · ${a.kind || "file"}${size} `,
      el("a", { class: "download", href: url, download: downloadName(name, a.kind),
        onclick: (e) => download(e, url, downloadName(name, a.kind)) }, "download")), view));
  }
  current.box.append(box);
}

function downloadName(name, kind) {
  const base = name.replace(/[\/\\]/g, "_");
  return kind === "diff" && !base.endsWith(".diff") ? base + ".diff" : base;
}

// The API wants the bearer token, which a plain link cannot send: fetch
// the bytes, then save them through an object URL.
async function download(e, url, name) {
  e.preventDefault();
  e.stopPropagation();
  try {
    const res = await fetch(url, { headers: { Authorization: "Bearer " + token } });
    if (!res.ok) throw new Error(`download failed: ${res.status}`);
    const href = URL.createObjectURL(await res.blob());
    const a = el("a", { href, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 10000);
  } catch (err) { note(err.message, "error"); }
}

// Reads the run's event stream (history, then live) until it ends, into
// a box of its own: below what the page shows (keep: the thread's earlier
// runs) or alone.
async function follow(runId, keep = false) {
  if (current && current.abort) current.abort.abort();
  const box = el("div", { class: "run", "data-run": runId });
  current = { runId, abort: new AbortController(), box, tail: null, cards: new Map(), approvals: new Map(),
    lastSeq: 0, planText: null, lastText: null };
  if (keep) $("#transcript").append(box); else $("#transcript").replaceChildren(box);
  $("#run-title").textContent = "Run " + runId;
  setStatus("");
  let res;
  for (let tries = 0; tries < 10; tries++) {     // a run just started may not be stored yet
    res = await fetch(`/api/runs/${runId}/events`, {
      headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" }, signal: current.abort.signal,
    });
    if (res.status !== 404) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!res.ok) { note("cannot open the run's events: " + res.status, "error"); return; }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ done: true }));
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let kind = "message", data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (!data) continue;
      const ev = JSON.parse(data);
      onEvent(ev.kind || kind, ev.data || {}, ev.runSeq);
    }
  }
}

$("#composer").onsubmit = async (e) => {
  e.preventDefault();
  const task = $("#task").value.trim();
  if (!task) return;
  const body = { task };
  if ($("#model").value.trim()) body.model = $("#model").value.trim();
  if (thread) body.threadId = thread;     // a message in an open thread continues it
  $("#send").disabled = true;
  try {
    const { runId, threadId } = await api("POST", "/api/runs", body);
    $("#task").value = "";
    const continuing = !!thread;
    setThread(threadId);
    follow(runId, continuing);
    refreshThreads();
  } catch (err) { note(err.message, "error"); }
  $("#send").disabled = false;
};
// Enter sends, as in every chat; Shift+Enter (or an IME composition) does not.
$("#task").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("#composer").requestSubmit();
  }
});
$("#run-cancel").onclick = () => current && api("POST", `/api/runs/${current.runId}/cancel`).catch((e) => note(e.message, "error"));

// ---- threads ---------------------------------------------------------------
// The thread list (GET /api/threads, latest activity first); opening one
// shows its runs from GET /api/threads/ID (a live last run is followed);
// the next message continues it.
let threadTitles = new Map();

function setThread(id) {
  thread = id || null;
  $("#thread-title").textContent = thread ? threadTitles.get(thread) || "Conversation" : "New chat";
  $("#thread-rename").hidden = $("#thread-delete").hidden = !thread;
  for (const li of document.querySelectorAll("#thread-list li"))
    li.classList.toggle("active", li.dataset.thread === thread);
}

function ago(us) {
  const s = Math.max(0, Math.round((Date.now() - us / 1000) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return new Date(us / 1000).toLocaleDateString();
}

async function refreshThreads() {
  let page;
  try { page = await api("GET", "/api/threads?limit=50"); } catch (e) { return; }
  const list = $("#thread-list");
  list.replaceChildren();
  threadTitles = new Map();
  for (const t of page.threads || []) {
    threadTitles.set(t.thread, t.title || "(untitled)");
    list.append(el("li", { "data-thread": t.thread, title: t.title || "", onclick: () => openThread(t.thread) },
      el("span", { class: "title" }, t.title || "(untitled)"),
      el("span", { class: "when" }, `${ago(t.lastActivity)} · ${t.runs} run${t.runs === 1 ? "" : "s"}`)));
  }
  setThread(thread);
}

// A past run of the thread from its stored turns: the task, the model's
// texts, its tool calls, and how it ended when it did not complete.
function pastRun(run) {
  const box = el("div", { class: "run past", "data-run": run.run },
    el("div", { class: "msg user" }, run.task || ""));
  const calls = new Map();
  let last = null;
  for (const t of run.turns || []) {
    if (t.kind === "text") { box.append(el("div", { class: "msg assistant" }, t.text || "")); last = (t.text || "").trim(); }
    else if (t.kind === "tool_call") {
      const state = el("span", { class: "state" }, "");
      calls.set(t.toolCallId, state);
      box.append(el("details", { class: "tool" }, el("summary", {}, (t.name || "") + " ", state)));
    } else if (t.kind === "approval") box.append(el("div", { class: "event-note" }, `asked to approve ${t.name}`));
    else if (t.kind === "tool_result") {
      const state = calls.get(t.toolCallId);
      if (state) { state.textContent = t.ok ? "ok" : "error"; state.className = "state " + (t.ok ? "ok" : "err"); }
    }
  }
  if (run.status === "completed") {
    if (run.answer && run.answer.trim() !== last) box.append(el("div", { class: "msg assistant answer" }, run.answer));
  } else if (!["running", "awaiting_approval", "awaiting_tool_result"].includes(run.status))
    box.append(el("div", { class: run.status === "cancelled" ? "event-note" : "error" },
      `run ${(run.status || "").replace(/_/g, " ")}: ${run.failure || ""}`));
  return box;
}

async function openThread(id) {
  show("chat");
  if (current && current.abort) current.abort.abort();
  current = null;
  let convo;
  try { convo = await api("GET", `/api/threads/${encodeURIComponent(id)}`); } catch (e) {
    $("#transcript").replaceChildren(el("div", { class: "error" }, e.message));
    return;
  }
  threadTitles.set(id, convo.thread.title || "(untitled)");
  setThread(id);
  $("#transcript").replaceChildren();
  const runs = convo.runs || [];
  const last = runs[runs.length - 1];
  const live = last && ["running", "awaiting_approval", "awaiting_tool_result"].includes(last.status);
  for (const run of live ? runs.slice(0, -1) : runs) $("#transcript").append(pastRun(run));
  if (convo.truncated) $("#transcript").append(el("div", { class: "event-note" }, "earlier turns left out"));
  if (live) follow(last.run, true);
  else {
    $("#run-title").textContent = last ? "Run " + last.run : "New run";
    setStatus(last ? last.status : "");
  }
  $("#transcript").lastElementChild?.scrollIntoView({ block: "end" });
}

$("#new-chat").onclick = () => {
  if (current && current.abort) current.abort.abort();
  current = null;
  setThread(null);
  $("#transcript").replaceChildren();
  $("#run-title").textContent = "New run";
  setStatus("");
  $("#task").focus();
};
$("#thread-rename").onclick = async () => {
  const title = prompt("Title of this conversation", threadTitles.get(thread) || "");
  if (!title || !title.trim()) return;
  try { await api("PATCH", `/api/threads/${encodeURIComponent(thread)}`, { title: title.trim() }); }
  catch (e) { note(e.message, "error"); }
  refreshThreads();
};
$("#thread-delete").onclick = async () => {
  if (!confirm("Delete this conversation with its runs, transcripts and artifacts?")) return;
  try {
    await api("DELETE", `/api/threads/${encodeURIComponent(thread)}?confirm=${encodeURIComponent(thread)}`);
    $("#new-chat").click();
  } catch (e) { note(e.message, "error"); }
  refreshThreads();
};

// ---- runs dashboard --------------------------------------------------------
let nextPage = null;
function fmtDuration(ms) { return ms === undefined ? "" : ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s"; }

async function refreshRuns(more = false) {
  const q = new URLSearchParams();
  if ($("#filter-status").value) q.set("status", $("#filter-status").value);
  if (more && nextPage) q.set("before", nextPage);
  let page;
  try { page = await api("GET", "/api/runs?" + q); } catch (e) { return; }
  const body = $("#runs-table tbody");
  if (!more) body.replaceChildren();
  for (const r of page.runs || []) {
    const id = r.run || r.runId || r.id;
    const tokens = r.tokens ? (r.tokens.input || 0) + (r.tokens.output || 0) : "";
    const row = el("tr", { "data-run": id, onclick: () => { show("chat"); follow(id); } },
      el("td", {}, id.slice(-8)), el("td", { class: "task" }, r.task || ""),
      el("td", {}, el("span", { class: "status " + r.status }, r.status || "")), el("td", {}, r.model || ""),
      el("td", {}, String(r.steps ?? "")), el("td", {}, String(r.toolCalls ?? "")), el("td", {}, String(tokens)),
      el("td", {}, fmtDuration(r.runtimeMs)));
    body.append(row);
  }
  nextPage = page.next || null;
  $("#runs-more").hidden = !nextPage;
}
$("#runs-refresh").onclick = () => refreshRuns();
$("#filter-status").onchange = () => refreshRuns();
$("#runs-more").onclick = () => refreshRuns(true);

// ---- sandboxes -------------------------------------------------------------
let sandbox = null;
async function refreshSandboxes() {
  const list = $("#sandbox-list");
  list.replaceChildren();
  try {
    const { sandboxes } = await api("GET", "/api/sandboxes");
    for (const s of sandboxes) list.append(el("li", { onclick: () => openSandbox(s.sandboxId) },
      `${s.name || s.sandboxId} `, el("span", { class: "status" }, s.status)));
    if (!sandboxes.length) list.append(el("li", {}, "no sandboxes"));
  } catch (e) { list.append(el("li", { class: "error" }, e.message)); }
}
async function openSandbox(id) {
  sandbox = id;
  $("#files").hidden = false;
  $("#files-title").textContent = id;
  listFiles();
}
async function listFiles() {
  const path = $("#files-path").value || ".";
  const list = $("#file-list");
  list.replaceChildren();
  try {
    const { files } = await api("GET", `/api/sandboxes/${sandbox}/files?path=${encodeURIComponent(path)}`);
    for (const f of files) list.append(el("li", {
      onclick: async () => {
        if (f.type === "directory") { $("#files-path").value = f.path; return listFiles(); }
        const file = await api("GET", `/api/sandboxes/${sandbox}/file?path=${encodeURIComponent(f.path)}`);
        $("#file-content").textContent = file.content ?? "(binary file)";
      } }, (f.type === "directory" ? "📁 " : "📄 ") + f.name));
  } catch (e) { list.append(el("li", { class: "error" }, e.message)); }
}
$("#files-go").onclick = listFiles;
$("#sandboxes-refresh").onclick = refreshSandboxes;

fetch("/healthz").then((r) => r.json()).then((h) => { $("#who").textContent = h.status === "ok" ? "stack healthy" : "stack degraded"; }).catch(() => {});
if (token) refreshThreads();
if (location.pathname.startsWith("/runs/")) follow(location.pathname.slice(6));
