// The retry batch's admin page: its progress, read every second from the batch's JSON
// endpoint while it runs. Text only (textContent), never markup.
(function () {
  "use strict";
  const POLL_MS = 1000;

  function start() {
    const box = document.getElementById("batch-live");
    if (!box || box.dataset.status !== "running") return;
    const bar = document.getElementById("batch-bar");
    const text = document.getElementById("batch-text");
    const status = document.getElementById("batch-status");
    const cancel = document.getElementById("batch-cancel");

    async function poll() {
      let progress = null;
      try {
        const response = await fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" });
        if (response.ok) progress = await response.json();
      } catch (error) {
        progress = null; // offline for a moment: try again on the next tick
      }
      if (progress) {
        bar.max = progress.total;
        bar.value = progress.done;
        const sent = progress.kind === "replay" ? "sent" : "requeued";
        text.textContent = `${progress.done}/${progress.total} handled, ${progress.requeued} ${sent}`;
        status.textContent = progress.status;
        box.dataset.status = progress.status;
        if (progress.status !== "running") {
          if (cancel) cancel.hidden = true;
          return;
        }
      }
      setTimeout(poll, POLL_MS);
    }
    setTimeout(poll, POLL_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
