// How fast the issue list renders a large project: the built app (dist/) in chromium with the
// API mocked — 100,000 issues in totalCount, a 50-row page, then a 1,000-row page. Measures
// in the page, from the moment the Issues response body has arrived to the moment the table
// holds every row (urql's parse + React render + commit). Prints the medians and maxima of 5
// runs, the gzip size of the JavaScript bundle, and fails when the first page takes a second or
// more or the bundle reaches 500 KB gzip (the issue's budgets).

import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./browser.mjs";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
const ORIGIN = "http://dashboard.test";
const TOTAL = 100_000;
const RUNS = 5;
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };

function issue(i) {
  const now = Date.now();
  return {
    __typename: "Issue",
    id: String(i + 1),
    projectId: "1",
    title: `ValueError: invalid literal for int() with base 10: 'x${1000 + i}'`,
    culprit: `shop.checkout in parse_quantity_${i % 97}`,
    level: ["error", "warning", "fatal", "info"][i % 4],
    platform: "python",
    status: ["NEW", "ACKNOWLEDGED", "REGRESSED", "RESOLVED", "IGNORED"][i % 5],
    count: (i * 7919) % 100_000,
    userCount: (i * 31) % 5000,
    firstSeen: new Date(now - (i + 10) * 3600_000).toISOString(),
    lastSeen: new Date(now - i * 60_000).toISOString(),
    sparkline: Array.from({ length: 24 }, (_, h) => (i * 13 + h * 7) % 50),
  };
}

const capabilities = {
  __schema: {
    __typename: "__Schema",
    queryType: { __typename: "__Type", fields: [{ __typename: "__Field", name: "issues", args: [{ __typename: "__InputValue", name: "filter" }] }, { __typename: "__Field", name: "projects", args: [] }] },
    mutationType: { __typename: "__Type", fields: [{ __typename: "__Field", name: "resolveIssues" }] },
    subscriptionType: null,
  },
  issueType: { __typename: "__Type", fields: ["history", "tags", "trend", "eventPage"].map((name) => ({ __typename: "__Field", name })) },
};
const projects = { projects: [{ __typename: "Project", id: "1", name: "big", createdAt: new Date().toISOString(), dsns: ["http://k@127.0.0.1:8000/1"] }] };

async function measure(browser, rows) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const nodes = Array.from({ length: rows }, (_, i) => issue(i));
  const issuesAnswer = JSON.stringify({ data: { issues: { __typename: "IssueConnection", totalCount: TOTAL, pageInfo: { __typename: "PageInfo", hasNextPage: true, endCursor: "c50" }, nodes } } });
  await page.route(`${ORIGIN}/**`, async (route) => {
    const request = route.request();
    const url = new URL(request.url());
    if (url.pathname === "/graphql") {
      const body = request.postDataJSON();
      const query = body?.query ?? "";
      const answer = query.includes("query Capabilities")
        ? JSON.stringify({ data: capabilities })
        : query.includes("query Projects")
          ? JSON.stringify({ data: projects })
          : query.includes("query Issues")
            ? issuesAnswer
            : JSON.stringify({ data: null, errors: [{ message: "not mocked" }] });
      return route.fulfill({ status: 200, contentType: "application/json", body: answer });
    }
    let file = join(dist, url.pathname);
    if (!extname(url.pathname)) file = join(dist, "index.html");
    try {
      return route.fulfill({ status: 200, contentType: TYPES[extname(file)] ?? "application/octet-stream", body: readFileSync(file) });
    } catch {
      return route.fulfill({ status: 404, body: "" });
    }
  });
  await page.addInitScript((expected) => {
    // When the Issues answer's body has arrived...
    const realFetch = window.fetch.bind(window);
    window.fetch = async (input, init) => {
      const response = await realFetch(input, init);
      if (typeof init?.body === "string" && init.body.includes("query Issues")) {
        const text = await response.text();
        window.__issuesArrived = performance.now();
        return new Response(text, { status: response.status, headers: response.headers });
      }
      return response;
    };
    // ...and when the table holds every row.
    new MutationObserver((_, observer) => {
      const count = document.querySelectorAll("[data-testid=issues-table] tbody tr").length;
      if (count >= expected && window.__issuesArrived) {
        window.__rendered = performance.now();
        observer.disconnect();
      }
    }).observe(document, { childList: true, subtree: true });
  }, rows);
  await page.goto(`${ORIGIN}/issues?project=1`);
  await page.waitForFunction(() => window.__rendered, null, { timeout: 30_000 });
  const ms = await page.evaluate(() => window.__rendered - window.__issuesArrived);
  const total = await page.textContent("[data-testid=total-count]");
  if (!total?.includes("100,000")) throw new Error(`total shown: ${total}`);
  await page.close();
  return ms;
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

const browser = await launch();
const results = {};
for (const rows of [50, 1000]) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measure(browser, rows));
  results[rows] = stats(runs);
  console.log(`issue list, ${rows} rows of ${TOTAL.toLocaleString("en")}: median ${results[rows].median.toFixed(0)} ms, max ${results[rows].max.toFixed(0)} ms after the GraphQL response (${RUNS} runs)`);
}
await browser.close();

const assets = join(dist, "assets");
const js = readdirSync(assets).filter((f) => f.endsWith(".js"));
const gzip = js.reduce((sum, f) => sum + gzipSync(readFileSync(join(assets, f)), { level: 9 }).length, 0);
const raw = js.reduce((sum, f) => sum + readFileSync(join(assets, f)).length, 0);
console.log(`JavaScript bundle: ${(raw / 1024).toFixed(0)} KB, ${(gzip / 1024).toFixed(1)} KB gzip (${js.length} file${js.length > 1 ? "s" : ""})`);

const failures = [];
if (results[50].max >= 1000) failures.push(`first page took ${results[50].max.toFixed(0)} ms (budget: under 1000 ms)`);
if (gzip >= 500 * 1024) failures.push(`bundle is ${(gzip / 1024).toFixed(0)} KB gzip (budget: under 500 KB)`);
for (const failure of failures) console.log(`FAIL  ${failure}`);
console.log(`perf: ${2 - failures.length} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
