// agentmem status page (GET /ui, docs/operations.md "Status page").
// Pipeline health comes from this listener's /metrics and /readyz every
// 2 s; today's analytics from /ui/api/today with an admin token that the
// operator types in (kept in sessionStorage, sent as a bearer token).
// Only aggregates are shown. window.agentmemStatus exposes the charts'
// data for tests.
(function () {
  "use strict";
  const haveCharts = typeof uPlot !== "undefined";
  const status = { charts: {}, samples: 0, analytics: null };
  window.agentmemStatus = status;
  if (!haveCharts) document.getElementById("nocharts").hidden = false;

  const maxPoints = 300; // 10 minutes at 2 s
  const stageNames = ["capture", "extraction", "embedding", "aggregation",
                      "writer", "vector_linking"];
  const fmt = new Intl.NumberFormat("en-US");

  // Prometheus text format 0.0.4 -> {name: [{labels, value}]}.
  function parseMetrics(text) {
    const out = {};
    for (const line of text.split("\n")) {
      if (!line || line[0] === "#") continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[3]) {
        const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
        let l;
        while ((l = re.exec(m[3]))) labels[l[1]] = l[2];
      }
      (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[4]) });
    }
    return out;
  }

  function total(metrics, name, filter) {
    let sum = 0;
    for (const s of metrics[name] || [])
      if (!filter || filter(s.labels)) sum += s.value;
    return sum;
  }

  function makeChart(id, seriesNames, opts) {
    const el = document.getElementById(id);
    const data = [[]].concat(seriesNames.map(() => []));
    const chart = { data, seriesNames, plot: null };
    status.charts[id] = chart;
    if (!haveCharts) return chart;
    const colors = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c",
                    "#0891b2", "#4b5563", "#ca8a04"];
    chart.plot = new uPlot({
      width: (opts && opts.width) || 460, height: 220,
      scales: { x: opts && opts.xRange
                     ? { time: true, range: () => opts.xRange }
                     : { time: true } },
      series: [{}].concat(seriesNames.map((n, i) => ({
        label: n, stroke: colors[i % colors.length], width: 2,
        spanGaps: true,
        paths: opts && opts.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
      }))),
      axes: [{}, { size: 60 }],
    }, data, el);
    return chart;
  }

  function push(chart, t, values) {
    chart.data[0].push(t);
    values.forEach((v, i) => chart.data[i + 1].push(v));
    if (chart.data[0].length > maxPoints)
      chart.data.forEach((col) => col.shift());
    if (chart.plot) chart.plot.setData(chart.data);
  }

  const rates = makeChart("chart-rates", ["consumed/s", "committed/s", "dead-lettered/s"]);
  const lag = makeChart("chart-lag", ["lag"]);
  const stages = makeChart("chart-stages", stageNames);
  let prev = null;

  async function poll() {
    try {
      const [m, r] = await Promise.all([fetch("/metrics"), fetch("/readyz")]);
      const metrics = parseMetrics(await m.text());
      const ready = document.getElementById("ready");
      ready.textContent = r.ok ? "ready" : "not ready";
      ready.className = "badge " + (r.ok ? "ok" : "bad");
      const now = Date.now() / 1000;
      const cur = {
        t: now,
        consumed: total(metrics, "agentmem_events_consumed_total"),
        committed: total(metrics, "agentmem_events_committed_total"),
        dlq: total(metrics, "agentmem_events_dead_lettered_total"),
        lag: total(metrics, "agentmem_consumer_lag_records"),
        stageSum: {}, stageCount: {},
      };
      for (const s of stageNames) {
        const f = (l) => l.stage === s;
        cur.stageSum[s] = total(metrics, "agentmem_stage_duration_seconds_sum", f);
        cur.stageCount[s] = total(metrics, "agentmem_stage_duration_seconds_count", f);
      }
      document.getElementById("n-consumed").textContent = fmt.format(cur.consumed);
      document.getElementById("n-committed").textContent = fmt.format(cur.committed);
      document.getElementById("n-dlq").textContent = fmt.format(cur.dlq);
      document.getElementById("n-lag").textContent = fmt.format(cur.lag);
      document.getElementById("n-inflight").textContent =
        fmt.format(total(metrics, "agentmem_batches_in_flight"));
      document.getElementById("n-late").textContent =
        fmt.format(total(metrics, "agentmem_late_events_total"));
      if (prev) {
        const dt = Math.max(1e-3, cur.t - prev.t);
        push(rates, cur.t, [(cur.consumed - prev.consumed) / dt,
                            (cur.committed - prev.committed) / dt,
                            (cur.dlq - prev.dlq) / dt]);
        push(lag, cur.t, [cur.lag]);
        push(stages, cur.t, stageNames.map((s) => {
          const n = cur.stageCount[s] - prev.stageCount[s];
          return n > 0 ? 1000 * (cur.stageSum[s] - prev.stageSum[s]) / n : null;
        }));
        status.samples++;
      }
      prev = cur;
    } catch (e) {
      document.getElementById("ready").textContent = "unreachable";
      document.getElementById("ready").className = "badge bad";
    }
  }

  // --- today's analytics -------------------------------------------------

  function cell(text, cls, attrs) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    for (const [k, v] of Object.entries(attrs || {})) td.dataset[k] = v;
    return td;
  }
  const pct = (r) => (r === null || r === undefined ? "–" : (100 * (1 - r)).toFixed(1) + " %");
  const ms = (v) => (v === null || v === undefined ? "–" : v.toFixed(1));
  const usd = (v) => v.toFixed(4);

  function fillTable(id, rows, columns) {
    const body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const [field, render, text] of columns)
        tr.appendChild(cell(render(row), text ? "text" : "", { field }));
      body.appendChild(tr);
    }
  }

  let hourly = null;
  function renderAnalytics(a) {
    status.analytics = a;
    document.getElementById("analytics").hidden = false;
    document.getElementById("range").textContent = a.from + " – " + a.to;
    let events = 0, errors = 0, tokens = 0, cost = 0, unpriced = 0;
    for (const x of a.agents) {
      events += x.events; errors += x.errors; tokens += x.tokens;
      cost += x.cost_usd; unpriced += x.unpriced_events;
    }
    document.getElementById("t-events").textContent = fmt.format(events);
    document.getElementById("t-error-rate").textContent =
      events ? (100 * errors / events).toFixed(1) + " %" : "–";
    document.getElementById("t-tokens").textContent = fmt.format(tokens);
    document.getElementById("t-cost").textContent = usd(cost);
    document.getElementById("t-unpriced").textContent = fmt.format(unpriced);
    fillTable("agents", a.agents.slice(0, 20), [
      ["agent_type", (x) => x.agent_type, true],
      ["agent_name", (x) => x.agent_name, true],
      ["events", (x) => String(x.events)],
      ["error_rate", (x) => pct(x.success_rate)],
      ["p95_ms", (x) => ms(x.latency_ms.p95)],
      ["tokens", (x) => String(x.tokens)],
      ["cost_usd", (x) => usd(x.cost_usd)]]);
    fillTable("tools", a.tools.slice(0, 20), [
      ["tool_name", (x) => x.tool_name, true],
      ["tool_category", (x) => x.tool_category, true],
      ["calls", (x) => String(x.events)],
      ["error_rate", (x) => pct(x.success_rate)],
      ["p95_ms", (x) => ms(x.latency_ms.p95)]]);
    fillTable("models", a.models, [
      ["model", (x) => x.model, true],
      ["events", (x) => String(x.events)],
      ["tokens", (x) => String(x.tokens)],
      ["cost_usd", (x) => usd(x.cost_usd)],
      ["unpriced_events", (x) => String(x.unpriced_events)]]);
    // Events per hour by agent type.
    const types = [...new Set(a.hourly.map((r) => r.agent_type))].sort();
    // Every hour of the day so far, 0 where nothing happened.
    const day = Date.parse(a.from) / 1000;
    const hours = [];
    for (let h = day; h <= Date.parse(a.to) / 1000; h += 3600) hours.push(h);
    if (hourly && hourly.plot) hourly.plot.destroy();
    const el = document.getElementById("chart-hourly");
    el.querySelectorAll(".uplot").forEach((n) => n.remove());
    hourly = makeChart("chart-hourly", types,
                       { stepped: true, width: 940, xRange: [day, day + 86400] });
    const byKey = new Map(a.hourly.map((r) => [r.bucket_start + "|" + r.agent_type, r.events]));
    for (const h of hours) {
      const iso = new Date(h * 1000).toISOString();
      push(hourly, h, types.map((t) => byKey.get(iso + "|" + t) ?? 0));
    }
  }

  async function loadAnalytics(ev) {
    if (ev) ev.preventDefault();
    const token = document.getElementById("token").value.trim();
    if (!token) return;
    sessionStorage.setItem("agentmem-token", token);
    const err = document.getElementById("analytics-error");
    try {
      const r = await fetch("/ui/api/today", { headers: { Authorization: "Bearer " + token } });
      const body = await r.json();
      if (!r.ok) {
        err.textContent = (body.error && body.error.message) || ("HTTP " + r.status);
        return;
      }
      err.textContent = "";
      renderAnalytics(body);
    } catch (e) {
      err.textContent = String(e);
    }
  }

  document.getElementById("token-form").addEventListener("submit", loadAnalytics);
  const saved = sessionStorage.getItem("agentmem-token");
  if (saved) {
    document.getElementById("token").value = saved;
    loadAnalytics();
  }
  poll();
  setInterval(poll, 2000);
  setInterval(() => { if (status.analytics) loadAnalytics(); }, 30000);
})();
