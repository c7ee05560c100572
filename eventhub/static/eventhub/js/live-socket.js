// A websocket that reconnects with backoff. After every (re)connect the page tells the
// server where it is (its cursor); the server replays from the database what it missed.

const MIN_DELAY = 250;
const MAX_DELAY = 3000;
// Closes after which reconnecting cannot help: the server revoked this page's access
// (eventhub/dashboard/access.py). The page says so and stops; a reload goes to the login.
const FINAL_CLOSES = { 4401: "signed-out", 4403: "forbidden" };

export class LiveSocket {
  constructor(path, { onOpen, onMessage, onStatus }) {
    this.path = path;
    this.onOpen = onOpen;
    this.onMessage = onMessage;
    this.onStatus = onStatus || (() => {});
    this.delay = MIN_DELAY;
    this.ws = null;
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}${this.path}`;
  }

  connect() {
    this.onStatus("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      this.delay = MIN_DELAY;
      this.onStatus("live");
      this.onOpen();
    };
    ws.onmessage = (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      this.onMessage(data);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      const final = FINAL_CLOSES[event.code];
      if (final) {
        this.onStatus(final);
        return;
      }
      this.onStatus("reconnecting");
      const wait = this.delay * (0.75 + Math.random() * 0.5);
      this.delay = Math.min(MAX_DELAY, this.delay * 2);
      setTimeout(() => this.connect(), wait);
    };
  }

  send(data) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(data));
      return true;
    }
    return false;
  }
}

export function showStatus(state) {
  const el = document.getElementById("conn");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state;
}
