// Caisson web UI: the Evals view, the results of `caisson eval run`
// (GET /api/evals, /api/evals/{id}; docs/evals.md) and the profiles runs
// use (GET /api/profiles...). The list of the person's evals with a chart
// of pass rate over time, one series per profile version; one eval opened:
// its summary, failure causes, per-task table and the distributions of
// tokens and runtime over its attempts; two compared: each task fixed,
// broken or unchanged, and the change in pass rate, tokens and runtime.
// Charts are SVG drawn here, nothing loaded from elsewhere. Eval records
// are written by users (task ids, causes, test output): every value goes
// into the page as text (el() appends text nodes, setAttribute for
// data-*), never as markup. Uses app.js's $, el, api and renderDiff; its
// own names stay inside this function.
"use strict";

(() => {

const SVGNS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2557d6", "#1c7c3c", "#b3261e", "#9a6700", "#7b3fb8", "#00838f", "#c2185b",
                 "#5d4037"];
const evalState = { list: [], picked: [] };

function svg(tag, attrs = {}, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const k of kids) e.append(k);
  return e;
}
const svgTitle = (text) => svg("title", {}, text);

function evalsStatus(text, cls = "event-note") {
  const s = $("#evals-status");
  s.textContent = text;
  s.className = cls;
}

// A time from a record (microseconds, milliseconds or seconds since the
// epoch, or ISO text) in milliseconds; NaN when there is none.
function toMs(t) {
  if (typeof t === "string") return Date.parse(t);
  if (typeof t !== "number" || !(t > 0)) return NaN;
  return t > 1e14 ? t / 1000 : t > 1e11 ? t : t * 1000;
}
const when = (t) => {
  const ms = toMs(t);
  return isNaN(ms) ? "" : new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
};
const num = (v) => (typeof v === "number" && isFinite(v) ? v : 0);
const pct = (r) => (r === null ? "" : (r * 100).toFixed(1) + "%");
const round = (v, d = 0) => (isFinite(v) ? Number(v.toFixed(d)) : 0);

// A summary's pass rate as a fraction (the record says 0..1; a percentage
// is taken too), or null.
function passRate(s) {
  if (!s || typeof s !== "object") return null;
  if (typeof s.passRate === "number") return s.passRate > 1 ? s.passRate / 100 : s.passRate;
  return num(s.attempts) ? num(s.passed) / num(s.attempts) : null;
}
const profileOf = (e) => (typeof e.profile === "string" && e.profile ? e.profile : "builtin");

const attemptsOf = (t) => (Array.isArray(t && t.attempts) ? t.attempts : []);
const tokensOf = (a) => num(a.inputTokens) + num(a.outputTokens);
const tasksOf = (rec) => (Array.isArray(rec && rec.tasks) ? rec.tasks : []);
const allAttempts = (rec) => tasksOf(rec).flatMap(attemptsOf);
function passesOf(t) {
  return typeof t.passes === "number" ? t.passes : attemptsOf(t).filter((a) => a.passed).length;
}
// A task passes an eval when any of its attempts passed (pass@k).
const taskPassed = (t) => passesOf(t) > 0;
// Why an attempt failed: its cause, or harness_error when the harness
// itself could not run it (as `caisson eval report` counts it).
const causeOf = (a) => String(a.cause || (a.error ? "harness_error" : "unknown"));
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

// Each failure cause with its count, most common first.
function causeCounts(rec) {
  const m = new Map();
  const given = rec.summary && rec.summary.causes;
  if (given && typeof given === "object")
    for (const [c, n] of Object.entries(given)) m.set(c, num(n));
  else
    for (const a of allAttempts(rec))
      if (!a.passed) m.set(causeOf(a), (m.get(causeOf(a)) || 0) + 1);
  return [...m].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
}

// ---- charts ------------------------------------------------------------------
// A chart's size in SVG units and its margins (L, R, T, B) for the axes'
// labels; the page scales it to the width it has.
const L = 46, R = 14, T = 12, B = 34;
const TREND = { w: 640, h: 220 }, HIST = { w: 360, h: 180 };

