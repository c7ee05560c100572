// The span waterfall of a flow, as the server lays it out (eventhub/dashboard/waterfall.py):
// rows nested under events and deliveries, the queue wait drawn apart from the execution,
// idle stretches over 1 s compressed and labelled, linked retry traces marked. This module
// only draws: text through h() (span names are user-influenced), sizes through CSSOM.
// SpanFeed keeps an open flow's waterfall live; Highlighter ties delivery chips to their rows.
import { h } from "../dom.js";

const MIN_FETCH_MS = 500; // at most one fetch per flow per 500 ms, however busy the flow
const POLL_MS = 1000;
// Processes export their spans in batches (OpenTelemetry's default: every 5 s), so spans
// arrive after the delivery notice that announced them: poll for this long after a change.
const SETTLE_MS = 7000;

function pct(el, left, width) {
  el.style.left = `${left}%`;
  if (width !== undefined) el.style.width = `${Math.max(width, 0.25)}%`;
  return el;
}

function track(w, row) {
  const parts = w.gaps.map((g) => pct(h("span", { class: "wf-gap", "aria-hidden": "true" }), g.left, g.width));
  if (row && row.wait) {
    parts.push(pct(h("span", { class: "wf-wait", title: row.wait.label }), row.wait.left, row.wait.width));
  }
  if (row) {
    const kind = row.kind === "DELIVERY" ? "delivery" : row.kind;
    parts.push(pct(h("span", { class: `wf-bar kind-${kind}${row.status === "ERROR" ? " error" : ""}` }), row.left, row.width));
  }
  return h("span", { class: "wf-track" }, parts);
}

function axis(w) {
  const marks = w.ticks.map((t) => pct(h("span", { class: "wf-tick" }, t.label), t.left));
  const gaps = w.gaps.map((g) => pct(h("span", { class: `wf-gap-label reason-${g.reason}` }, g.label), g.left));
  return h("div", { class: "wf-row wf-axis", role: "row" },
    h("span", { class: "wf-label wf-axis-label", role: "columnheader" }, "span"),
    h("span", { class: "wf-track wf-scale", role: "columnheader" }, h("span", { class: "visually-hidden" }, "time"), marks, gaps),
    h("span", { class: "wf-ms", role: "columnheader" }, "took"));
}

function row(w, r) {
  const label = h("button", {
    type: "button",
    class: "wf-label",
    title: [r.label, r.service, r.name, r.traceId ? `trace ${r.traceId}` : "", r.linkedTo ? `linked to trace ${r.linkedTo}` : ""].filter(Boolean).join(" · "),
    disabled: r.deliveryId === null || r.deliveryId === undefined,
  },
  r.linkStart ? h("span", { class: "wf-link-badge" }, r.linkLabel) : null,
  r.service && !["event", "attempt", "dispatch"].includes(r.role) ? h("span", { class: "svc" }, r.service.replace(/^eventhub-/, ""), " ") : null,
  r.label);
  label.style.paddingLeft = `${0.3 + Math.min(r.depth, 20) * 0.5}rem`;
  const classes = ["wf-row", `role-${r.role}`];
  if (r.linked) classes.push("linked");
  if (r.linkStart) classes.push("link-start");
  if (r.status === "ERROR") classes.push("error");
  return h("div", {
    class: classes.join(" "),
    role: "row",
    dataset: { key: r.key, role: r.role, delivery: r.deliveryId ?? "", linked: String(r.linked) },
  },
  h("span", { class: "wf-cell", role: "cell" }, label),
  h("span", { class: "wf-cell", role: "cell" }, track(w, r)),
  h("span", { class: "wf-ms", role: "cell", title: r.wait ? `${r.wait.label}, then ran ${r.duration}` : null },
    r.wait ? h("span", { class: "wf-queued" }, `q ${r.wait.label.replace(/^queued /, "")} · `) : null, r.duration));
}

export function renderWaterfall(entry) {
  if (!entry || !entry.layout) return h("p", { class: "hint" }, "loading spans…");
  const w = entry.layout;
  if (!w.rows.length) return h("p", { class: "hint waterfall-empty" }, "no spans recorded for this flow");
  const waited = w.gaps.length ? `, ${w.total} with ${w.gaps.length} compressed wait${w.gaps.length > 1 ? "s" : ""}` : "";
  return h("div", { class: "waterfall" },
    h("h4", { class: "wf-title" }, `Spans (${w.spanCount}${w.truncated ? `, first ${w.rows.length} rows` : ""}), ${w.busy} of work${waited}`),
    h("p", { class: "hint wf-legend" },
      h("span", { class: "wf-key wf-wait" }), " queued ", h("span", { class: "wf-key wf-bar" }), " running ",
      h("span", { class: "wf-key wf-gap" }), " compressed wait · click a row to find its delivery"),
    h("div", { class: "wf-table", role: "table", "aria-label": "span waterfall" },
      axis(w),
      w.rows.map((r) => row(w, r))));
}

