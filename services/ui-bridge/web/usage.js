// Caisson web UI: the Usage view, the model gateway's virtual keys and
// spend (GET /api/usage, /api/spend, /api/keys; docs/gateway.md). Budget
// bars per scope (spent and reserved against the limit, and when it
// resets), spend by model and by key over 1, 7 or 30 days, and the
// person's keys: create (the secret is shown once, here, and never again)
// and revoke. An operator may name another user. Uses app.js's $, el, api.
"use strict";

const usd = (nusd) => "$" + (Number(nusd || 0) / 1e9).toFixed(6);
const usageWho = () => $("#usage-user").value.trim();
const withUser = (path) => {
  const u = usageWho();
  return u ? path + (path.includes("?") ? "&" : "?") + "user=" + encodeURIComponent(u) : path;
};

function usageStatus(text, cls = "event-note") {
  const s = $("#usage-status");
  s.textContent = text;
  s.className = cls;
}

// One bar per budget: cost when the scope has a cost limit, else tokens.
function budgetRow(s) {
  const cost = s.limitNusd > 0, limit = cost ? s.limitNusd : s.limitTokens;
  const spent = cost ? s.spentNusd : s.spentTokens, held = cost ? s.reservedNusd : s.reservedTokens;
  const fmt = (v) => cost ? usd(v) : `${v} tokens`;
  const bar = el("progress", { max: String(limit || 1),
                               value: String(Math.min(spent + held, limit || 0)) });
  const reset = s.reset
    ? new Date(s.reset).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "never";
  return el("li", { class: "budget", "data-scope": s.scope },
            el("span", { class: "scope" }, `${s.scope} (${s.window})`), bar,
            el("span", { class: "event-note" },
               limit ? `${fmt(spent)} spent, ${fmt(held)} reserved, of ${fmt(limit)}; ` +
                       `resets ${reset}`
                     : `${fmt(spent)} spent, no limit; ${s.calls} calls`));
}

async function loadBudgets() {
  const u = await api("GET", withUser("/api/usage"));
  $("#budget-list").replaceChildren(...(u.usage.scopes || []).map(budgetRow));
}

function spendTable(title, rows) {
  const td = (v) => el("td", {}, String(v));
  const body = rows.map(([name, f]) => el("tr", {}, td(name), td(f.calls), td(f.in), td(f.out),
                                          td(usd(f.nusd))));
  return el("table", { class: "spend" },
            el("thead", {}, el("tr", {}, ...[title, "Calls", "In", "Out", "Cost"]
              .map((h) => el("th", {}, h)))),
            el("tbody", {}, ...body));
}

async function loadSpend() {
  const days = Number($("#usage-days").value);
  const since = Date.now() - days * 86400000;
  const by = { model: new Map(), key: new Map() };
  let from = 0;
  for (let page = 0; page < 20; page++) {
    const p = await api("GET", withUser(`/api/spend?since=${since}&limit=1000&fromSeq=${from}`));
    for (const r of p.records || [])
      for (const [what, name] of [["model", r.model], ["key", r.key || r.keyKind]]) {
        const f = by[what].get(name) || { calls: 0, in: 0, out: 0, nusd: 0 };
        f.calls++; f.in += r.in || 0; f.out += r.out || 0; f.nusd += r.nusd || 0;
        by[what].set(name, f);
      }
    if (!p.next) break;
    from = p.next;
  }
  $("#spend-tables").replaceChildren(spendTable("Model", [...by.model]),
                                     spendTable("Key", [...by.key]));
}

async function revokeKey(id) {
  try { await api("DELETE", "/api/keys/" + encodeURIComponent(id)); await loadKeys(); }
  catch (e) { usageStatus(e.message, "error"); }
}

async function loadKeys() {
  const p = await api("GET", withUser("/api/keys"));
  $("#key-list").replaceChildren(...(p.keys || []).map((k) => el("tr", { "data-key": k.id },
    el("td", {}, k.id), el("td", {}, k.name || ""), el("td", {}, k.kind),
    el("td", {}, (k.models || []).join(", ") || "any"),
    el("td", {}, usd(k.usage && k.usage.spentNusd)),
    el("td", {}, k.kind !== "user" ? ""
      : el("button", { class: "decline", onclick: () => revokeKey(k.id) }, "Revoke")))));
}

async function createKey(ev) {
  ev.preventDefault();
  const body = { name: $("#key-name").value.trim() };
  const models = $("#key-models").value.split(",").map((m) => m.trim()).filter(Boolean);
  if (models.length) body.models = models;
  if ($("#key-usd").value) body.budgetUsd = Number($("#key-usd").value);
  if ($("#key-window").value) body.window = $("#key-window").value;
  if (usageWho()) body.user = usageWho();
  try {
    const made = await api("POST", "/api/keys", body);
    $("#key-secret").hidden = false;
    $("#key-secret-text").textContent = made.key;
    usageStatus(`key ${made.info.id} made: copy the secret now, it is not shown again`);
    await loadKeys();
  } catch (e) { usageStatus(e.message, "error"); }
}

async function loadUsage() {
  $("#key-secret").hidden = true;
  $("#key-secret-text").textContent = "";
  try { await Promise.all([loadBudgets(), loadSpend(), loadKeys()]); usageStatus(""); }
  catch (e) { usageStatus(e.message, "error"); }
}

document.querySelector('nav button[data-view="usage"]').addEventListener("click", loadUsage);
$("#usage-refresh").onclick = loadUsage;
$("#usage-days").onchange = () => loadSpend().catch((e) => usageStatus(e.message, "error"));
$("#key-form").addEventListener("submit", createKey);