// An empty chart of size f with grid lines at yTicks [[y, label]], an x
// axis and its two end labels.
function frame(f, label, cls, yTicks, xFrom, xTo) {
  const box = svg("svg", { viewBox: `0 0 ${f.w} ${f.h}`, class: cls, role: "img", "aria-label": label });
  for (const [y, text] of yTicks) {
    box.append(svg("line", { class: "grid", x1: L, x2: f.w - R, y1: y, y2: y }));
    box.append(svg("text", { class: "tick", x: L - 6, y: y + 4, "text-anchor": "end" }, text));
  }
  box.append(svg("line", { class: "axis", x1: L, x2: f.w - R, y1: f.h - B, y2: f.h - B }),
             svg("text", { class: "tick", x: L, y: f.h - 10 }, xFrom),
             svg("text", { class: "tick", x: f.w - R, y: f.h - 10, "text-anchor": "end" }, xTo));
  return box;
}

// Pass rate over time, one series (line and points) per profile version,
// from the listing: x the eval's start, y its pass rate. An eval still
// running has a partial rate: it is listed, not charted.
function trendChart(list) {
  const pts = list.filter((e) => e.status !== "running")
    .map((e) => ({ e, x: toMs(e.started), y: passRate(e.summary) }))
    .filter((p) => !isNaN(p.x) && p.y !== null);
  if (!pts.length) return el("p", { class: "event-note" }, "no finished evals to chart yet");
  let x0 = Math.min(...pts.map((p) => p.x)), x1 = Math.max(...pts.map((p) => p.x));
  if (x0 === x1) { x0 -= 3600e3; x1 += 3600e3; }
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (TREND.w - L - R);
  const sy = (y) => T + (1 - Math.min(1, Math.max(0, y))) * (TREND.h - T - B);
  const box = frame(TREND, "pass rate per profile version over time", "trend",
                    [0, 0.25, 0.5, 0.75, 1].map((v) => [sy(v), pct(v).replace(".0", "")]),
                    when(x0), when(x1));
  const series = new Map();
  for (const p of pts.sort((a, b) => a.x - b.x)) {
    const name = profileOf(p.e);
    if (!series.has(name)) series.set(name, []);
    series.get(name).push(p);
  }
  const legend = el("ul", { class: "legend" });
  [...series].forEach(([name, ps], i) => {
    const colour = PALETTE[i % PALETTE.length];
    const g = svg("g", { class: "series", "data-series": name });
    if (ps.length > 1)
      g.append(svg("polyline", { fill: "none", stroke: colour, "stroke-width": 2,
                                 points: ps.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ") }));
    for (const p of ps)
      g.append(svg("circle", { class: "point", cx: sx(p.x), cy: sy(p.y), r: 4, fill: colour,
                               "data-eval": p.e.id },
                   svgTitle(`${p.e.id} · ${name} · ${pct(p.y)} · ${when(p.e.started)}`)));
    box.append(g);
    legend.append(el("li", {}, svg("svg", { class: "swatch", width: 12, height: 12, viewBox: "0 0 12 12" },
                                   svg("rect", { width: 12, height: 12, fill: colour })),
                     ` ${name} (${ps.length})`));
  });
  return el("div", {}, box, legend);
}

// A histogram of values (at least one): about sqrt(n) equal bins, at most
// 10, one bar each (an empty bin is a bar of no height).
function histogram(values, label, fmt) {
  if (!values.length) return el("p", { class: "event-note" }, "no attempts");
  const lo = Math.min(...values), hi = Math.max(...values);
  const bins = hi === lo ? 1 : Math.min(10, Math.ceil(Math.sqrt(values.length)));
  const width = (hi - lo) / bins, counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, width ? Math.floor((v - lo) / width) : 0)]++;
  const top = Math.max(...counts);
  const sy = (c) => T + (1 - c / top) * (HIST.h - T - B);
  const bw = (HIST.w - L - R) / bins;
  const box = frame(HIST, label, "histogram", [[sy(0), "0"], [sy(top), String(top)]], fmt(lo),
                    fmt(hi));
  counts.forEach((c, i) => {
    const from = lo + i * width, to = i === bins - 1 ? hi : from + width;
    box.append(svg("rect", { class: "bar", x: L + i * bw + 1, y: sy(c), width: Math.max(1, bw - 2),
                             height: sy(0) - sy(c), "data-count": c },
                   svgTitle(`${fmt(from)} to ${fmt(to)}: ${c} attempt${c === 1 ? "" : "s"}`)));
  });
  return box;
}

// ---- the list ----------------------------------------------------------------
function pick(id, on) {
  evalState.picked = evalState.picked.filter((p) => p !== id);
  if (on) evalState.picked.push(id);
  while (evalState.picked.length > 2) {
    const gone = evalState.picked.shift();
    const box = document.querySelector(`#eval-list tr[data-eval="${CSS.escape(gone)}"] input`);
    if (box) box.checked = false;
  }
  $("#evals-compare").disabled = evalState.picked.length !== 2;
}

async function loadEvals() {
  evalState.picked = [];
  $("#evals-compare").disabled = true;
  let page;
  try { page = await api("GET", "/api/evals?limit=200"); } catch (e) { return evalsStatus(e.message, "error"); }
  evalState.list = Array.isArray(page.evals) ? page.evals : [];
  evalsStatus(`${evalState.list.length} eval${evalState.list.length === 1 ? "" : "s"}`);
  $("#eval-trend").replaceChildren(trendChart(evalState.list));
  $("#eval-list").replaceChildren(...evalState.list.map((e) => {
    const s = e.summary || {};
    const box = el("input", { type: "checkbox", title: "compare", onclick: (ev) => ev.stopPropagation(),
                              onchange: (ev) => pick(e.id, ev.target.checked) });
    return el("tr", { "data-eval": e.id, onclick: () => openEval(e.id) },
              el("td", {}, box), el("td", { class: "id" }, String(e.id)), el("td", {}, String(e.set ?? "")),
              el("td", {}, String(e.model ?? "")), el("td", {}, profileOf(e)),
              el("td", {}, pct(passRate(s))), el("td", {}, String(num(s.tasks))),
              el("td", {}, when(e.started)),
              el("td", {}, el("span", { class: "status " + String(e.status || "") }, String(e.status ?? ""))));
  }));
}

// ---- one eval ----------------------------------------------------------------
// The summary's passAtK, `{k: fraction}` (a bare number is pass@k).
function passAtK(v) {
  if (typeof v === "number") return pct(v > 1 ? v / 100 : v);
  if (!v || typeof v !== "object") return "";
  return Object.entries(v).map(([k, f]) => `pass@${k} ${pct(num(f))}`).join(" · ");
}

function summaryList(rec) {
  const s = rec.summary || {};
  const rows = [["Set", rec.set], ["Model", rec.model], ["Profile", profileOf(rec)],
    ["Status", rec.status], ["Started", when(rec.started)], ["Ended", when(rec.ended)],
    ["Tasks", num(s.tasks)], ["Attempts", num(s.attempts)], ["Passed", num(s.passed)],
    ["Pass rate", pct(passRate(s))],
    ["pass@k", passAtK(s.passAtK)],
    ["Mean tokens", round(num(s.meanTokens))], ["Mean seconds", round(num(s.meanSeconds), 1)],
    ["Mean steps", round(num(s.meanSteps), 1)], ["Cost", "$" + num(s.costUsd).toFixed(4)],
    ["Concurrency × repeat", `${num(rec.concurrency)} × ${num(rec.repeat)}`]];
  return rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v ?? ""))]);
}

