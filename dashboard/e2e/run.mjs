// The dashboard's end-to-end scenarios, in Debian's chromium driven by playwright-core, against
// a running `stackhouse serve` that the real Python sentry-sdk filled (scripts/e2e.sh sets it
// up). Each scenario prints PASS/FAIL/SKIP with its reason; the last line is
// "e2e: N passed, N failed, N skipped"; the exit code is 1 when any failed.
//
// Environment: STACKHOUSE_URL (the server), E2E_DSN (the project's DSN), E2E_TOKEN (an API
// token, empty for a dev-mode or token-less server), E2E_SEND_AGAIN (a command that makes the
// SDK send its errors once more), CHROMIUM (default /usr/bin/chromium), UPDATE_SCREENSHOTS=1 to
// copy the screenshots into dashboard/screenshots/.

import { copyFileSync, mkdirSync } from "node:fs";
import { execSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./browser.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "out");
const committedDir = join(here, "..", "screenshots");
mkdirSync(outDir, { recursive: true });

const base = process.env.STACKHOUSE_URL ?? "http://127.0.0.1:8000";
const dsn = process.env.E2E_DSN ?? "";
const token = process.env.E2E_TOKEN || null;
const sendAgain = process.env.E2E_SEND_AGAIN ?? "";
const projectId = dsn.split("/").pop() || "1";

/** The issues send_errors.py produces: exception type, in-app function, events. */
const EXPECTED = [
  { bug: "quantity", type: "ValueError", fn: "parse_quantity", events: 5 },
  { bug: "coupon", type: "ValueError", fn: "apply_coupon", events: 3 },
  { bug: "report", type: "ZeroDivisionError", fn: "average_basket", events: 1 },
];

class Skip extends Error {}

