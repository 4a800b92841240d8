// The web UI's Usage view in headless Chromium (Debian's chromium, driven
// by playwright-core): budget bars, spend by model and key, and the
// person's keys: one created from the form shows its secret once (gone
// after a refresh, never in the list), then is revoked from its row.
//   node usage_browser.mjs BASE_URL TOKEN USER OUTDIR
// Exits 0 when every expectation held, 1 with the reason otherwise.
import { openPage, until, finish } from "./browser_util.mjs";

const [base, token, user, outdir] = process.argv.slice(2);
const { browser, page, problems, fail } = await openPage(outdir);
const count = (sel) => page.$$eval(sel, (els) => els.length);

try {
  await page.goto(`${base}/#token=${token}`);
  await page.click('nav button[data-view="usage"]');
  await until("a budget bar", async () => (await count(`#budget-list li[data-scope="user.${user}"] progress`)) === 1);
  await until("spend by model", async () => /replay\/demo/.test(await page.textContent("#spend-tables")));
  const before = await count("#key-list tr");
  await page.fill("#key-name", "from-browser");
  await page.fill("#key-usd", "0.5");
  await page.click("#key-create");
  await until("the secret", async () => (await page.textContent("#key-secret-text")).startsWith(`vk_${user}_`));
  const secret = await page.textContent("#key-secret-text");
  await until("the new key listed", async () => (await count("#key-list tr")) === before + 1);
  if ((await page.textContent("#key-list")).includes(secret)) fail("the secret is in the key list");
  await page.screenshot({ path: `${outdir}/usage.png`, fullPage: true });
  await page.click("#usage-refresh");
  await until("the secret gone", async () => (await page.textContent("#key-secret-text")) === "");
  if ((await page.content()).includes(secret)) fail("the secret is still on the page");
  const row = await page.$$eval("#key-list tr", (rows) => rows.find((r) => r.textContent.includes("from-browser"))?.dataset.key);
  if (!row) throw new Error("no row for the new key");
  await page.click(`#key-list tr[data-key="${row}"] button`);
  await until("the key revoked", async () => (await count(`#key-list tr[data-key="${row}"]`)) === 0);
} catch (e) { fail(String(e)); }
await finish(browser, problems);
