// Retry and discard of one dead letter, from the dead-letter panel and from a dead delivery's
// chip. The buttons show only for the rights the server rendered into the page (and the server
// checks them again on every POST); a discard asks for its reason in one static <dialog>, so
// live re-renders never wipe what the operator is typing. Every string is set as text.
import { h, postJson, setNote, setText } from "../dom.js";

const API = "/dashboard/api/dead-letters/";

export class DeadLetterActions {
  constructor(rights) {
    this.rights = { retry: false, discard: false, edit: false, adminUrl: "", ...(rights || {}) };
    this.pending = new Set(); // delivery ids with a POST in flight
    this.note = document.getElementById("dead-action-note");
    this.dialog = document.getElementById("discard-dialog");
    this.reason = document.getElementById("discard-reason");
    this.error = document.getElementById("discard-error");
    this.discarding = null; // { id, label }
    document.getElementById("discard-cancel").addEventListener("click", () => this.dialog.close());
    document.getElementById("discard-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.confirmDiscard();
    });
  }

  get any() {
    return this.rights.retry || this.rights.discard || this.editable;
  }

  // Edit & retry lives on the admin's page (editor, diff, confirm); the dashboard links to it.
  get editable() {
    return this.rights.edit && Boolean(this.rights.adminUrl);
  }

  // The buttons for dead letter `id` (`label` names it in messages): none without the rights.
  buttons(id, label) {
    if (!this.any) return null;
    return h("span", { class: "dead-actions", dataset: { delivery: id } },
      this.rights.retry ? h("button", {
        type: "button", class: "dead-retry", disabled: this.pending.has(id), "aria-label": `Retry ${label}`,
        onclick: (e) => { e.stopPropagation(); this.retry(id, label); },
      }, "Retry") : null,
      this.rights.discard ? h("button", {
        type: "button", class: "dead-discard", disabled: this.pending.has(id), "aria-label": `Discard ${label}…`,
        onclick: (e) => { e.stopPropagation(); this.askDiscard(id, label); },
      }, "Discard…") : null,
      this.editable ? h("a", {
        class: "button dead-edit", href: `${this.rights.adminUrl}${encodeURIComponent(id)}/edit/`,
        "aria-label": `Edit & retry ${label}…`, onclick: (e) => e.stopPropagation(),
      }, "Edit & retry…") : null);
  }

  detailsLink(id) {
    if (!this.rights.adminUrl) return null;
    return h("a", { class: "dead-details", href: `${this.rights.adminUrl}${encodeURIComponent(id)}/change/` }, "details");
  }

  async retry(id, label) {
    this.pending.add(id);
    this.disable(id);
    this.say(`Retrying ${label}…`);
    const reply = await postJson(`${API}${encodeURIComponent(id)}/retry`, {});
    this.pending.delete(id);
    if (!reply.success) this.disable(id, false);
    this.say(reply.success ? `Retry of ${label} queued (batch ${reply.data.batch}); its progress shows live.` : `Retry of ${label} refused: ${reply.error}`, !reply.success);
  }

  askDiscard(id, label) {
    this.discarding = { id, label };
    setText(document.getElementById("discard-what"), label);
    setText(this.error, "");
    this.reason.value = "";
    this.dialog.showModal();
    this.reason.focus();
  }

  async confirmDiscard() {
    const { id, label } = this.discarding || {};
    if (id === undefined) return;
    const reason = this.reason.value.trim();
    if (!reason) {
      setText(this.error, "reason: a reason is required to discard a dead letter");
      return;
    }
    this.pending.add(id);
    this.disable(id);
    const reply = await postJson(`${API}${encodeURIComponent(id)}/discard`, { reason });
    this.pending.delete(id);
    if (!reply.success) {
      this.disable(id, false);
      setText(this.error, reply.error);
      return;
    }
    this.dialog.close();
    this.discarding = null;
    this.say(`Discarded ${label}.`);
  }

  disable(id, disabled = true) {
    for (const el of document.querySelectorAll(`.dead-actions[data-delivery="${CSS.escape(String(id))}"] button`)) el.disabled = disabled;
  }

  say(text, bad = false) {
    setNote(this.note, text, bad);
  }
}
