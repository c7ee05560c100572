// "Replay…" on an open flow: asks for a reason in one static <dialog> (live re-renders never
// wipe what the operator types), POSTs it with the CSRF token, and says which batch carries
// it; the batch's progress shows in the Retry batches panel and the replayed deliveries in
// the flow, as they happen. Shown only with the right the server rendered into the page (and
// checked again on the POST). Every string is set as text.
import { h, postJson, setText } from "../dom.js";

export class ReplayAction {
  constructor(rights) {
    this.allowed = Boolean(rights && rights.replay);
    this.dialog = document.getElementById("replay-dialog");
    this.reason = document.getElementById("replay-reason");
    this.error = document.getElementById("replay-error");
    this.note = document.getElementById("replay-note");
    this.cid = null;
    this.busy = false;
    this.previewTitle = document.getElementById("replay-preview-title");
    this.preview = document.getElementById("replay-preview");
    document.getElementById("replay-cancel").addEventListener("click", () => this.dialog.close());
    document.getElementById("replay-dry-run").addEventListener("click", () => this.dryRun());
    document.getElementById("replay-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.confirm();
    });
  }

  button(correlationId) {
    if (!this.allowed) return null;
    return h("button", {
      type: "button", class: "flow-replay", dataset: { cid: correlationId },
      "aria-label": `Replay flow ${correlationId}…`,
      onclick: (e) => { e.stopPropagation(); this.ask(correlationId); },
    }, "Replay…");
  }

  ask(correlationId) {
    this.cid = correlationId;
    setText(document.getElementById("replay-what"), correlationId);
    setText(this.error, "");
    setText(this.previewTitle, "");
    this.preview.replaceChildren();
    this.reason.value = "";
    this.dialog.showModal();
    this.reason.focus();
  }

  async confirm() {
    const cid = this.cid;
    if (!cid || this.busy) return;
    const reason = this.reason.value.trim();
    if (!reason) {
      setText(this.error, "reason: a reason is required to replay events");
      return;
    }
    this.busy = true;
    const reply = await postJson(`/dashboard/api/flows/${encodeURIComponent(cid)}/replay`, { reason });
    this.busy = false;
    if (!reply.success) {
      setText(this.error, reply.error);
      return;
    }
    this.dialog.close();
    const { batch, total, ratePerSecond } = reply.data;
    this.note.dataset.batch = String(batch);
    setText(this.note, `Replay of flow ${cid} started: batch ${batch}, ${total} deliveries at up to ${ratePerSecond}/s; its progress shows live under Retry batches.`);
  }

  // What the replay would send (event, subscriber, generation); the server writes nothing.
  async dryRun() {
    const cid = this.cid;
    if (!cid) return;
    const reply = await postJson(`/dashboard/api/flows/${encodeURIComponent(cid)}/replay`, { dryRun: true });
    if (!reply.success) {
      setText(this.error, reply.error);
      return;
    }
    const items = reply.data.deliveries;
    setText(this.error, "");
    setText(this.previewTitle, `Would send ${items.length} deliveries (dry run, nothing sent):`);
    this.preview.replaceChildren(...items.map((d) =>
      h("li", null, `#${d.position} ${d.eventType} → ${d.subscriber} (generation ${d.generation})`)));
  }
}
