// The web UI in headless Chromium (Debian's chromium, driven by
// playwright-core): loads the page with a token in the URL, and walks the
// given scenario, keeping a screenshot of each screen under OUTDIR.
//   node browser.mjs BASE_URL TOKEN OUTDIR sandboxes SANDBOX_ID
//   node browser.mjs BASE_URL TOKEN OUTDIR replay RUN_ID
//   node browser.mjs BASE_URL TOKEN OUTDIR run TASK
// Exits 0 when every expectation held, 1 with the reason otherwise.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, token, outdir, scenario, arg] = process.argv.slice(2);
mkdirSync(outdir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
const problems = [];
page.on("pageerror", (e) => problems.push("page error: " + e.message));
page.on("requestfailed", (r) => {
  if (!r.url().startsWith(base)) problems.push("request outside the bridge: " + r.url());
});
const shot = (name) => page.screenshot({ path: `${outdir}/${name}.png`, fullPage: true });

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
    await shot("02-replay");
    await page.click("nav button[data-view=runs]");
    await shot("03-dashboard");
  } else if (scenario === "run") {
    await page.fill("#task", arg);
    await page.click("#send");
    await page.waitForSelector(".msg.assistant", { timeout: 20000 });
    await page.waitForSelector("details.tool", { timeout: 20000 });
    await shot("02-streaming");
    await page.waitForSelector(".approval button.approve", { timeout: 30000 });
    await shot("03-approval");
    await page.click(".approval button.approve");
    await page.waitForSelector("#run-status.completed", { timeout: 60000 });
    await shot("04-completed");
    const runId = (await page.textContent("#run-title")).replace("Run ", "").trim();
    await page.click("nav button[data-view=runs]");
    await page.click(`#runs-table tr[data-run="${runId}"]`, { timeout: 10000 });
    await page.waitForSelector("details.tool", { timeout: 20000 });
    await shot("05-replay");
  } else {
    throw new Error("unknown scenario " + scenario);
  }
} catch (e) {
  problems.push(e.message);
  await shot("failure").catch(() => {});
}
await browser.close();
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("browser: ok");
