// Caisson web UI: the Memory view, the person's working memory
// (GET/PUT /api/memory). A save names the version it was based on, so a
// change made meanwhile (by the agent, or elsewhere) is not overwritten:
// the page says so and offers to reload. Uses app.js's $ and api.
"use strict";

const memory = { version: 0 };

function memoryStatus(text, cls = "event-note") {
  const s = $("#memory-status");
  s.textContent = text;
  s.className = cls;
}

async function loadMemory() {
  try {
    const doc = await api("GET", "/api/memory");
    memory.version = doc.version;
    $("#memory-text").value = doc.content;
    memoryStatus(`version ${doc.version}, ${doc.bytes} of ${doc.max} bytes` +
                 (doc.by ? `, last changed by the ${doc.by}` : ""));
  } catch (e) { memoryStatus(e.message, "error"); }
}

async function saveMemory() {
  try {
    const doc = await api("PUT", "/api/memory",
                          { content: $("#memory-text").value, version: memory.version });
    memory.version = doc.version;
    memoryStatus(`saved: version ${doc.version}, ${doc.bytes} of ${doc.max} bytes`);
  } catch (e) {
    memoryStatus(e.message + " (Reload to see the current text; your edit is still here)",
                 "error");
  }
}

document.querySelector('nav button[data-view="memory"]').addEventListener("click", loadMemory);
$("#memory-save").onclick = saveMemory;
$("#memory-reload").onclick = loadMemory;
