// What the browser scripts share: headless Chromium (Debian's chromium,
// driven by playwright-core) with one page whose uncaught errors are
// recorded as problems, a poll the page's CSP allows, and the ending that
// reports the problems through the exit status.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

// Makes outdir, launches Chromium and opens a 1200x900 page. Returns
// { browser, page, problems, fail }: problems collects what went wrong
// (a page error among them), fail(message) adds to it.
export async function openPage(outdir) {
  mkdirSync(outdir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  return { browser, page, problems, fail: (m) => problems.push(m) };
}

// Polls check (an async function) every 100 ms until it holds, 10 s at
// most, then throws naming what; the page's CSP forbids the eval that
// page.waitForFunction needs.
export async function until(what, check) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out waiting for " + what);
}

// Closes the browser; with problems, prints them and exits 1.
export async function finish(browser, problems) {
  await browser.close();
  if (problems.length) {
    console.error(problems.join("\n"));
    process.exit(1);
  }
}
