// pinlb dashboard: polls the API once a second and redraws. Rates and
// sparklines come from the difference between two polls.
"use strict";

const HISTORY = 60; // samples kept per sparkline
const history = new Map(); // series key -> {last: {t, v}, rates: []}
let token = sessionStorage.getItem("pinlb-token") || "";

async function get(path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const r = await fetch(path, { headers, cache: "no-store" });
  if (r.status === 401) {
    document.getElementById("token-form").hidden = false;
    throw new Error("the API wants a token");
  }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// rate records a counter and returns its per-second rate history.
function rate(key, value, now) {
  let h = history.get(key);
  if (!h) { h = { last: null, rates: [] }; history.set(key, h); }
  if (h.last && now > h.last.t) {
    h.rates.push(Math.max(0, (value - h.last.v) / ((now - h.last.t) / 1000)));
    if (h.rates.length > HISTORY) h.rates.shift();
  }
  h.last = { t: now, v: value };
  return h.rates;
}

function spark(rates, big) {
  const w = big ? 240 : 120, hgt = big ? 36 : 24;
  const max = Math.max(1, ...rates);
  // The newest sample sits at the right edge.
  const x = i => w - (rates.length - 1 - i) * w / (HISTORY - 1);
  const pts = rates.map((v, i) => `${x(i).toFixed(1)},${(hgt - 1 - v / max * (hgt - 2)).toFixed(1)}`);
  return `<svg class="spark${big ? " big" : ""}" viewBox="0 0 ${w} ${hgt}" preserveAspectRatio="none"><polyline points="${pts.join(" ")}"/></svg>`;
}

function bytes(n) {
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function renderStatus(s) {
  document.getElementById("version").textContent = s.version;
  document.getElementById("uptime").textContent = `up ${ago(s.started).replace(" ago", "")}`;
  document.getElementById("reloads").textContent = `reloads ${s.reloads}` + (s.reload_errors ? ` (${s.reload_errors} failed)` : "");
  const c = document.getElementById("consul");
  if (!s.consul.used) { c.textContent = "consul: not used"; c.className = "badge muted"; return; }
  const stale = s.consul.stale, ok = s.consul.reachable;
  c.textContent = `consul ${s.consul.address}: ${ok ? "reachable" : stale ? "unreachable, stale" : "unreachable"}`;
  c.className = "badge " + (ok ? "good" : stale ? "stale" : "bad");
  c.title = s.consul.watches.map(w => `${w.service}: ${w.reachable ? "ok" : w.last_error}`).join("\n");
}

function renderListener(l, now) {
  const tcp = l.protocol === "tcp";
  const c = l.counters;
  const traffic = rate(`l/${l.name}/bytes`, c.bytes_in + c.bytes_out, now);
  const units = tcp ? [] : rate(`l/${l.name}/dgrams`, c.datagrams_in, now);
  const cur = a => a.length ? a[a.length - 1] : 0;
  const rows = l.endpoints.map(e => {
    const r = rate(`e/${l.name}/${e.id}`, e.bytes_in + e.bytes_out, now);
    return `<tr data-endpoint="${esc(e.id)}" data-state="${esc(e.state)}">
      <td><span class="badge state-${esc(e.state)}">${esc(e.state)}</span></td>
      <td>${esc(e.address)}</td>
      <td>${esc(e.node || "")}${e.service_id ? " / " + esc(e.service_id) : ""}</td>
      <td class="num">${e.weight}${e.backup ? " (backup)" : ""}</td>
      <td>${e.reasons.map(x => `<span class="reason">${esc(x)}</span>`).join("")}</td>
      <td title="${esc(e.since)}">${ago(e.since)}</td>
      <td class="num">${e.active}</td>
      <td class="num">${tcp ? e.connections : e.datagrams_in}</td>
      <td class="num">${bytes(e.bytes_in)} / ${bytes(e.bytes_out)}</td>
      <td>${spark(r)} <span class="muted">${bytes(cur(r))}/s</span></td>
    </tr>`;
  }).join("");
  return `<section class="listener" data-listener="${esc(l.name)}">
    <h2>${esc(l.name)} <span class="muted">${esc(l.protocol)} ${esc(l.address)} → ${esc(l.upstream)} · ${esc(l.balance)}</span></h2>
    <div class="summary">
      <span>pool <b class="good">${l.pool.active} active</b> · <b class="stale">${l.pool.draining} draining</b> · <b class="bad">${l.pool.out} out</b></span>
      <span>${tcp ? `connections <b data-field="active">${c.active}</b>` : `sessions <b data-field="sessions">${c.sessions}</b>`}</span>
      <span>${spark(traffic, true)} <b>${bytes(cur(traffic))}/s</b></span>
      ${tcp ? "" : `<span>${spark(units)} <b>${Math.round(cur(units))} datagrams/s</b></span>`}
    </div>
    <table>
      <thead><tr><th>state</th><th>address</th><th>node / id</th><th>weight</th><th>reasons</th><th>since</th>
        <th>${tcp ? "open" : "sessions"}</th><th>${tcp ? "conns" : "datagrams"}</th><th>in / out</th><th>traffic</th></tr></thead>
      <tbody>${rows || `<tr><td colspan="10" class="muted">no endpoints</td></tr>`}</tbody>
    </table>
  </section>`;
}

async function refresh() {
  const err = document.getElementById("error");
  try {
    const [status, listeners] = await Promise.all([get("/v1/status"), get("/v1/listeners")]);
    const now = Date.now();
    renderStatus(status);
    document.getElementById("listeners").innerHTML = listeners.map(l => renderListener(l, now)).join("");
    document.getElementById("updated").textContent = "updated " + new Date(now).toLocaleTimeString();
    document.body.dataset.ready = "true";
    err.hidden = true;
  } catch (e) {
    err.textContent = "Cannot read the API: " + e.message;
    err.hidden = false;
  }
}

document.querySelector("#token-form form").addEventListener("submit", ev => {
  ev.preventDefault();
  token = document.getElementById("token").value;
  sessionStorage.setItem("pinlb-token", token);
  document.getElementById("token-form").hidden = true;
  refresh();
});

refresh();
setInterval(refresh, 1000);
