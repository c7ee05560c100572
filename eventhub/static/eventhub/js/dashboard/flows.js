// Rendering flows: a row per correlation ID; an open row shows its causation tree laid out
// in per-service lanes, every delivery with status, attempts, duration, error and trace ID,
// the subscribers that should have received an event but did not, and the span waterfall.
import { clock, clockSeconds, duration, exact, h, offset, shortId } from "../dom.js";
import { renderWaterfall } from "./waterfall.js";

const MAX_DEPTH = 24;
const PREVIEW_CHARS = 140;
const EVENT_COLUMN_PX = 230;
const LANE_PX = 150;

export class FlowView {
  constructor(model, ui) {
    this.model = model;
    this.ui = ui; // { open: Set, openData: Set, openAttempts: Set, attempts: Map, spans: Map, toggle, requestAttempts, deadLetters }
    this.cache = new Map(); // correlationId -> { key, el }
  }

  row(flow) {
    const open = this.ui.open.has(flow.correlationId);
    const spans = this.ui.spans.get(flow.correlationId);
    const key = `${flow.version}|${open}|${open ? this.ui.detailVersion : 0}|${spans ? spans.version : 0}`;
    const cached = this.cache.get(flow.correlationId);
    if (cached && cached.key === key) return cached.el;
    const el = h("li", { class: "flow" + (open ? " open" : ""), dataset: { cid: flow.correlationId } },
      this.head(flow, open),
      open ? this.body(flow, spans) : null);
    this.cache.set(flow.correlationId, { key, el });
    return el;
  }

  forget(keep) {
    for (const cid of this.cache.keys()) if (!keep.has(cid)) this.cache.delete(cid);
  }

  head(flow, open) {
    const first = flow.firstEvent;
    const types = [];
    for (const e of flow.events) if (!types.includes(e.eventType)) types.push(e.eventType);
    const counts = flow.statusCounts();
    const user = first && first.data && typeof first.data.userId === "string" ? first.data.userId : null;
    return h("button", {
      type: "button", class: "flow-head", "aria-expanded": String(open),
      onclick: () => this.ui.toggle(flow.correlationId),
    },
    h("span", { class: "chev" }, open ? "▾" : "▸"),
    h("time", { title: exact(first.timestamp) }, clock(first.timestamp)),
    h("code", { class: "cid", title: flow.correlationId }, shortId(flow.correlationId, 13)),
    h("span", { class: "types" }, types.slice(0, 4).join(" → ") + (types.length > 4 ? " → …" : "")),
    h("span", { class: "agg" }, first.aggregateId),
    user !== null ? h("span", { class: "user" }, "user ", h("span", { class: "user-id" }, user)) : null,
    h("span", { class: "counts" }, Object.entries(counts).sort().map(([status, n]) =>
      h("span", { class: `badge status-${status}`, title: status }, `${n} ${status}`))),
    h("span", { class: "n" }, `${flow.events.length} event${flow.events.length === 1 ? "" : "s"}`));
  }

  tree(flow) {
    const byId = new Map(flow.events.map((e) => [e.eventId, e]));
    const children = new Map();
    const roots = [];
    for (const e of flow.events) {
      if (e.causationId && byId.has(e.causationId) && e.causationId !== e.eventId) {
        if (!children.has(e.causationId)) children.set(e.causationId, []);
        children.get(e.causationId).push(e);
      } else roots.push(e);
    }
    const ordered = [];
    const walk = (e, depth) => {
      ordered.push([e, Math.min(depth, MAX_DEPTH)]);
      for (const c of children.get(e.eventId) || []) walk(c, depth + 1);
    };
    for (const r of roots) walk(r, 0);
    return ordered;
  }

  body(flow, spans) {
    const rows = this.tree(flow);
    const lanes = [];
    const addLane = (lane) => { if (!lanes.includes(lane)) lanes.push(lane); };
    for (const [e] of rows) {
      addLane(this.model.laneOfSource(e.source));
      for (const d of flow.deliveriesOf(e.position)) addLane(this.model.laneOfSubscriber(d.subscriber));
      for (const m of this.model.missingSubscribers(flow, e)) addLane(this.model.laneOfSubscriber(m));
    }
    const grid = h("div", { class: "lanes", role: "table", "aria-label": "causation tree by service" },
      h("div", { class: "lane-head-row", role: "row" },
        h("div", { class: "lane-head", role: "columnheader" }, "event (causation tree)"),
        lanes.map((lane) => h("div", { class: "lane-head", role: "columnheader", title: lane }, lane))));
    // Fixed minimums, so that the lanes scroll sideways within the card (the event column
    // pinned) rather than widen the page.
    grid.style.gridTemplateColumns = `minmax(${EVENT_COLUMN_PX}px, 1.3fr) repeat(${lanes.length}, minmax(${LANE_PX}px, 1fr))`;
    grid.style.width = `max(100%, ${EVENT_COLUMN_PX + lanes.length * LANE_PX}px)`;
    const start = flow.firstEvent.timestamp;
    for (const [event, depth] of rows) grid.append(this.eventRow(flow, event, depth, lanes, start));
    return h("div", { class: "flow-body" },
      this.ui.replay && this.ui.replay.allowed ? h("div", { class: "flow-tools" }, this.ui.replay.button(flow.correlationId)) : null,
      flow.complete ? null : h("p", { class: "hint" }, "loading the whole flow…"),
      h("div", { class: "lanes-scroll" }, grid),
      renderWaterfall(spans));
  }

