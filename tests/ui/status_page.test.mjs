// The status page (GET /ui) in a real browser: headless Chromium (Debian
// package) driven by Playwright against a running `agentmem dev` fed by
// `agentmem simulate`. Checks that the pipeline charts drew non-empty
// series, that today's analytics tables show exactly what the analytics API
// answers, and saves a screenshot (docs/operations.md shows it).
//
//   AGENTMEM_BIN=build/pipeline/agentmem SCREENSHOT=out.png \
//     node --test tests/ui/status_page.test.mjs
//
// Installed by scripts/install-ui-test.sh; run by ctest (label ui).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const bin = process.env.AGENTMEM_BIN ?? "build/pipeline/agentmem";
const screenshot = process.env.SCREENSHOT ?? "status-page.png";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, timeoutMs, probe) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

function run(args, opts = {}) {
  const p = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  p.output = "";
  p.stdout.on("data", (d) => (p.output += d));
  p.stderr.on("data", (d) => (p.output += d));
  p.done = new Promise((resolve) => p.on("exit", (code) => resolve(code)));
  return p;
}

function metric(text, name) {
  let sum = 0;
  for (const line of text.split("\n"))
    if (line.startsWith(name + " ") || line.startsWith(name + "{"))
      sum += Number(line.split(" ").pop());
  return sum;
}

test("the status page charts live pipeline health and today's analytics as the API reports them", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "agentmem-ui-"));
  const dev = run(["dev", "--data-dir", dir, "--http-port", "0", "--ops-port", "0"]);
  let browser;
  t.after(async () => {
    if (browser) await browser.close();
    dev.kill("SIGTERM");
    await Promise.race([dev.done, sleep(30000)]);
    dev.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  const [, api] = await waitFor("agentmem dev's http address", 120000, () =>
    /http: +(http:\/\/\S+)/.exec(dev.output));
  const [, ops] = await waitFor("agentmem dev's ops address", 10000, () =>
    /ops \(health, metrics\): +(http:\/\/\S+)/.exec(dev.output));
  await waitFor("/readyz", 60000, async () => (await fetch(ops + "/readyz")).ok);
  const token = readFileSync(join(dir, "dev-token"), "utf8").trim();
  const brokers = readFileSync(join(dir, "kafka.bootstrap"), "utf8").trim();

  // The page is open while traffic flows.
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run"],
  });
  const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("requestfailed", (r) => pageErrors.push("request failed: " + r.url()));
  await page.goto(ops + "/ui");
  assert.equal(await page.title(), "agentmem status");

  const sim = run(["simulate", "--brokers", brokers, "--users", "5", "--rate", "150",
                   "--duration", "8"]);
  assert.equal(await sim.done, 0, "agentmem simulate failed:\n" + sim.output);
  const published = Number(/published (\d+) events/.exec(sim.output)[1]);
  assert.ok(published > 0);
  const committed = await waitFor(`all ${published} events committed`, 90000, async () => {
    const text = await (await fetch(ops + "/metrics")).text();
    const k = metric(text, "agentmem_events_committed_total");
    return k === published ? k : 0;
  });
  await page.waitForFunction(() => window.agentmemStatus.samples >= 4);
  await sleep(2500); // one more poll after the last commit

  // Pipeline charts: uPlot drew series that are not empty.
  const charts = await page.evaluate(() => {
    const out = {};
    for (const [id, c] of Object.entries(window.agentmemStatus.charts)) {
      const values = c.data.slice(1).flat().filter((v) => v !== null && v !== undefined);
      const canvas = document.querySelector(`#${id} canvas`);
      let inked = 0;
      if (canvas) {
        const ctx = canvas.getContext("2d");
        const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) inked++;
      }
      out[id] = { points: c.data[0].length, values: values.length,
                  max: Math.max(0, ...values), inked };
    }
    return out;
  });
  for (const id of ["chart-rates", "chart-lag", "chart-stages"]) {
    assert.ok(charts[id].points >= 3, `${id}: ${JSON.stringify(charts[id])}`);
    assert.ok(charts[id].values > 0, `${id} has no values`);
    assert.ok(charts[id].inked > 100, `${id}: nothing drawn on the canvas`);
  }
  assert.ok(charts["chart-rates"].max > 0, "no event rate above 0 was charted");
  assert.ok(charts["chart-stages"].max > 0, "no stage latency was charted");
  const shown = Number((await page.textContent("#n-committed")).replace(/,/g, ""));
  assert.equal(shown, committed, "committed events on the page vs /metrics");

  // Analytics need the admin token; without it nothing is shown.
  assert.equal(await page.isVisible("#analytics"), false);
  await page.fill("#token", "am_wrong");
  await page.click("#load");
  await page.waitForFunction(() => document.getElementById("analytics-error").textContent !== "");
  assert.equal(await page.isVisible("#analytics"), false);
  await page.fill("#token", token);
  await page.click("#load");
  await page.waitForSelector("#agents tbody tr");
  const range = await page.evaluate(() => ({ from: window.agentmemStatus.analytics.from,
                                             to: window.agentmemStatus.analytics.to }));
  const get = async (path) => {
    const r = await fetch(api + path, { headers: { Authorization: "Bearer " + token } });
    const text = await r.text();
    assert.equal(r.status, 200, `${path}: ${text}`);
    return JSON.parse(text);
  };
  const q = `?from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}`;
  const agents = (await get("/v1/analytics/agents" + q)).agents;
  const tools = (await get("/v1/analytics/tools" + q)).tools;
  const models = (await get("/v1/analytics/costs" + q)).models;
  const table = (id) => page.$$eval(`#${id} tbody tr`, (rows) => rows.map((tr) =>
    Object.fromEntries([...tr.children].map((td) => [td.dataset.field, td.textContent]))));
  const pageAgents = await table("agents");
  assert.ok(pageAgents.length > 0);
  assert.equal(pageAgents.length, Math.min(20, agents.length));
  pageAgents.forEach((row, i) => {
    assert.equal(row.agent_type, agents[i].agent_type);
    assert.equal(row.agent_name, agents[i].agent_name);
    assert.equal(Number(row.events), agents[i].events);
    assert.equal(Number(row.tokens), agents[i].tokens);
    assert.equal(row.p95_ms, agents[i].latency_ms.p95.toFixed(1));
  });
  const pageTools = await table("tools");
  assert.equal(pageTools.length, Math.min(20, tools.length));
  pageTools.forEach((row, i) => {
    assert.equal(row.tool_name, tools[i].tool_name);
    assert.equal(Number(row.calls), tools[i].events);
  });
  const pageModels = await table("models");
  assert.equal(pageModels.length, models.length);
  pageModels.forEach((row, i) => {
    assert.equal(row.model, models[i].model);
    assert.equal(Number(row.tokens), models[i].tokens);
    assert.equal(Number(row.unpriced_events), models[i].unpriced_events);
  });
  const total = agents.reduce((s, a) => s + a.events, 0);
  assert.equal(Number((await page.textContent("#t-events")).replace(/,/g, "")), total);
  assert.equal(total, committed - 0, "today's events = events committed (all simulated today)");
  const hourly = await page.evaluate(() => {
    const c = window.agentmemStatus.charts["chart-hourly"];
    return c.data.slice(1).flat().reduce((s, v) => s + (v || 0), 0);
  });
  assert.equal(hourly, total, "the hourly chart sums to the day's events");

  await page.screenshot({ path: screenshot, fullPage: true });
  assert.deepEqual(pageErrors, [], "errors in the page");
});
