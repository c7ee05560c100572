// The side panels and counters: dead letters (as the server counted them) and fault switches.
import { clock, cookie, h, setText, shortId } from "../dom.js";

export function renderCounters(stats, cursor) {
  if (stats) {
    setText(document.getElementById("c-rate"), stats.eventsPerSecond);
    setText(document.getElementById("c-inflight"), stats.inFlight);
    setText(document.getElementById("c-failures"), stats.failures);
    setText(document.getElementById("c-dead"), stats.dead);
  }
  setText(document.getElementById("c-cursor"), cursor ?? 0);
}

// `actions` (dead-letters.js) adds Retry / Discard to each row, if the operator may.
export function renderDeadLetters(dead, onOpenFlow, actions) {
  setText(document.getElementById("dead-total"), dead.total);
  document.getElementById("dead-groups").replaceChildren(...(dead.groups.length
    ? dead.groups.map((g) => h("tr", { class: "dead-group", dataset: { subscriber: g.subscriber, count: g.count } },
      h("td", null, actions && actions.rights.adminUrl
        ? h("a", { href: `${actions.rights.adminUrl}?${new URLSearchParams({ subscriber__exact: g.subscriber })}` }, g.subscriber)
        : g.subscriber),
      deadGroupFailure(g), h("td", { class: "num count" }, g.count),
      h("td", { class: "when seen" }, clock(g.firstSeen), " – ", clock(g.lastSeen))))
    : [h("tr", null, h("td", { colspan: 4, class: "empty" }, "none"))]));
  document.getElementById("dead-recent").replaceChildren(...dead.recent.map((d) =>
    h("li", { class: "dead-letter", dataset: { delivery: d.id, subscriber: d.subscriber } },
      h("div", null, h("strong", null, d.subscriber), " ← ", d.eventType, " ",
        h("span", { class: "when" }, clock(d.deadAt))),
      h("div", { class: "error" }, d.error),
      h("div", { class: "meta" }, `delivery ${d.id} · ${d.attempts} attempts · flow `,
        h("button", { type: "button", class: "linkish", onclick: () => onOpenFlow(d.correlationId) }, shortId(d.correlationId, 13)),
        actions ? [" · ", actions.detailsLink(d.id)] : null),
      actions ? actions.buttons(d.id, `delivery ${d.id} (${d.subscriber} ← ${d.eventType})`) : null)));
}

// A dead-letter group's failure: its fingerprint (type + first project frame), the latest
// error's text under it.
function deadGroupFailure(g) {
  return h("td", { class: "error" },
    h("code", { class: "fingerprint" }, g.fingerprint || "-"), h("div", { class: "sample" }, g.error));
}

export class FaultSwitches {
  constructor(names, modes, switches = []) {
    // Subscribers, then declared switches (a gateway, a carrier): those fail without latency.
    this.names = [...names, ...switches];
    this.switches = new Set(switches);
    this.modes = modes;
    this.tbody = document.getElementById("faults");
    this.rules = new Map();
  }

  async load() {
    const response = await fetch("/dashboard/api/faults", { credentials: "same-origin" });
    if (!response.ok) return;
    const reply = await response.json();
    this.rules = new Map(reply.data.map((r) => [r.subscriber, r]));
    this.render();
  }

  async save(name, changes) {
    const rule = { ...(this.rules.get(name) || { subscriber: name, enabled: false, mode: "none", remaining: 0, percent: 0, latencyMs: 0 }), ...changes };
    const response = await fetch("/dashboard/api/faults", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") },
      body: JSON.stringify(rule),
    });
    const reply = await response.json();
    if (reply.success) this.rules.set(name, reply.data);
    this.render();
  }

  render() {
    this.tbody.replaceChildren(...this.names.map((name) => {
      const rule = this.rules.get(name) || { enabled: false, mode: "none", remaining: 0, percent: 0, latencyMs: 0 };
      const mode = h("select", { "aria-label": `fault mode of ${name}`, onchange: (e) => this.save(name, { mode: e.target.value }) },
        this.modes.map(([value, label]) => h("option", { value, selected: value === rule.mode }, label)));
      const amount = rule.mode === "next_n"
        ? h("input", { type: "number", min: 0, max: 1000, value: rule.remaining, "aria-label": "fail the next N", onchange: (e) => this.save(name, { remaining: Number(e.target.value) }) })
        : rule.mode === "percent"
          ? h("input", { type: "number", min: 0, max: 100, value: rule.percent, "aria-label": "percent", onchange: (e) => this.save(name, { percent: Number(e.target.value) }) })
          : null;
      return h("tr", { class: rule.enabled ? "fault on" : "fault", dataset: { subscriber: name } },
        h("td", null, h("label", null,
          h("input", { type: "checkbox", checked: rule.enabled, onchange: (e) => this.save(name, { enabled: e.target.checked }) }),
          " ", name)),
        h("td", null, mode, amount),
        this.switches.has(name)
          ? h("td", { class: "latency", title: "a switch, not a subscriber: it fails, it does not slow down" }, "switch")
          : h("td", null, h("input", { type: "number", min: 0, max: 60000, step: 50, value: rule.latencyMs, class: "latency", "aria-label": "latency in ms", title: "added latency (ms)", onchange: (e) => this.save(name, { latencyMs: Number(e.target.value) }) }), " ms"));
    }));
  }
}
