// Pause switches: one per subscriber. Ticking one pauses it (its deliveries are held), and
// unticking resumes it (the relay sends what it held in recorded order at the retry rate).
// The state shown is the server's: each POST's reply, then the stream's live summary (held
// counts change as events arrive and as a resume drains). Text only.
import { h, postJson, setNote } from "../dom.js";

export class PauseSwitches {
  constructor(names, canPause) {
    this.names = names;
    this.canPause = canPause;
    this.pauses = new Map();
    this.tbody = document.getElementById("subscriber-pauses");
    this.note = document.getElementById("pause-note");
    this.reason = document.getElementById("pause-reason");
    this.render();
  }

  // The stream's list of paused and resuming subscribers (every other one runs).
  update(pauses) {
    this.pauses = new Map(pauses.map((p) => [p.subscriber, p]));
    this.render();
  }

  describe(pause) {
    if (!pause) return "running";
    if (pause.state === "resuming") return `resuming · ${pause.held} left at ${pause.ratePerSecond}/s`;
    return `paused · ${pause.held} held`;
  }

  async set(name, paused) {
    this.say(`${paused ? "pausing" : "resuming"} ${name}…`, false);
    const body = { subscriber: name, paused };
    if (paused && this.reason && this.reason.value.trim()) body.reason = this.reason.value.trim();
    const reply = await postJson("/dashboard/api/pauses", body);
    if (reply.success) {
      this.pauses.set(name, reply.data);
      this.say(reply.data.state === "paused"
        ? `${name} is paused: its deliveries are held`
        : `${name} is resuming: ${reply.data.held} held deliveries go out in recorded order at ${reply.data.ratePerSecond}/s`, false);
    } else {
      this.say(`not done: ${reply.error || "the server refused"}`, true);
    }
    this.render();
  }

  say(text, bad = false) {
    setNote(this.note, text, bad);
  }

  render() {
    this.tbody.replaceChildren(...this.names.map((name) => {
      const pause = this.pauses.get(name);
      const state = pause ? pause.state : "running";
      const title = pause && pause.state === "paused"
        ? `paused by ${pause.pausedBy || "the command line"}${pause.reason ? `: ${pause.reason}` : ""}`
        : null;
      return h("tr", { class: `pause-row ${state}`, dataset: { subscriber: name, state, held: pause ? pause.held : 0 } },
        h("td", null, h("label", null,
          h("input", {
            type: "checkbox",
            checked: state === "paused",
            disabled: !this.canPause,
            "aria-label": `pause ${name}`,
            title: this.canPause ? null : "needs the eventhub.pause_subscriber permission",
            onchange: (e) => this.set(name, e.target.checked),
          }),
          " ", name)),
        h("td", { class: "pause-state", title }, this.describe(pause)));
    }));
  }
}
