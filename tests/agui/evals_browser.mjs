// The web UI's Evals view in headless Chromium (Debian's chromium, driven
// by playwright-core), over what test_api_evals stored for alice: three
// evals (a-base: 4 tasks x 2 attempts on default@1; a-cand: 4 tasks x 1
// attempt on default@2, fixing two tasks and breaking one; a-live, still
// running: listed, not charted), bob's one (never shown), and the profile
// `web` (versions 1 and 2, 1 active). The list and the pass-rate chart (a
// point per finished eval, a series per profile version); one eval opened
// (per-task table, causes, token and runtime histograms whose bars count
// every attempt); two compared (fixed 2, broken 1, unchanged 1); the
// profile shown and diffed; and a task id, test output, patch and note
// holding markup shown as text, no element made of them.
//   node evals_browser.mjs BASE_URL TOKEN OUTDIR
// Exits 0 when every expectation held, 1 with the reasons otherwise.
import { openPage, until, finish } from "./browser_util.mjs";

const [base, token, outdir] = process.argv.slice(2);
const { browser, page, problems, fail } = await openPage(outdir);
const expect = (what, got, want) => { if (got !== want) fail(`${what}: got ${got}, wanted ${want}`); };
const XSS = "<img src=x onerror=window.__pwned=1>";
const count = (sel) => page.$$eval(sel, (els) => els.length);
const sumCounts = (sel) => page.$$eval(sel, (els) => els.reduce((n, e) => n + Number(e.dataset.count), 0));
const text = (sel) => page.textContent(sel);

try {
  await page.goto(`${base}/#token=${token}`);
  await page.click('nav button[data-view="evals"]');
  await until("three evals listed", async () => (await count("#eval-list tr")) === 3);
  expect("bob's eval listed", await count('#eval-list tr[data-eval="b-one"]'), 0);
  expect("rows in order", (await page.$$eval("#eval-list tr", (r) => r.map((x) => x.dataset.eval))).join(),
         "a-live,a-cand,a-base");
  if (!(await text('#eval-list tr[data-eval="a-base"]')).includes("37.5%")) fail("a-base's pass rate is not 37.5%");
  // the trend: a point per finished eval (not a-live), a series per profile version
  expect("trend points", await count("#eval-trend svg circle.point"), 2);
  expect("trend series", await count("#eval-trend svg g.series"), 2);
  const series = await page.$$eval("#eval-trend g.series", (g) => g.map((x) => x.dataset.series).sort().join());
  expect("series names", series, "default@1,default@2");

  // one eval opened
  await page.click('#eval-list tr[data-eval="a-base"] td.id');
  await until("a-base's tasks", async () => (await count("#eval-tasks tbody tr")) === 4);
  expect("title", await text("#eval-title"), "Eval a-base");
  if (!(await text("#eval-summary")).includes("pass@2 50.0%")) fail("pass@2 is not 50.0%");
  expect("token bars", await count("#eval-tokens svg rect.bar"), 3);
  expect("attempts in the token bars", await sumCounts("#eval-tokens svg rect.bar"), 8);
  expect("runtime bars", await count("#eval-seconds svg rect.bar"), 3);
  expect("attempts in the runtime bars", await sumCounts("#eval-seconds svg rect.bar"), 8);
  expect("causes", await page.$$eval("#eval-causes li", (l) => l.map((x) => x.textContent).sort().join()),
         "budget_exhausted: 1,tests_failed: 2,timeout: 2");
  const rows = await page.$$eval("#eval-tasks tbody tr", (r) => r.map((x) =>
    [...x.cells].map((c) => c.textContent)));
  const js = rows.find((r) => r[0] === "js-sum");
  if (!js) fail("no row for js-sum");
  else {
    expect("js-sum passes", js[2], "0/2");
    expect("js-sum cause", js[3], "tests_failed (2)");
    expect("js-sum mean tokens", js[4], "3001");
    expect("js-sum mean seconds", js[5], "30.5");
  }
  // the hostile task id and output are text
  const hostile = rows.find((r) => r[0] === XSS);
  if (!hostile) fail("the task id with markup is not shown as its text");
  await page.click(`#eval-tasks tbody tr[data-task="${XSS}"]`);
  await until("the attempts", async () => (await count("#eval-tasks tr.attempts td > pre")) === 2);
  if (!(await text("#eval-tasks tr.attempts")).includes("<script>window.__pwned=2</script>"))
    fail("the test output is not shown as text");
  expect("patches", await count("#eval-tasks tr.attempts details pre.diff"), 2);
  if (!(await text("#eval-tasks tr.attempts details")).includes("+<img src=y onerror=window.__pwned=3>"))
    fail("the patch is not shown as text");
  expect("img elements", await count("#view-evals img"), 0);
  expect("script elements in the view", await count("#view-evals script"), 0);
  expect("window.__pwned", await page.evaluate(() => window.__pwned), undefined);
  await page.screenshot({ path: `${outdir}/eval.png`, fullPage: true });

  // the two compared
  await page.check('#eval-list tr[data-eval="a-base"] input');
  await page.check('#eval-list tr[data-eval="a-cand"] input');
  await page.click("#evals-compare");
  await until("the comparison", async () => (await count("#compare-tasks tbody tr")) === 4);
  expect("fixed", await page.getAttribute("#compare-fixed", "data-count"), "2");
  expect("broken", await page.getAttribute("#compare-broken", "data-count"), "1");
  expect("unchanged", await page.getAttribute("#compare-unchanged", "data-count"), "1");
  expect("broken task", await page.$$eval("#compare-tasks tr.broken", (r) => r.map((x) => x.dataset.task).join()),
         "py-fizzbuzz");
  expect("pass rate change", await text("#compare-rate"), "37.5% → 75.0% (+37.5 points)");
  expect("A and B", await text("#compare-title"), "a-base (A) → a-cand (B)");
  await page.screenshot({ path: `${outdir}/compare.png`, fullPage: true });

  // the profile: listed, a version shown, two diffed
  await until("the profile web", async () => (await count('#profile-list tr[data-profile="web"]')) === 1);
  const web = await page.$$eval('#profile-list tr[data-profile="web"] td', (t) => t.map((x) => x.textContent));
  expect("web active", web[1], "1");
  expect("web versions", web[4], "2");
  await page.click('#profile-list tr[data-profile="web"]');
  await until("the versions", async () => (await count("#profile-version option")) === 2);
  await page.selectOption("#profile-version", "2");
  await page.click("#profile-show");
  await until("version 2 shown", async () => (await count("#profile-view pre.profile-body")) === 1);
  if (!(await text("#profile-view pre")).includes("You are v2.")) fail("version 2's prompt is not shown");
  if (!(await text("#profile-view")).includes("second <b>bold</b>")) fail("the note is not shown as text");
  expect("b elements", await count("#profile-view b"), 0);
  await page.selectOption("#diff-a", "1");
  await page.selectOption("#diff-b", "2");
  await page.click("#profile-diff");
  await until("the diff", async () => (await count("#profile-view pre.diff")) === 1);
  const added = await page.$$eval("#profile-view pre.diff span.add", (s) => s.map((x) => x.textContent).join(""));
  if (!added.includes("You are v2.")) fail("the diff does not add v2's line");
  await page.screenshot({ path: `${outdir}/profile.png`, fullPage: true });
} catch (e) { fail(String(e)); }
await finish(browser, problems);
