// pinlb dashboard: each listener's last 15 minutes (GET /v1/history), drawn
// with uPlot, with the timeline's events marked as vertical lines.
"use strict";

const WINDOW_S = 15 * 60;
const samples = new Map(); // listener -> {t, active, bytes, datagrams}, t in seconds
let historySince = 0; // unix ms of the newest sample held

async function refreshHistory() {
  const [h] = await get(`/v1/history?since=${historySince}`);
  for (const [name, cols] of Object.entries(h)) {
    const s = samples.get(name) || { t: [], active: [], bytes: [], datagrams: [] };
    s.t.push(...cols.t.map(ms => ms / 1000));
    s.active.push(...cols.active);
    s.bytes.push(...cols.bytes);
    s.datagrams.push(...cols.datagrams);
    const drop = s.t.findIndex(t => t >= s.t[s.t.length - 1] - WINDOW_S);
    for (const k of ["t", "active", "bytes", "datagrams"]) s[k].splice(0, drop);
    samples.set(name, s);
    if (cols.t.length) historySince = Math.max(historySince, cols.t[cols.t.length - 1]);
  }
  for (const name of samples.keys()) if (!(name in h)) samples.delete(name);
}

// perSecond turns a counter's samples into a rate per sample; a counter
// that went down (the listener was replaced) counts from zero.
function perSecond(t, v) {
  return v.map((x, i) => i === 0 ? null : Math.max(0, (x - v[i - 1]) / Math.max(1e-3, t[i] - t[i - 1])));
}

function chartData(name, udp) {
  const s = samples.get(name) || { t: [], active: [], bytes: [], datagrams: [] };
  const data = [s.t, s.active, perSecond(s.t, s.bytes)];
  if (udp) data.push(perSecond(s.t, s.datagrams));
  return data;
}

// newChart draws listener name's chart in el.
function newChart(el, name, udp) {
  const series = [
    {},
    { label: udp ? "sessions" : "connections", scale: "n", stroke: "#1a7f37", width: 2 },
    { label: "bytes/s", scale: "b", stroke: "#0969da", width: 2, value: (u, v) => v == null ? "-" : bytes(v) + "/s" },
  ];
  if (udp) series.push({ label: "datagrams/s", scale: "n", stroke: "#8250df", width: 2 });
  return new uPlot({
    width: Math.max(300, el.clientWidth), height: 200, series,
    // A window of the last 15 minutes ending now, as on a wall screen: an
    // event is marked as soon as it is known, before the next sample.
    scales: { x: { time: true, range: () => { const now = Date.now() / 1000; return [now - WINDOW_S, now]; } } },
    axes: [
      {},
      { scale: "n", label: udp ? "sessions, datagrams/s" : "connections" },
      { scale: "b", side: 1, grid: { show: false }, values: (u, vals) => vals.map(v => bytes(v) + "/s"), size: 80 },
    ],
    hooks: { draw: [u => markEvents(u, name)] },
  }, chartData(name, udp), el);
}

// markEvents puts a vertical line where each of the listener's events
// happened, with its cause on hover.
function markEvents(u, name) {
  u.over.querySelectorAll(".marker").forEach(m => m.remove());
  const [lo, hi] = [u.scales.x.min, u.scales.x.max];
  for (const e of listenerEvents(name)) {
    const t = Date.parse(e.time) / 1000;
    if (t < lo || t > hi) continue;
    const m = document.createElement("div");
    m.className = "marker";
    m.dataset.kind = e.kind;
    m.dataset.endpoint = e.endpoint || "";
    m.title = `${new Date(t * 1000).toLocaleTimeString()} ${e.kind} ${e.endpoint || ""}: ${e.cause || ""}`;
    m.style.left = `${u.valToPos(t, "x")}px`;
    u.over.append(m);
  }
}

function redrawChart(chart, name, udp) {
  chart.setData(chartData(name, udp));
  const w = chart.root.parentElement.clientWidth;
  if (w && Math.abs(w - chart.width) > 2) chart.setSize({ width: w, height: 200 });
}