  eventRow(flow, event, depth, lanes, start) {
    const source = this.model.laneOfSource(event.source);
    const deliveries = flow.deliveriesOf(event.position);
    const missing = this.model.missingSubscribers(flow, event);
    const dataOpen = this.ui.openData.has(event.eventId);
    const preview = JSON.stringify(event.data);
    // One line per event (names ellipsised, the full text on hover); the payload stays
    // folded behind a toggle, with a one-line preview.
    const cell = h("div", { class: "ev-cell", role: "cell" },
      h("div", { class: "ev-line" },
        depth ? h("span", { class: "tree-mark" }, "└") : null,
        h("span", { class: "ev-type", title: event.eventType }, event.eventType)),
      h("div", { class: "ev-meta" },
        h("span", { class: "offset", title: `${exact(event.timestamp)} (${event.timestamp - start} ms after the flow began)` },
          `+${offset(event.timestamp - start)}`),
        h("span", { class: "pos", title: "position" }, ` · #${event.position}`),
        event.correction ? h("span", { class: "badge correction", title: `by ${event.correction.by}: ${event.correction.reason}` },
          ` correction of ${shortId(event.correction.corrects)} for ${event.correction.subscriber}`) : null),
      h("details", {
        class: "ev-details", open: dataOpen,
        ontoggle: (e) => this.ui.setDataOpen(event.eventId, e.target.open),
      },
      h("summary", null,
        h("span", { class: "data-toggle" }, "data"),
        h("span", { class: "preview" }, preview.length > PREVIEW_CHARS ? preview.slice(0, PREVIEW_CHARS) + "…" : preview)),
      h("pre", { class: "ev-data" }, JSON.stringify(event, null, 2))));
    cell.style.paddingLeft = `${0.4 + depth * 1.1}rem`;
    return h("div", {
      class: "ev-row", role: "row",
      dataset: {
        position: event.position, eventId: event.eventId, eventType: event.eventType,
        causedBy: event.causationId || "", depth,
      },
    },
    cell,
    lanes.map((lane) => h("div", { class: "lane-cell", role: "cell" },
      lane === source ? h("div", { class: "chip published", title: `published by ${event.source}` },
        `published by ${event.source}`, event.traceId ? h("span", { class: "trace", title: `trace ${event.traceId}` }, ` trace ${shortId(event.traceId)}`) : null) : null,
      deliveries.filter((d) => this.model.laneOfSubscriber(d.subscriber) === lane).map((d) => this.deliveryChip(d)),
      missing.filter((m) => this.model.laneOfSubscriber(m) === lane).map((m) =>
        h("div", { class: "chip missing", dataset: { subscriber: m }, title: "expected by the registry, but no delivery exists" },
          h("span", { class: "sub" }, m), h("span", { class: "badge missing" }, "expected but missing"))))));
  }

  deliveryChip(d) {
    const open = this.ui.openAttempts.has(d.id);
    const attempts = this.ui.attempts.get(d.id);
    const meta = [`attempt ${d.attempts}/${d.maxAttempts}`];
    if (d.durationMs !== null && d.durationMs !== undefined) meta.push(duration(d.durationMs));
    if (d.status === "retrying" && d.nextAttemptAt) meta.push(`next at ${clockSeconds(d.nextAttemptAt)}`);
    return h("div", {
      class: `chip delivery status-${d.status}`,
      dataset: { delivery: d.id, subscriber: d.subscriber, status: d.status, generation: d.generation || 0 },
      title: d.status === "succeeded" ? d.subscriber : d.lastError || d.subscriber,
    },
    h("button", { type: "button", class: "chip-head", onclick: () => this.ui.toggleAttempts(d.id) },
      h("span", { class: "sub", title: d.subscriber }, d.subscriber.split(".").slice(1).join(".") || d.subscriber),
      d.generation ? h("span", { class: "badge replay", title: `replay ${d.generation} of this event to ${d.subscriber}` }, `replay ${d.generation}`) : null,
      h("span", { class: `badge status-${d.status}` }, d.status)),
    h("div", { class: "chip-meta" }, meta.join(" · ")),
    d.traceId ? h("div", { class: "trace", title: `trace ${d.traceId}` }, `trace ${shortId(d.traceId, 16)}`) : null,
    this.errorOrHistory(d),
    d.status === "dead" && this.ui.deadLetters ? this.ui.deadLetters.buttons(d.id, `delivery ${d.id} (${d.subscriber})`) : null,
    open ? h("ol", { class: "attempts" }, attempts ? attempts.map((a, i) =>
      h("li", { class: `outcome-${a.outcome}` },
        h("time", { title: exact(a.startedAt) }, clockSeconds(a.startedAt)),
        i && attempts[i - 1].startedAt ? ` (+${duration(a.startedAt - attempts[i - 1].startedAt)})` : "",
        ` #${a.number} ${a.outcome} ${a.durationMs !== null ? duration(a.durationMs) : ""} on ${a.worker}`,
        a.error ? h("div", { class: "chip-error" }, a.error) : null)) : h("li", null, "loading…")) : null);
  }

  // The outcome comes first: a delivery that succeeded after failures shows its old error as
  // history (neutral, folded), not in red beside "succeeded".
  errorOrHistory(d) {
    if (!d.lastError) return null;
    if (d.status !== "succeeded") return h("div", { class: "chip-error" }, d.lastError);
    const failed = Math.max(0, d.attempts - 1);
    return h("details", { class: "chip-history" },
      h("summary", null, `recovered after ${failed} failed attempt${failed === 1 ? "" : "s"}`),
      h("div", { class: "old-error" }, "last error: ", d.lastError));
  }
}
