// The real-browser test of the hub: headless Debian chromium, driven by playwright-core
// (which never downloads a browser here), against a hub the Rust test `ops_browser` started.
//
//   node run.mjs <base-url> <publisher-token> <admin-token>
//
// The hub must serve the API, the metrics and admin routers and `/test/page.html` (page.html)
// on one origin, with a maximum stream lifetime of a few seconds and a `retry:` hint long
// enough for this script to publish while the browser is away (ops_browser.rs sets 3 s and
// 1.5 s). Exits 0 when every check passed; prints what it saw either way.
//
// Environment: CHROMIUM (default /usr/bin/chromium), BROWSER_TEST_SCREENSHOT (a PNG path for
// the admin page, optional).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, publisherToken, adminToken] = process.argv.slice(2);
if (!base || !publisherToken || !adminToken) {
  console.error("usage: node run.mjs <base-url> <publisher-token> <admin-token>");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const TOPIC = "browser/test";
const started = Date.now();
const say = (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(2)}s] ${line}`);

function check(condition, message, detail) {
  if (!condition) {
    throw new Error(`check failed: ${message}${detail === undefined ? "" : `\n${JSON.stringify(detail, null, 2)}`}`);
  }
  say(`ok: ${message}`);
}

async function publish(event) {
  const response = await fetch(`${base}/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${publisherToken}`, "content-type": "application/json" },
    body: JSON.stringify(event),
  });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`publish answered ${response.status}: ${body}`);
  return JSON.parse(body).ids;
}

async function metric(name) {
  const response = await fetch(`${base}/metrics`);
  const text = await response.text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no metric ${name}`);
  return Number(line.slice(name.length + 1));
}

// Waits until the page holds `n` events; on timeout, says what it holds.
async function waitForEvents(page, n) {
  try {
    await page.waitForFunction((count) => window.received.length >= count, n, { timeout: 10_000 });
  } catch (error) {
    const received = await page.evaluate(() => window.received);
    throw new Error(`waited for ${n} events, the page has ${received.length}: ${JSON.stringify(received)}`, { cause: error });
  }
}

// What the page must end up with, in this order, each exactly once.
const phase1 = [
  { data: "first" },
  // Several data: lines, an empty line among them, and trailing text after it.
  { data: "line one\nline two\n\nline four" },
  { data: "hello from a custom type", type: "greeting" },
  { data: "unicode: héllo ✓ 𝄞" },
];
const phase2 = [{ data: "published while the browser was away" }, { data: "away, typed", type: "greeting" }];
const phase3 = [{ data: "live after the reconnect" }];
const expected = [...phase1, ...phase2, ...phase3].map((e) => ({ type: e.type || "message", data: e.data }));

const profile = mkdtempSync(join(tmpdir(), "tidings-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failed = false;
try {
  say(`chromium ${context.browser()?.version() ?? "(persistent context)"} at ${executablePath}, profile ${profile}`);
  const page = await context.newPage();
  page.on("console", (message) => say(`page console: ${message.text()}`));
  page.on("pageerror", (error) => say(`page error: ${error}`));
  await page.goto(`${base}/test/page.html`);
  await page.waitForFunction(() => window.opens >= 1, null, { timeout: 10_000 });
  say("EventSource open");

  // Phase 1: live events, one of them with several lines, one with a custom type.
  const ids = [];
  for (const event of phase1) ids.push(...(await publish({ topic: TOPIC, ...event })));
  // Not for this page: a topic it did not subscribe to.
  await publish({ topic: "browser/other", data: "not for this page" });
  await waitForEvents(page, phase1.length);
  say(`phase 1 received, last id ${ids.at(-1)}`);

  // The hub ends the stream at its maximum lifetime; the browser waits for the retry hint.
  await page.waitForFunction(() => window.errors >= 1, null, { timeout: 15_000 });
  const state = await page.evaluate(() => window.source.readyState);
  check(state === 0, "the browser is reconnecting (readyState CONNECTING) after the hub closed the stream", state);
  const opensBefore = await page.evaluate(() => window.opens);

  // Phase 2: published while the browser is away; it must get them by resuming.
  for (const event of phase2) await publish({ topic: TOPIC, ...event });
  await page.waitForFunction((n) => window.opens > n, opensBefore, { timeout: 15_000 });
  say("EventSource reopened");
  await waitForEvents(page, phase1.length + phase2.length);

  // Phase 3: live again.
  for (const event of phase3) await publish({ topic: TOPIC, ...event });
  await waitForEvents(page, expected.length);
  // Anything extra (a duplicate) would arrive right behind; give it a moment.
  await page.waitForTimeout(300);

  const received = await page.evaluate(() => window.received);
  check(
    JSON.stringify(received.map(({ type, data }) => ({ type, data }))) === JSON.stringify(expected),
    "every event arrived once, in order, with its type and exact (multi-line) data",
    { expected, received },
  );
  check(new Set(received.map((e) => e.id)).size === received.length && received.every((e) => e.id),
    "every event carried its own id", received);
  check(received[phase1.length - 1].id === ids.at(-1), "the page's last id before the close is the hub's", received);
  check((await page.evaluate(() => window.gaps)).length === 0, "no gap notice");
  const replayed = await metric("tidings_events_replayed_total");
  check(replayed >= phase2.length, `the away events came from history (tidings_events_replayed_total ${replayed})`);

  // The admin page renders and lists this connection.
  const admin = await context.newPage();
  admin.on("pageerror", (error) => say(`admin page error: ${error}`));
  await admin.goto(`${base}/admin?authorization=${encodeURIComponent(adminToken)}`);
  await admin.waitForFunction(
    (topic) => [...document.querySelectorAll("#connections tbody tr[data-id]")]
      .some((row) => [...row.querySelectorAll("code")].some((code) => code.textContent === topic)),
    TOPIC,
    { timeout: 15_000 },
  );
  const live = await admin.getAttribute("#live", "data-state");
  check(live === "live", "the admin page is live over SSE", live);
  const published = Number(await admin.getAttribute('[data-counter="published"]', "data-value"));
  check(published >= expected.length + 1, `the admin page shows the counters (published ${published})`);
  const row = await admin.evaluate((topic) => {
    const rows = [...document.querySelectorAll("#connections tbody tr[data-id]")];
    const match = rows.find((r) => [...r.querySelectorAll("code")].some((c) => c.textContent === topic));
    return [...match.cells].map((cell) => cell.textContent);
  }, TOPIC);
  say(`admin page connection row: ${JSON.stringify(row)}`);
  if (process.env.BROWSER_TEST_SCREENSHOT) {
    await admin.screenshot({ path: process.env.BROWSER_TEST_SCREENSHOT, fullPage: true });
    say(`screenshot: ${process.env.BROWSER_TEST_SCREENSHOT}`);
  }
  say("all browser checks passed");
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
