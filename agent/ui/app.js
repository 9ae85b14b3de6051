// pinlb dashboard: polls the API once a second and redraws: the agent's
// state, each listener's chart and endpoints, and the timeline.
"use strict";

const sections = new Map(); // listener name -> {el, chart, udp}
const rates = new Map(); // endpoint key -> {t, v, rate}

// rate records a counter and returns its rate per second since the last poll.
function rate(key, value, now) {
  const last = rates.get(key);
  const r = last && now > last.t ? Math.max(0, (value - last.v) / ((now - last.t) / 1000)) : 0;
  rates.set(key, { t: now, v: value });
  return r;
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

function headHTML(l) {
  const c = l.counters, tcp = l.protocol === "tcp";
  return `<h2>${esc(l.name)} <span class="muted">${esc(l.protocol)} ${esc(l.address)} → ${esc(l.upstream)} · ${esc(l.balance)}</span></h2>
    <div class="summary">
      <span>pool <b class="good">${l.pool.active} active</b> · <b class="stale">${l.pool.draining} draining</b> · <b class="bad">${l.pool.out} out</b></span>
      <span>${tcp ? `connections <b data-field="active">${c.active}</b>` : `sessions <b data-field="sessions">${c.sessions}</b>`}</span>
      <span>in <b>${bytes(c.bytes_in)}</b> · out <b>${bytes(c.bytes_out)}</b></span>
    </div>`;
}

function tableHTML(l, now) {
  const tcp = l.protocol === "tcp";
  const rows = l.endpoints.map(e => `<tr data-endpoint="${esc(e.id)}" data-state="${esc(e.state)}">
      <td><span class="badge state-${esc(e.state)}">${esc(e.state)}</span></td>
      <td>${esc(e.address)}</td>
      <td>${esc(e.node || "")}${e.service_id ? " / " + esc(e.service_id) : ""}</td>
      <td class="num">${e.weight}${e.backup ? " (backup)" : ""}</td>
      <td>${e.reasons.map(x => `<span class="reason">${esc(x)}</span>`).join("")}</td>
      <td title="${esc(e.since)}">${ago(e.since)}</td>
      <td class="num">${e.active}</td>
      <td class="num">${tcp ? e.connections : e.datagrams_in}</td>
      <td class="num">${bytes(e.bytes_in)} / ${bytes(e.bytes_out)}</td>
      <td class="num">${bytes(rate(`${l.name}/${e.id}`, e.bytes_in + e.bytes_out, now))}/s</td>
    </tr>`).join("");
  return `<table>
      <thead><tr><th>state</th><th>address</th><th>node / id</th><th>weight</th><th>reasons</th><th>since</th>
        <th>${tcp ? "open" : "sessions"}</th><th>${tcp ? "conns" : "datagrams"}</th><th>in / out</th><th>now</th></tr></thead>
      <tbody>${rows || `<tr><td colspan="10" class="muted">no endpoints</td></tr>`}</tbody>
    </table>`;
}

// renderListeners updates each listener's section in place, so that its
// chart lives on between polls.
function renderListeners(listeners, now) {
  const main = document.getElementById("listeners");
  for (const l of listeners) {
    let s = sections.get(l.name);
    if (!s) {
      const el = document.createElement("section");
      el.className = "listener";
      el.dataset.listener = l.name;
      el.innerHTML = `<div class="head"></div><div class="chart"></div><div class="endpoints"></div>`;
      main.append(el);
      const udp = l.protocol === "udp";
      s = { el, udp, chart: newChart(el.querySelector(".chart"), l.name, udp) };
      sections.set(l.name, s);
    }
    s.el.querySelector(".head").innerHTML = headHTML(l);
    s.el.querySelector(".endpoints").innerHTML = tableHTML(l, now);
    redrawChart(s.chart, l.name, s.udp);
  }
  for (const [name, s] of sections) {
    if (!listeners.some(l => l.name === name)) { s.chart.destroy(); s.el.remove(); sections.delete(name); }
  }
}

async function refresh() {
  const err = document.getElementById("error");
  try {
    const [[status], [listeners]] = await Promise.all([get("/v1/status"), get("/v1/listeners"), refreshHistory(), refreshEvents()]);
    const now = Date.now();
    renderStatus(status);
    renderListeners(listeners, now);
    renderTimeline();
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
