// pinlb dashboard: the timeline of what happened (GET /v1/events), kept
// for the last 15 minutes and followed with ?index=.
"use strict";

const events = [];
let eventIndex = null; // the X-Pinlb-Index of the last answer; null: none yet

async function refreshEvents() {
  const q = eventIndex === null ? "since=15m" : `index=${eventIndex}&wait=0s`;
  const [got, r] = await get("/v1/events?" + q);
  const index = Number(r.headers.get("X-Pinlb-Index"));
  if (eventIndex !== null && index < eventIndex) { // the agent restarted
    events.length = 0;
    eventIndex = null;
    return refreshEvents();
  }
  events.push(...got);
  const since = Date.now() - 15 * 60 * 1000;
  while (events.length && Date.parse(events[0].time) < since) events.shift();
  eventIndex = index;
}

function listenerEvents(name) {
  return events.filter(e => e.listener === name && (e.kind.startsWith("endpoint_") || e.kind === "rebalance"));
}

function renderTimeline() {
  const items = events.slice(-100).reverse().map(e => `<li data-kind="${esc(e.kind)}" data-listener="${esc(e.listener || "")}" data-endpoint="${esc(e.endpoint || "")}">
    <time title="${esc(e.time)}">${new Date(e.time).toLocaleTimeString()}</time>
    <span class="kind kind-${esc(e.kind.split("_")[1] || e.kind)}">${esc(e.kind.replace("_", " "))}</span>
    <span class="where">${esc(e.listener || e.service || "")}${e.endpoint ? " " + esc(e.endpoint) : ""}${e.id ? ` <span class="muted">${esc(e.node ? e.node + "/" : "")}${esc(e.id)}</span>` : ""}</span>
    <div class="cause muted">${esc(e.cause || "")}</div>
  </li>`);
  document.getElementById("timeline").innerHTML = items.join("") || `<li class="muted">nothing yet</li>`;
}
