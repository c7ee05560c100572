// The side panels and counters: dead letters (as the server counted them) and fault switches.
import { ago, h, postJson, setNote, setText, shortId } from "../dom.js";

export function renderCounters(stats, cursor) {
  if (stats) {
    setText(document.getElementById("c-rate"), stats.eventsPerSecond);
    setText(document.getElementById("c-inflight"), stats.inFlight);
    setText(document.getElementById("c-failures"), stats.failures);
    setText(document.getElementById("c-dead"), stats.dead);
    alarm(document.getElementById("c-failures"), stats.failures);
    alarm(document.getElementById("c-dead"), stats.dead);
  }
  setText(document.getElementById("c-cursor"), cursor ?? 0);
}

// Failures and dead letters are red only when there are some: a zero is good news.
function alarm(valueEl, n) {
  valueEl.closest(".counter").classList.toggle("bad", Number(n) > 0);
}

// Dead letters already on screen; a new one is announced in the panel's live region.
let deadSeen = null;

function announceNew(recent) {
  const fresh = deadSeen === null ? [] : recent.filter((d) => !deadSeen.has(d.id));
  deadSeen = new Set([...(deadSeen || []), ...recent.map((d) => d.id)]);
  if (!fresh.length) return;
  setText(document.getElementById("dead-announce"), fresh.map((d) =>
    `New dead letter: ${d.subscriber} on ${d.eventType} after ${d.attempts} attempts: ${d.error}`).join(". "));
}

// `actions` (dead-letters.js) adds Retry / Discard to each row, if the operator may.
export function renderDeadLetters(dead, onOpenFlow, actions) {
  const total = document.getElementById("dead-total");
  setText(total, dead.total);
  total.classList.toggle("zero", Number(dead.total) === 0);
  announceNew(dead.recent);
  document.getElementById("dead-groups").replaceChildren(...(dead.groups.length
    ? dead.groups.map((g) => h("tr", { class: "dead-group", dataset: { subscriber: g.subscriber, count: g.count } },
      h("td", null, actions && actions.rights.adminUrl
        ? h("a", { href: `${actions.rights.adminUrl}?${new URLSearchParams({ subscriber__exact: g.subscriber })}` }, dotted(g.subscriber))
        : dotted(g.subscriber)),
      deadGroupFailure(g), h("td", { class: "num count" }, g.count),
      h("td", { class: "when seen" }, ago(g.firstSeen, { class: "first-seen" }), " – ", ago(g.lastSeen, { class: "last-seen" }))))
    : [h("tr", null, h("td", { colspan: 4, class: "empty" }, "none"))]));
  document.getElementById("dead-recent").replaceChildren(...dead.recent.map((d) =>
    h("li", { class: "dead-letter", dataset: { delivery: d.id, subscriber: d.subscriber } },
      h("div", null, h("strong", null, d.subscriber), " ← ", d.eventType, " ",
        ago(d.deadAt, { class: "when" })),
      h("div", { class: "error" }, d.error),
      h("div", { class: "meta" }, `delivery ${d.id} · ${d.attempts} attempts · flow `,
        h("button", { type: "button", class: "linkish", onclick: () => onOpenFlow(d.correlationId) }, shortId(d.correlationId, 13)),
        actions ? [" · ", actions.detailsLink(d.id)] : null),
      actions ? actions.buttons(d.id, `delivery ${d.id} (${d.subscriber} ← ${d.eventType})`) : null)));
}

// A dead-letter group's failure: its fingerprint (type + first project frame), the latest
// error's text under it. The fingerprint may wrap after its dots and colons
// ("InjectedFault at eventhub.<wbr>faults:<wbr>apply_fault"), never letter by letter.
function deadGroupFailure(g) {
  const fingerprint = g.fingerprint || "-";
  return h("td", { class: "error" },
    h("code", { class: "fingerprint", title: fingerprint }, breakAfter(fingerprint, /([.:])/)),
    h("div", { class: "sample" }, g.error));
}

// Text that may wrap after each separator `pattern` matches (a capturing group).
function breakAfter(text, pattern) {
  return text.split(pattern).flatMap((part, i) => (i % 2 ? [part, h("wbr")] : [part]));
}

// A dotted name that may wrap after its dots ("notifications.<wbr>order_confirmation").
function dotted(name) {
  return name.split(".").flatMap((part, i) => (i ? [".", h("wbr"), part] : [part]));
}

