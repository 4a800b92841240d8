// The web UI in headless Chromium (Debian's chromium, driven by
// playwright-core): loads the page with a token in the URL, and walks the
// given scenario, keeping a screenshot of each screen under OUTDIR.
//   node browser.mjs BASE_URL TOKEN OUTDIR sandboxes SANDBOX_ID
//   node browser.mjs BASE_URL TOKEN OUTDIR replay RUN_ID ARTIFACT_BYTES
//   node browser.mjs BASE_URL TOKEN OUTDIR approval RUN_ID PATCH_LINE...
//   node browser.mjs BASE_URL TOKEN OUTDIR run TASK
//   node browser.mjs BASE_URL TOKEN OUTDIR thread FIRST FOLLOWUP ANSWER
// Exits 0 when every expectation held, 1 with the reason otherwise.
import { readFileSync } from "node:fs";
import { openPage, until, finish } from "./browser_util.mjs";

const [base, token, outdir, scenario, arg, ...more] = process.argv.slice(2);
const { browser, page, problems } = await openPage(outdir);
page.on("requestfailed", (r) => {
  if (!r.url().startsWith(base)) problems.push("request outside the bridge: " + r.url());
});
const shot = (name) => page.screenshot({ path: `${outdir}/${name}.png`, fullPage: true });

// The run as the page renders it, checked against the stored transcript
// (GET /api/runs/ID/transcript?format=jsonl): every element that shows a
// stored event names it (data-seq, data-kind), in stored order, each once;
// no provisional (streamed, not yet stored) text is left; each model text
// (plan, turn text, and so the answer) is on the page exactly once; and
// no decided approval still offers its buttons. Returns [seq, kind] pairs.
async function rendered(runId, label) {
  const stored = await page.evaluate(async ([id, tok]) => {
    const r = await fetch(`/api/runs/${id}/transcript?format=jsonl`,
      { headers: { Authorization: "Bearer " + tok } });
    return (await r.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l));
  }, [runId, token]);
  const shown = await page.$$eval("#transcript [data-seq]",
    (els) => els.map((e) => [Number(e.dataset.seq), e.dataset.kind]));
  const text = await page.textContent("#transcript");
  const bad = (m) => problems.push(`${label}: ${m}`);
  shown.forEach(([seq, kind], i) => {
    if (i && seq <= shown[i - 1][0]) bad(`event ${seq} shown after ${shown[i - 1][0]}`);
    const e = stored.find((x) => x.run_seq === seq);
    if (!e || e.kind !== kind) bad(`shown ${kind} ${seq} is not stored so`);
  });
  for (const e of stored) {
    const wanted = ["run_started", "tool_call", "ask_approval", "complete", "failed"];
    if (wanted.includes(e.kind) && !shown.some(([seq]) => seq === e.run_seq))
      bad(`stored ${e.kind} ${e.run_seq} not shown`);
    if (e.kind !== "text" && e.kind !== "plan") continue;
    const t = e.data.text.trim(), n = text.split(t).length - 1;
    if (n !== 1) bad(`model text shown ${n} times: ${JSON.stringify(t)}`);
  }
  if (await page.$("#transcript .provisional")) bad("provisional text left on the page");
  if (await page.$(".approval button:not([disabled])")) bad("a decided approval offers buttons");
  return shown;
}

