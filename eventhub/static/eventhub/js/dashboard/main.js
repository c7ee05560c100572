// The dashboard page: a websocket feeding the bounded timeline model, rendered at most once
// per animation frame, with filters, paging and pause/resume.
import { h, jsonFromScript, refreshRelative, setText } from "../dom.js";
import { LiveSocket, showStatus } from "../live-socket.js";
import { DeadLetterActions } from "./dead-letters.js";
import { FlowView } from "./flows.js";
import { Timeline } from "./model.js";
import { FaultSwitches, renderCounters, renderDeadLetters } from "./panels.js";
import { Highlighter, SpanFeed } from "./waterfall.js";
import { renderRetryBatches } from "./batches.js";
import { PauseSwitches } from "./pauses.js";
import { ReplayAction } from "./replay.js";

const PAGE = 40;
const RELATIVE_REFRESH_MS = 10000;
const MAX_SAMPLES = 100000;
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const model = new Timeline();
const params = new URLSearchParams(location.search);
// ?flow= opens that flow; ?correlationId= (the name the API uses) is honoured the same way.
const filters = { type: "", status: "", subscriber: "", cid: (params.get("flow") || params.get("correlationId") || "").trim() };
const flowsEl = document.getElementById("flows");
let paused = false;
let pausedNew = 0;
let page = 0;
let frame = 0;
let stats = null;
let shown = [];
let unrendered = [];

// Figures for the benchmark and the browser tests (publish -> browser latency, renders).
const metrics = { received: 0, latencies: [], renderLatencies: [], renders: 0 };
window.__eventhubMetrics = metrics;

const deadLetters = new DeadLetterActions(jsonFromScript("dead-letter-rights"));
const pauseSwitches = new PauseSwitches(jsonFromScript("subscriber-names") || [], jsonFromScript("pause-rights") === true);

const ui = {
  deadLetters,
  replay: new ReplayAction(jsonFromScript("replay-rights")),
  open: new Set(filters.cid ? [filters.cid] : []),
  openData: new Set(),
  openAttempts: new Set(),
  attempts: new Map(),
  spans: null, // the SpanFeed, below
  detailVersion: 0,
  toggle(cid) {
    if (this.open.has(cid)) this.open.delete(cid);
    else {
      this.open.add(cid);
      socket.send({ type: "flow", correlationId: cid });
      ui.spans.touch(cid);
    }
    schedule();
  },
  // A payload's <details> was opened or closed: remembered, so that a redraw keeps it so.
  setDataOpen(eventId, open) {
    if (open === this.openData.has(eventId)) return;
    if (open) this.openData.add(eventId);
    else this.openData.delete(eventId);
  },
  toggleAttempts(id) {
    if (!this.openAttempts.delete(id)) {
      this.openAttempts.add(id);
      socket.send({ type: "attempts", deliveryId: id });
    }
    this.detailVersion++;
    schedule();
  },
};
ui.spans = new SpanFeed({ isOpen: (cid) => ui.open.has(cid), onChange: () => schedule() });
const view = new FlowView(model, ui);
const highlighter = new Highlighter(flowsEl);

function matches(flow) {
  if (filters.cid && !flow.correlationId.includes(filters.cid)) return false;
  if (filters.type && !flow.events.some((e) => e.eventType === filters.type)) return false;
  if (filters.status || filters.subscriber) {
    for (const d of flow.deliveries.values()) {
      if ((!filters.status || d.status === filters.status) && (!filters.subscriber || d.subscriber === filters.subscriber)) return true;
    }
    return false;
  }
  return true;
}

function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function render() {
  frame = 0;
  renderCounters(stats, model.cursor);
  if (paused) return;
  const flows = model.sortedFlows(matches);
  const pages = Math.max(1, Math.ceil(flows.length / PAGE));
  page = Math.min(page, pages - 1);
  const visible = flows.slice(page * PAGE, (page + 1) * PAGE);
  const rows = visible.map((f) => view.row(f));
  if (rows.length !== shown.length || rows.some((el, i) => el !== shown[i])) {
    flowsEl.replaceChildren(...(rows.length ? rows : [h("li", { class: "empty" }, "No flows match.")]));
    shown = rows;
  }
  view.forget(new Set(visible.map((f) => f.correlationId)));
  setText(document.getElementById("page-info"), flows.length
    ? `flows ${page * PAGE + 1}–${page * PAGE + visible.length} of ${flows.length}`
    : "no flows");
  document.getElementById("newer").disabled = page === 0;
  document.getElementById("older").disabled = page >= pages - 1;
  highlighter.apply();
  const now = Date.now();
  for (const cid of ui.open) {
    const flow = model.flow(cid, false);
    if (flow) ui.spans.seen(cid, flow.version);
  }
  for (const ts of unrendered) if (metrics.renderLatencies.length < MAX_SAMPLES) metrics.renderLatencies.push(now - ts);
  unrendered = [];
  metrics.renders++;
}

