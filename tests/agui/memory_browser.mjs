// The web UI's Memory view in headless Chromium (Debian's chromium, driven
// by playwright-core): opens it, edits and saves the working memory, and
// sees a change made meanwhile refused rather than overwritten.
//   node memory_browser.mjs BASE_URL TOKEN OUTDIR
// Exits 0 when every expectation held, 1 with the reason otherwise.
import { openPage, until, finish } from "./browser_util.mjs";

const [base, token, outdir] = process.argv.slice(2);
const { browser, page, problems, fail } = await openPage(outdir);
const memoryApi = (method, body) => page.evaluate(async ([m, b, tok]) => {
  const r = await fetch("/api/memory", { method: m, body: b ? JSON.stringify(b) : undefined,
    headers: { Authorization: "Bearer " + tok, "Content-Type": "application/json" } });
  return { status: r.status, doc: await r.json() };
}, [method, body, token]);
const status = () => page.textContent("#memory-status");

try {
  await page.goto(`${base}/#token=${token}`);
  const before = (await memoryApi("GET")).doc;
  await page.click('nav button[data-view="memory"]');
  await until("the memory to load", async () => (await status()).startsWith(`version ${before.version},`));
  if ((await page.inputValue("#memory-text")) !== before.content) fail("the page shows another text");
  await page.fill("#memory-text", "- edited in the browser\n");
  await page.click("#memory-save");
  await until("the save", async () => (await status()).startsWith("saved"));
  const saved = (await memoryApi("GET")).doc;
  if (saved.content !== "- edited in the browser\n" || saved.version !== before.version + 1)
    fail(`after save: ${JSON.stringify(saved)}`);
  await page.screenshot({ path: `${outdir}/memory.png`, fullPage: true });
  // someone else changes it; the page's next save must not overwrite that
  await memoryApi("PUT", { content: "- changed elsewhere\n", version: saved.version });
  await page.fill("#memory-text", "- second browser edit\n");
  await page.click("#memory-save");
  await page.waitForSelector("#memory-status.error");
  if (!/version/.test(await page.textContent("#memory-status"))) fail("no conflict shown");
  if ((await memoryApi("GET")).doc.content !== "- changed elsewhere\n") fail("overwritten");
  await page.click("#memory-reload");
  await until("the reload", async () => (await page.inputValue("#memory-text"))
                                       === "- changed elsewhere\n");
} catch (e) { fail(String(e)); }
await finish(browser, problems);