// Fault switches show the server's state: every change is saved at once, then the rules are
// read back from the server and the table redrawn from them, with a "saved" note. Choosing a
// failure mode switches the fault on (a choice that did nothing until a box was ticked would
// look saved while nothing fails).
export class FaultSwitches {
  constructor(names, modes, switches = []) {
    // Subscribers, then declared switches (a gateway, a carrier): those fail without latency.
    this.names = [...names, ...switches];
    this.switches = new Set(switches);
    this.modes = modes;
    this.labels = new Map(modes);
    this.tbody = document.getElementById("faults");
    this.note = document.getElementById("fault-note");
    this.rules = new Map();
  }

  async load() {
    const response = await fetch("/dashboard/api/faults", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return false;
    const reply = await response.json();
    this.rules = new Map(reply.data.map((r) => [r.subscriber, r]));
    this.render();
    return true;
  }

  describe(rule) {
    if (!rule.enabled) return "off";
    const mode = this.labels.get(rule.mode) || rule.mode;
    const extra = rule.mode === "next_n" ? ` (${rule.remaining} left)` : rule.mode === "percent" ? ` (${rule.percent}%)` : "";
    return `on: ${mode}${extra}${rule.latencyMs ? `, +${rule.latencyMs} ms` : ""}`;
  }

  // Changes are sent one at a time, each built on the one before it (a mode chosen, then the
  // box ticked before the first reply: the second must not send the old mode back).
  save(name, changes) {
    const rule = { ...(this.rules.get(name) || { subscriber: name, enabled: false, mode: "none", remaining: 0, percent: 0, latencyMs: 0 }), ...changes };
    this.rules.set(name, rule);
    this.queued = (this.queued || 0) + 1;
    this.pending = (this.pending || Promise.resolve()).then(() => this.send(name, rule));
    return this.pending;
  }

  async send(name, rule) {
    this.say(`saving ${name}…`, false);
    const reply = await postJson("/dashboard/api/faults", rule);
    // Whatever happened, the table shows what the server holds now (once no change of
    // ours is still on its way, so that a reading never undoes one).
    this.queued -= 1;
    if (this.queued === 0) await this.load();
    if (reply.success) this.say(`saved: ${name} is ${this.describe(this.rules.get(name) || reply.data)}`, false);
    else this.say(`not saved: ${reply.error || "the server refused"}`, true);
  }

  say(text, bad = false) {
    setNote(this.note, text, bad);
  }

  render() {
    this.tbody.replaceChildren(...this.names.map((name) => {
      const rule = this.rules.get(name) || { enabled: false, mode: "none", remaining: 0, percent: 0, latencyMs: 0 };
      const mode = h("select", { "aria-label": `fault mode of ${name}`, onchange: (e) => this.save(name, { mode: e.target.value, enabled: true }) },
        this.modes.map(([value, label]) => h("option", { value, selected: value === rule.mode }, label)));
      const amount = rule.mode === "next_n"
        ? h("input", { type: "number", min: 0, max: 1000, value: rule.remaining, "aria-label": `fail the next N attempts of ${name}`, onchange: (e) => this.save(name, { remaining: Number(e.target.value) }) })
        : rule.mode === "percent"
          ? h("input", { type: "number", min: 0, max: 100, value: rule.percent, "aria-label": `percent of attempts of ${name} that fail`, onchange: (e) => this.save(name, { percent: Number(e.target.value) }) })
          : null;
      return h("tr", { class: rule.enabled ? "fault on" : "fault", dataset: { subscriber: name, enabled: String(rule.enabled), mode: rule.mode } },
        h("td", null, h("label", null,
          h("input", { type: "checkbox", checked: rule.enabled, onchange: (e) => this.save(name, { enabled: e.target.checked }) }),
          " ", dotted(name)),
        h("span", { class: "fault-state" }, this.describe(rule))),
        h("td", null, mode, amount),
        this.switches.has(name)
          ? h("td", { class: "latency", title: "a switch, not a subscriber: it fails, it does not slow down" }, "switch")
          : h("td", null, h("input", { type: "number", min: 0, max: 60000, step: 50, value: rule.latencyMs, class: "latency", "aria-label": `added latency of ${name} in ms`, title: "added latency (ms)", onchange: (e) => this.save(name, { latencyMs: Number(e.target.value) }) }), " ms"));
    }));
  }
}
