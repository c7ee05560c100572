// The span waterfall of a flow (from /dashboard/api/flows/<id>/spans), when spans exist.
import { h } from "../dom.js";

const MAX_SPANS = 200;

export function renderWaterfall(entry) {
  if (!entry) return h("p", { class: "hint" }, "loading spans…");
  const spans = entry.spans.slice(0, MAX_SPANS);
  if (!spans.length) return h("p", { class: "hint waterfall-empty" }, "no spans recorded for this flow");
  const start = Math.min(...spans.map((s) => s.start));
  const end = Math.max(...spans.map((s) => s.end || s.start));
  const total = Math.max(1, end - start);
  return h("div", { class: "waterfall", "aria-label": "span waterfall" },
    h("h4", null, `Spans (${spans.length}${entry.spans.length > MAX_SPANS ? ` of ${entry.spans.length}` : ""}), ${((end - start) / 1e6).toFixed(1)} ms`),
    spans.map((s) => {
      const bar = h("span", { class: `bar kind-${s.kind} ${s.status === "ERROR" ? "error" : ""}` });
      bar.style.left = `${((s.start - start) / total) * 100}%`;
      bar.style.width = `${Math.max(0.4, (((s.end || s.start) - s.start) / total) * 100)}%`;
      return h("div", { class: "span-row", title: `${s.service} ${s.name}` },
        h("span", { class: "span-label" }, h("span", { class: "svc" }, s.service), " ", s.name),
        h("span", { class: "span-track" }, bar),
        h("span", { class: "span-ms" }, `${(((s.end || s.start) - s.start) / 1e6).toFixed(1)} ms`));
    }));
}