function onBatch(msg) {
  if (msg.reset) model.clear();
  const added = model.addEvents(msg.events);
  model.upsertDeliveries(msg.deliveries);
  model.advance(msg.cursor);
  if (!msg.reset && !msg.replay) {
    const now = Date.now();
    for (const e of added) {
      if (metrics.latencies.length < MAX_SAMPLES) metrics.latencies.push(now - e.timestamp);
      unrendered.push(e.timestamp);
    }
    if (unrendered.length > MAX_SAMPLES) unrendered = unrendered.slice(-MAX_SAMPLES);
  }
  metrics.received += added.length;
  if (msg.stats) stats = msg.stats;
  if (msg.deadLetters) renderDeadLetters(msg.deadLetters, openFlow, deadLetters);
  model.trim(new Set([...ui.open, filters.cid].filter(Boolean)));
  if (paused && added.length) {
    pausedNew += added.length;
    setText(document.getElementById("paused-note"), `paused · ${pausedNew} new events`);
  }
  if (msg.retryBatches) renderRetryBatches(msg.retryBatches);
  if (msg.pauses) pauseSwitches.update(msg.pauses);
  schedule();
}

function onHello(msg) {
  model.registry = msg.registry;
  const select = document.getElementById("f-type");
  select.replaceChildren(h("option", { value: "" }, "any"),
    ...msg.registry.eventTypes.map((t) => h("option", { value: t, selected: t === filters.type }, t)));
}

function onFlow(msg) {
  model.addEvents(msg.events);
  const flow = model.flow(msg.correlationId, msg.events.length > 0);
  if (!flow) return;
  model.upsertDeliveries(msg.deliveries);
  flow.complete = true;
  flow.version++;
  schedule();
}

const socket = new LiveSocket("/ws/dashboard/", {
  onStatus: showStatus,
  onOpen() {
    socket.send({ type: "resume", cursor: model.cursor, deliveriesSeen: model.deliveriesSeen });
    for (const cid of ui.open) socket.send({ type: "flow", correlationId: cid });
  },
  onMessage(msg) {
    if (msg.type === "batch") onBatch(msg);
    else if (msg.type === "hello") onHello(msg);
    else if (msg.type === "flow") onFlow(msg);
    else if (msg.type === "attempts") {
      ui.attempts.set(msg.deliveryId, msg.attempts);
      ui.detailVersion++;
      schedule();
    }
  },
});

function openFlow(cid) {
  const input = document.getElementById("f-cid");
  input.value = cid;
  setFilter("cid", cid);
  if (!ui.open.has(cid)) ui.toggle(cid);
}

function setFilter(name, value) {
  filters[name] = value;
  page = 0;
  if (name === "cid" && value && CORRELATION_ID.test(value) && !model.flow(value, false)) {
    socket.send({ type: "flow", correlationId: value });
  }
  const url = new URL(location.href);
  url.searchParams.delete("correlationId");
  if (filters.cid) url.searchParams.set("flow", filters.cid);
  else url.searchParams.delete("flow");
  history.replaceState(null, "", url);
  schedule();
}

document.getElementById("f-type").addEventListener("change", (e) => setFilter("type", e.target.value));
document.getElementById("f-status").addEventListener("change", (e) => setFilter("status", e.target.value));
document.getElementById("f-subscriber").addEventListener("change", (e) => setFilter("subscriber", e.target.value));
let typing = 0;
const cidInput = document.getElementById("f-cid");
cidInput.value = filters.cid;
cidInput.addEventListener("input", (e) => {
  clearTimeout(typing);
  typing = setTimeout(() => setFilter("cid", e.target.value.trim()), 250);
});
document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
document.getElementById("pause").addEventListener("click", (e) => {
  paused = !paused;
  pausedNew = 0;
  e.target.textContent = paused ? "Resume" : "Pause";
  e.target.setAttribute("aria-pressed", String(paused));
  const note = document.getElementById("paused-note");
  note.hidden = !paused;
  setText(note, "paused");
  schedule();
});
document.getElementById("newer").addEventListener("click", () => { page = Math.max(0, page - 1); schedule(); });
document.getElementById("older").addEventListener("click", () => { page += 1; schedule(); });

const faults = new FaultSwitches(jsonFromScript("subscriber-names") || [], jsonFromScript("fault-modes") || [], jsonFromScript("switch-names") || []);
faults.load();
setInterval(() => refreshRelative(), RELATIVE_REFRESH_MS);
for (const cid of ui.open) ui.spans.touch(cid);
schedule();