// A task's attempts, shown under its row: how each ended, why, its tests'
// output, its patch and pull request.
function attemptsRow(t) {
  const box = el("td", { colspan: "6" });
  attemptsOf(t).forEach((a, i) => {
    const tests = a.tests || {};
    const pr = a.pr && typeof a.pr === "object" ? a.pr.url || JSON.stringify(a.pr) : a.pr;
    box.append(el("div", { class: "attempt" },
      `attempt ${i + 1}: ${a.passed ? "passed" : `failed (${causeOf(a)}` +
        (a.budget ? `: ${a.budget}` : "") + ")"} · run ${a.runId ?? "none"} ${a.runStatus ?? ""}` +
        ` · tests exit ${tests.exitCode ?? "-"}` +
        // counts are null when no test runner's output explains them
        (typeof tests.passed === "number" ? `, ${tests.passed} passed, ${num(tests.failed)} failed` : "") +
        ` · ${num(a.steps)} steps, ${num(a.toolCalls)} tool calls, ${round(num(a.seconds), 1)} s` +
        (typeof a.wallSeconds === "number" ? ` (${round(a.wallSeconds, 1)} s with the harness)` : "") +
        `, $${num(a.costUsd).toFixed(4)}`),
      ...[["harness error", a.error], ["run ended", a.reason], ["pull request", pr]]
        .filter(([, v]) => typeof v === "string" && v)
        .map(([k, v]) => el("div", { class: "event-note" }, `${k}: ${v}`)),
      typeof tests.output === "string" && tests.output ? el("pre", {}, tests.output) : "",
      typeof a.patch === "string" && a.patch
        ? el("details", {}, el("summary", {}, "patch"), renderDiff(a.patch)) : "");
  });
  return el("tr", { class: "attempts" }, box);
}

function taskRow(t) {
  const atts = attemptsOf(t);
  const causes = new Map();
  for (const a of atts) if (!a.passed) causes.set(causeOf(a), (causes.get(causeOf(a)) || 0) + 1);
  const cause = [...causes].map(([c, n]) => (n > 1 ? `${c} (${n})` : c)).join(", ");
  const row = el("tr", { class: taskPassed(t) ? "pass" : "fail", "data-task": String(t.id ?? "") },
    el("td", { class: "id" }, String(t.id ?? "")), el("td", {}, String(t.language ?? "")),
    el("td", { class: "passes" }, `${passesOf(t)}/${atts.length}`), el("td", {}, cause),
    el("td", {}, String(round(mean(atts.map(tokensOf))))),
    el("td", {}, String(round(mean(atts.map((a) => num(a.seconds))), 1))));
  row.onclick = () => {
    const next = row.nextElementSibling;
    if (next && next.classList.contains("attempts")) next.remove();
    else row.after(attemptsRow(t));
  };
  return row;
}

async function openEval(id) {
  let doc;
  try { doc = await api("GET", "/api/evals/" + encodeURIComponent(id)); } catch (e) { return evalsStatus(e.message, "error"); }
  const rec = doc.record || {};
  $("#eval-compare").hidden = true;
  $("#eval-detail").hidden = false;
  $("#eval-detail").dataset.eval = id;
  $("#eval-title").textContent = `Eval ${id}`;
  $("#eval-summary").replaceChildren(...summaryList(rec));
  const causes = causeCounts(rec);
  $("#eval-causes").replaceChildren(...(causes.length ? causes.map(([c, n]) =>
    el("li", { "data-cause": c }, `${c}: ${n}`)) : [el("li", { class: "event-note" }, "none")]));
  const atts = allAttempts(rec);
  $("#eval-tokens").replaceChildren(histogram(atts.map(tokensOf), "tokens per attempt",
                                              (v) => String(Math.round(v))));
  $("#eval-seconds").replaceChildren(histogram(atts.map((a) => num(a.seconds)), "seconds per attempt",
                                               (v) => v.toFixed(1) + " s"));
  $("#eval-tasks tbody").replaceChildren(...tasksOf(rec).map(taskRow));
  $("#eval-detail").scrollIntoView({ block: "start" });
}

// ---- two compared ------------------------------------------------------------
const delta = (a, b, fmt) => {
  const d = b - a, sign = d > 0 ? "+" : d < 0 ? "−" : "±";
  return `${fmt(a)} → ${fmt(b)} (${sign}${fmt(Math.abs(d))})`;
};
// A change of pass rate in percentage points, as `caisson eval report` says it.
const points = (d) => `${d > 0 ? "+" : d < 0 ? "−" : "±"}${Math.abs(d * 100).toFixed(1)} points`;
const meanTokens = (rec) => (typeof (rec.summary || {}).meanTokens === "number"
  ? rec.summary.meanTokens : mean(allAttempts(rec).map(tokensOf)));
const meanSeconds = (rec) => (typeof (rec.summary || {}).meanSeconds === "number"
  ? rec.summary.meanSeconds : mean(allAttempts(rec).map((a) => num(a.seconds))));

async function compareEvals() {
  let docs;
  try { docs = await Promise.all(evalState.picked.map((id) => api("GET", "/api/evals/" + encodeURIComponent(id)))); }
  catch (e) { return evalsStatus(e.message, "error"); }
  docs.sort((x, y) => (toMs(x.record && x.record.started) || 0) - (toMs(y.record && y.record.started) || 0));
  const [a, b] = docs.map((d) => d.record || {});
  const byId = (rec) => new Map(tasksOf(rec).map((t) => [String(t.id ?? ""), t]));
  const ta = byId(a), tb = byId(b);
  const counts = { fixed: 0, broken: 0, unchanged: 0, added: 0, removed: 0 };
  const rows = [];
  for (const id of new Set([...ta.keys(), ...tb.keys()])) {
    const x = ta.get(id), y = tb.get(id);
    const change = !x ? "added" : !y ? "removed" : taskPassed(x) === taskPassed(y) ? "unchanged"
      : taskPassed(y) ? "fixed" : "broken";
    counts[change]++;
    const state = (t) => (t ? `${taskPassed(t) ? "pass" : "fail"} ${passesOf(t)}/${attemptsOf(t).length}` : "—");
    rows.push(el("tr", { class: change, "data-task": id }, el("td", { class: "id" }, id),
                 el("td", {}, state(x)), el("td", {}, state(y)), el("td", { class: "change" }, change)));
  }
  const order = { broken: 0, fixed: 1, added: 2, removed: 3, unchanged: 4 };
  rows.sort((r, s) => order[r.className] - order[s.className]);
  $("#eval-detail").hidden = true;
  $("#eval-compare").hidden = false;
  $("#compare-title").textContent = `${docs[0].id} (A) → ${docs[1].id} (B)`;
  const count = (k) => el("span", { id: "compare-" + k, class: "count " + k, "data-count": counts[k] },
                          `${k} ${counts[k]}`);
  $("#compare-summary").replaceChildren(
    el("p", {}, count("fixed"), " · ", count("broken"), " · ", count("unchanged"),
       counts.added ? ` · only in B ${counts.added}` : "", counts.removed ? ` · only in A ${counts.removed}` : ""),
    el("dl", {}, el("dt", {}, "Pass rate"),
       el("dd", { id: "compare-rate" }, `${pct(passRate(a.summary) || 0)} → ${pct(passRate(b.summary) || 0)} (` +
          `${points((passRate(b.summary) || 0) - (passRate(a.summary) || 0))})`),
       el("dt", {}, "Mean tokens"),
       el("dd", { id: "compare-tokens" }, delta(meanTokens(a), meanTokens(b), (v) => String(Math.round(v)))),
       el("dt", {}, "Mean seconds"),
       el("dd", { id: "compare-seconds" }, delta(meanSeconds(a), meanSeconds(b), (v) => v.toFixed(1) + " s"))));
  $("#compare-tasks tbody").replaceChildren(...rows);
}

// ---- profiles ----------------------------------------------------------------
async function loadProfiles() {
  let state;
  try { state = await api("GET", "/api/profiles"); } catch (e) { return evalsStatus(e.message, "error"); }
  const list = Array.isArray(state.profiles) ? state.profiles : [];
  $("#profile-list").replaceChildren(...(list.length ? list.map((p) => {
    const versions = Array.isArray(p.versions) ? p.versions : [];
    return el("tr", { "data-profile": p.name, onclick: () => openProfile(p) },
      el("td", {}, String(p.name ?? "")), el("td", {}, String(p.active ?? "")),
      el("td", {}, p.candidate ? `${p.candidate} (${num(p.canaryPercent)}% of new runs)` : ""),
      el("td", {}, Array.isArray(p.previous) ? p.previous.join(", ") : ""),
      el("td", {}, String(versions.length)));
  }) : [el("tr", {}, el("td", { colspan: "5", class: "event-note" }, "no profiles stored: runs use the deployment's own settings"))]));
}

function openProfile(p) {
  const versions = (Array.isArray(p.versions) ? p.versions : []).map((v) => v.version);
  $("#profile-detail").hidden = false;
  $("#profile-detail").dataset.profile = p.name;
  $("#profile-title").textContent = `Profile ${p.name}`;
  $("#profile-versions").replaceChildren(...(p.versions || []).map((v) =>
    el("li", {}, `${v.version}` + (v.version === p.active ? " (active)" : "") +
       (v.version === p.candidate ? " (candidate)" : "") +
       ` · ${when(v.created)}` + (v.by ? ` · ${v.by}` : "") + (v.note ? ` · ${v.note}` : ""))));
  for (const [sel, pickIdx] of [["#profile-version", versions.length - 1], ["#diff-a", versions.length - 2],
                                ["#diff-b", versions.length - 1]]) {
    $(sel).replaceChildren(...versions.map((v) => el("option", { value: String(v) }, String(v))));
    $(sel).selectedIndex = Math.max(0, pickIdx);
  }
  $("#profile-view").replaceChildren();
}

const profilePath = () => "/api/profiles/" + encodeURIComponent($("#profile-detail").dataset.profile);

async function showVersion() {
  try {
    const v = await api("GET", `${profilePath()}/${encodeURIComponent($("#profile-version").value)}`);
    $("#profile-view").replaceChildren(
      el("p", { class: "event-note" }, `version ${v.version}` + (v.role ? ` · ${v.role}` : "") +
         (v.note ? ` · ${v.note}` : "") + (v.by ? ` · by ${v.by}` : "") + ` · ${when(v.created)}`),
      el("pre", { class: "profile-body" }, JSON.stringify(v.body ?? {}, null, 2)));
  } catch (e) { $("#profile-view").replaceChildren(el("p", { class: "error" }, e.message)); }
}

async function diffVersions() {
  try {
    const d = await api("GET", `${profilePath()}/diff?a=${encodeURIComponent($("#diff-a").value)}` +
                        `&b=${encodeURIComponent($("#diff-b").value)}`);
    $("#profile-view").replaceChildren(el("p", { class: "event-note" }, `version ${d.a} → ${d.b}`),
      d.diff ? renderDiff(d.diff) : el("p", { class: "event-note" }, "the two versions are equal"));
  } catch (e) { $("#profile-view").replaceChildren(el("p", { class: "error" }, e.message)); }
}

function loadEvalsView() {
  $("#eval-detail").hidden = $("#eval-compare").hidden = $("#profile-detail").hidden = true;
  loadEvals();
  loadProfiles();
}

document.querySelector('nav button[data-view="evals"]').addEventListener("click", loadEvalsView);
$("#evals-refresh").onclick = loadEvalsView;
$("#evals-compare").onclick = compareEvals;
$("#profile-show").onclick = showVersion;
$("#profile-diff").onclick = diffVersions;
})();