// An open flow's waterfall, kept live: fetched when the flow changes (coalesced), then polled
// until its spans settle.
export class SpanFeed {
  constructor({ isOpen, onChange }) {
    this.isOpen = isOpen;
    this.onChange = onChange;
    this.entries = new Map(); // correlationId -> { layout, version, ... }
  }

  get(cid) {
    return this.entries.get(cid);
  }

  // The flow is open and its version is flowVersion: fetch if that is news.
  seen(cid, flowVersion) {
    const entry = this.entry(cid);
    if (entry.flowVersion === flowVersion) return;
    entry.flowVersion = flowVersion;
    this.touch(cid);
  }

  touch(cid) {
    const entry = this.entry(cid);
    entry.changedAt = Date.now();
    this.plan(cid, entry, 0);
  }

  entry(cid) {
    let entry = this.entries.get(cid);
    if (!entry) {
      entry = { layout: null, version: 0, signature: "", flowVersion: null, changedAt: 0, lastFetch: 0, timer: 0, busy: false, again: false };
      this.entries.set(cid, entry);
    }
    return entry;
  }

  plan(cid, entry, delay) {
    if (entry.busy) { entry.again = true; return; }
    if (entry.timer) return;
    const wait = Math.max(delay, entry.lastFetch + MIN_FETCH_MS - Date.now());
    entry.timer = setTimeout(() => { entry.timer = 0; this.fetch(cid, entry); }, wait);
  }

  async fetch(cid, entry) {
    if (!this.isOpen(cid)) return;
    entry.busy = true;
    entry.again = false;
    entry.lastFetch = Date.now();
    try {
      const response = await fetch(`/dashboard/api/flows/${encodeURIComponent(cid)}/spans`, { credentials: "same-origin" });
      const reply = await response.json();
      if (reply.success) {
        const w = reply.data;
        const signature = `${w.spanCount}|${w.totalNs}|${w.rows.length}`;
        if (signature !== entry.signature || !entry.layout) {
          entry.signature = signature;
          entry.layout = w;
          entry.version++;
          this.onChange();
        }
      }
    } catch {
      // Spans are a nicety: the timeline itself comes from the websocket.
    }
    entry.busy = false;
    if (entry.again) this.plan(cid, entry, 0);
    else if (Date.now() - entry.changedAt < SETTLE_MS) this.plan(cid, entry, POLL_MS);
  }
}

// A click on a delivery chip highlights that delivery's span rows, and a click on a span row
// highlights its chip (and the delivery's other rows). Delivery ids are unique on the page.
export class Highlighter {
  constructor(root) {
    this.root = root;
    this.delivery = "";
    root.addEventListener("click", (e) => this.onClick(e));
  }

  onClick(e) {
    if (e.target.closest(".dead-actions")) return;
    const chip = e.target.closest(".chip.delivery[data-delivery]");
    const spanRow = chip ? null : e.target.closest(".wf-row[data-delivery]");
    const id = (chip || spanRow)?.dataset.delivery;
    if (!id) return;
    this.delivery = id;
    this.apply();
    const flow = (chip || spanRow).closest(".flow");
    const other = chip
      ? flow?.querySelector(`.wf-row.hl[data-delivery="${CSS.escape(id)}"]`)
      : flow?.querySelector(`.chip.delivery.hl[data-delivery="${CSS.escape(id)}"]`);
    if (other) other.scrollIntoView({ block: "nearest" });
  }

  // Re-applied after every render: rows and chips are rebuilt when their flow changes.
  apply() {
    for (const el of this.root.querySelectorAll(".hl")) {
      if (el.dataset.delivery !== this.delivery) {
        el.classList.remove("hl");
        el.removeAttribute("aria-current");
      }
    }
    if (!this.delivery) return;
    const id = CSS.escape(this.delivery);
    for (const el of this.root.querySelectorAll(`.chip.delivery[data-delivery="${id}"], .wf-row[data-delivery="${id}"]`)) {
      if (!el.classList.contains("hl")) {
        el.classList.add("hl");
        el.setAttribute("aria-current", "true");
      }
    }
  }
}