async function screenshot(page, name, { keep = true } = {}) {
  const file = join(outDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (keep && process.env.UPDATE_SCREENSHOTS === "1") {
    mkdirSync(committedDir, { recursive: true });
    copyFileSync(file, join(committedDir, `${name}.png`));
  }
}

/** Reads the issue table: one entry per row. */
async function issueRows(page) {
  return page.$$eval("[data-testid=issues-table] tbody tr", (rows) =>
    rows.map((row) => ({
      id: row.getAttribute("data-issue-id"),
      title: row.querySelector(".issue-title")?.textContent ?? "",
      culprit: row.querySelector(".culprit")?.textContent ?? "",
      events: Number(row.querySelector("[data-testid=events]")?.textContent),
      status: row.querySelector("[data-testid=status]")?.textContent ?? "",
    })),
  );
}

/** Reloads the list until `ready(rows)` (ingest is asynchronous), at most `seconds`. */
async function waitForRows(page, url, ready, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  let rows = [];
  for (;;) {
    await page.goto(url);
    await page.waitForSelector("[data-testid=issues-table], .state-empty, .state-error", { timeout: 10_000 });
    const error = await page.$(".state-error");
    if (error) throw new Error(`the list shows an error: ${(await error.textContent())?.trim()}`);
    rows = await issueRows(page);
    if (ready(rows)) return rows;
    if (Date.now() > deadline) return rows;
    await page.waitForTimeout(500);
  }
}

function describeRows(rows) {
  return rows.map((r) => `${r.title} (${r.events}, ${r.status})`).join("; ");
}

const listUrl = `${base}/issues?project=${projectId}`;
const ids = {};

const scenarios = [
  {
    name: "the server serves the app: SPA fallback, content types, cached assets, JSON 404 for API paths",
    async run() {
      const index = await fetch(`${base}/issues/12345?status=NEW`);
      const html = await index.text();
      if (index.status !== 200 || !index.headers.get("content-type")?.startsWith("text/html")) {
        throw new Error(`/issues/12345 answered ${index.status} ${index.headers.get("content-type")}`);
      }
      const script = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
      if (!script) throw new Error("index.html names no /assets/*.js (is the dashboard built?)");
      const asset = await fetch(base + script);
      if (!/javascript/.test(asset.headers.get("content-type") ?? "")) throw new Error(`${script} has content type ${asset.headers.get("content-type")}`);
      if (!/immutable/.test(asset.headers.get("cache-control") ?? "")) throw new Error(`${script} has cache-control ${asset.headers.get("cache-control")}`);
      const api = await fetch(`${base}/api/1/nothing-here`);
      if (api.status !== 404 || !/json/.test(api.headers.get("content-type") ?? "")) throw new Error(`/api/1/nothing-here answered ${api.status}`);
    },
  },
  {
    name: "the issue list shows the SDK's three issues with their event counts",
    async run(page) {
      const rows = await waitForRows(page, listUrl, (rows) => rows.reduce((n, r) => n + r.events, 0) >= 9);
      await screenshot(page, "issues");
      if (rows.length !== EXPECTED.length) throw new Error(`expected ${EXPECTED.length} issues, the list shows ${rows.length}: ${describeRows(rows)}`);
      for (const expected of EXPECTED) {
        const row = rows.find((r) => r.title.includes(expected.type) && r.culprit.includes(expected.fn));
        if (!row) throw new Error(`no ${expected.type} issue in ${expected.fn}: ${describeRows(rows)}`);
        if (row.events !== expected.events) throw new Error(`${expected.bug}: ${row.events} events shown, ${expected.events} sent`);
        ids[expected.bug] = row.id;
      }
    },
  },
  {
    name: "keyboard: j moves down, enter opens the issue",
    async run(page) {
      await page.goto(listUrl);
      await page.waitForSelector("[data-testid=issues-table] tbody tr");
      const rows = await issueRows(page);
      await page.keyboard.press("j");
      await page.keyboard.press("Enter");
      await page.waitForURL(`**/issues/${rows[1].id}`, { timeout: 5000 });
    },
  },
  {
    name: "opening an issue shows its stack trace (in-app frame with its context line)",
    async run(page) {
      if (!ids.quantity) throw new Skip("the list scenario did not find the issue");
      await page.goto(`${base}/issues/${ids.quantity}`);
      await page.waitForSelector("[data-testid=exceptions], .state-error", { timeout: 10_000 });
      const text = await page.textContent("[data-testid=exceptions]");
      if (!text?.includes("ValueError")) throw new Error("the exception type is not shown");
      const inApp = await page.$$eval("[data-testid=frame].in-app .frame-fn", (els) => els.map((e) => e.textContent));
      if (!inApp.includes("parse_quantity")) throw new Error(`in-app frames shown: ${inApp.join(", ")}`);
      const current = await page.textContent(".context-line.current");
      if (!current?.includes("int(raw)")) throw new Error(`the failing line is not shown (got ${JSON.stringify(current)})`);
      const count = await page.textContent("[data-testid=issue-count]");
      if (count !== "5") throw new Error(`the issue page says ${count} events`);
      await screenshot(page, "issue");
    },
  },
  {
    name: "resolve, then a new event, shows Regressed",
    async run(page) {
      if (!ids.report) throw new Skip("the list scenario did not find the issue");
      await page.goto(`${base}/issues/${ids.report}`);
      await page.waitForSelector("[data-testid=issue-title]");
      const resolve = page.locator(".lifecycle button", { hasText: "Resolve" });
      if ((await resolve.count()) === 0) {
        const note = (await page.textContent(".state-unavailable"))?.trim();
        throw new Error(`no Resolve action: ${note ?? "the lifecycle controls are missing"}`);
      }
      await resolve.click();
      await page.waitForFunction(() => document.querySelector(".issue-head [data-testid=status]")?.textContent === "resolved", null, { timeout: 10_000 });
      await screenshot(page, "issue-resolved");
      execSync(sendAgain, { stdio: "inherit" });
      const deadline = Date.now() + 30_000;
      for (;;) {
        await page.reload();
        await page.waitForSelector(".issue-head [data-testid=status]");
        const status = await page.textContent(".issue-head [data-testid=status]");
        if (status === "regressed") break;
        if (Date.now() > deadline) throw new Error(`after a new event the issue is ${status}`);
        await page.waitForTimeout(500);
      }
      const rows = await waitForRows(page, `${listUrl}&status=REGRESSED`, (rows) => rows.some((r) => r.id === ids.report), 10);
      if (!rows.some((r) => r.id === ids.report && r.status === "regressed")) throw new Error(`the list filtered on regressed shows: ${describeRows(rows)}`);
      await screenshot(page, "issues-regressed");
    },
  },
  {
    name: "a SQL query returns rows",
    async run(page) {
      await page.goto(`${base}/query`);
      await page.click("text=Errors per release");
      await page.waitForSelector("[data-testid=sql-table], .state-error", { timeout: 15_000 });
      const error = await page.$(".state-error");
      if (error) throw new Error((await error.textContent())?.trim());
      await screenshot(page, "sql");
      const rows = await page.$$eval("[data-testid=sql-table] tbody tr", (rows) => rows.map((r) => r.textContent));
      if (!rows.some((r) => r.includes("shop-python@1.2.3"))) throw new Error(`no row for the SDK's release shop-python@1.2.3: ${rows.join(" | ")}`);
    },
  },
  {
    name: "the projects page shows the project's DSN and SDK set-up",
    async run(page) {
      await page.goto(`${base}/projects`);
      await page.waitForSelector("[data-testid=dsn]");
      const shown = await page.$$eval("[data-testid=dsn]", (els) => els.map((e) => e.textContent));
      if (!shown.includes(dsn)) throw new Error(`DSNs shown: ${shown.join(", ")}; expected ${dsn}`);
      const snippet = await page.textContent("pre.snippet");
      if (!snippet?.includes(`sentry_sdk.init(dsn="${dsn}"`)) throw new Error("the Python snippet does not carry the DSN");
      await screenshot(page, "projects");
    },
  },
  {
    name: "an alert rule can be created",
    async run(page) {
      await page.goto(`${base}/alerts`);
      await page.waitForSelector(".alerts-page");
      await screenshot(page, "alerts");
      const unavailable = await page.$(".state-unavailable");
      if (unavailable) throw new Skip(`alerting is not implemented on the server yet (a later issue); the page says: ${(await unavailable.textContent())?.trim()}`);
      throw new Error("the server has alert fields but this dashboard has no rule editor yet");
    },
  },
];

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
if (token) {
  await context.addInitScript((value) => localStorage.setItem("stackhouse.token", value), token);
}
const page = await context.newPage();
const consoleErrors = [];
page.on("pageerror", (error) => consoleErrors.push(String(error)));

let passed = 0;
let failed = 0;
let skipped = 0;
for (const scenario of scenarios) {
  const started = Date.now();
  try {
    await scenario.run(page);
    passed++;
    console.log(`PASS  ${scenario.name} (${Date.now() - started} ms)`);
  } catch (error) {
    if (error instanceof Skip) {
      skipped++;
      console.log(`SKIP  ${scenario.name}: ${error.message}`);
    } else {
      failed++;
      console.log(`FAIL  ${scenario.name}: ${error?.message ?? error}`);
      await screenshot(page, `failed-${passed + failed + skipped}`, { keep: false }).catch(() => {});
    }
  }
}
if (consoleErrors.length) console.log(`page errors seen: ${consoleErrors.join(" | ")}`);
await browser.close();
console.log(`e2e: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
