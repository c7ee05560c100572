// The retry batches panel: batches running (or lately finished) with their progress as the
// server counted it, pushed with the stream's summaries. Text only.
import { h } from "../dom.js";

export function renderRetryBatches(batches) {
  document.getElementById("retry-batches-panel").hidden = batches.length === 0;
  document.getElementById("retry-batches").replaceChildren(...batches.map((b) =>
    h("li", { class: `retry-batch ${b.status}`, dataset: { batch: b.id, kind: b.kind || "retry", status: b.status, done: b.done, total: b.total } },
      h("div", null,
        h("a", { href: `/admin/eventhub/retrybatch/${encodeURIComponent(b.id)}/change/` }, `${b.kind === "replay" ? "replay" : "batch"} ${b.id}`),
        ` · ${b.status} · ${b.ratePerSecond}/s`),
      h("progress", { max: b.total, value: b.done }),
      h("div", { class: "meta" }, `${b.done}/${b.total} handled · ${b.requeued} ${b.kind === "replay" ? "sent" : "requeued"}`))));
}