try {
  await page.goto(`${base}/#token=${token}`);
  await page.waitForSelector("header h1");
  await shot("01-chat");
  if (scenario === "sandboxes") {
    await page.click("nav button[data-view=sandboxes]");
    await page.waitForSelector(`#sandbox-list li:has-text("${arg}")`, { timeout: 10000 });
    await shot("02-sandboxes");
    await page.click("nav button[data-view=runs]");
    await page.waitForSelector("#runs-table");
    await shot("03-runs");
  } else if (scenario === "replay") {
    await page.click("nav button[data-view=runs]");
    await page.click(`#runs-table tr[data-run="${arg}"]`, { timeout: 10000 });
    await page.waitForSelector("details.tool", { timeout: 10000 });
    await page.waitForSelector(".msg.assistant", { timeout: 10000 });
    await page.waitForSelector("#run-status.completed", { timeout: 10000 });
    await page.click("details.tool summary");
    await page.waitForSelector(".artifacts details summary", { timeout: 10000 });
    await page.click(".artifacts details summary");
    await page.waitForSelector(".artifacts pre.diff .add", { timeout: 10000 });
    // The artifact's link downloads its bytes (the API wants the token).
    const [download] = await Promise.all([
      page.waitForEvent("download", { timeout: 10000 }),
      page.click(".artifacts a.download"),
    ]);
    const bytes = readFileSync(await download.path(), "utf8");
    if (bytes !== more[0]) problems.push(`downloaded ${JSON.stringify(bytes)}, not the artifact`);
    if (!download.suggestedFilename().endsWith(".diff"))
      problems.push("a diff downloads as " + download.suggestedFilename());
    await shot("02-replay");
    await page.click("nav button[data-view=runs]");
    await shot("03-dashboard");
  } else if (scenario === "approval") {
    // An approval that carries the change shows it as a diff view: the
    // files with their counts, and each given line of the patch, coloured.
    await page.click("nav button[data-view=runs]");
    await page.click(`#runs-table tr[data-run="${arg}"]`, { timeout: 10000 });
    await page.waitForSelector(".approval pre.diff", { timeout: 10000 });
    const lines = await page.$$eval(".approval pre.diff span",
      (els) => els.map((e) => [e.className, e.textContent.replace(/\n$/, "")]));
    for (const want of more) {
      const cls = want.startsWith("+++ ") || want.startsWith("--- ") || want.startsWith("diff ")
        ? "file" : want.startsWith("+") ? "add" : want.startsWith("-") ? "del" : "";
      if (!lines.some(([c, t]) => t === want && c === cls))
        problems.push(`diff line ${JSON.stringify(want)} not shown as ${cls || "context"}`);
    }
    const files = await page.textContent(".approval .change ul.files");
    if (!/a\.py\s*\+1\s*-1/.test(files)) problems.push("file counts not shown: " + files);
    await shot("02-approval-diff");
  } else if (scenario === "run") {
    // Shift+Enter is a new line; Enter sends.
    await page.fill("#task", "first line");
    await page.press("#task", "Shift+Enter");
    if ((await page.inputValue("#task")) !== "first line\n") problems.push("Shift+Enter did not add a line");
    await page.fill("#task", arg);
    await page.press("#task", "Enter");
    await page.waitForSelector(".msg.assistant", { timeout: 20000 });
    await page.waitForSelector("details.tool", { timeout: 20000 });
    await shot("02-streaming");
    await page.waitForSelector(".approval button.approve", { timeout: 30000 });
    await shot("03-approval");
    await page.click(".approval button.approve");
    await page.waitForSelector("#run-status.completed", { timeout: 60000 });
    await page.waitForTimeout(500);     // anything late would land now
    await shot("04-completed");
    const runId = (await page.textContent("#run-title")).replace("Run ", "").trim();
    const live = await rendered(runId, "live");
    await page.click("nav button[data-view=runs]");
    await page.click(`#runs-table tr[data-run="${runId}"]`, { timeout: 10000 });
    await page.waitForSelector("details.tool", { timeout: 20000 });
    await page.waitForSelector("#run-status.completed", { timeout: 20000 });
    await page.waitForSelector(".approval .decision", { timeout: 10000 });
    await page.waitForTimeout(300);
    await shot("05-replay");
    const replay = await rendered(runId, "replay");
    if (JSON.stringify(live) !== JSON.stringify(replay))
      problems.push(`live and replay differ:\n${JSON.stringify(live)}\n${JSON.stringify(replay)}`);
  } else if (scenario === "thread") {
    // A conversation: the follow-up continues the thread (its request
    // carries the threadId, and the scripted model answers ANSWER only when
    // it was sent the first exchange); "New chat" starts another thread;
    // the list shows both, latest first; after a reload, opening the first
    // thread shows its whole conversation and a message continues it.
    const [followup, answer] = more;
    const posted = [];
    page.on("request", (r) => {
      if (r.method() === "POST" && r.url().endsWith("/api/runs")) posted.push(JSON.parse(r.postData()));
    });
    const threadIds = () => page.$$eval("#thread-list li", (els) => els.map((e) => e.dataset.thread));
    const send = async (text, status) => {
      const runs = (await page.$$("#transcript .run")).length;
      await page.fill("#task", text);
      await page.press("#task", "Enter");
      await until("the run's box", async () => (await page.$$("#transcript .run")).length > runs);
      await page.waitForSelector(`#transcript .run:last-child [data-kind=${status === "completed"
        ? "complete" : "failed"}]`, { timeout: 30000 });
    };
    await send(arg, "completed");
    await page.waitForSelector(`#thread-list li.active:has-text("${arg}")`, { timeout: 10000 });
    const first = await page.getAttribute("#thread-list li.active", "data-thread");
    await send(followup, "completed");
    await page.waitForSelector(`#transcript .msg.assistant:has-text("${answer}")`, { timeout: 10000 });
    if (posted[1]?.threadId !== first) problems.push("the follow-up did not name the thread: " + JSON.stringify(posted[1]));
    if ((await page.$$("#transcript .msg.user")).length !== 2) problems.push("the first exchange left the page");
    await shot("02-followup");
    await page.click("#new-chat");
    if ((await page.$$("#transcript .run")).length) problems.push("New chat kept the old conversation");
    await send(followup, "failed");       // a new thread: nothing earlier to answer from
    if (posted[2]?.threadId) problems.push("a new chat sent a threadId: " + posted[2].threadId);
    await until("both threads listed, the new one first", async () => {
      const ids = await threadIds();
      return ids.length >= 2 && ids[0] !== first && ids[1] === first;
    });
    await shot("03-new-chat");
    await page.reload();
    await page.click(`#thread-list li[data-thread="${first}"]`, { timeout: 10000 });
    await page.waitForSelector(`#transcript .msg.assistant:has-text("${answer}")`, { timeout: 10000 });
    const users = await page.$$eval("#transcript .msg.user", (els) => els.map((e) => e.textContent));
    if (JSON.stringify(users) !== JSON.stringify([arg, followup])) problems.push("reopened thread shows " + JSON.stringify(users));
    await send(followup, "completed");
    if (posted[3]?.threadId !== first) problems.push("a message in a reopened thread did not continue it");
    await shot("04-reopened");
  } else {
    throw new Error("unknown scenario " + scenario);
  }
} catch (e) {
  problems.push(e.message);
  await shot("failure").catch(() => {});
}
await finish(browser, problems);
console.log("browser: ok");
